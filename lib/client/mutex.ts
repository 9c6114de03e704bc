/**
 * Locks for asynchronous work: a {@linkcode Semaphore} lets up to N runs at
 * once, in the order asked; a {@linkcode Mutex} is one that lets one. (The
 * client used the `async-mutex` package; loading an npm package starts
 * Deno's npm machinery, about 4 MiB of the client's memory.)
 *
 * @module
 */

/** Runs up to `permits` pieces of work at once, in the order asked for. */
export class Semaphore {
  readonly #permits: number;
  #running = 0;
  #waiting: (() => void)[] = [];

  /**
   * Creates the semaphore.
   *
   * @param permits How many runs at once, at least 1.
   * @throws {RangeError} If `permits` is not a positive integer.
   */
  constructor(permits: number) {
    if (!Number.isInteger(permits) || permits < 1) {
      throw new RangeError(`At least 1 permit, not ${permits}`);
    }
    this.#permits = permits;
  }

  /**
   * Runs `work` once a permit is free (the runs asked for before it go
   * first), holding the permit meanwhile; it is let go however `work`
   * ends.
   *
   * @param work The work.
   * @returns What `work` returns, or its failure.
   */
  async runExclusive<T>(work: () => Promise<T> | T): Promise<T> {
    if (this.#running < this.#permits && this.#waiting.length === 0) {
      this.#running++;
    } else {
      // The permit is handed over by the run that ends.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next();
    }
  }

  /**
   * Whether every permit is held (a run may be waiting for one too).
   *
   * @returns `true` while no run could start at once.
   */
  isLocked(): boolean {
    return this.#running >= this.#permits;
  }
}

/** Runs work one at a time, in the order it was asked for. */
export class Mutex extends Semaphore {
  /** Creates the mutex: a semaphore of one permit. */
  constructor() {
    super(1);
  }
}
