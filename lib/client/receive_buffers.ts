/**
 * The buffers one connection receives into. Pieces are read into them in
 * turn, and whoever takes a piece may hold its buffer (while a worker thread
 * checks it, say): the buffer is read into again only once the hold settles,
 * in this transfer or the next one on the same connection. So a transfer
 * can end, and the server go on to the next range, while the last pieces
 * are still being checked.
 *
 * @module
 */

/** Buffers taken in turn, each reused only once its holder lets it go. */
export class ReceiveBuffers {
  #buffers: (Uint8Array | undefined)[];
  #holds: (Promise<void> | undefined)[];
  #turn = 0;
  #last: number | undefined;

  /**
   * Creates the buffers; they are allocated when first taken.
   *
   * @param count How many take turns; at least 2, so one is read into
   * while the other is held.
   * @throws {RangeError} If `count` is not an integer of at least 2.
   */
  constructor(count = 2) {
    if (!Number.isInteger(count) || count < 2) {
      throw new RangeError(`At least 2 receive buffers, not ${count}`);
    }
    this.#buffers = new Array(count).fill(undefined);
    this.#holds = new Array(count).fill(undefined);
  }

  /**
   * The next buffer in turn, once its hold (if any) has settled. It is
   * backed by a `SharedArrayBuffer`, so a worker thread can read it in
   * place, and has at least `bytes` bytes (a larger one is allocated when
   * it is too small).
   *
   * @param bytes The size wanted.
   * @returns The buffer, possibly longer than `bytes`.
   */
  async take(bytes: number): Promise<Uint8Array> {
    const index = this.#turn;
    this.#turn = (index + 1) % this.#buffers.length;
    const hold = this.#holds[index];
    if (hold !== undefined) await hold;
    this.#holds[index] = undefined;
    let buffer = this.#buffers[index];
    if (buffer === undefined || buffer.length < bytes) {
      buffer = new Uint8Array(new SharedArrayBuffer(bytes));
      this.#buffers[index] = buffer;
    }
    this.#last = index;
    return buffer;
  }

  /**
   * Keeps the buffer last taken from being read into again until `until`
   * settles, whether it fulfils or rejects. Call it for the piece just
   * taken, before the next `take`; a second call for the same buffer
   * replaces the first.
   *
   * @param until What the buffer waits for.
   * @throws {Error} If no buffer was taken yet.
   */
  hold(until: Promise<unknown>): void {
    if (this.#last === undefined) throw new Error("No buffer was taken");
    this.#holds[this.#last] = until.then(() => {}, () => {});
  }
}
