/**
 * A lock for asynchronous work: one run at a time, in the order asked. (The
 * client used the `async-mutex` package; loading an npm package starts
 * Deno's npm machinery, about 4 MiB of the client's memory.)
 *
 * @module
 */

/** Runs work one at a time, in the order it was asked for. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  #runs = 0;

  /**
   * Runs `work` once the runs asked for before it have ended, holding the
   * lock meanwhile; it is let go however `work` ends.
   *
   * @param work The work.
   * @returns What `work` returns, or its failure.
   */
  runExclusive<T>(work: () => Promise<T> | T): Promise<T> {
    this.#runs++;
    const run = this.#tail.then(() => work());
    const release = () => {
      this.#runs--;
    };
    this.#tail = run.then(release, release);
    return run;
  }

  /**
   * Whether the lock is held: a run is under way (or waiting for one).
   *
   * @returns `true` while held.
   */
  isLocked(): boolean {
    return this.#runs > 0;
  }
}
