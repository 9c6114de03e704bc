/**
 * The arithmetic and text of the results: medians, ratios, rates and the
 * plain-text tables the benchmark prints.
 *
 * @module
 */

/** Bytes in a mebibyte. */
export const MIB = 1024 * 1024;
/** Bytes in a GiB. */
export const GIB = 1024 * MIB;

/**
 * The median of some numbers: the middle one, or the mean of the two middle
 * ones. `Infinity` (a run that timed out or failed) sorts last.
 *
 * @param values The numbers, in any order.
 * @returns The median.
 * @throws {RangeError} If there are no numbers.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    throw new RangeError("Cannot take the median of no values");
  }
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[middle]!;
  const low = sorted[middle - 1]!;
  const high = sorted[middle]!;
  // Avoids Infinity - Infinity style NaN when both are infinite.
  return low === high ? low : (low + high) / 2;
}

/**
 * How many times longer `value` took than `reference`.
 *
 * @param value The time measured.
 * @param reference The time it is compared to.
 * @returns The ratio, or `undefined` when either is not a finite positive
 * time.
 */
export function ratio(value: number, reference: number): number | undefined {
  if (!(Number.isFinite(value) && Number.isFinite(reference))) return undefined;
  if (!(reference > 0) || value < 0) return undefined;
  return value / reference;
}

/**
 * Throughput in MiB per second.
 *
 * @param bytes Bytes moved.
 * @param seconds Time taken.
 * @returns MiB/s, or `undefined` for a time that is not finite and positive.
 */
export function mibPerSecond(
  bytes: number,
  seconds: number,
): number | undefined {
  if (!(Number.isFinite(seconds) && seconds > 0)) return undefined;
  return bytes / MIB / seconds;
}

/**
 * A time in seconds with three decimals.
 *
 * @param seconds The time.
 * @returns The text, such as `1.234`.
 */
export function formatSeconds(seconds: number): string {
  return seconds.toFixed(3);
}

/**
 * A ratio as `1.23x`, or `-` when there is none.
 *
 * @param value The ratio.
 * @returns The text.
 */
export function formatRatio(value: number | undefined): string {
  return value === undefined ? "-" : `${value.toFixed(2)}x`;
}

/**
 * A byte count in MiB with one decimal: `512.0 MiB`.
 *
 * @param bytes The count.
 * @returns The text.
 */
export function formatMiB(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/**
 * A rate in MiB/s with one decimal, or `-` when there is none.
 *
 * @param value MiB per second.
 * @returns The text.
 */
export function formatRate(value: number | undefined): string {
  return value === undefined ? "-" : value.toFixed(1);
}

/** One column of a table. */
export interface Column {
  header: string;
  /** Numbers read best right-aligned; names left-aligned. */
  align: "left" | "right";
}

/**
 * Lays out rows as a plain-text table: a header, a rule of dashes and one
 * line per row, columns padded to their widest cell and separated by two
 * spaces. Trailing spaces are trimmed.
 *
 * @param columns The columns.
 * @param rows The cells, one array per row, as many cells as columns.
 * @returns The lines of the table.
 * @throws {TypeError} If a row has another number of cells than columns.
 */
export function formatTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
): string[] {
  for (const [index, row] of rows.entries()) {
    if (row.length !== columns.length) {
      throw new TypeError(
        `Cannot format table: row ${index} has ${row.length} cells, expected ${columns.length}`,
      );
    }
  }
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...rows.map((row) => row[i]!.length))
  );
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) =>
      columns[i]!.align === "right"
        ? cell.padStart(widths[i]!)
        : cell.padEnd(widths[i]!)
    ).join("  ").trimEnd();
  return [
    line(columns.map((column) => column.header)),
    widths.map((width) => "-".repeat(width)).join("  "),
    ...rows.map(line),
  ];
}
