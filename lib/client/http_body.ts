/**
 * A mirror's reply body handed to a range sink in pieces, read with a BYOB
 * reader into one reused buffer.
 *
 * @module
 */

import type { Watchdog } from "../wire/watchdog.ts";
import { ConnectionLostError } from "./request_exchange.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import type { RangeSink } from "./source.ts";

/** Pieces end on multiples of this when the sink does not say. */
const DEFAULT_PIECE_BYTES = 1024 * 1024;

/**
 * A body is read into one buffer of this size per range, handed back and
 * reused from read to read (a BYOB reader), instead of a fresh chunk per
 * read: their garbage had `fetch` alone peak near 100 MiB resident.
 */
const READ_BYTES = 256 * 1024;

/**
 * Each read lands at the offset, modulo this, that its bytes have in the
 * piece: V8 copies a word at a time only between arrays aligned alike (into
 * a `SharedArrayBuffer` it copies byte by byte otherwise), and the reads'
 * sizes are whatever the socket gave.
 */
const WORD_BYTES = 8;

/**
 * Hands a body to the sink in pieces ending on multiples of its piece
 * size, until the range (or its moved end) is complete.
 *
 * @param body The reply's body.
 * @param options Where the range starts, its length, the sink, and the
 * watchdog kicked at each read.
 * @throws {ConnectionLostError} If the body ends short; the pieces before
 * are handed over first.
 */
export async function streamPieces(
  body: ReadableStream<Uint8Array>,
  options: {
    offset: number;
    length: number;
    sink: RangeSink;
    watchdog: Watchdog;
  },
): Promise<void> {
  const { offset, length, sink, watchdog } = options;
  const pieceBytes = sink.pieceBytes ?? DEFAULT_PIECE_BYTES;
  const buffers = sink.buffers ?? new ReceiveBuffers();
  const requestedEnd = offset + length;
  const end = () => Math.min(requestedEnd, sink.end?.() ?? requestedEnd);
  const reader = body.getReader({ mode: "byob" });
  // Each read takes this buffer over and gives it back in its result.
  let scratch = new ArrayBuffer(READ_BYTES + WORD_BYTES);
  let position = offset;
  let chunk: Uint8Array | undefined;
  let used = 0;
  try {
    while (position < end()) {
      const buffer = await buffers.take(Math.min(pieceBytes, length));
      const pieceEnd = Math.min(
        (Math.floor(position / pieceBytes) + 1) * pieceBytes,
        end(),
      );
      let filled = 0;
      try {
        // Up to the piece's end, or to the range's end if a thief moved it
        // below.
        while (position + filled < Math.min(pieceEnd, end())) {
          if (chunk === undefined || used === chunk.length) {
            const next = await reader.read(
              new Uint8Array(
                scratch,
                (buffer.byteOffset + filled) % WORD_BYTES,
                READ_BYTES,
              ),
            );
            if (next.done) {
              throw new ConnectionLostError(
                `the mirror ended the body after ${
                  position + filled - offset
                } of ${length} bytes`,
              );
            }
            scratch = next.value.buffer as ArrayBuffer;
            chunk = next.value;
            used = 0;
            watchdog.kick();
            sink.onRead?.(chunk.length);
          }
          const n = Math.min(chunk.length - used, pieceEnd - position - filled);
          buffer.set(chunk.subarray(used, used + n), filled);
          used += n;
          filled += n;
        }
      } catch (error) {
        if (filled > 0) await sink.onData(buffer.subarray(0, filled));
        throw error;
      }
      const more = await sink.onData(buffer.subarray(0, filled));
      watchdog.kick();
      position += filled;
      if (more === false) return;
    }
  } finally {
    reader.releaseLock();
  }
}
