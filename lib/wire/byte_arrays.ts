/**
 * Joining and comparing byte arrays.
 *
 * @module
 */

/**
 * Joins byte arrays into one.
 *
 * @param parts The arrays, in order.
 * @returns A new array holding all their bytes.
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

/**
 * Tells whether two byte arrays hold the same bytes.
 *
 * @param a One array.
 * @param b The other.
 * @returns `true` when their lengths and bytes are equal.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
