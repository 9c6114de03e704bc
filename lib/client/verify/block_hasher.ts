/**
 * SHA-256 of whole blocks, on the thread that receives them. A worker
 * thread used to do it: it took about 19 MiB (its own JavaScript engine and
 * `node:crypto`), a fifth of the client's memory on a 2 GiB download, and
 * its messages and wake-ups cost more CPU than they saved on two cores. The
 * thread that receives now hashes while Deno's thread pool writes the
 * pieces to the file (see `OutputFile.writeAt`). Web Crypto, which hashes on
 * that pool, copies every block into fresh memory: a page fault per 4 KiB,
 * 0.3 s more CPU per 2 GiB.
 *
 * @module
 */

import { digestEachBlock } from "../../wire/sha256.ts";

/** Hashes whole blocks; once disposed of, it refuses to. */
export class BlockHasher implements Disposable {
  #closed = false;

  /**
   * Digests consecutive blocks.
   *
   * @param bytes The blocks; the last may be shorter.
   * @param blockSize The block size.
   * @returns Their SHA-256 digests, concatenated, 32 bytes each.
   * @throws {Error} If the hasher was disposed of.
   */
  async digest(bytes: Uint8Array, blockSize: number): Promise<Uint8Array> {
    if (this.#closed) throw new Error("The block hasher was closed");
    const digests = await digestEachBlock(bytes, blockSize);
    if (this.#closed) throw new Error("The block hasher was closed");
    return digests;
  }

  /** Closes the hasher: digests still pending, and later ones, are
   * rejected. */
  [Symbol.dispose](): void {
    this.#closed = true;
  }
}
