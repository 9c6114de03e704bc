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
  /** Whether the block has no digest to match (the list ended before it)
   * and a source left out sent it: it is fetched again, never kept. */
  readonly unlisted: boolean;

  /**
   * Creates the error.
   *
   * @param start First byte of the block.
   * @param end One past its last byte.
   * @param unlisted Whether it has no digest and a source left out sent
   * it.
   */
  constructor(start: number, end: number, unlisted = false) {
    super(
      unlisted
        ? `Bytes ${start}-${
          end - 1
        } have no digest, and came from a server left out`
        : `Bytes ${start}-${end - 1} do not match their SHA-256 digest`,
    );
    this.name = "IntegrityError";
    this.start = start;
    this.end = end;
    this.unlisted = unlisted;
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

/** A block hashed on arrival, its reference digest not yet compared. */
interface PendingBlock {
  /** Its first byte. */
  start: number;
  /** One past its last byte. */
  end: number;
  /** Its SHA-256, as received. */
  digest: Uint8Array;
  /** The sources that sent its bytes. */
  from: readonly object[];
}

/**
 * Checks the bytes of one range, in order, block by block, against the
 * digest list. Bytes may arrive over several connections: the state of
 * the block in progress carries over.
 *
 * Each block is hashed once, on arrival, whether or not the list covers it
 * yet: the bytes are written meanwhile, and only the block's 32-byte digest
 * waits for its reference. A block counts as verified (see
 * {@linkcode RangeVerifier.verifiedTo}) only once its digest matched; one
 * that fails when its reference arrives is found by
 * {@linkcode RangeVerifier.settled}.
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
  /** Blocks hashed and waiting for their reference digest, in order. */
  #pending: PendingBlock[] = [];
  /** The sources that sent bytes of the block in progress. */
  #blockFrom: object[] = [];
  #leftOut: (source: object) => boolean;

  /**
   * Creates a verifier for a range.
   *
   * @param options The digest list (a block whose digest has not arrived
   * yet is checked once it does; one whose digest will not come passes
   * unchecked), block size, file size, the block-aligned byte the range
   * starts at, a hasher for whole blocks (without one they are hashed
   * on this thread), and whether a source (as given to
   * {@linkcode RangeVerifier.update}) is left out: a block without a digest
   * that such a source sent does not pass.
   */
  constructor(options: {
    reference: ReferenceDigests;
    blockSize: number;
    fileSize: number;
    start: number;
    hasher?: BlockHasher | undefined;
    leftOut?: ((source: object) => boolean) | undefined;
  }) {
    this.#hasher = options.hasher;
    this.#leftOut = options.leftOut ?? (() => false);
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

  /** End of the blocks hashed so far, compared or waiting for their
   * reference digest. */
  get hashedTo(): number {
    return this.#pending.at(-1)?.end ?? this.#verifiedTo;
  }

  /**
   * Hashes the next bytes of the range, and compares every block whose
   * reference digest is known; the others wait for theirs (see
   * {@linkcode RangeVerifier.settled}). Whole blocks go to the hasher, if
   * there is one; a block that arrives in parts is hashed as they come.
   * The piece must stay unchanged until this settles, and the next call
   * must wait for it.
   *
   * @param piece The bytes that follow those already given.
   * @param from The source that sent them.
   * @throws {IntegrityError} When a block whose reference is known does
   * not match; the verifier is then back at the start of that block.
   */
  async update(piece: Uint8Array, from: object = this): Promise<void> {
    const blockSize = this.#blockSize;
    // The block in progress starts at the end of the hashed blocks.
    let blockStart = this.hashedTo;
    let at = 0;
    if (this.#position > blockStart) {
      // A block begun earlier: finish it first.
      const blockEnd = Math.min(blockStart + blockSize, this.#fileSize);
      at = Math.min(piece.length, blockEnd - this.#position);
      const hash = this.#hash ??= await createSha256();
      hash.update(piece.subarray(0, at));
      this.#position += at;
      if (!this.#blockFrom.includes(from)) this.#blockFrom.push(from);
      if (this.#position < blockEnd) return;
      this.#hash = undefined;
      this.#pending.push({
        start: blockStart,
        end: blockEnd,
        digest: hash.digest(),
        from: this.#blockFrom,
      });
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
        // The hasher is gone: hash here instead.
      }
      digests ??= await digestEachBlock(whole, blockSize);
      for (let start = blockStart; start < wholeEnd; start += blockSize) {
        const i = (start - blockStart) / blockSize;
        this.#pending.push({
          start,
          end: Math.min(start + blockSize, wholeEnd),
          digest: digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES),
          from: [from],
        });
      }
    }
    // The start of a block that the next pieces finish.
    const rest = piece.subarray(at + whole.length);
    this.#blockFrom = [];
    if (rest.length > 0) {
      (this.#hash = await createSha256()).update(rest);
      this.#blockFrom.push(from);
    }
    this.#position = end;
    this.#compareListed();
  }

  /**
   * Waits until every block hashed so far is compared with its reference
   * digest.
   *
   * @throws {IntegrityError} When one does not match; the verifier is
   * then back at the start of that block, and the blocks after it are
   * forgotten (their bytes are fetched again).
   * @throws What stopped the digest list, if it stopped before covering
   * them; the verifier is then back at the end of its verified prefix.
   */
  async settled(): Promise<void> {
    while (this.#pending.length > 0) {
      const head = this.#pending[0]!;
      try {
        await this.#reference.whenCovered(head.start / this.#blockSize);
      } catch (error) {
        this.#backTo(this.#verifiedTo);
        throw error;
      }
      this.#compareListed();
    }
  }

  /** Compares the waiting blocks, in order, as far as the list covers
   * them (or as far as it ended: blocks it will not cover pass). */
  #compareListed(): void {
    const blockSize = this.#blockSize;
    const reference = this.#reference;
    while (this.#pending.length > 0) {
      const { start, end, digest, from } = this.#pending[0]!;
      const block = start / blockSize;
      if (block >= reference.covered && !reference.ended) return;
      const expected = reference.digestOf(block);
      if (expected !== undefined && !equalBytes(digest, expected)) {
        this.#backTo(start);
        throw new IntegrityError(start, end);
      }
      // No digest will come: it passes unchecked, unless a source left out
      // (its copy differs) sent it.
      if (expected === undefined && from.some(this.#leftOut)) {
        this.#backTo(start);
        throw new IntegrityError(start, end, true);
      }
      this.#pending.shift();
      this.#verifiedTo = end;
    }
  }

  /** Forgets what was hashed from a block boundary on. */
  #backTo(start: number): void {
    this.#position = start;
    this.#hash = undefined;
    this.#blockFrom = [];
    this.#pending = [];
  }
}
