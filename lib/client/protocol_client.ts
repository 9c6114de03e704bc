/**
 * The requests a client sends a server: a file's size, its digest list, a
 * range's digest, and a range's bytes streamed into a sink. Each goes
 * through {@linkcode exchange}.
 *
 * @module
 */

import { readExact } from "../wire/exact_io.ts";
import {
  DIGEST_BYTES,
  hashListLength,
  MAX_HASH_LIST_BYTES,
  Op,
  ProtocolError,
  type Response,
} from "../wire/protocol.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import { OtherVersionError, type RangeSink } from "./source.ts";
import type { Watchdog } from "../wire/watchdog.ts";
import {
  ConnectionLostError,
  exchange,
  type RequestOptions,
} from "./request_exchange.ts";

/** A piece that takes longer than this to fill is handed over unfilled. */
const HANDOVER_MS = 250;

/** Default size of the pieces a transfer is handed over in. */
export const DEFAULT_PIECE_BYTES = 1024 * 1024;
/**
 * Asks a server for the size of a file.
 *
 * @param options The server, deadlines and signal.
 * @param name The file name.
 * @returns The size in bytes.
 * @throws {ServerReplyError} If the server answered with an error status.
 * @throws {TimeoutError} If a deadline passed.
 * @throws {ProtocolError} If the reply is not of this protocol.
 */
export function requestSize(
  options: RequestOptions,
  name: string,
): Promise<number> {
  return exchange(
    options,
    { op: Op.SIZE, name, offset: 0, length: 0 },
    (_conn, response) => {
      if (response.payloadLength !== 0) {
        throw new ProtocolError(
          "bad-length",
          `A size reply carries no payload: received length ${response.payloadLength}`,
        );
      }
      return Promise.resolve(response.fileSize);
    },
  );
}

/** A digest request: which file version it is about, and what to digest. */
export interface DigestRequest {
  /** The file's name. */
  name: string;
  /** The size the file must have; a server with another size is refused. */
  fileSize: number;
}

/**
 * Asks a server for the SHA-256 digests of every block of a file.
 *
 * @param options The server, deadlines and signal.
 * @param request The file and the size it must have.
 * @param blockSize The block size, a power of two.
 * @param listener Told when the server accepted the request, and given
 * the list's bytes as they arrive, with where they start in the list (a
 * server that has not cached the list computes it while it sends it). The
 * bytes are read into one buffer again and again: `onDigests` copies what
 * it keeps. What it throws ends the request.
 * @throws {ServerReplyError} If the server refused, or has another size.
 * @throws {TimeoutError} If a deadline passed.
 */
export function requestBlockDigests(
  options: RequestOptions,
  request: DigestRequest,
  blockSize: number,
  listener: {
    onReply?: () => void;
    onDigests: (at: number, bytes: Uint8Array) => void;
  },
): Promise<void> {
  return exchange(
    options,
    { op: Op.BLOCK_HASHES, name: request.name, offset: 0, length: blockSize },
    (conn, response, watchdog) => {
      checkFileSize(response, request.fileSize);
      const expected = hashListLength(request.fileSize, blockSize);
      if (expected === undefined) {
        throw new ProtocolError(
          "bad-length",
          `A file of ${request.fileSize} bytes has no digest list in blocks of ${blockSize} bytes: it would pass the protocol's limit of ${MAX_HASH_LIST_BYTES} bytes`,
        );
      }
      if (response.payloadLength !== expected) {
        throw new ProtocolError(
          "bad-length",
          `Expected ${expected} bytes of digests, the reply announces ${response.payloadLength}`,
        );
      }
      listener.onReply?.();
      watchdog.arm(options.timeouts.stallMs, "receiving digests");
      return streamPayload(conn, expected, watchdog, listener.onDigests);
    },
  );
}

/**
 * Asks a server for the SHA-256 digest of a byte range of a file.
 *
 * @param options The server, deadlines and signal.
 * @param request The file and the size it must have.
 * @param offset First byte.
 * @param length Number of bytes.
 * @returns The digest.
 * @throws {ServerReplyError} If the server refused.
 * @throws {OtherVersionError} If the server's file has another size now
 * (a range past its end says it is shorter).
 * @throws {TimeoutError} If a deadline passed.
 */
export function requestRangeDigest(
  options: RequestOptions,
  request: DigestRequest,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  return exchange(
    options,
    { op: Op.RANGE_HASH, name: request.name, offset, length },
    async (conn, response, watchdog, finish) => {
      checkFileSize(response, request.fileSize);
      if (response.payloadLength !== DIGEST_BYTES) {
        throw new ProtocolError(
          "bad-length",
          `Expected a ${DIGEST_BYTES}-byte digest, the reply announces ${response.payloadLength}`,
        );
      }
      const digest = await readPayload(conn, DIGEST_BYTES, watchdog);
      // Read to its end: the connection may serve the next range.
      finish(true);
      return digest;
    },
    request.fileSize,
  );
}

function checkFileSize(response: Response, fileSize: number): void {
  if (response.fileSize !== fileSize) {
    throw new OtherVersionError(
      `the server's file is ${response.fileSize} bytes, expected ${fileSize}: another version`,
    );
  }
}

/** Reads a payload whole. */
function readPayload(
  conn: Deno.TcpConn,
  length: number,
  watchdog: Watchdog,
): Promise<Uint8Array<ArrayBuffer>> {
  const kicking = {
    read: async (p: Uint8Array) => {
      const n = await conn.read(p);
      watchdog.kick();
      return n;
    },
  };
  return readExact(kicking, new Uint8Array(length));
}

/** How much of a digest list is read at a time: the whole list of a 2 GiB
 * file in 256 KiB blocks. */
const DIGEST_READ_BYTES = 256 * 1024;

/** Reads a payload through one buffer, used again for every read:
 * `onBytes` is given each read's bytes, with where they start in the
 * payload. */
async function streamPayload(
  conn: Deno.TcpConn,
  length: number,
  watchdog: Watchdog,
  onBytes: (at: number, bytes: Uint8Array) => void,
): Promise<void> {
  const buffer = new Uint8Array(Math.min(length, DIGEST_READ_BYTES));
  for (let at = 0; at < length;) {
    const n = await conn.read(
      buffer.subarray(0, Math.min(buffer.length, length - at)),
    );
    if (n === null) {
      throw new ConnectionLostError(
        `the server closed the connection during the transfer, after ${at} of ${length} bytes`,
      );
    }
    watchdog.kick();
    onBytes(at, buffer.subarray(0, n));
    at += n;
  }
}

/** A range to fetch and where its bytes go. */
export interface RangeRequest extends RangeSink {
  /** The file's name. */
  name: string;
  /** First byte of the range. */
  offset: number;
  /** Number of bytes. */
  length: number;
  /** The size the file must have; a server with another size is refused. */
  fileSize: number;
}

/**
 * Fetches a byte range from a server, handing each piece to `onData` as
 * it arrives, until the range is complete or `onData` says to stop. When it throws, the pieces already handed over are valid:
 * the caller resumes after them.
 *
 * @param options The server, deadlines and signal.
 * @param range What to fetch and where it goes.
 * @throws {ServerReplyError} If the server refused.
 * @throws {OtherVersionError} If the server's file has another size now
 * (a range past its end says it is shorter).
 * @throws {TimeoutError} If a deadline passed.
 * @throws {ConnectionLostError} If the server stopped short.
 */
export function fetchRange(
  options: RequestOptions,
  range: RangeRequest,
): Promise<void> {
  return exchange(
    options,
    {
      op: Op.RANGE,
      name: range.name,
      offset: range.offset,
      length: range.length,
    },
    async (conn, response, watchdog, finish) => {
      checkFileSize(response, range.fileSize);
      if (response.payloadLength !== range.length) {
        throw new ProtocolError(
          "bad-length",
          `Asked for ${range.length} bytes, the reply announces ${response.payloadLength}`,
        );
      }
      watchdog.arm(options.timeouts.stallMs, "receiving data");
      const pieceBytes = range.pieceBytes ?? DEFAULT_PIECE_BYTES;
      const buffers = range.buffers ?? new ReceiveBuffers();
      const bufferBytes = Math.min(pieceBytes, range.length);
      const requestedEnd = range.offset + range.length;
      const end = () => Math.min(requestedEnd, range.end?.() ?? requestedEnd);
      let position = range.offset;
      while (position < end()) {
        const buffer = await buffers.take(bufferBytes);
        // Pieces end on multiples of the piece size, or where the range
        // ends now.
        const pieceEnd = () =>
          Math.min((Math.floor(position / pieceBytes) + 1) * pieceBytes, end());
        let filled = 0;
        const started = performance.now();
        try {
          while (position + filled < pieceEnd()) {
            // A slow transfer hands over what it has now and then, so
            // progress is written and saved.
            if (filled > 0 && performance.now() - started > HANDOVER_MS) break;
            const n = await conn.read(
              buffer.subarray(filled, pieceEnd() - position),
            );
            if (n === null) {
              throw new ConnectionLostError(
                `the server closed the connection during the transfer, after ${
                  position + filled - range.offset
                } of ${range.length} bytes`,
              );
            }
            filled += n;
            watchdog.kick();
            range.onRead?.(n);
          }
        } catch (error) {
          // What did arrive is valid; the next server resumes after it.
          if (filled > 0) await range.onData(buffer.subarray(0, filled));
          throw error;
        }
        if (filled === 0) return;
        // Everything wanted is in: the server may go on to its next client
        // while this piece is written and checked.
        if (position + filled >= end()) {
          finish(position + filled === requestedEnd);
        }
        const more = await range.onData(buffer.subarray(0, filled));
        watchdog.kick();
        position += filled;
        if (more === false) return;
      }
    },
    range.fileSize,
  );
}
