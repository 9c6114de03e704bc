/**
 * The ranges of a download, each fetched by a task: one server at a time
 * per range, failover to the others and retry rounds, every piece written
 * and checked as it arrives, and, once a task is done, work stealing: its
 * server takes over the tail of the range expected to finish last.
 *
 * @module
 */

import type { BlockHasher } from "./verify/block_hasher.ts";
import { IntegrityError, RangeVerifier } from "./verify/block_digests.ts";
import { equalBytes } from "../wire/byte_arrays.ts";
import { formatByteSize } from "../cli/byte_size.ts";
import { findCause } from "../wire/error_cause.ts";
import type { Interval } from "./plan/interval_set.ts";
import { OutputError, type OutputFile } from "./output/output_file.ts";
import type { ByteRange } from "./plan/range_planner.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import type { ReferenceDigests } from "./verify/reference_digests.ts";
import {
  describeFailure,
  fetchRange,
  KeptConnection,
  OtherVersionError,
  type RequestOptions,
  requestRangeDigest,
  type Timeouts,
} from "./protocol_client.ts";
import type { ServerAddress } from "../wire/address.ts";
import {
  decideSteal,
  minPieceFor,
  type StealDecision,
} from "./plan/work_stealing.ts";

/** What the tasks report while they run. */
export type RangeEvent =
  | {
    type: "range-failed";
    range: ByteRange;
    /** First byte not yet received; the next server resumes there. */
    position: number;
    detail: string;
  }
  | { type: "retry-round"; range: ByteRange; round: number; delayMs: number }
  | {
    type: "stolen";
    /** The range that gave up its tail (its `end` is already moved). */
    from: ByteRange;
    /** The new range: the tail. */
    range: ByteRange;
  }
  | { type: "range-done"; range: ByteRange; server: ServerAddress };

/** Where one range's fetch is. */
export interface TaskProgress {
  /** The range's number; stolen tails get numbers after the planned ones. */
  index: number;
  /** The user's chunk the range lies in (a stolen tail, its victim's). */
  chunk: number;
  /** First byte of the range. */
  start: number;
  /** End of the range (exclusive); it moves down when a tail is stolen. */
  end: number;
  /** End of the bytes received so far (some may still be on their way to the file). */
  position: number;
  /** Index of the server it fetches from or waits for, if any. */
  server: number | undefined;
  /** Whether bytes are on their way now (not waiting for a server). */
  active: boolean;
  /** How many times it moved on to another server. */
  failovers: number;
}

/** A server's lock (a mutex): held for each request to the server. */
export interface ServerLock {
  /** Runs `work` once the lock is free, holding it meanwhile. */
  runExclusive<T>(work: () => Promise<T> | T): Promise<T>;
  /** Whether it is held now. */
  isLocked(): boolean;
}

/** What the tasks share with the rest of the download. */
export interface RangeTasksOptions {
  /** The servers, in list order. */
  servers: readonly ServerAddress[];
  /** The name to ask the servers for. */
  name: string;
  /** The file's size. */
  size: number;
  /** The block size: ranges and steals are aligned to it. */
  blockSize: number;
  /** Deadlines for each request. */
  timeouts: Timeouts;
  /** Rounds over all servers after the first one, per range. */
  retries: number;
  /** Delay before the first retry round; it doubles each round. */
  retryDelayMs: number;
  /** The digest list blocks are checked against; none without checks. */
  reference: ReferenceDigests | undefined;
  /** Hashes whole blocks on a worker thread. */
  hasher: BlockHasher | undefined;
  /** Where the bytes go. */
  output: OutputFile;
  /** One per server, held for each request to it (the digest list's
   * too): a server serves one client at a time, so a second connection
   * would only wait in its queue. */
  locks: readonly ServerLock[];
  /** Servers left out for good: their copy differs. */
  excluded: readonly boolean[];
  /** Leaves out a server whose copy differs. */
  exclude: (serverIndex: number, reason: string) => void;
  /** The server whose lock the digest list holds now, if any. */
  listingOn: () => number | undefined;
  /** Servers known to answer: they reported the file's size. A server
   * that had no range of its own takes over stuck work only if it is one,
   * or no such server is left. Default: none. */
  responsive?: readonly boolean[] | undefined;
  /** Stops every task; a write error aborts it. */
  abort: AbortController;
  /** Receives progress and failures; optional. */
  onEvent?: ((event: RangeEvent) => void) | undefined;
}

/** One range being fetched: where it is, and what of it is checked. */
interface Task {
  /** Its range; `end` moves down when another task steals the tail. */
  range: ByteRange;
  /** Next byte to receive. */
  position: number;
  /** Bytes received past `position`: in the piece being filled, or being
   * written. */
  received: number;
  verifier: RangeVerifier | undefined;
  /** Servers that sent bytes of the block being checked. */
  blockSources: Set<number>;
  /** Whether a connection is fetching for it now. */
  active: boolean;
  /** The checks of the pieces received, chained: each starts when the one
   * before has passed. Settles when the last has. */
  checking: Promise<void> | undefined;
  /** Why a check failed, once one has: the transfer stops. */
  checkFailure: unknown;
  /** The server it fetches from or last fetched from. */
  server: number | undefined;
  /** How many times it moved on to another server. */
  failovers: number;
  /** The server whose turn it waits for, if it waits for one. */
  waitingFor: number | undefined;
  /** Whether it waits for the digest list to cover its next bytes. */
  waitingForList: boolean;
  /** When its server last sent something (or the request went out). */
  heardAt: number;
  /** Whether a piece is being handed over (written) now. */
  writing: boolean;
  /** Gives up the current request: another server took the task over. */
  cancel: AbortController | undefined;
  /** Whether another server took the task over: it ends there. */
  takenOver: boolean;
  /** When the current or last connection started and ended, and what it
   * brought. */
  attemptStart: number;
  attemptEnd: number;
  attemptBytes: number;
  /** Bytes received in the current window of {@linkcode RATE_WINDOW_MS}
   * and the one before: its recent rate. */
  windowStart: number;
  windowBytes: number;
  lastWindowMs: number;
  lastWindowBytes: number;
  /** What a free server took over when it gave up the task's request,
   * and why: the task's range ends at `start` since. */
  handedOver: { start: number; end: number; why: string } | undefined;
}

/** A task's recent rate counts the bytes of the last window of this long
 * and the one before it. */
const RATE_WINDOW_MS = 1000;

/** Counts bytes a task received for its recent rate. */
function noteBytes(task: Task, bytes: number, now: number): void {
  if (now - task.windowStart >= RATE_WINDOW_MS) {
    task.lastWindowMs = now - task.windowStart;
    task.lastWindowBytes = task.windowBytes;
    task.windowStart = now;
    task.windowBytes = 0;
  }
  task.windowBytes += bytes;
}

/** A running task's rate over about the last one or two seconds, bytes/s;
 * `undefined` while it has run for less than a window, or does not run. */
function recentRateOf(task: Task, now: number): number | undefined {
  if (!task.active) return undefined;
  const ms = task.lastWindowMs + (now - task.windowStart);
  if (ms < RATE_WINDOW_MS) return undefined;
  return ((task.lastWindowBytes + task.windowBytes) * 1000) / ms;
}

/** A task's receive rate over its current or last connection, bytes/s. */
function rateOf(task: Task, now: number): number {
  if (!task.active) {
    const seconds = (task.attemptEnd - task.attemptStart) / 1000;
    return seconds > 0 ? task.attemptBytes / seconds : 0;
  }
  // Too early to tell while the first bytes are on their way.
  const seconds = (now - task.attemptStart) / 1000;
  return seconds > 0.05 ? task.attemptBytes / seconds : 0;
}

/** A connected task whose server sends nothing for this long is stuck: a
 * free server takes it over whole, and its request is given up. Far below
 * the reply and stall timeouts, far above what a working server keeps a
 * client waiting (a reply comes within milliseconds). */
export const STUCK_MS = 2000;

/** Whether a task's server has sent nothing for {@linkcode STUCK_MS}. */
function isStuck(task: Task, now: number): boolean {
  return task.active && !task.writing && now - task.heardAt >= STUCK_MS;
}

/** Memory for receive buffers, shared by the servers' connections (more
 * with over 8 servers: see {@linkcode MIN_PIECE_BYTES}). */
const RECEIVE_MEMORY_BYTES = 16 * 1024 * 1024;
/** While the digest list arrives, a range waits until it covers this much
 * past the range's position before asking for more. */
const LISTED_AHEAD_BYTES = 4 * 1024 * 1024;
/** Receive buffers per connection: one is read into while one is checked. */
const BUFFERS_PER_CONNECTION = 2;
/** The smallest piece the memory share allows: below it each byte costs
 * more in writes, worker messages and wake-ups (with 20 servers, 384 KiB
 * pieces made the download 5 % slower than 1 MiB ones). So the buffers of
 * 20 servers take 40 MiB. */
const MIN_PIECE_BYTES = 1024 * 1024;

/**
 * The piece size for a transfer: whole blocks, within the memory for
 * buffers, from 1 MiB to 4 MiB (larger pieces mean fewer system calls),
 * and a quarter of the transfer at most, so checking a piece overlaps with
 * receiving the next one.
 */
function pieceSizeFor(
  blockSize: number,
  servers: number,
  length: number,
): number {
  const target = Math.min(
    Math.max(
      RECEIVE_MEMORY_BYTES / (BUFFERS_PER_CONNECTION * servers),
      MIN_PIECE_BYTES,
    ),
    4 * 1024 * 1024,
    Math.max(length / 4, 64 * 1024),
  );
  return blockSize * Math.max(1, Math.floor(target / blockSize));
}

/** End of the bytes a task has received, written or not: where progress
 * stands and where a thief may split. */
function reached(task: Task): number {
  return Math.min(task.position + task.received, task.range.end);
}

/** End of the bytes of a task that are safe to keep: within its range
 * (after a takeover, checks of bytes past its new end may still pass; the
 * bytes there are the thief's to write). */
function keptTo(task: Task): number {
  return Math.min(task.verifier?.verifiedTo ?? task.position, task.range.end);
}

/** Waits `ms`, or less when the signal aborts or `wake` settles. */
function delay(
  ms: number,
  signal: AbortSignal,
  wake?: Promise<void>,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    wake?.then(done);
  });
}

/** Of the errors that ended an attempt, the one it is judged by: a write
 * error (it stops the download), then a failed check (it names the block
 * and the server), then the first one given. */
function decisiveError(...errors: unknown[]): unknown {
  for (const type of [OutputError, IntegrityError]) {
    for (const error of errors) {
      const found = findCause(error, type);
      if (found !== undefined) return found;
    }
  }
  return errors.find((error) => error !== undefined);
}

/** The tasks of one download, and the connections they share. */
export class RangeTasks implements Disposable {
  #options: RangeTasksOptions;
  /** The planned tasks, then the stolen tails. */
  #tasks: Task[];
  #bytesPerServer: number[];
  #receiveBuffers: ReceiveBuffers[];
  /** A connection per server, kept open from one range to the next; each
   * is used under its server's lock. */
  #keptConnections: KeptConnection[];
  /** Servers that failed in this run: asked after the others. */
  #failed: boolean[];
  /** Servers whose task a free server took over (they sent nothing, or
   * too slowly), until they send bytes again: asked after every other,
   * and given no work they did not ask for. */
  #stuck: boolean[];
  /** Servers that answered in this run: the size, or a range. */
  #responsive: boolean[];
  #failovers = 0;
  #retryRounds = 0;
  /** Settles whenever a task ends, so waiting thieves look again at once. */
  #taskEnded = Promise.withResolvers<void>();

  /**
   * Creates a task per range; none runs before {@linkcode run}.
   *
   * @param options What the tasks share with the rest of the download.
   * @param ranges The ranges to fetch.
   */
  constructor(options: RangeTasksOptions, ranges: readonly ByteRange[]) {
    this.#options = options;
    const { servers } = options;
    this.#bytesPerServer = servers.map(() => 0);
    this.#receiveBuffers = servers.map(() =>
      new ReceiveBuffers(BUFFERS_PER_CONNECTION)
    );
    this.#keptConnections = servers.map(() => new KeptConnection());
    this.#failed = servers.map(() => false);
    this.#stuck = servers.map(() => false);
    this.#responsive = servers.map((_, i) => options.responsive?.[i] ?? false);
    this.#tasks = ranges.map((range) => this.#newTask(range));
  }

  /** Bytes received from each server, in list order. */
  get bytesPerServer(): number[] {
    return this.#bytesPerServer;
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
      server: t.waitingFor ?? t.server,
      active: t.active,
      failovers: t.failovers,
    }));
  }

  /** The bytes safe to keep (written, and checked if checks are on), one
   * interval per task from its start. */
  kept(): Interval[] {
    return this.#tasks.map((t) => [t.range.start, keptTo(t)]);
  }

  /** The ranges not wholly kept. */
  missing(): ByteRange[] {
    return this.#tasks.filter((t) => keptTo(t) < t.range.end)
      .map((t) => t.range);
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
    const { servers } = this.#options;
    const planned = new Set(
      this.#tasks.map((t) => t.range.index % servers.length),
    );
    const standBy = [...servers.keys()].filter((s) => !planned.has(s));
    const settled = await Promise.allSettled([
      ...this.#tasks.map((task) => this.#runTask(task)),
      ...standBy.map((server) => this.#standBy(server)),
    ]);
    const failure = settled.find((s) => s.status === "rejected");
    if (failure) throw failure.reason;
  }

  /** Closes the kept connections. */
  [Symbol.dispose](): void {
    for (const kept of this.#keptConnections) kept[Symbol.dispose]();
  }

  #newTask(range: ByteRange): Task {
    const { reference, blockSize, size, hasher } = this.#options;
    return {
      range,
      position: range.start,
      received: 0,
      verifier: reference === undefined ? undefined : new RangeVerifier({
        reference,
        blockSize,
        fileSize: size,
        start: range.start,
        hasher,
      }),
      blockSources: new Set(),
      heardAt: 0,
      writing: false,
      cancel: undefined,
      takenOver: false,
      handedOver: undefined,
      windowStart: 0,
      windowBytes: 0,
      lastWindowMs: 0,
      lastWindowBytes: 0,
      active: false,
      checking: undefined,
      checkFailure: undefined,
      server: undefined,
      failovers: 0,
      waitingFor: undefined,
      waitingForList: false,
      attemptStart: 0,
      attemptEnd: 0,
      attemptBytes: 0,
    };
  }

  #request(serverIndex: number, signal?: AbortSignal): RequestOptions {
    const { servers, timeouts, abort } = this.#options;
    return {
      server: servers[serverIndex]!,
      timeouts,
      signal: signal ?? abort.signal,
      kept: this.#keptConnections[serverIndex],
    };
  }

  /** Servers for a range: its own first, then the others in list order;
   * those that failed in this run after those that did not, and those
   * found stuck last. */
  #serverOrder(first: number): number[] {
    const { servers, excluded } = this.#options;
    const rotated = servers.map((_, k) => (first + k) % servers.length)
      .filter((s) => !excluded[s]);
    return [
      ...rotated.filter((s) => !this.#failed[s]),
      ...rotated.filter((s) => this.#failed[s] && !this.#stuck[s]),
      ...rotated.filter((s) => this.#stuck[s]),
    ];
  }

  /** Fetches what is left of a task's range from one server; `true` once
   * the range is complete, `"deferred"` if the server was found stuck
   * while the task waited for it and another one may serve it. */
  async #attempt(
    task: Task,
    serverIndex: number,
  ): Promise<boolean | "deferred"> {
    const { servers, locks, excluded, abort, onEvent } = this.#options;
    const stuckBefore = this.#stuck[serverIndex]!;
    let deferred = false;
    const cancel = new AbortController();
    const request = this.#request(
      serverIndex,
      AbortSignal.any([abort.signal, cancel.signal]),
    );
    const { range } = task;
    task.server = serverIndex;
    task.cancel = cancel;
    try {
      let failure: unknown;
      let first = true;
      let leftOut = false;
      // While the digest list arrives, a request asks only for bytes it
      // covers, and the next one follows as it grows: a piece past them
      // would wait for its check, holding the connection and the server's
      // lock, which the list may need. Once it is whole, one request.
      while (failure === undefined && task.position < range.end) {
        task.waitingFor = serverIndex;
        const until = await this.#listedEnd(task);
        await locks[serverIndex]!.runExclusive(async () => {
          task.waitingFor = undefined;
          // Its digest list differed while this task waited.
          leftOut = excluded[serverIndex]!;
          // Found stuck while this task waited: the others go first.
          deferred = first && !stuckBefore && this.#stuck[serverIndex]! &&
            servers.some((_, s) => !excluded[s] && !this.#stuck[s]);
          if (deferred) return;
          // The tail may have been stolen while this task waited.
          const end = Math.min(range.end, until);
          if (leftOut || task.position >= end) return;
          task.active = true;
          task.heardAt = performance.now();
          task.windowStart = task.heardAt;
          task.windowBytes = 0;
          task.lastWindowMs = 0;
          task.lastWindowBytes = 0;
          if (first) {
            task.attemptStart = performance.now();
            task.attemptBytes = 0;
            first = false;
          } else {
            // The rate counts the time spent fetching, not waiting for
            // the list.
            task.attemptStart += performance.now() - task.attemptEnd;
          }
          try {
            await fetchRange(request, {
              name: this.#options.name,
              offset: task.position,
              length: end - task.position,
              fileSize: this.#options.size,
              onData: (piece) => this.#receive(task, serverIndex, piece),
              onRead: (bytes) => {
                task.received += bytes;
                task.heardAt = performance.now();
                noteBytes(task, bytes, task.heardAt);
              },
              // A thief may move the end down while this runs.
              end: () => Math.min(task.range.end, until),
              pieceBytes: pieceSizeFor(
                this.#options.blockSize,
                servers.length,
                end - task.position,
              ),
              // One connection per server at a time: its buffers serve
              // every range it sends, and stay held while pieces of an
              // earlier range are checked.
              buffers: this.#receiveBuffers[serverIndex],
            });
          } catch (error) {
            failure = error;
          } finally {
            task.received = 0;
            task.active = false;
            task.attemptEnd = performance.now();
          }
        });
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
        if (leftOut || deferred || cancel.signal.aborted) break;
      }
      if (deferred) {
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
        this.#failed[serverIndex] = true;
        this.#stuck[serverIndex] = true;
        task.takenOver = true;
        const taken = task.handedOver!;
        onEvent?.({
          type: "range-failed",
          // As it was: its end moved to where the free server starts.
          range: { ...range, end: taken.end },
          position: taken.start,
          detail: describeFailure(
            request.server,
            new Error(
              `${taken.why}; a free server took over bytes ${taken.start}-${
                taken.end - 1
              }`,
            ),
          ),
        });
        return false;
      }
      if (leftOut) return false;
      return task.position >= range.end;
    } catch (caught) {
      task.waitingFor = undefined;
      // A deadline that passed while a piece was handed over reports a
      // timeout; what the piece's write or check found comes first.
      const error = decisiveError(caught);
      if (error instanceof OutputError) {
        abort.abort(error);
        throw error;
      }
      // Bytes written but not given to the verifier (their piece came
      // after a failed check) are fetched again: the next byte to fetch is
      // the next one the verifier expects.
      if (task.verifier) task.position = task.verifier.position;
      if (abort.signal.aborted) return false;
      this.#failed[serverIndex] = true;
      if (error instanceof OtherVersionError) {
        this.#options.exclude(serverIndex, error.message);
      }
      if (error instanceof IntegrityError) {
        const sources = task.blockSources;
        task.blockSources = new Set();
        for (const source of sources) {
          await this.#judgeCorruption(error, source);
        }
      }
      onEvent?.({
        type: "range-failed",
        range,
        position: task.position,
        detail: describeFailure(request.server, error),
      });
      return false;
    }
  }

  /** How far a task may ask for now: to the end of its range, or while
   * the digest list arrives, to the end of what it covers, once that is
   * {@linkcode LISTED_AHEAD_BYTES} past the task's position (or its end). */
  async #listedEnd(task: Task): Promise<number> {
    const { reference, blockSize } = this.#options;
    if (reference === undefined) return task.range.end;
    const wanted = Math.min(
      task.range.end,
      task.position + LISTED_AHEAD_BYTES,
    );
    task.waitingForList = true;
    try {
      await reference.whenCovered(Math.ceil(wanted / blockSize) - 1);
    } finally {
      task.waitingForList = false;
    }
    return reference.ended
      ? task.range.end
      : Math.min(task.range.end, reference.covered * blockSize);
  }

  /** Writes received bytes and starts their check; `false` once the
   * range is full. The check of a piece runs while the next one arrives. */
  async #receive(
    task: Task,
    serverIndex: number,
    received: Uint8Array,
  ): Promise<boolean> {
    // Only up to the range's end: a thief may have moved it down, even
    // below the position when it took over the range.
    const piece = received.subarray(
      0,
      Math.max(0, task.range.end - task.position),
    );
    if (piece.length > 0) {
      task.writing = true;
      try {
        await this.#options.output.writeAt(task.position, piece);
      } finally {
        task.writing = false;
        task.heardAt = performance.now();
      }
      task.position += piece.length;
      task.attemptBytes += piece.length;
      this.#bytesPerServer[serverIndex]! += piece.length;
      this.#responsive[serverIndex] = true;
      this.#stuck[serverIndex] = false;
    }
    task.received -= received.length;
    // A failed check ends the transfer: what follows the bad block is
    // fetched again.
    if (task.checkFailure !== undefined) throw task.checkFailure;
    const { verifier } = task;
    if (verifier && piece.length > 0) {
      const previous = task.checking;
      const checking = (async () => {
        await previous;
        task.blockSources.add(serverIndex);
        const before = verifier.verifiedTo;
        await verifier.update(piece);
        if (verifier.verifiedTo > before) {
          task.blockSources = new Set([serverIndex]);
        }
      })();
      checking.catch((error) => task.checkFailure ??= error);
      task.checking = checking;
      // The piece's buffer is read into again once its check is done.
      this.#receiveBuffers[serverIndex]!.hold(checking);
    }
    return task.position < task.range.end;
  }

  /** A block failed its check: a server whose own copy differs (from the
   * list, or from what it listed itself) is left out for good; otherwise
   * the bytes were damaged on the way. */
  async #judgeCorruption(
    error: IntegrityError,
    serverIndex: number,
  ): Promise<void> {
    const { reference, blockSize, locks, exclude } = this.#options;
    const block = error.start / blockSize;
    // Judged against its own list, a copy that differs has changed since
    // the server sent it (or its list was stale): not the first server's.
    const ownList = reference!.listedBy(serverIndex, block);
    // Compared already, so it arrived.
    const expected = reference!.digestOf(block)!;
    try {
      const theirs = await locks[serverIndex]!.runExclusive(() =>
        requestRangeDigest(
          this.#request(serverIndex),
          { name: this.#options.name, fileSize: this.#options.size },
          error.start,
          error.end - error.start,
        )
      );
      if (!equalBytes(theirs, expected)) {
        const bytes = `bytes ${error.start}-${error.end - 1}`;
        exclude(
          serverIndex,
          ownList
            ? `its file changed after it sent its digest list (${bytes} differ)`
            : `its copy differs from the first server's in ${bytes}`,
        );
      }
    } catch (caught) {
      if (caught instanceof OtherVersionError) {
        exclude(serverIndex, caught.message);
      }
      // Otherwise no verdict; the server already counts as failed.
    }
  }

  /** Fetches a task's range; returns the server that finished it. */
  async #fetchTask(
    task: Task,
    firstServer: number,
  ): Promise<number | undefined> {
    const { servers, abort, onEvent } = this.#options;
    const { range } = task;
    let attempts = 0;
    for (let round = 0; round <= this.#options.retries; round++) {
      if (abort.signal.aborted) return undefined;
      // Every server left out: no round to announce.
      if (this.#serverOrder(firstServer).length === 0) return undefined;
      if (round > 0) {
        const wait = Math.min(
          this.#options.retryDelayMs * 2 ** (round - 1),
          8000,
        );
        this.#retryRounds++;
        onEvent?.({ type: "retry-round", range, round, delayMs: wait });
        await delay(wait, abort.signal);
      }
      // Each server once per round; the order is taken again after each
      // attempt, so servers that failed meanwhile go after the others.
      const tried = new Set<number>();
      while (true) {
        const serverIndex = this.#serverOrder(firstServer).find((s) =>
          !tried.has(s)
        );
        if (serverIndex === undefined) break;
        if (abort.signal.aborted) return undefined;
        const failover = attempts > 0;
        if (failover) {
          this.#failovers++;
          task.failovers++;
        }
        const done = await this.#attempt(task, serverIndex);
        if (done === "deferred") {
          // Asked again after the others, if need be.
          if (failover) {
            this.#failovers--;
            task.failovers--;
          }
          continue;
        }
        attempts++;
        tried.add(serverIndex);
        if (done) {
          onEvent?.({
            type: "range-done",
            range,
            server: servers[serverIndex]!,
          });
          return serverIndex;
        }
        // Another server fetches the rest: this one has not answered.
        if (task.takenOver) return undefined;
      }
    }
    return undefined;
  }

  #endTask(): void {
    this.#taskEnded.resolve();
    this.#taskEnded = Promise.withResolvers<void>();
  }

  /** Runs a task, then keeps stealing the tail of the task expected to
   * finish last, on the server that just proved free. */
  async #runTask(task: Task): Promise<void> {
    try {
      await this.#stealWhileUseful(task);
    } finally {
      this.#endTask();
    }
  }

  async #stealWhileUseful(task: Task): Promise<void> {
    const server = await this.#fetchTask(
      task,
      task.range.index % this.#options.servers.length,
    );
    this.#endTask();
    if (server !== undefined) await this.#stealFrom(server, task);
  }

  /** A server without a range of its own: it waits for a task stuck on
   * a server that sends nothing (or queued behind a busy one), takes it
   * over, and once it has fetched that, steals like any other. Among such
   * servers, those that answered in this run go first. */
  async #standBy(server: number): Promise<void> {
    try {
      await this.#stealFrom(server, undefined);
    } finally {
      this.#endTask();
    }
  }

  /** Whether a standing-by server may take over work now: it answered in
   * this run and has not failed since, or no server that did is left. */
  #mayStandIn(server: number): boolean {
    const { excluded } = this.#options;
    const trusted = (s: number) =>
      this.#responsive[s]! && !this.#failed[s] && !excluded[s];
    return trusted(server) ||
      !this.#options.servers.some((_, s) => trusted(s));
  }

  /** Keeps stealing the tail of the task expected to finish last, on a
   * server that just proved free (after `current`, its last task), or
   * that stands by (`current` undefined) for stuck work. */
  async #stealFrom(first: number, last: Task | undefined): Promise<void> {
    const { locks, excluded, blockSize, abort, onEvent } = this.#options;
    const minPiece = minPieceFor(blockSize);
    let current = last;
    let server: number | undefined = first;
    while (server !== undefined && !abort.signal.aborted) {
      // Left out, or found stuck: it takes no work it was not given.
      if (excluded[server] || this.#stuck[server]) return;
      const now = performance.now();
      const standingBy = current === undefined;
      const decision: StealDecision = standingBy && !this.#mayStandIn(server)
        ? {
          action: this.#tasks.some((t) => keptTo(t) < t.range.end)
            ? "wait"
            : "stop",
        }
        : decideSteal(
          this.#tasks.map((t) => ({
            position: reached(t),
            end: t.range.end,
            rate: rateOf(t, now),
            active: t.active,
            stuck: isStuck(t, now),
            kept: keptTo(t),
            recentRate: t.writing ? undefined : recentRateOf(t, now),
            waitingFor: t.waitingFor,
            waitingForList: t.waitingForList,
          })),
          {
            server,
            rate: current === undefined ? 0 : rateOf(current, now),
            wholeOnly: standingBy,
          },
          {
            isBusy: (s) => locks[s]!.isLocked(),
            listingOn: this.#options.listingOn(),
          },
          { blockSize, minPieceBytes: minPiece },
        );
      if (decision.action === "stop") return;
      if (decision.action === "wait") {
        await delay(100, abort.signal, this.#taskEnded.promise);
        continue;
      }
      const victim = this.#tasks[decision.victim]!;
      current = this.#newTask({
        index: this.#tasks.length,
        // Still a part of the user's chunk.
        chunk: victim.range.chunk,
        start: decision.splitAt,
        end: victim.range.end,
      });
      // Its server sends nothing, or too slowly: its request is given up.
      if (decision.takeOver) {
        const rate = recentRateOf(victim, now) ?? 0;
        victim.handedOver = {
          start: decision.splitAt,
          end: victim.range.end,
          why: decision.tooSlow
            ? `too slow (${formatByteSize(Math.round(rate))}/s)`
            : `nothing received for ${STUCK_MS / 1000} s`,
        };
      }
      victim.range.end = decision.splitAt;
      if (decision.takeOver) victim.cancel?.abort();
      this.#tasks.push(current);
      onEvent?.({ type: "stolen", from: victim.range, range: current.range });
      server = await this.#fetchTask(current, server);
      this.#endTask();
    }
  }
}
