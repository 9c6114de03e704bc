/**
 * SHA-256 digests of a file's fixed-size blocks: computed by the server from
 * its copy, checked by the client against the bytes it receives.
 *
 * @module
 */

import type { BlockHasher } from "./block_hasher.ts";
import { concatBytes, equalBytes } from "./byte_arrays.ts";
import { createHash, type Hash } from "node:crypto";
import { DIGEST_BYTES, hashListLength, MAX_BLOCK_BYTES } from "./protocol.ts";

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
 * Digest lists computed by a server, kept per file version and block size
 * so a file is read for hashing once, not once per client.
 */
export class DigestCache {
  #entries = new Map<string, Uint8Array>();
  #maxEntries: number;

  /**
   * Creates an empty cache.
   *
   * @param maxEntries How many lists to keep; the oldest go first.
   */
  constructor(maxEntries = 64) {
    this.#maxEntries = maxEntries;
  }

  /**
   * The cache key of a file version: device, inode, size and modification
   * time, so a replaced or rewritten file gets a new key.
   *
   * @param info What `stat` said of the open file.
   * @param blockSize The block size of the list.
   * @returns The key.
   */
  static key(info: Deno.FileInfo, blockSize: number): string {
    return `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}:${blockSize}`;
  }

  /** The list stored under `key`, if any. */
  get(key: string): Uint8Array | undefined {
    return this.#entries.get(key);
  }

  /** Stores a list, dropping the oldest one when full. */
  set(key: string, digests: Uint8Array): void {
    this.#entries.delete(key);
    this.#entries.set(key, digests);
    if (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }
}

/** SHA-256 of some bytes. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/**
 * Digests consecutive blocks.
 *
 * @param bytes The blocks; the last may be shorter.
 * @param blockSize The block size.
 * @returns Their SHA-256 digests, concatenated.
 */
export function digestEachBlock(
  bytes: Uint8Array,
  blockSize: number,
): Uint8Array {
  const count = Math.ceil(bytes.length / blockSize);
  const digests = new Uint8Array(count * DIGEST_BYTES);
  for (let i = 0; i < count; i++) {
    const block = bytes.subarray(i * blockSize, (i + 1) * blockSize);
    digests.set(createHash("sha256").update(block).digest(), i * DIGEST_BYTES);
  }
  return digests;
}

/**
 * Reads a file's blocks in order and yields their digests in batches.
 *
 * @param file An open file, read from its start.
 * @param size The file size.
 * @param blockSize The block size.
 * @yields Concatenated digests of the next blocks.
 * @throws {Deno.errors.UnexpectedEof} If the file is shorter than `size`.
 */
export async function* digestBlocks(
  file: Deno.FsFile,
  size: number,
  blockSize: number,
): AsyncGenerator<Uint8Array> {
  await file.seek(0, Deno.SeekMode.Start);
  const buffer = new Uint8Array(Math.max(blockSize, 256 * 1024));
  const blocks = Math.ceil(size / blockSize);
  const batchBlocks = Math.max(1, Math.floor(buffer.length / blockSize));
  let hash = createHash("sha256");
  let inBlock = 0;
  let done = 0;
  let position = 0;
  let batch: Uint8Array[] = [];
  while (done < blocks) {
    const n = await file.read(
      buffer.subarray(0, Math.min(buffer.length, size - position)),
    );
    if (n === null) {
      throw new Deno.errors.UnexpectedEof(
        `The file ended at byte ${position}, expected ${size}`,
      );
    }
    let at = 0;
    while (at < n) {
      const blockEnd = Math.min(blockSize, size - done * blockSize);
      const take = Math.min(n - at, blockEnd - inBlock);
      hash.update(buffer.subarray(at, at + take));
      at += take;
      inBlock += take;
      if (inBlock === blockEnd) {
        batch.push(new Uint8Array(hash.digest()));
        hash = createHash("sha256");
        inBlock = 0;
        done++;
        if (batch.length >= batchBlocks) {
          yield concatBytes(batch);
          batch = [];
        }
      }
    }
    position += n;
  }
  if (batch.length > 0) yield concatBytes(batch);
}

/**
 * The SHA-256 digest of a byte range of a file.
 *
 * @param file An open file.
 * @param offset First byte.
 * @param length Number of bytes.
 * @returns The digest.
 * @throws {Deno.errors.UnexpectedEof} If the file ends first.
 */
export async function digestRange(
  file: Deno.FsFile,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const hash = createHash("sha256");
  const buffer = new Uint8Array(Math.min(length, 256 * 1024));
  let remaining = length;
  while (remaining > 0) {
    const n = await file.read(
      buffer.subarray(0, Math.min(buffer.length, remaining)),
    );
    if (n === null) {
      throw new Deno.errors.UnexpectedEof(
        `The file ended at byte ${offset + length - remaining}`,
      );
    }
    hash.update(buffer.subarray(0, n));
    remaining -= n;
  }
  return new Uint8Array(hash.digest());
}

/**
 * Checks the bytes of one range, in order, block by block, against the
 * digest list. Bytes may arrive over several connections: the state of
 * the block in progress carries over.
 */
export class RangeVerifier {
  #digests: Uint8Array;
  #blockSize: number;
  #fileSize: number;
  #verifiedTo: number;
  #position: number;
  #hash: Hash = createHash("sha256");
  #hasher: BlockHasher | undefined;

  /**
   * Creates a verifier for a range.
   *
   * @param options The digest list, block size, file size, the
   * block-aligned byte the range starts at, and a hasher for whole blocks
   * (without one they are hashed on this thread).
   */
  constructor(options: {
    digests: Uint8Array;
    blockSize: number;
    fileSize: number;
    start: number;
    hasher?: BlockHasher | undefined;
  }) {
    this.#hasher = options.hasher;
    this.#digests = options.digests;
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
      this.#hash.update(piece.subarray(0, at));
      this.#position += at;
      if (this.#position < blockEnd) return;
      const digest = this.#hash.digest();
      this.#hash = createHash("sha256");
      this.#settle(blockStart, blockEnd, digest);
      blockStart = blockEnd;
    }
    const end = blockStart + piece.length - at;
    const wholeEnd = end === this.#fileSize
      ? end
      : blockStart + Math.floor((end - blockStart) / blockSize) * blockSize;
    const whole = piece.subarray(at, at + wholeEnd - blockStart);
    // The start of a block that the next pieces finish.
    this.#hash.update(piece.subarray(at + whole.length));
    this.#position = end;
    if (whole.length === 0) return;
    let digests: Uint8Array | undefined;
    try {
      digests = await this.#hasher?.digest(whole, blockSize);
    } catch {
      // The worker is gone: hash here instead.
    }
    digests ??= digestEachBlock(whole, blockSize);
    for (let start = blockStart; start < wholeEnd; start += blockSize) {
      const i = (start - blockStart) / blockSize;
      this.#settle(
        start,
        Math.min(start + blockSize, wholeEnd),
        digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES),
      );
    }
  }

  /** Moves the verified prefix past a block, or back to its start. */
  #settle(start: number, end: number, digest: Uint8Array): void {
    const block = start / this.#blockSize;
    const expected = this.#digests.subarray(
      block * DIGEST_BYTES,
      (block + 1) * DIGEST_BYTES,
    );
    if (!equalBytes(digest, expected)) {
      this.#position = start;
      this.#hash = createHash("sha256");
      throw new IntegrityError(start, end);
    }
    this.#verifiedTo = end;
  }

  /** Drops the block in progress: the next byte given is its first. */
  rewind(): void {
    this.#hash = createHash("sha256");
    this.#position = this.#verifiedTo;
  }
}
