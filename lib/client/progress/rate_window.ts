/**
 * The recent transfer rate behind the progress display's rate and ETA.
 *
 * @module
 */

/**
 * A transfer rate over a sliding window of recent samples, so the estimate
 * follows changes (a server slowing down, a failover) within seconds.
 */
export class RateWindow {
  /** How far back samples count, in ms. */
  readonly windowMs: number;
  /** The shortest span that gives an estimate, in ms. */
  readonly minSpanMs: number;
  #samples: { time: number; bytes: number }[] = [];

  /**
   * Makes an empty window.
   *
   * @param options `windowMs` (default 3000) and `minSpanMs` (default 500).
   * @throws {RangeError} If a duration is not positive.
   */
  constructor(options: { windowMs?: number; minSpanMs?: number } = {}) {
    this.windowMs = options.windowMs ?? 3000;
    this.minSpanMs = options.minSpanMs ?? 500;
    if (!(this.windowMs > 0) || !(this.minSpanMs > 0)) {
      throw new RangeError(
        `Rate window durations must be positive: received ${this.windowMs} and ${this.minSpanMs}`,
      );
    }
  }

  /**
   * Records how many bytes were done at a moment.
   *
   * @param timeMs The moment, in ms; it must not go back.
   * @param bytes The bytes done so far.
   * @throws {RangeError} If the time goes back.
   */
  record(timeMs: number, bytes: number): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && timeMs < last.time) {
      throw new RangeError(
        `Rate samples must not go back in time: received ${timeMs} after ${last.time}`,
      );
    }
    this.#samples.push({ time: timeMs, bytes });
    // The newest sample at or before the window's start stays, so the
    // estimate spans the whole window.
    while (
      this.#samples.length > 2 &&
      this.#samples[1]!.time <= timeMs - this.windowMs
    ) {
      this.#samples.shift();
    }
  }

  /**
   * The rate over the window.
   *
   * @returns Bytes per second, or `undefined` while the samples span less
   * than `minSpanMs`.
   */
  bytesPerSecond(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (first === undefined || last === undefined) return undefined;
    const span = last.time - first.time;
    if (span < this.minSpanMs) return undefined;
    // Bytes done can step back when a damaged block is fetched again.
    return Math.max(0, (last.bytes - first.bytes) * 1000 / span);
  }
}
