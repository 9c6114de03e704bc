/**
 * Byte counts written for people: `4096`, `64K`, `40M`, `1.5G`.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  "": 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

/**
 * Parses a byte count with an optional 1024-based suffix (K, M, G, T; an
 * optional trailing `B` or `iB` is accepted), as nginx's `limit_rate` reads
 * them: `40M` is 40 MiB.
 *
 * @param text The text to parse.
 * @returns The number of bytes, rounded down to an integer.
 * @throws {RangeError} If the text is not such a count or is zero.
 */
export function parseByteSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const value = match
    ? Math.floor(Number(match[1]) * UNITS[(match[2] ?? "").toUpperCase()]!)
    : NaN;
  if (!(value >= 1) || !Number.isSafeInteger(value)) {
    throw new RangeError(
      `Expected a positive byte count such as 4096, 64K or 40M: received "${text}"`,
    );
  }
  return value;
}

/**
 * Formats a byte count for people, 1024-based: `512 B`, `1.5 KiB`, `40.0 MiB`.
 *
 * @param bytes The count.
 * @returns The formatted text.
 */
export function formatByteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1023.95 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
