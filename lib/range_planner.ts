/**
 * Splitting a file into the byte ranges that are downloaded concurrently.
 *
 * @module
 */

/** A half-open byte range `[start, end)` of a file. */
export interface ByteRange {
  /** Position in the plan, from 0. */
  index: number;
  /** First byte of the range. */
  start: number;
  /** One past the last byte of the range. */
  end: number;
}

/**
 * Splits `size` bytes into `numChunks` contiguous ranges of equal length,
 * the last one taking the remainder. A file smaller than `numChunks` bytes
 * gets one range per byte; an empty file gets no range.
 *
 * @param size The file size in bytes.
 * @param numChunks How many ranges are wanted.
 * @returns The ranges, in file order, covering `[0, size)` exactly.
 * @throws {RangeError} If `size` is not a safe non-negative integer or
 * `numChunks` is not a positive safe integer.
 */
export function planRanges(size: number, numChunks: number): ByteRange[] {
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
  const count = Math.min(numChunks, size);
  const length = count === 0 ? 0 : Math.floor(size / count);
  const ranges: ByteRange[] = [];
  for (let index = 0; index < count; index++) {
    const start = index * length;
    const end = index === count - 1 ? size : start + length;
    ranges.push({ index, start, end });
  }
  return ranges;
}
