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

/**
 * Splits the missing bytes of a file into about `numChunks` ranges. For a
 * fresh download that is `numChunks` contiguous ranges of equal length
 * (in whole blocks), the last one taking the remainder; a file with fewer
 * blocks than `numChunks` gets one range per block; an empty file gets no
 * range. When some bytes are done, each gap gets a share of the ranges in
 * proportion to its length, and at least one.
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
  const blockSize = options.blockSize ?? 1;
  if (!Number.isSafeInteger(blockSize) || blockSize < 1) {
    throw new RangeError(
      `Block size must be a positive integer: received ${blockSize}`,
    );
  }
  const gaps = new IntervalSet(options.done ?? []).gaps(size);
  const missing = gaps.reduce((sum, [s, e]) => sum + (e - s), 0);
  const shares = gaps.map(([start, end]) =>
    Math.max(1, Math.round((numChunks * (end - start)) / missing))
  );
  const ranges: ByteRange[] = [];
  for (const [g, [start, end]] of gaps.entries()) {
    const blocks = Math.ceil((end - start) / blockSize);
    const count = Math.min(shares[g]!, blocks);
    const perRange = Math.floor(blocks / count) * blockSize;
    for (let i = 0; i < count; i++) {
      ranges.push({
        index: ranges.length,
        start: start + i * perRange,
        end: i === count - 1 ? end : start + (i + 1) * perRange,
      });
    }
  }
  return ranges;
}
