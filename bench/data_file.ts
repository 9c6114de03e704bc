/**
 * The files the benchmark downloads: random bytes, so that nothing on the
 * way can compress or deduplicate them.
 *
 * @module
 */

/** Bytes written at once. */
const PIECE = 4 * 1024 * 1024;
/** The most `crypto.getRandomValues` fills in one call. */
const RANDOM_LIMIT = 65536;

/**
 * Writes `size` random bytes to a new file, replacing any old one.
 *
 * @param path The file.
 * @param size Its size in bytes.
 */
export async function writeRandomFile(
  path: string,
  size: number,
): Promise<void> {
  using file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const buffer = new Uint8Array(PIECE);
  for (let written = 0; written < size;) {
    const piece = buffer.subarray(0, Math.min(PIECE, size - written));
    for (let at = 0; at < piece.length; at += RANDOM_LIMIT) {
      crypto.getRandomValues(piece.subarray(at, at + RANDOM_LIMIT));
    }
    for (let at = 0; at < piece.length;) {
      at += await file.write(piece.subarray(at));
    }
    written += piece.length;
  }
}
