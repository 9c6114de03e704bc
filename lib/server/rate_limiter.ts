/**
 * A smooth byte-rate limit: each send reserves its share of time on a
 * virtual clock, and the sender waits until the clock catches up. Only a
 * few milliseconds of unused time may be saved up, so output over any
 * second stays close to the limit instead of bursting.
 *
 * @module
 */

/** How much idle time may be saved up as credit, in milliseconds. */
const BURST_MS = 10;

/** Limits a sender to a number of bytes per second. */
export class RateLimiter {
  /** The limit in bytes per second. */
  readonly bytesPerSecond: number;
  #clock = -Infinity;

  /**
   * Creates a limiter for the given rate.
   *
   * @param bytesPerSecond The limit, a positive number.
   * @throws {RangeError} If the limit is not positive.
   */
  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) {
      throw new RangeError(
        `Rate limit must be positive: received ${bytesPerSecond}`,
      );
    }
    this.bytesPerSecond = bytesPerSecond;
  }

  /**
   * The largest piece worth sending at once: 10 ms of output, so that a
   * send never runs far ahead of the clock.
   */
  get pieceSize(): number {
    return Math.max(1, Math.floor(this.bytesPerSecond / 100));
  }

  /**
   * Reserves time for sending `bytes` bytes.
   *
   * @param bytes The number of bytes about to be sent.
   * @param now The current time in milliseconds.
   * @returns How many milliseconds to wait before sending them.
   */
  reserve(bytes: number, now: number): number {
    this.#clock = Math.max(this.#clock, now - BURST_MS) +
      (bytes * 1000) / this.bytesPerSecond;
    return Math.max(0, this.#clock - now);
  }

  /**
   * Waits until `bytes` bytes may be sent.
   *
   * @param bytes The number of bytes about to be sent.
   */
  async take(bytes: number): Promise<void> {
    const delay = this.reserve(bytes, performance.now());
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
