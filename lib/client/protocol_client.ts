/**
 * The client's side of one request: connect, ask, check the reply, and
 * stream the payload, each step under its own deadline.
 *
 * @module
 */

import { isDisconnect, readExact, writeAll } from "../wire/exact_io.ts";
import { escapeUnseen } from "../wire/quoted_name.ts";
import {
  DIGEST_BYTES,
  encodeRequest,
  hashListLength,
  Op,
  ProtocolError,
  readResponse,
  type Response,
  Status,
  statusName,
} from "../wire/protocol.ts";
import { formatAddress, type ServerAddress } from "../wire/address.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import { OtherVersionError, type RangeSink } from "./source.ts";

export { OtherVersionError };
import { TimeoutError, Watchdog } from "../wire/watchdog.ts";

/** Deadlines for talking to a server, in milliseconds; 0 means none. */
export interface Timeouts {
  /** Establishing the TCP connection. */
  connectMs: number;
  /** From sending the request to the first byte of the reply. */
  replyMs: number;
  /** Between two pieces of a transfer. */
  stallMs: number;
}

/** Default deadlines. */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = {
  connectMs: 5_000,
  replyMs: 30_000,
  stallMs: 15_000,
};

/** A piece that takes longer than this to fill is handed over unfilled. */
const HANDOVER_MS = 250;

/** Default size of the pieces a transfer is handed over in. */
export const DEFAULT_PIECE_BYTES = 1024 * 1024;

/** The server answered, but not with what was asked for. */
export class ServerReplyError extends Error {
  /** The status the server sent, if it sent one. */
  readonly status: Status | undefined;

  /**
   * Creates the error.
   *
   * @param message What the server said or did.
   * @param status The status it sent, if any.
   */
  constructor(message: string, status?: Status) {
    super(message);
    this.name = "ServerReplyError";
    this.status = status;
  }
}

/**
 * The connection ended before the reply did: the server closed it (it
 * stopped, or dropped this client), or it was lost on the way. The message
 * says so in words, and when; the system's error is the cause.
 */
export class ConnectionLostError extends Error {
  /**
   * Creates the error.
   *
   * @param message What happened, and when.
   * @param options The system's error, as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionLostError";
  }
}

/** A system error that means the connection ended, told in words: whether
 * the reply had begun decides which. Other errors are returned as they are. */
function inWords(error: unknown, replied: boolean): unknown {
  if (!isDisconnect(error)) return error;
  return new ConnectionLostError(
    replied
      ? "the server closed the connection during the transfer"
      : "the server closed the connection before replying",
    { cause: error },
  );
}

/** What every request to a server needs. */
export interface RequestOptions {
  /** The server to ask. */
  server: ServerAddress;
  /** Deadlines for the request's steps. */
  timeouts: Timeouts;
  /** Aborts the request; its connection is closed at once. */
  signal?: AbortSignal | undefined;
  /**
   * Where a connection to this server is kept between requests (see
   * {@linkcode KeptConnection}); only RANGE transfers read to their end
   * keep theirs.
   */
  kept?: KeptConnection | undefined;
}

async function connect(
  server: ServerAddress,
  timeouts: Timeouts,
  signal: AbortSignal | undefined,
): Promise<Deno.TcpConn> {
  const deadline = timeouts.connectMs > 0
    ? AbortSignal.timeout(timeouts.connectMs)
    : undefined;
  const signals = [signal, deadline].filter((s) => s !== undefined);
  try {
    return await Deno.connect({
      hostname: server.hostname,
      port: server.port,
      signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
    });
  } catch (error) {
    if (deadline?.aborted && !signal?.aborted) {
      throw new TimeoutError(
        `Timed out after ${timeouts.connectMs / 1000} s while connecting`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * A connection to one server kept open after a complete reply, for the next
 * request to that server: it saves a connection's setup and the time its
 * TCP windows need to grow. The server waits about a second for the next
 * request, so keep one only while more requests follow soon, and dispose
 * of it when none will.
 */
export class KeptConnection implements Disposable {
  #conn: Deno.TcpConn | undefined;
  /** Whether the server refused version 2 requests: it speaks only 1. */
  refused = false;

  /**
   * Takes the kept connection, if there is one.
   *
   * @returns The connection, now the caller's to use and close.
   */
  take(): Deno.TcpConn | undefined {
    const conn = this.#conn;
    this.#conn = undefined;
    return conn;
  }

  /**
   * Keeps a connection whose last reply was read to its end.
   *
   * @param conn The connection; one kept before is closed.
   */
  keep(conn: Deno.TcpConn): void {
    this[Symbol.dispose]();
    this.#conn = conn;
  }

  /** Closes the kept connection, if any. */
  [Symbol.dispose](): void {
    const conn = this.take();
    try {
      conn?.close();
    } catch {
      // Already closed: nothing to release.
    }
  }
}

/**
 * Sends one request and hands the open connection, positioned after the
 * reply header, to `body`. The connection is closed when `body` returns or
 * throws, when a deadline passes, or when the signal aborts, or earlier by
 * `body` through `finish` (given `true`, when the reply was read to its end
 * and `options.kept` is given, it is kept open there instead).
 *
 * With `options.kept`, the request asks the server to keep the connection
 * open and goes over the kept connection if there is one; if that one fails
 * before a whole reply header arrived (the server closed it meanwhile), the
 * request is sent once more over a new connection. A server that refuses
 * version 2 is asked again in version 1, and marked in `options.kept`.
 *
 * With `fileSize`, the size the client settled on (RANGE and RANGE_HASH
 * ask only for bytes within it), a RANGE status (range not satisfiable)
 * says the server's file is shorter now: an {@linkcode OtherVersionError}.
 */
async function exchange<T>(
  options: RequestOptions,
  request: Parameters<typeof encodeRequest>[0],
  body: (
    conn: Deno.TcpConn,
    response: Response,
    watchdog: Watchdog,
    finish: (reusable: boolean) => void,
  ) => Promise<T>,
  fileSize?: number,
): Promise<T> {
  const { server, timeouts, signal, kept } = options;
  for (let reuse = true;; reuse = false) {
    const keepOpen = kept !== undefined && !kept.refused;
    const frame = encodeRequest({ ...request, keepOpen });
    signal?.throwIfAborted();
    const reused = reuse ? kept?.take() : undefined;
    const conn = reused ?? await connect(server, timeouts, signal);
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      conn.close();
    };
    const finish = (reusable: boolean) => {
      if (!open) return;
      if (reusable && keepOpen && kept) {
        open = false;
        kept.keep(conn);
      } else {
        close();
      }
    };
    signal?.addEventListener("abort", close, { once: true });
    using watchdog = new Watchdog(close);
    let replied = false;
    try {
      conn.setNoDelay(true);
      watchdog.arm(timeouts.replyMs, "waiting for the reply");
      await writeAll(conn, frame);
      const response = await readResponse(conn);
      replied = true;
      if (response.status === Status.RANGE && fileSize !== undefined) {
        throw shorterFile(response.message, fileSize);
      }
      if (response.status !== Status.OK) {
        throw new ServerReplyError(
          // A server's text is shown, so nothing in it may act on a
          // terminal or forge a line.
          `${statusName(response.status)}: ${escapeUnseen(response.message)}`,
          response.status,
        );
      }
      return await body(conn, response, watchdog, finish);
    } catch (error) {
      const explained = watchdog.explain(error);
      // A server of protocol version 1 only: ask it again as such, and
      // keep nothing open with it from now on.
      const versionRefused = keepOpen && kept !== undefined &&
        explained instanceof ServerReplyError &&
        explained.status === Status.BAD_REQUEST &&
        /Unsupported protocol version/.test(explained.message);
      if (versionRefused) {
        kept.refused = true;
        continue;
      }
      const stale = reused !== undefined && !replied &&
        !(explained instanceof TimeoutError) && !signal?.aborted;
      if (!stale) {
        throw signal?.aborted ? explained : inWords(explained, replied);
      }
    } finally {
      signal?.removeEventListener("abort", close);
      close();
    }
  }
}

/** The file is shorter than `fileSize`: a RANGE reply's message ends with
 * its size, `… past the end of "<name>" (<size> bytes)`. */
function shorterFile(message: string, fileSize: number): OtherVersionError {
  const size = /\((\d+) bytes\)$/.exec(message)?.[1];
  return new OtherVersionError(
    size === undefined
      ? `the server's file is shorter than ${fileSize} bytes (${
        escapeUnseen(message)
      }): another version`
      : `the server's file is ${size} bytes, expected ${fileSize}: another version`,
  );
}

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
      if (expected === undefined || response.payloadLength !== expected) {
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

/**
 * Describes a failed request in one line for warnings.
 *
 * @param server The server asked.
 * @param error What it threw.
 * @returns `host:port: reason`.
 */
export function describeFailure(server: ServerAddress, error: unknown): string {
  let reason: string;
  if (error instanceof Deno.errors.ConnectionRefused) {
    reason = "connection refused";
  } else if (
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    (error instanceof DOMException && error.name === "AbortError")
  ) {
    // Closed on this side: the request was given up.
    reason = "the request was given up";
  } else if (isDisconnect(error)) {
    reason = "the server closed the connection";
  } else if (error instanceof Error) {
    reason = error.message;
  } else {
    reason = String(error);
  }
  return `${formatAddress(server)}: ${reason}`;
}

/**
 * Why a server did not report a file's size, in a few words: `not found`,
 * `refused: <the server's reason>`, `connection refused`, `timed out ...`,
 * `wrong protocol: ...` (a server that speaks something else), and so on.
 *
 * @param error What the size request threw.
 * @returns The reason, on one line.
 */
export function sizeFailureReason(error: unknown): string {
  if (error instanceof ServerReplyError) {
    if (error.status === Status.NOT_FOUND) return "not found";
    if (error.status === Status.FORBIDDEN) {
      return `refused: ${error.message.replace(/^forbidden: /, "")}`;
    }
    return error.message;
  }
  if (error instanceof ProtocolError) {
    return error.code === "bad-magic"
      ? 'wrong protocol: its reply does not start with "MSFD" (it speaks another protocol)'
      : `wrong protocol: ${lowerFirst(error.message)}`;
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Deno.errors.UnexpectedEof) {
    return "closed the connection before its reply was complete";
  }
  if (error instanceof TimeoutError) return lowerFirst(error.message);
  const message = error instanceof Error ? error.message : String(error);
  if (/failed to lookup address/.test(message)) {
    return `unknown host: ${message}`;
  }
  return escapeUnseen(message);
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
