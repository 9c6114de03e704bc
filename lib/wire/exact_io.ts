/**
 * Exact reads and complete writes over a connection (or a file), and the one
 * place that knows which errors mean "the peer went away".
 *
 * @module
 */

/** Anything with a Deno-style `read`: a connection, a file, a test double. */
export interface ByteReader {
  /** Reads up to `p.length` bytes; `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Anything with a Deno-style `write`. */
export interface ByteWriter {
  /** Writes up to `p.length` bytes and returns how many were written. */
  write(p: Uint8Array): Promise<number>;
}

/**
 * Fills `buffer` completely from `reader`.
 *
 * @param reader Where to read from.
 * @param buffer Where to put the bytes; its whole length is read.
 * @returns `buffer`, filled.
 * @throws {Deno.errors.UnexpectedEof} If the stream ends first.
 */
export async function readExact<T extends Uint8Array>(
  reader: ByteReader,
  buffer: T,
): Promise<T> {
  let filled = 0;
  while (filled < buffer.length) {
    const n = await reader.read(buffer.subarray(filled));
    if (n === null) {
      throw new Deno.errors.UnexpectedEof(
        `The peer closed the connection after ${filled} of ${buffer.length} bytes`,
      );
    }
    filled += n;
  }
  return buffer;
}

/** Anything with a Deno-style `writeSync`: a file, standard error. */
export interface SyncByteWriter {
  /** Writes up to `p.length` bytes and returns how many were written. */
  writeSync(p: Uint8Array): number;
}

/**
 * Writes all of `bytes` to `writer` at once, however many calls it takes.
 *
 * @param writer Where to write.
 * @param bytes What to write.
 */
export function writeAllSync(writer: SyncByteWriter, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) {
    written += writer.writeSync(bytes.subarray(written));
  }
}

/**
 * Writes all of `bytes` to `writer`, however many calls it takes.
 *
 * @param writer Where to write.
 * @param bytes What to write.
 */
export async function writeAll(
  writer: ByteWriter,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await writer.write(bytes.subarray(written));
  }
}

/**
 * Tells whether an error means the peer went away or the connection was
 * closed under us (by a deadline, say), as opposed to a bug or a local
 * failure.
 *
 * @param error Any thrown value.
 * @returns `true` for a reset, broken pipe, closed resource, interrupted
 * operation or unexpected end of stream.
 */
export function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.UnexpectedEof;
}
