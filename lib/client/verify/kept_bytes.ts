/**
 * The bytes a partial download kept from an earlier run, checked against
 * the digest list before they count: the state file that names them is a
 * hint, the digests are the truth. The kept blocks are read back and
 * hashed as the list arrives, while the missing ranges are fetched; the
 * blocks that fail, and those whose digests no server sent, are fetched
 * again afterwards.
 *
 * @module
 */

import type { BlockHasher } from "./block_hasher.ts";
import { digestEachBlock, sha256, toHex } from "../../wire/sha256.ts";
import { equalBytes } from "../../wire/byte_arrays.ts";
import { type Interval, IntervalSet } from "../plan/interval_set.ts";
import { OutputError } from "../output/output_file.ts";
import { DIGEST_BYTES } from "../../wire/protocol.ts";
import type { ReferenceDigests } from "./reference_digests.ts";

/** Bytes read back and hashed at a time; one buffer of this size per
 * hasher, and one more. */
const PIECE_BYTES = 4 * 1024 * 1024;

/** A version of a file as a state names it: the digest of a prefix of its
 * digest list. */
export interface ListIdentity {
  /** SHA-256 (hex) of the first `listed` digests, concatenated. */
  identity: string;
  /** How many digests, from the first, it covers; at least 1. */
  listed: number;
}

/**
 * The identity of the first digests of a list.
 *
 * @param reference The list.
 * @param blocks How many digests; default: all that arrived.
 * @returns Their identity, or `undefined` if none (or not all of them)
 * arrived.
 */
export async function listIdentity(
  reference: ReferenceDigests,
  blocks: number = reference.covered,
): Promise<ListIdentity | undefined> {
  const prefix = blocks > 0 ? reference.prefix(blocks) : undefined;
  if (prefix === undefined) return undefined;
  return { identity: toHex(await sha256(prefix)), listed: blocks };
}

/** The parts of `intervals` outside `removed`. */
function subtract(
  intervals: readonly Interval[],
  removed: IntervalSet,
): Interval[] {
  const removedIntervals = removed.intervals;
  if (removedIntervals.length === 0) return [...intervals];
  const end = Math.max(...intervals.map(([, e]) => e));
  const outside = removed.gaps(end);
  const result: Interval[] = [];
  for (const [start, stop] of intervals) {
    for (const [gapStart, gapEnd] of outside) {
      const s = Math.max(start, gapStart);
      const e = Math.min(stop, gapEnd);
      if (e > s) result.push([s, e]);
    }
  }
  return result;
}

/**
 * Reads `buffer.length` bytes at `offset`, fewer at the end of the file.
 * Synchronous, as the output's writes are: a piece comes from the page
 * cache in about a millisecond, and the hop to a thread pool and back made
 * the check a quarter slower.
 */
function readAt(
  file: Deno.FsFile,
  offset: number,
  buffer: Uint8Array,
): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < buffer.length) {
    const n = file.readSync(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** What a {@linkcode KeptBytes} check needs. */
export interface KeptBytesOptions {
  /** The partial file, open for writing elsewhere; read back here. */
  path: string;
  /** The intervals an earlier run kept: sorted, disjoint, each starting on
   * a block boundary and ending on one or at the end of the file. */
  candidates: readonly Interval[];
  /** The digest list, as it arrives. */
  reference: ReferenceDigests;
  /** The block size of the list. */
  blockSize: number;
  /** The file's size. */
  size: number;
  /** Hash whole blocks on worker threads, each its turn of the pieces;
   * without any, this thread does. */
  hashers: readonly BlockHasher[];
  /** The version the earlier run checked them against, if it knew one. */
  saved: ListIdentity | undefined;
  /** Stops the check: the bytes not checked yet still stand. */
  signal: AbortSignal;
  /** Called once the file is shown to have changed since the earlier run:
   * the list differs from the one the earlier run checked against, and a
   * kept block fails. */
  onChanged?: () => void;
}

/**
 * The check of the bytes kept from an earlier run. Each block is read
 * back once the digest list covers it and passes or fails; one whose
 * digest will not come (no server sent the rest of the list) stays
 * unchecked, and does not count: checks are on. Meanwhile, once the list
 * covers as many digests as the earlier run's identity, it tells whether
 * the list is the one the earlier run checked against. If not, the kept
 * bytes still count as far as they pass (the digests are the truth), but
 * no longer stand before they do, and the file is said to have changed
 * once one fails: the identity alone cannot tell a changed file from an
 * edited state.
 */
export class KeptBytes {
  #options: KeptBytesOptions;
  #passed = new IntervalSet();
  #failed = new IntervalSet();
  #unchecked = new IntervalSet();
  #candidateBytes: number;
  /** Whether the list still has to show that the earlier run's version
   * is this one; "differs" until a kept block fails, "changed" then. */
  #judgement: "pending" | "same" | "differs" | "changed" | "unknown";

  /**
   * Creates the check; nothing is read before {@linkcode run}.
   *
   * @param options The kept intervals, the list, and where to read them.
   */
  constructor(options: KeptBytesOptions) {
    this.#options = options;
    this.#candidateBytes = new IntervalSet(options.candidates).size;
    this.#judgement = options.saved === undefined ? "unknown" : "pending";
  }

  /** Kept bytes that passed their check. */
  get passedBytes(): number {
    return this.#passed.size;
  }

  /** Kept bytes that failed their check (or fell with a changed file). */
  get failedBytes(): number {
    return this.#failed.size;
  }

  /** Kept bytes whose digests no server sent: they are fetched again. */
  get uncheckedBytes(): number {
    return this.#unchecked.size;
  }

  /** Kept bytes that did not fail: passed, or not checked yet (unless the
   * list differs from the earlier run's). */
  get standingBytes(): number {
    if (this.#distrusted) return this.#passed.size;
    return this.#candidateBytes - this.#failed.size - this.#unchecked.size;
  }

  /** The intervals that passed. */
  passed(): Interval[] {
    return this.#passed.intervals;
  }

  /** The intervals that failed: to fetch again. */
  failed(): Interval[] {
    return this.#failed.intervals;
  }

  /** The intervals whose digests no server sent: to fetch again. */
  unchecked(): Interval[] {
    return this.#unchecked.intervals;
  }

  /** The intervals that did not fail: passed, or not checked yet (unless
   * the list differs from the earlier run's: then only those that
   * passed). */
  standing(): Interval[] {
    if (this.#distrusted) return this.passed();
    const out = new IntervalSet([...this.failed(), ...this.unchecked()]);
    return subtract(this.#options.candidates, out);
  }

  /** Whether the file changed since the earlier run: the list differs
   * from the one it checked against, and a kept block failed. */
  get changed(): boolean {
    return this.#judgement === "changed";
  }

  /** Whether the list differs from the one the earlier run checked
   * against: kept bytes not checked yet may be of another version. */
  get #distrusted(): boolean {
    return this.#judgement === "differs" || this.#judgement === "changed";
  }

  /**
   * The earlier run's version while the list has not shown yet whether it
   * still holds: what the standing bytes not checked yet belong to.
   */
  get undecided(): ListIdentity | undefined {
    return this.#judgement === "pending" ? this.#options.saved : undefined;
  }

  /**
   * Checks every kept block, reading the partial file in pieces of up to
   * 4 MiB, each hasher taking the pieces in turn, the next piece read while
   * the last ones are hashed. Ends when all are checked, or when the
   * signal stops it.
   *
   * @throws {OutputError} If the partial file cannot be read.
   */
  async run(): Promise<void> {
    const { path, candidates, reference, blockSize, signal } = this.#options;
    const judging = this.#judge();
    const pieceBytes = blockSize *
      Math.max(1, Math.floor(PIECE_BYTES / blockSize));
    const bufferBytes = Math.min(pieceBytes, this.#candidateBytes);
    const hashers = this.#options.hashers;
    const buffers = Array.from(
      { length: Math.max(2, hashers.length + 1) },
      () => new Uint8Array(new SharedArrayBuffer(bufferBytes)),
    );
    const checks: (Promise<void> | undefined)[] = buffers.map(() => undefined);
    let turn = 0;
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(path, { read: true });
      for (const [start, end] of candidates) {
        let at = start;
        while (at < end) {
          try {
            await reference.whenCovered(at / blockSize);
          } catch {
            // Stopped before the list covered it.
            return;
          }
          if (signal.aborted) return;
          const listedEnd = reference.covered * blockSize;
          if (at >= listedEnd) {
            // The list ended before this block: no digest will come.
            this.#unchecked.add(at, end);
            break;
          }
          const pieceEnd = Math.min(end, at + pieceBytes, listedEnd);
          const index = turn % buffers.length;
          const hasher = hashers[turn % Math.max(1, hashers.length)];
          turn++;
          await checks[index];
          const buffer = buffers[index]!.subarray(0, pieceEnd - at);
          const filled = readAt(file, at, buffer);
          checks[index] = this.#check(
            { start: at, end: pieceEnd, hasher },
            buffer.subarray(0, filled),
          );
          at = pieceEnd;
        }
      }
    } catch (error) {
      throw new OutputError(
        `Cannot read back "${path}": ${(error as Error).message}`,
        { cause: error },
      );
    } finally {
      await Promise.all(checks);
      file?.close();
    }
    await judging;
  }

  /** Hashes the blocks of a piece read back and settles each. Bytes
   * missing from the piece (the file ended) fail. */
  async #check(
    piece: { start: number; end: number; hasher: BlockHasher | undefined },
    bytes: Uint8Array,
  ): Promise<void> {
    const { reference, blockSize } = this.#options;
    const { start, end, hasher } = piece;
    const readEnd = start + bytes.length;
    const wholeEnd = readEnd === end
      ? end
      : start + Math.floor(bytes.length / blockSize) * blockSize;
    if (wholeEnd < end) this.#fail(wholeEnd, end);
    const blocks = bytes.subarray(0, wholeEnd - start);
    if (blocks.length === 0) return;
    let digests: Uint8Array | undefined;
    try {
      digests = await hasher?.digest(blocks, blockSize);
    } catch {
      // The worker is gone: hash here instead.
    }
    digests ??= await digestEachBlock(blocks, blockSize);
    for (let at = start; at < wholeEnd; at += blockSize) {
      const i = (at - start) / blockSize;
      const blockEnd = Math.min(at + blockSize, wholeEnd);
      const expected = reference.digestOf(at / blockSize);
      const actual = digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
      if (expected === undefined) {
        // Pieces end where the list does: not reached.
        this.#unchecked.add(at, blockEnd);
      } else if (equalBytes(actual, expected)) {
        this.#passed.add(at, blockEnd);
      } else {
        this.#fail(at, blockEnd);
      }
    }
  }

  /** Fails kept bytes; with a list that differs from the earlier run's,
   * that shows the file changed. */
  #fail(start: number, end: number): void {
    this.#failed.add(start, end);
    this.#confirmChange();
  }

  #confirmChange(): void {
    if (this.#judgement === "differs" && this.#failed.size > 0) {
      this.#judgement = "changed";
      this.#options.onChanged?.();
    }
  }

  /** Once the list covers as many digests as the earlier run's identity,
   * compares the two. */
  async #judge(): Promise<void> {
    const { saved, reference } = this.#options;
    if (saved === undefined) return;
    try {
      await reference.whenCovered(saved.listed - 1);
    } catch {
      // Stopped first: still undecided.
      return;
    }
    const now = await listIdentity(reference, saved.listed);
    if (now === undefined) {
      // No server sent that much of the list.
      this.#judgement = "unknown";
    } else if (now.identity === saved.identity) {
      this.#judgement = "same";
    } else {
      this.#judgement = "differs";
      this.#confirmChange();
    }
  }
}
