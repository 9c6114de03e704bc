/**
 * The digest lists a server computes from its files: the SHA-256 of every
 * block, of one byte range, and a cache of lists per file version.
 *
 * @module
 */

import { concatBytes } from "../wire/byte_arrays.ts";
import { createHash } from "node:crypto";
import { nextTurn } from "../wire/event_loop_turn.ts";
import { BlockDigester } from "../wire/sha256.ts";

/**
 * Size of the reads from the file: at most this much memory, whatever the
 * block size. The reads stay asynchronous, so the server's deadlines (and
 * a stop) can cut short the hashing of a large file or a large block.
 */
const READ_BYTES = 1024 * 1024;

/**
 * How long before it is read a file's last change must lie for its list to
 * be cached: more than the coarsest time stamp granularity of the usual file
 * systems (2 s on FAT).
 */
export const SETTLE_MS = 2100;

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
   * The cache key of a file version: device, inode, size, modification
   * time and change time, so a replaced or rewritten file gets a new key.
   * The change time is the one a rewrite cannot fake: setting the
   * modification time back (`touch -d`) sets it to the present.
   *
   * @param info What `stat` said of the open file.
   * @param blockSize The block size of the list.
   * @returns The key.
   */
  static key(info: Deno.FileInfo, blockSize: number): string {
    return `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}:${blockSize}`;
  }

  /**
   * Whether a list read from a file may be cached under the key of `info`:
   * the file's last change lies at least {@linkcode SETTLE_MS} before the
   * reading started. Time stamps are coarse (Deno gives change times in
   * whole seconds, and some file systems keep no finer ones), so a file
   * changed just before it was read could be changed again after, with the
   * very same time stamps.
   *
   * @param info What `stat` said of the open file.
   * @param readFrom When the reading started (`Date.now()`).
   * @returns `true` if a later change cannot leave the same key.
   */
  static settled(info: Deno.FileInfo, readFrom: number): boolean {
    const changed = info.ctime ?? info.mtime;
    return changed !== null && changed.getTime() <= readFrom - SETTLE_MS;
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

/**
 * Reads a file's blocks in order and yields their digests in batches (the
 * blocks each read completes), so the caller can send each before the next
 * is read.
 *
 * @param file An open file, read from its start.
 * @param options The file size, the block size, and a signal that stops
 * the reading (and hashing) when aborted, before the next read: the work of
 * a connection that is gone.
 * @yields Concatenated digests of the next blocks.
 * @throws {Deno.errors.UnexpectedEof} If the file is shorter than `size`.
 * @throws The signal's reason, once it is aborted.
 */
export async function* digestBlocks(
  file: Deno.FsFile,
  { size, blockSize, signal }: {
    size: number;
    blockSize: number;
    signal?: AbortSignal | undefined;
  },
): AsyncGenerator<Uint8Array> {
  file.seekSync(0, Deno.SeekMode.Start);
  const buffer = new Uint8Array(READ_BYTES);
  const digester = new BlockDigester({
    blockSize,
    newHash: () => createHash("sha256"),
  });
  const reader = new TurningReader(file, signal);
  let position = 0;
  while (position < size) {
    const n = await reader.read(
      buffer.subarray(0, Math.min(buffer.length, size - position)),
    );
    if (n === null) {
      throw new Deno.errors.UnexpectedEof(
        `The file ended at byte ${position}, expected ${size}`,
      );
    }
    position += n;
    const digests = digester.update(buffer.subarray(0, n));
    const batch = position < size
      ? digests
      : concatBytes([digests, digester.end()]);
    if (batch.length > 0) yield batch;
  }
}

/**
 * The SHA-256 digest of a byte range of a file.
 *
 * @param file An open file.
 * @param options The first byte, the number of bytes, and a signal that
 * stops the reading (and hashing) when aborted, before the next read.
 * @returns The digest.
 * @throws {Deno.errors.UnexpectedEof} If the file ends first.
 * @throws The signal's reason, once it is aborted.
 */
export async function digestRange(
  file: Deno.FsFile,
  { offset, length, signal }: {
    offset: number;
    length: number;
    signal?: AbortSignal | undefined;
  },
): Promise<Uint8Array> {
  file.seekSync(offset, Deno.SeekMode.Start);
  const hash = createHash("sha256");
  const buffer = new Uint8Array(Math.min(length, READ_BYTES));
  const reader = new TurningReader(file, signal);
  let remaining = length;
  while (remaining > 0) {
    const n = await reader.read(
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

/** How many bytes are read in a row before the event loop gets a turn. */
const TURN_BYTES = 16 * 1024 * 1024;

/**
 * Reads a file for hashing: synchronously (a read from the page cache is
 * a copy that costs less than the hop to the thread pool and back: 512 MiB
 * hashed in 0.42 s instead of 0.54), with a turn of the event loop every
 * {@linkcode TURN_BYTES}, so a connection that went away is noticed (its
 * signal aborts) and its hashing stops, as before every read.
 */
class TurningReader {
  #file: Deno.FsFile;
  #signal: AbortSignal | undefined;
  #sinceTurn = 0;

  constructor(file: Deno.FsFile, signal: AbortSignal | undefined) {
    this.#file = file;
    this.#signal = signal;
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    if (this.#sinceTurn >= TURN_BYTES) {
      this.#sinceTurn = 0;
      await nextTurn();
    }
    this.#signal?.throwIfAborted();
    const n = this.#file.readSync(buffer);
    this.#sinceTurn += n ?? 0;
    return n;
  }
}
