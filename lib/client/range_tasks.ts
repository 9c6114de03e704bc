/**
 * The ranges of a download, each fetched by a task: one source at a time
 * per range, failover to the others and retry rounds, every piece written
 * and checked as it arrives (see `range_receiver.ts`), and, once a task is
 * done, work stealing (see `range_stealing.ts`). Written against the
 * `Source` interface (`source.ts`): no protocol here.
 *
 * @module
 */

import { notCapableIn } from "../cli/permission_error.ts";
import type { BlockHasher } from "./verify/block_hasher.ts";
import { IntegrityError } from "./verify/block_digests.ts";
import type { Interval } from "./plan/interval_set.ts";
import { OutputError, type OutputFile } from "./output/output_file.ts";
import type { ByteRange } from "./plan/range_planner.ts";
import type { ReferenceDigests } from "./verify/reference_digests.ts";
import {
  OtherVersionError,
  SourceBusyError,
  SourceLeftOutError,
} from "./source.ts";
import type { ServerSlot } from "./server_slot.ts";
import { delay, retryDelayMs, type RetryPolicy } from "./retry_policy.ts";
import {
  keptTo,
  newTask,
  type RangeEvent,
  reached,
  STUCK_MS,
  type Task,
  type TaskProgress,
} from "./range_task.ts";
import {
  decisiveError,
  RangeReceiver,
  type TransferOutcome,
} from "./range_receiver.ts";
import { stealWhileFree } from "./range_stealing.ts";

export { STUCK_MS };
export type { RangeEvent, TaskProgress };

/** What the tasks share with the rest of the download. */
export interface RangeTasksOptions {
  /** The servers, in list order, each with its source, lock and state. */
  slots: readonly ServerSlot[];
  /** The file's size. */
  size: number;
  /** The block size: ranges and steals are aligned to it. */
  blockSize: number;
  /** Retry rounds and their delays. */
  retry: RetryPolicy;
  /** The digest list blocks are checked against; none without checks. */
  reference: ReferenceDigests | undefined;
  /** Hashes whole blocks on a worker thread. */
  hasher: BlockHasher | undefined;
  /** Where the bytes go. */
  output: Pick<OutputFile, "writeAt">;
  /** Leaves out a server whose copy differs. */
  exclude: (slot: ServerSlot, reason: string, otherVersion?: boolean) => void;
  /** The index of the server whose lock the digest list holds now, if
   * any. */
  listingOn: () => number | undefined;
  /** Stops every task; a write error aborts it. */
  abort: AbortController;
  /** Receives progress and failures; optional. */
  onEvent?: ((event: RangeEvent) => void) | undefined;
  /** A connected task whose source sends nothing for this long is
   * stuck. Default {@linkcode STUCK_MS}. */
  stuckMs?: number | undefined;
}

/** The tasks of one download pass, and the servers they share. */
export class RangeTasks implements Disposable {
  #options: RangeTasksOptions;
  #receiver: RangeReceiver;
  /** The planned tasks, then the stolen tails. */
  #tasks: Task[];
  #failovers = 0;
  #retryRounds = 0;
  /** Settles whenever a task ends, so waiting thieves look again at once. */
  #taskEnded = Promise.withResolvers<void>();
  /** The fetched ranges whose blocks still wait for their digests. */
  #behind = new Set<Promise<void>>();

  /**
   * Creates a task per range, each with its own copy of the range; none
   * runs before {@linkcode run}. Starts a pass on every server slot.
   *
   * @param options What the tasks share with the rest of the download.
   * @param ranges The ranges to fetch.
   */
  constructor(options: RangeTasksOptions, ranges: readonly ByteRange[]) {
    this.#options = options;
    const { slots, size, blockSize, reference, output, exclude } = options;
    for (const slot of slots) slot.beginPass();
    this.#receiver = new RangeReceiver({
      size,
      blockSize,
      slots,
      reference,
      output,
      exclude,
    });
    this.#tasks = ranges.map((range) => this.#newTask(range));
  }

  /** How many times a range moved on to another server. */
  get failovers(): number {
    return this.#failovers;
  }

  /** How many retry rounds ranges needed. */
  get retryRounds(): number {
    return this.#retryRounds;
  }

  /** Bytes received so far, written or not. */
  get receivedBytes(): number {
    return this.#tasks.reduce((sum, t) => sum + reached(t) - t.range.start, 0);
  }

  /** Where each task is, stolen tails included. */
  progress(): TaskProgress[] {
    return this.#tasks.map((t) => ({
      index: t.range.index,
      chunk: t.range.chunk,
      start: t.range.start,
      end: t.range.end,
      position: reached(t),
      server: (t.waitingFor ?? t.server)?.index,
      active: t.active,
      failovers: t.failovers,
    }));
  }

  /** The bytes safe to keep (written, and checked if checks are on), one
   * interval per task from its start. */
  kept(): Interval[] {
    return this.#tasks.map((t) => [t.range.start, keptTo(t)]);
  }

  /** The ranges not wholly kept (copies, as they stand now). */
  missing(): ByteRange[] {
    return this.#tasks.filter((t) => keptTo(t) < t.range.end)
      .map((t) => ({ ...t.range }));
  }

  /**
   * Runs every task to its end: done, or failed on every server in every
   * round, or stopped by the abort signal.
   *
   * @throws {OutputError} If the output could not be written (the signal
   * is aborted then); the others are stopped and waited for first.
   */
  async run(): Promise<void> {
    // The planned ones: each steals tails, and fetches them, once it is
    // done. Servers without a range of their own stand by to take over
    // what gets stuck.
    const { slots } = this.#options;
    const starters = this.#starters();
    const firsts = this.#tasks.map((t) =>
      starters[t.range.index % starters.length]!
    );
    const standBy = slots.filter((s) => !firsts.includes(s));
    const settled = await Promise.allSettled([
      ...this.#tasks.map((task, i) => this.#runTask(task, firsts[i]!)),
      ...standBy.map((slot) => this.#steal(slot, undefined)),
    ]);
    // The last blocks are compared as the list arrives; one that fails
    // is fetched again meanwhile.
    while (this.#behind.size > 0) {
      settled.push(...await Promise.allSettled([...this.#behind]));
    }
    const failure = settled.find((s) => s.status === "rejected");
    if (failure) throw failure.reason;
  }

  /** Lets go of the servers' kept connections. */
  [Symbol.dispose](): void {
    for (const slot of this.#options.slots) slot[Symbol.dispose]();
  }

  #newTask(range: ByteRange): Task {
    return newTask(range, this.#options);
  }

  /** The servers the planned ranges start at, in turn: those not left out
   * that did not refuse the size request, in list order (all of them if
   * none is left so). */
  #starters(): readonly ServerSlot[] {
    const { slots } = this.#options;
    const usable = slots.filter((s) => !s.excluded);
    const willing = usable.filter((s) => !s.refusedSize);
    return willing.length > 0 ? willing : usable.length > 0 ? usable : slots;
  }

  /** Servers for a range: its own first, then the others in list order;
   * those that failed in this run after those that did not, and those
   * found stuck last. */
  #serverOrder(first: ServerSlot): ServerSlot[] {
    const { slots } = this.#options;
    const rotated = slots.map((_, k) =>
      slots[(first.index + k) % slots.length]!
    )
      .filter((s) => !s.excluded);
    return [
      ...rotated.filter((s) => !s.failed),
      ...rotated.filter((s) => s.failed && !s.stuck),
      ...rotated.filter((s) => s.stuck),
    ];
  }

  /** Runs a task from its first server on, then keeps stealing the tail
   * of the task expected to finish last, on the server that just proved
   * free. */
  async #runTask(task: Task, first: ServerSlot): Promise<void> {
    try {
      const done = await this.#fetched(task, first);
      this.#endTask();
      if (done !== undefined) await this.#steal(done, task);
    } finally {
      this.#endTask();
    }
  }

  /** Steals on a server that proved free after `last`, or that stands by
   * (`last` undefined) for stuck work. */
  async #steal(slot: ServerSlot, last: Task | undefined): Promise<void> {
    try {
      await stealWhileFree(
        {
          ...this.#options,
          stuckMs: this.#options.stuckMs ?? STUCK_MS,
          tasks: this.#tasks,
          newTask: (range) => this.#newTask(range),
          fetchTask: (task, first) => this.#fetched(task, first),
          endTask: () => this.#endTask(),
          taskEnded: () => this.#taskEnded.promise,
        },
        slot,
        last,
      );
    } finally {
      if (last === undefined) this.#endTask();
    }
  }

  #endTask(): void {
    this.#taskEnded.resolve();
    this.#taskEnded = Promise.withResolvers<void>();
  }

  /** Fetches a task's range (see {@linkcode #fetchTask}), then leaves the
   * comparison of its blocks with their digests to run behind, without a
   * server: the server that finished it goes on to other work. */
  async #fetched(
    task: Task,
    first: ServerSlot,
  ): Promise<ServerSlot | undefined> {
    const done = await this.#fetchTask(task, first);
    if (task.verifier !== undefined) {
      const comparing = this.#verifyBehind(task).finally(() =>
        this.#behind.delete(comparing)
      );
      this.#behind.add(comparing);
    }
    return done;
  }

  /** Waits until a fetched task's blocks are compared with their digests;
   * a block that fails is judged (its servers asked for their own digest
   * of it), and the range fetched again from there, from another server
   * first. */
  async #verifyBehind(task: Task): Promise<void> {
    const { abort } = this.#options;
    const verifier = task.verifier!;
    while (!abort.signal.aborted) {
      try {
        await verifier.settled();
        return;
      } catch (error) {
        // The list stopped: so does the download.
        if (!(error instanceof IntegrityError)) return;
        // Judged and told as a block that fails on arrival is.
        const slot = task.server!;
        await this.#failed(task, slot, error);
        if (await this.#fetchTask(task, slot) === undefined) return;
      }
    }
  }

  /** Fetches a task's range, each server once per round, over the retry
   * policy's rounds; returns the server that finished it. */
  async #fetchTask(
    task: Task,
    first: ServerSlot,
  ): Promise<ServerSlot | undefined> {
    const { abort, onEvent, retry } = this.#options;
    const { range } = task;
    let attempts = 0;
    for (let round = 0; round <= retry.rounds; round++) {
      if (abort.signal.aborted) return undefined;
      // Every server left out: no round to announce.
      if (this.#serverOrder(first).length === 0) return undefined;
      if (round > 0) {
        const wait = this.#roundDelayMs(round);
        this.#retryRounds++;
        onEvent?.({ type: "retry-round", range, round, delayMs: wait });
        await delay(wait, abort.signal);
      }
      // Each server once per round; the order is taken again after each
      // attempt, so servers that failed meanwhile go after the others.
      const tried = new Set<ServerSlot>();
      while (true) {
        const slot = this.#serverOrder(first).find((s) => !tried.has(s));
        if (slot === undefined) break;
        if (abort.signal.aborted) return undefined;
        const failover = attempts > 0;
        if (failover) {
          this.#failovers++;
          task.failovers++;
        }
        const done = await this.#attempt(task, slot);
        if (done === "deferred") {
          // Asked again after the others, if need be.
          if (failover) {
            this.#failovers--;
            task.failovers--;
          }
          continue;
        }
        attempts++;
        tried.add(slot);
        if (done) {
          onEvent?.({ type: "range-done", range, server: slot.index });
          return slot;
        }
        // Another server fetches the rest: this one has not answered.
        if (task.takenOver) return undefined;
      }
    }
    return undefined;
  }

  /** The delay before a retry round: the policy's backoff, or longer
   * until the first server not left out is ready again (one that asked to
   * be left alone for a while), at most the policy's longest delay. Every
   * range waits so, at once, instead of one request after another. */
  #roundDelayMs(round: number): number {
    const { retry, slots } = this.#options;
    const now = performance.now();
    const readyIn = Math.min(
      ...slots.filter((s) => !s.excluded).map((s) =>
        Math.max(0, (s.source.readyAt?.() ?? now) - now)
      ),
    );
    return Math.min(
      Math.max(retryDelayMs(retry, round), Math.ceil(readyIn)),
      retry.maxDelayMs,
    );
  }

  /** Fetches what is left of a task's range from one server; `true` once
   * the range is complete, `"deferred"` if the server was found stuck
   * while the task waited for it and another one may serve it. */
  async #attempt(task: Task, slot: ServerSlot): Promise<boolean | "deferred"> {
    const { abort, onEvent } = this.#options;
    const stuckBefore = slot.stuck;
    const cancel = new AbortController();
    const signal = AbortSignal.any([abort.signal, cancel.signal]);
    const { range } = task;
    task.server = slot;
    task.cancel = cancel;
    try {
      let failure: unknown;
      let outcome: TransferOutcome = "nothing-left";
      let first = true;
      // One request for the rest of the range, whether or not the digest
      // list covers it yet: blocks are hashed as they arrive and compared
      // once their digests do (see #verifyBehind).
      while (failure === undefined && task.position < range.end) {
        task.waitingFor = slot;
        try {
          outcome = await this.#receiver.transfer(task, slot, {
            first,
            stuckBefore,
            signal,
          });
        } catch (error) {
          failure = error;
        }
        if (outcome === "fetched") first = false;
        // The last pieces may still be under their checks; the server
        // already sends the next range meanwhile. A bad block outranks the
        // error that ended the transfer.
        try {
          await task.checking;
        } catch (error) {
          failure = decisiveError(error, failure);
        } finally {
          task.checking = undefined;
          task.checkFailure = undefined;
        }
        if (
          outcome === "left-out" || outcome === "deferred" ||
          cancel.signal.aborted
        ) break;
      }
      if (outcome === "deferred") {
        task.waitingFor = undefined;
        return "deferred";
      }
      if (
        failure !== undefined &&
        (!cancel.signal.aborted ||
          decisiveError(failure) instanceof OutputError)
      ) {
        throw failure;
      }
      if (cancel.signal.aborted && !abort.signal.aborted) {
        // Taken over: its bytes are another task's now.
        slot.failed = true;
        slot.stuck = true;
        task.takenOver = true;
        const taken = task.handedOver!;
        onEvent?.({
          type: "range-failed",
          // As it was: its end moved to where the free server starts.
          range: { ...range, end: taken.end },
          position: taken.start,
          detail: slot.source.describeFailure(
            new Error(
              `${taken.why}; a free server took over bytes ${taken.start}-${
                taken.end - 1
              }`,
            ),
          ),
        });
        return false;
      }
      if (outcome === "left-out") return false;
      return task.position >= range.end;
    } catch (caught) {
      await this.#failed(task, slot, caught);
      return false;
    }
  }

  /** An attempt failed: the server counts as failed, is left out if its
   * copy differs, and the failure is reported; a write error stops all. */
  async #failed(task: Task, slot: ServerSlot, caught: unknown): Promise<void> {
    const { abort, onEvent, exclude } = this.#options;
    task.waitingFor = undefined;
    // As it was when it failed: a free server may take its rest over while
    // its servers are judged.
    const range = { ...task.range };
    // A deadline that passed while a piece was handed over reports a
    // timeout; what the piece's write or check found comes first.
    const error = decisiveError(caught);
    // A write error, or a refusal of Deno's sandbox (a redirect to a host
    // --allow-net does not allow): no other server or round helps.
    if (error instanceof OutputError || notCapableIn(error) !== undefined) {
      abort.abort(error);
      throw error;
    }
    // Bytes written but not given to the verifier (their piece came after
    // a failed check) are fetched again: the next byte to fetch is the
    // next one the verifier expects.
    if (task.verifier) task.position = task.verifier.position;
    if (abort.signal.aborted) return;
    slot.failed = true;
    // Its copy differs, or it cannot serve this file at all.
    if (error instanceof SourceLeftOutError) {
      exclude(slot, error.message, error instanceof OtherVersionError);
    }
    if (error instanceof IntegrityError) {
      const sources = task.blockSources;
      task.blockSources = new Set();
      // A block without a digest from a server left out: nobody to judge.
      for (const source of error.unlisted ? [] : sources) {
        await this.#receiver.judgeCorruption(error, source, abort.signal);
      }
    }
    // A server that asked to be left alone fails every range that tries
    // it until then, unasked: said once, not once a range.
    if (error instanceof SourceBusyError) {
      if (slot.busyToldUntil === error.readyAt) return;
      slot.busyToldUntil = error.readyAt;
    }
    onEvent?.({
      type: "range-failed",
      range,
      position: task.position,
      detail: slot.source.describeFailure(error),
    });
  }
}
