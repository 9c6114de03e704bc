/**
 * The passes of one download: the first, and a second that fetches the
 * kept bytes that failed their check; running them, and what they add up
 * to.
 *
 * @module
 */

import type { DownloadEventSink } from "./download_events.ts";
import { type Interval, IntervalSet } from "./plan/interval_set.ts";
import type { ByteRange } from "./plan/range_planner.ts";
import type { RangeTasks, TaskProgress } from "./range_tasks.ts";
import type { ServerSlot } from "./server_slot.ts";
import type { KeptBytes } from "./verify/kept_bytes.ts";

/** Where a running download is. */
export interface DownloadProgress {
  /** The file's size. */
  size: number;
  /** Bytes kept from an earlier run that did not fail their check (so
   * far). */
  resumedBytes: number;
  /** Bytes present: those kept from an earlier run and those received. */
  doneBytes: number;
  /** Bytes received from each server, in list order. */
  bytesPerServer: readonly number[];
  /** One entry per range, stolen tails included; each names the user's
   * chunk it lies in. */
  tasks: TaskProgress[];
  /** The user's chunks (see `planChunks`): what the display shows, each
   * the sum of its ranges. */
  chunks: readonly ByteRange[];
  /** The bytes kept from an earlier run that did not fail their check
   * (so far), in order. */
  resumed: readonly Interval[];
}

/** The passes of a run: the first, and a second for kept bytes that
 * failed their check; and what they add up to. */
export class Passes {
  #all: RangeTasks[];
  #trusted: Interval[];
  #kept: KeptBytes | undefined;
  #slots: readonly ServerSlot[];
  /** Bytes taken out of those present, and how many passes there were
   * then: what later passes fetch again counts. */
  #withdrawn: { bytes: IntervalSet; before: number }[] = [];

  /**
   * Starts with the first pass.
   *
   * @param first The first pass.
   * @param kept The bytes kept from before: trusted, or being checked;
   * and the servers, which count the bytes each sent over all passes.
   */
  constructor(
    first: RangeTasks,
    kept: {
      trusted: Interval[];
      kept: KeptBytes | undefined;
      slots: readonly ServerSlot[];
    },
  ) {
    this.#all = [first];
    this.#slots = kept.slots;
    this.#trusted = kept.trusted;
    this.#kept = kept.kept;
  }

  /** The passes so far, in order. */
  get all(): readonly RangeTasks[] {
    return this.#all;
  }

  /**
   * Adds the second pass.
   *
   * @param pass Its tasks.
   */
  add(pass: RangeTasks): void {
    this.#all.push(pass);
  }

  /**
   * Takes bytes fetched so far out of those present, as if never fetched:
   * their source was found to lie. A pass added later fetches them again.
   *
   * @param bytes The bytes.
   */
  withdraw(bytes: readonly Interval[]): void {
    this.#withdrawn.push({
      bytes: new IntervalSet(bytes),
      before: this.#all.length,
    });
  }

  /** Bytes kept from before that count (so far): trusted, or standing. */
  get resumedBytes(): number {
    return new IntervalSet(this.#trusted).size +
      (this.#kept?.standingBytes ?? 0);
  }

  /**
   * Bytes received from each server.
   *
   * @returns The bytes, in list order.
   */
  bytesPerServer(): number[] {
    return this.#slots.map((slot) => slot.bytesSent);
  }

  /**
   * The bytes present: trusted, kept and passed, or fetched and checked.
   *
   * @param standing Whether the kept ones not checked yet count too.
   * @returns The bytes.
   */
  present(standing: boolean): IntervalSet {
    const complete = new IntervalSet(this.#trusted);
    const ofKept = this.#kept === undefined
      ? []
      : standing
      ? this.#kept.standing()
      : this.#kept.passed();
    for (const [start, end] of ofKept) complete.add(start, end);
    let next = 0;
    const addPasses = (upTo: number) => {
      for (; next < upTo; next++) {
        for (const [start, end] of this.#all[next]!.kept()) {
          complete.add(start, end);
        }
      }
    };
    for (const { bytes, before } of this.#withdrawn) {
      addPasses(before);
      for (const [start, end] of bytes.intervals) complete.remove(start, end);
    }
    addPasses(this.#all.length);
    return complete;
  }

  /**
   * Where the download is, for a progress display.
   *
   * @param size The file's size.
   * @param chunks The user's chunks.
   * @returns The progress.
   */
  progress(size: number, chunks: readonly ByteRange[]): DownloadProgress {
    const resumedBytes = this.resumedBytes;
    return {
      size,
      resumedBytes,
      doneBytes: this.#all.reduce(
        (sum, p) => sum + p.receivedBytes,
        resumedBytes -
          this.#withdrawn.reduce((sum, { bytes }) => sum + bytes.size, 0),
      ),
      bytesPerServer: this.bytesPerServer(),
      tasks: this.#all.flatMap((p) => p.progress()),
      chunks,
      resumed: this.#kept === undefined
        ? new IntervalSet(this.#trusted).intervals
        : this.#kept.standing(),
    };
  }
}

/**
 * Runs the first pass while the kept bytes are checked; then, if some of
 * them failed or could not be checked, tells the user and runs a second
 * pass for them (unless the first failed or the download was stopped).
 *
 * @param run The passes, the check, the stop, the event sink, and
 * `secondPass`, which makes the second pass's tasks, numbered from
 * `firstIndex`.
 * @returns The error that ended a pass, if one did.
 */
export async function runPasses(run: {
  passes: Passes;
  kept: KeptBytes | undefined;
  abort: AbortController;
  onEvent: DownloadEventSink | undefined;
  secondPass: (firstIndex: number) => RangeTasks;
}): Promise<{ error: unknown } | undefined> {
  const { kept, abort, onEvent } = run;
  const tasks = run.passes.all[0]!;
  const checking = kept?.run().catch((error) => {
    abort.abort(error);
    throw error;
  });
  const settled = await Promise.allSettled([tasks.run(), checking]);
  const rejected = settled.find((s) => s.status === "rejected");
  const failed = rejected && { error: rejected.reason };
  if (
    kept === undefined || (kept.failedBytes === 0 && kept.uncheckedBytes === 0)
  ) {
    return failed;
  }
  if (!kept.changed && kept.failedBytes > 0) {
    onEvent?.({ type: "kept-mismatch", bytes: kept.failedBytes });
  }
  if (kept.uncheckedBytes > 0) {
    onEvent?.({ type: "kept-unchecked", bytes: kept.uncheckedBytes });
  }
  if (failed !== undefined || abort.signal.aborted) return failed;
  // Numbered after the first pass's ranges, stolen tails included; each
  // refetched piece belongs to the user's chunk it lies in.
  const firstIndex = tasks.progress().length;
  // A server serves one connection at a time: the first pass's kept
  // connections would hold the second's off.
  tasks[Symbol.dispose]();
  const again = run.secondPass(firstIndex);
  run.passes.add(again);
  return await again.run().then(() => undefined, (error) => ({ error }));
}
