/**
 * SHA-256 digests of a file's fixed-size blocks, as the client checks them
 * against the bytes it receives (the server computes them in
 * `lib/server/digest_cache.ts`, with the same block loop of
 * `lib/wire/sha256.ts`).
 *
 * @module
 */

import type { BlockHasher } from "./block_hasher.ts";
import { equalBytes } from "../../wire/byte_arrays.ts";
import type { Hash } from "node:crypto";
import { createSha256, digestEachBlock } from "../../wire/sha256.ts";
import {
  DIGEST_BYTES,
  hashListLength,
  MAX_BLOCK_BYTES,
} from "../../wire/protocol.ts";
import type { ReferenceDigests } from "./reference_digests.ts";

/** Largest block size the client picks. */
export const MAX_CHOSEN_BLOCK_BYTES = 256 * 1024;

/** Received bytes do not match the digest the client settled on. */
export class IntegrityError extends Error {
  /** The block that failed: its first byte. */
  readonly start: number;
  /** One past its last byte. */
  readonly end: number;

  /**
   * Creates the error.
   *
   * @param start First byte of the block.
   * @param end One past its last byte.
   */
  constructor(start: number, end: number) {
    super(`Bytes ${start}-${end - 1} do not match their SHA-256 digest`);
    this.name = "IntegrityError";
    this.start = start;
    this.end = end;
  }
}

/**
 * Picks the block size for a download: the largest power of two that gives
 * every range at least 16 blocks (so aligning ranges to blocks keeps them
 * within about 1/16 of equal), at most {@linkcode MAX_CHOSEN_BLOCK_BYTES}.
 * Ranges are then aligned to blocks, so every block is checked by the one
 * task that fetches it. Files past 512 GiB get larger blocks, so the digest
 * list stays within its limit.
 *
 * @param size The file size.
 * @param numChunks How many ranges the file is split into.
 * @returns A power of two from 1 to {@linkcode MAX_CHOSEN_BLOCK_BYTES}, or
 * larger (up to {@linkcode MAX_BLOCK_BYTES}) for files past 512 GiB.
 */
export function chooseBlockSize(size: number, numChunks: number): number {
  const perChunk = Math.max(1, Math.floor(size / numChunks / 16));
  let blockSize = 1;
  while (blockSize * 2 <= perChunk && blockSize < MAX_CHOSEN_BLOCK_BYTES) {
    blockSize *= 2;
  }
  // Past 512 GiB, 256 KiB blocks would make the list longer than allowed.
  while (
    hashListLength(size, blockSize) === undefined &&
    blockSize < MAX_BLOCK_BYTES
  ) {
    blockSize *= 2;
  }
  return blockSize;
}

/**
 * Whether a block size, such as one a saved state names, can be used for a
 * file: a power of two from 2 up to the largest {@linkcode chooseBlockSize}
 * picks for the file (with one range), whose digest list the servers can
 * send. Any other is refused by the servers, or is not one this client
 * picks.
 *
 * @param blockSize The block size.
 * @param size The file size.
 * @returns `true` if the digests can be asked for in blocks of that size.
 */
export function isUsableBlockSize(blockSize: number, size: number): boolean {
  return Number.isSafeInteger(blockSize) && blockSize >= 2 &&
    blockSize <= chooseBlockSize(size, 1) &&
    hashListLength(size, blockSize) !== undefined;
}

/**
 * Checks the bytes of one range, in order, block by block, against the
 * digest list. Bytes may arrive over several connections: the state of
 * the block in progress carries over.
 */
export class RangeVerifier {
  #reference: ReferenceDigests;
  #blockSize: number;
  #fileSize: number;
  #verifiedTo: number;
  #position: number;
  /** The block in progress, begun by an earlier piece. */
  #hash: Hash | undefined;
  #hasher: BlockHasher | undefined;

  /**
   * Creates a verifier for a range.
   *
   * @param options The digest list (a block whose digest has not arrived
   * yet is checked once it does; one whose digest will not come passes
   * unchecked), block size, file size, the block-aligned byte the range
   * starts at, and a hasher for whole blocks (without one they are hashed
   * on this thread).
   */
  constructor(options: {
    reference: ReferenceDigests;
    blockSize: number;
    fileSize: number;
    start: number;
    hasher?: BlockHasher | undefined;
  }) {
    this.#hasher = options.hasher;
    this.#reference = options.reference;
    this.#blockSize = options.blockSize;
    this.#fileSize = options.fileSize;
    this.#verifiedTo = options.start;
    this.#position = options.start;
  }

  /**
   * End of the bytes given so far (after an {@linkcode IntegrityError}, the
   * start of the block that failed): the next byte the verifier expects.
   */
  get position(): number {
    return this.#position;
  }

  /** End of the verified prefix: every byte before it matched. */
  get verifiedTo(): number {
    return this.#verifiedTo;
  }

  /**
   * Checks the next bytes of the range. Whole blocks go to the hasher, if
   * there is one; a block that arrives in parts is hashed as they come.
   * The piece must stay unchanged until this settles, and the next call
   * must wait for it.
   *
   * @param piece The bytes that follow those already given.
   * @throws {IntegrityError} When a block is complete and does not match;
   * the verifier is then back at the start of that block.
   */
  async update(piece: Uint8Array): Promise<void> {
    const blockSize = this.#blockSize;
    // The block in progress starts at the end of the verified prefix.
    let blockStart = this.#verifiedTo;
    let at = 0;
    if (this.#position > blockStart) {
      // A block begun earlier: finish it first.
      const blockEnd = Math.min(blockStart + blockSize, this.#fileSize);
      at = Math.min(piece.length, blockEnd - this.#position);
      const hash = this.#hash ??= await createSha256();
      hash.update(piece.subarray(0, at));
      this.#position += at;
      if (this.#position < blockEnd) return;
      this.#hash = undefined;
      await this.#whenCovered(blockStart / blockSize);
      this.#settle(blockStart, blockEnd, hash.digest());
      blockStart = blockEnd;
    }
    const end = blockStart + piece.length - at;
    const wholeEnd = end === this.#fileSize
      ? end
      : blockStart + Math.floor((end - blockStart) / blockSize) * blockSize;
    const whole = piece.subarray(at, at + wholeEnd - blockStart);
    if (whole.length > 0) {
      let digests: Uint8Array | undefined;
      try {
        digests = await this.#hasher?.digest(whole, blockSize);
      } catch {
        // The hasher is closed: hash here instead.
      }
      digests ??= await digestEachBlock(whole, blockSize);
      await this.#whenCovered(Math.ceil(wholeEnd / blockSize) - 1);
      for (let start = blockStart; start < wholeEnd; start += blockSize) {
        const i = (start - blockStart) / blockSize;
        this.#settle(
          start,
          Math.min(start + blockSize, wholeEnd),
          digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES),
        );
      }
    }
    // The start of a block that the next pieces finish, taken only once the
    // whole blocks passed: after any error the position is where the
    // verified prefix ends.
    const rest = piece.subarray(at + whole.length);
    if (rest.length > 0) (this.#hash = await createSha256()).update(rest);
    this.#position = end;
  }

  /** Waits for the digests up to a block; if they will not come because
   * the download stopped, the verifier goes back to the end of its
   * verified prefix. */
  async #whenCovered(block: number): Promise<void> {
    try {
      await this.#reference.whenCovered(block);
    } catch (error) {
      this.#position = this.#verifiedTo;
      this.#hash = undefined;
      throw error;
    }
  }

  /** Moves the verified prefix past a block, or back to its start. A block
   * whose digest will not come passes. */
  #settle(start: number, end: number, digest: Uint8Array): void {
    const expected = this.#reference.digestOf(start / this.#blockSize);
    if (expected !== undefined && !equalBytes(digest, expected)) {
      this.#position = start;
      this.#hash = undefined;
      throw new IntegrityError(start, end);
    }
    this.#verifiedTo = end;
  }
}
