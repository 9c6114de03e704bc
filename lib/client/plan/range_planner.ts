/**
 * Splitting a file into the byte ranges that are downloaded concurrently.
 *
 * @module
 */

import { IntervalSet } from "./interval_set.ts";

/** A half-open byte range `[start, end)` of a file. */
export interface ByteRange {
  /** Position in the plan, from 0. */
  index: number;
  /**
   * The user's chunk it lies in, from 0: which of the `numChunks` equal
   * chunks of the whole file (see {@linkcode planChunks}). A resumed run
   * plans ranges over the missing bytes only, and work stealing splits
   * ranges; each piece still belongs to the chunk the user asked for.
   */
  chunk: number;
  /** First byte of the range. */
  start: number;
  /** One past the last byte of the range. */
  end: number;
}

/** How to plan a download that may be partly done already. */
export interface PlanOptions {
  /**
   * Ranges start on multiples of this (the last one ends at the file's
   * end), so each verified block belongs to one range. Default 1.
   */
  blockSize?: number;
  /** Byte intervals already complete; they are left out of the plan. */
  done?: readonly (readonly [number, number])[];
}

function checkPlan(size: number, numChunks: number, blockSize: number): void {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(
      `File size must be a non-negative integer: received ${size}`,
    );
  }
  if (!Number.isSafeInteger(numChunks) || numChunks < 1) {
    throw new RangeError(
      `Number of chunks must be a positive integer: received ${numChunks}`,
    );
  }
  if (!Number.isSafeInteger(blockSize) || blockSize < 1) {
    throw new RangeError(
      `Block size must be a positive integer: received ${blockSize}`,
    );
  }
}

/**
 * The user's chunks: the whole file in `numChunks` contiguous chunks of
 * equal length (in whole blocks), the last one taking the remainder; a
 * file with fewer blocks than `numChunks` gets one chunk per block, an
 * empty file none. A fresh download fetches one range per chunk; a resumed
 * one numbers its ranges by the chunk they lie in, as the first run did.
 *
 * @param size The file size in bytes.
 * @param numChunks How many chunks the user asked for.
 * @param blockSize Chunks start on multiples of this. Default 1.
 * @returns The chunks in file order, `index` and `chunk` both their number.
 * @throws {RangeError} If `size` is not a safe non-negative integer,
 * `numChunks` not a positive safe integer, or the block size not positive.
 */
export function planChunks(
  size: number,
  numChunks: number,
  blockSize = 1,
): ByteRange[] {
  checkPlan(size, numChunks, blockSize);
  const blocks = Math.ceil(size / blockSize);
  const count = Math.min(numChunks, blocks);
  const perChunk = Math.floor(blocks / count) * blockSize;
  return Array.from({ length: count }, (_, i) => ({
    index: i,
    chunk: i,
    start: i * perChunk,
    end: i === count - 1 ? size : (i + 1) * perChunk,
  }));
}

/**
 * Splits the missing bytes of a file into about `numChunks` ranges, each
 * within one of the user's chunks ({@linkcode planChunks}) and carrying its
 * number. For a fresh download that is the chunks themselves. When some
 * bytes are done, the missing bytes are cut where chunks meet, and each
 * such piece gets a share of the ranges in proportion to its length, and
 * at least one.
 *
 * @param size The file size in bytes.
 * @param numChunks How many ranges are wanted.
 * @param options Block alignment and what is done already.
 * @returns The ranges, in file order, covering the missing bytes exactly.
 * @throws {RangeError} If `size` is not a safe non-negative integer,
 * `numChunks` not a positive safe integer, or the block size not positive.
 */
export function planRanges(
  size: number,
  numChunks: number,
  options: PlanOptions = {},
): ByteRange[] {
  const blockSize = options.blockSize ?? 1;
  const chunks = planChunks(size, numChunks, blockSize);
  const gaps = new IntervalSet(options.done ?? []).gaps(size);
  // The missing bytes, cut where chunks meet.
  const pieces: ByteRange[] = [];
  let c = 0;
  for (const [start, end] of gaps) {
    for (let at = start; at < end;) {
      while (chunks[c]!.end <= at) c++;
      const stop = Math.min(end, chunks[c]!.end);
      pieces.push({ index: pieces.length, chunk: c, start: at, end: stop });
      at = stop;
    }
  }
  const missing = pieces.reduce((sum, p) => sum + (p.end - p.start), 0);
  // A fresh download: one range per chunk, whatever their lengths.
  const fresh = missing === size;
  const ranges: ByteRange[] = [];
  for (const { chunk, start, end } of pieces) {
    const blocks = Math.ceil((end - start) / blockSize);
    const share = fresh
      ? 1
      : Math.max(1, Math.round((numChunks * (end - start)) / missing));
    const count = Math.min(share, blocks);
    const perRange = Math.floor(blocks / count) * blockSize;
    for (let i = 0; i < count; i++) {
      ranges.push({
        index: ranges.length,
        chunk,
        start: start + i * perRange,
        end: i === count - 1 ? end : start + (i + 1) * perRange,
      });
    }
  }
  return ranges;
}
