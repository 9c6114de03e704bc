/**
 * A resettable deadline for socket I/O. Deno's `read` and `write` take no
 * signal, so a deadline is enforced by closing the resource, which makes the
 * pending call reject; {@linkcode Watchdog.explain} then turns that rejection
 * into a {@linkcode TimeoutError}.
 *
 * @module
 */

/** The longest delay a timer takes (a longer one fires at once). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** An operation made no progress within its deadline. */
export class TimeoutError extends Error {
  /**
   * Creates the error for an operation that timed out.
   *
   * @param message What timed out.
   * @param options The error that the close caused, as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/**
 * Calls `onExpire` once when no {@linkcode Watchdog.kick} happened for the
 * armed number of milliseconds. Kicking is cheap (one clock read), so it can
 * be called for every chunk of a transfer.
 */
export class Watchdog implements Disposable {
  #onExpire: () => void;
  #ms = 0;
  #what = "";
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the timer fires, from `performance.now()`. */
  #firesAt = 0;
  #expired = false;

  /**
   * Creates a watchdog; it is disarmed until {@linkcode Watchdog.arm}.
   *
   * @param onExpire Called once, on expiry; typically closes a connection.
   */
  constructor(onExpire: () => void) {
    this.#onExpire = onExpire;
  }

  /** Whether the deadline has passed and `onExpire` was called. */
  get expired(): boolean {
    return this.#expired;
  }

  /**
   * Starts (or restarts) the deadline.
   *
   * @param ms Milliseconds without progress allowed; 0 disables the deadline.
   * @param what What is being waited for, for the error message.
   */
  arm(ms: number, what: string): void {
    if (this.#expired) {
      this.#clear();
      return;
    }
    this.#ms = ms;
    this.#what = what;
    this.#last = performance.now();
    if (!(ms > 0)) {
      this.#clear();
      return;
    }
    // A timer that fires before the new deadline looks again then: a
    // request's arms reuse one timer instead of making one each.
    if (this.#timer !== undefined && this.#firesAt <= this.#last + ms) return;
    this.#clear();
    this.#schedule(ms);
  }

  /** Records progress: the deadline counts again from now. */
  kick(): void {
    this.#last = performance.now();
  }

  /**
   * Maps an error raised while the watchdog was armed: if the deadline
   * passed, the error was caused by the close, so a {@linkcode TimeoutError}
   * is returned in its place.
   *
   * @param error The error caught.
   * @returns The error to throw.
   */
  explain(error: unknown): unknown {
    if (!this.#expired) return error;
    return new TimeoutError(
      `Timed out after ${
        this.#ms / 1000
      } s without progress while ${this.#what}`,
      { cause: error },
    );
  }

  /** Stops the deadline. */
  [Symbol.dispose](): void {
    this.#clear();
  }

  #clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    // Timers take at most 2^31 - 1 ms; a longer deadline looks again then.
    const wait = Math.min(ms, MAX_TIMER_MS);
    this.#firesAt = performance.now() + wait;
    this.#timer = setTimeout(() => this.#check(), wait);
  }

  #check(): void {
    this.#timer = undefined;
    if (!(this.#ms > 0)) return;
    const idle = performance.now() - this.#last;
    if (idle < this.#ms) {
      this.#schedule(this.#ms - idle);
      return;
    }
    this.#expired = true;
    this.#onExpire();
  }
}
