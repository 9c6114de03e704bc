/**
 * Sets of byte positions kept as sorted, disjoint, half-open intervals:
 * which bytes of a download are complete.
 *
 * @module
 */

/** A half-open interval `[start, end)`. */
export type Interval = readonly [start: number, end: number];

/** A set of byte positions as sorted, disjoint, non-adjacent intervals. */
export class IntervalSet {
  #intervals: [number, number][] = [];

  /**
   * Creates a set holding the given intervals.
   *
   * @param intervals Initial intervals, in any order, may overlap.
   * @throws {RangeError} If an interval is not `0 <= start <= end` with
   * safe integers.
   */
  constructor(intervals: Iterable<Interval> = []) {
    for (const [start, end] of intervals) this.add(start, end);
  }

  /** The intervals, sorted and merged. */
  get intervals(): Interval[] {
    return this.#intervals.map(([s, e]) => [s, e] as const);
  }

  /** How many positions the set holds. */
  get size(): number {
    return this.#intervals.reduce((sum, [s, e]) => sum + (e - s), 0);
  }

  /**
   * Adds `[start, end)`, merging it with what it touches.
   *
   * @param start First position.
   * @param end One past the last position.
   * @throws {RangeError} If the interval is malformed.
   */
  add(start: number, end: number): void {
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(end) ||
      start < 0 || end < start
    ) {
      throw new RangeError(`Invalid interval: received [${start}, ${end})`);
    }
    if (start === end) return;
    const kept: [number, number][] = [];
    let merged: [number, number] = [start, end];
    let placed = false;
    for (const interval of this.#intervals) {
      if (interval[1] < merged[0]) {
        kept.push(interval);
      } else if (interval[0] > merged[1]) {
        if (!placed) kept.push(merged);
        placed = true;
        kept.push(interval);
      } else {
        merged = [
          Math.min(merged[0], interval[0]),
          Math.max(merged[1], interval[1]),
        ];
      }
    }
    if (!placed) kept.push(merged);
    this.#intervals = kept;
  }

  /**
   * Removes `[start, end)`: what of the set lies there.
   *
   * @param start First position.
   * @param end One past the last position.
   * @throws {RangeError} If the interval is malformed.
   */
  remove(start: number, end: number): void {
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(end) ||
      start < 0 || end < start
    ) {
      throw new RangeError(`Invalid interval: received [${start}, ${end})`);
    }
    const kept: [number, number][] = [];
    for (const [s, e] of this.#intervals) {
      if (s < Math.min(e, start)) kept.push([s, Math.min(e, start)]);
      if (Math.max(s, end) < e) kept.push([Math.max(s, end), e]);
    }
    this.#intervals = kept;
  }

  /**
   * The positions of `[0, size)` not in the set.
   *
   * @param size The end of the whole.
   * @returns The gaps, in order.
   */
  gaps(size: number): Interval[] {
    const gaps: Interval[] = [];
    let at = 0;
    for (const [start, end] of this.#intervals) {
      if (start >= size) break;
      if (start > at) gaps.push([at, start]);
      at = Math.max(at, end);
    }
    if (at < size) gaps.push([at, size]);
    return gaps;
  }
}
