/**
 * A reader over bytes in memory that hands them out a few at a time, as a
 * socket may. Internal to the tests.
 *
 * @module
 */

import type { ByteReader } from "../../lib/wire/exact_io.ts";

/** Hands out in-memory bytes in pieces of the given sizes, in turn. */
export class PieceReader implements ByteReader {
  #bytes: Uint8Array;
  #pieces: number[];
  #reads = 0;
  /** How many bytes were handed out. */
  consumed = 0;
  /** How many times `read` was called. */
  calls = 0;

  /**
   * Creates the reader.
   *
   * @param bytes What it hands out.
   * @param pieces The most each read gives, in turn.
   */
  constructor(bytes: Uint8Array, pieces: number[] = [1, 3, 2]) {
    this.#bytes = bytes;
    this.#pieces = pieces;
  }

  /**
   * Copies the next piece into `p`.
   *
   * @param p Where the bytes go.
   * @returns How many bytes were copied, or `null` at the end.
   */
  read(p: Uint8Array): Promise<number | null> {
    this.calls++;
    if (this.consumed >= this.#bytes.length) return Promise.resolve(null);
    const piece = this.#pieces[this.#reads++ % this.#pieces.length]!;
    const n = Math.min(p.length, piece, this.#bytes.length - this.consumed);
    p.set(this.#bytes.subarray(this.consumed, this.consumed + n));
    this.consumed += n;
    return Promise.resolve(n);
  }
}
