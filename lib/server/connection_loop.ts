/**
 * Serving one client connection: read one request, answer it, disconnect;
 * or, while the client asks to keep the connection open, read and answer
 * one request after another, for a bounded time.
 * Nothing a client sends or does makes this throw; every outcome is logged.
 *
 * @module
 */

import { digestBlocks, DigestCache, digestRange } from "./digest_cache.ts";
import { type ByteReader, isDisconnect, writeAll } from "../wire/exact_io.ts";
import {
  encodeResponse,
  hashListLength,
  Op,
  ProtocolError,
  readRequest,
  type Request,
  Status,
  statusName,
} from "../wire/protocol.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import {
  FileAccessError,
  type ServedFile,
  type ServedFolder,
} from "./served_folder.ts";
import { escapeUnseen, quoteName } from "../wire/quoted_name.ts";
import { formatAddress } from "../wire/address.ts";
import { TimeoutError, Watchdog } from "../wire/watchdog.ts";

/** Default time allowed for a client to send its whole request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Default time a send may make no progress (client not reading). */
export const DEFAULT_SEND_TIMEOUT_MS = 15_000;
/** Default size of the reads from the file and writes to the socket. */
export const SEND_BUFFER_BYTES = 1024 * 1024;

/** How a connection is served. */
export interface ServeOptions {
  /** The folder whose files are served. */
  folder: ServedFolder;
  /** Milliseconds allowed to receive the whole request; 0 for no limit. */
  requestTimeoutMs: number;
  /** Milliseconds a send may make no progress; 0 for no limit. */
  sendTimeoutMs: number;
  /** Limits the output rate, if given. */
  rateLimiter?: RateLimiter | undefined;
  /** Receives one line per request. */
  log: (line: string) => void;
  /** Digest lists already computed, shared by all connections. */
  digestCache: DigestCache;
  /**
   * A buffer of {@linkcode SEND_BUFFER_BYTES} for the file's bytes, reused
   * by every connection, which must then be served one at a time (a fresh
   * megabyte per connection costs page faults and zeroing). Without it,
   * each transfer allocates its own.
   */
  sendBuffer?: Uint8Array | undefined;
  /** Closes the connection in progress when aborted (server shutdown). */
  signal?: AbortSignal | undefined;
}

const OP_NAMES: Record<Op, string> = {
  [Op.SIZE]: "SIZE",
  [Op.RANGE]: "RANGE",
  [Op.BLOCK_HASHES]: "BLOCK_HASHES",
  [Op.RANGE_HASH]: "RANGE_HASH",
};

/** What happened to one request, for the log line. */
interface Outcome {
  request?: Request;
  bytesSent: number;
  result: string;
  /** Whether a reply header went out; after it, only a disconnect is left. */
  replied: boolean;
}

/**
 * Serves one connection to its end and closes it: one request, or, while
 * the client asks to keep the connection open, one request after another.
 * Never throws.
 *
 * @param conn The accepted connection; it is closed on return.
 * @param options How to serve.
 */
export async function serveConnection(
  conn: Deno.TcpConn,
  options: ServeOptions,
): Promise<void> {
  let closed = false;
  // The work done for the connection (hashing, say) stops with it: the
  // server is serial, and the next client waits for it.
  const gone = new AbortController();
  const close = () => {
    if (closed) return;
    closed = true;
    conn.close();
    gone.abort(new Deno.errors.Interrupted("The connection was closed"));
  };
  using watchdog = new Watchdog(close);
  options.signal?.addEventListener("abort", close, { once: true });
  try {
    conn.setNoDelay(true);
    const opened = performance.now();
    let reader: ByteReader = conn;
    // A reply sent on this connection must not be cut off by a reset when
    // it closes with input unread: garbage, or a bad next request.
    let linger = false;
    for (;;) {
      const { keepOpen, replied } = await serveRequest(
        conn,
        reader,
        { watchdog, gone: gone.signal },
        options,
      );
      linger ||= replied;
      if (!keepOpen) break;
      // Clients waiting in the backlog get their turn: past the hold time a
      // kept connection is closed after its reply (a client that asked to
      // keep it sends its next request only after reading the reply, so
      // nothing is left unread), and its next request queues like theirs.
      if (performance.now() - opened >= KEEP_OPEN_HOLD_MS) {
        linger = false;
        break;
      }
      // The client may send its next request or leave; the server, which
      // serves one connection at a time, waits only briefly for either.
      watchdog.arm(KEEP_OPEN_IDLE_MS, "waiting for the next request");
      const first = new Uint8Array(1);
      let n: number | null;
      try {
        n = await conn.read(first);
      } catch {
        break;
      }
      if (n === null) break;
      reader = withFirstByte(first[0]!, conn);
    }
    if (linger) await lingerForClose(conn, watchdog);
  } finally {
    options.signal?.removeEventListener("abort", close);
    close();
  }
}

/** How long a kept-open connection may wait for the client's next request. */
const KEEP_OPEN_IDLE_MS = 1000;
/** How long one connection may hold the server before its next request. */
const KEEP_OPEN_HOLD_MS = 2000;

/** A reader that gives one byte already read, then reads from `conn`. */
function withFirstByte(byte: number, conn: ByteReader): ByteReader {
  let given = false;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (given || p.length === 0) return conn.read(p);
      given = true;
      p[0] = byte;
      return Promise.resolve(1);
    },
  };
}

/**
 * Reads one request from `reader`, answers it and logs it.
 *
 * @returns Whether the connection stays open for another request, and
 * whether a reply (or the start of one) went out.
 */
async function serveRequest(
  conn: Deno.TcpConn,
  reader: ByteReader,
  { watchdog, gone }: { watchdog: Watchdog; gone: AbortSignal },
  options: ServeOptions,
): Promise<{ keepOpen: boolean; replied: boolean }> {
  const started = performance.now();
  const outcome: Outcome = { bytesSent: 0, result: "", replied: false };
  try {
    watchdog.arm(options.requestTimeoutMs, "reading the request");
    outcome.request = await readRequest(reader);
    // The request is in; from here on the send timeout applies.
    watchdog.arm(options.sendTimeoutMs, "preparing the reply");
    await answer(conn, outcome.request, outcome, { watchdog, gone }, options);
    const keepOpen = outcome.request.keepOpen === true &&
      outcome.result.startsWith("ok");
    return { keepOpen, replied: outcome.replied };
  } catch (caught) {
    const error = watchdog.explain(caught);
    if (error instanceof FileAccessError) {
      const detail = error.cause instanceof Error
        ? ` (${error.cause.message})`
        : "";
      outcome.result = `${statusName(error.status)}: ${error.message}${detail}`;
      await replyError(
        conn,
        error.status,
        error.message,
        outcome,
        watchdog,
        options,
      );
    } else if (error instanceof ProtocolError) {
      outcome.result = `bad request: ${error.message}`;
      if (error.code !== "bad-magic") {
        await replyError(
          conn,
          Status.BAD_REQUEST,
          error.message,
          outcome,
          watchdog,
          options,
        );
      }
    } else if (isDisconnect(error) || error instanceof TimeoutError) {
      outcome.result = describeEnd(error, outcome, {
        peer: peerOf(conn),
        stopping: options.signal?.aborted ?? false,
      });
    } else {
      outcome.result = `server error: ${String(error)}`;
      await replyError(
        conn,
        Status.SERVER_ERROR,
        "Internal server error",
        outcome,
        watchdog,
        options,
      );
    }
    return { keepOpen: false, replied: outcome.replied };
  } finally {
    options.log(formatLogLine(conn, outcome, performance.now() - started));
  }
}

async function answer(
  conn: Deno.TcpConn,
  request: Request,
  outcome: Outcome,
  { watchdog, gone }: { watchdog: Watchdog; gone: AbortSignal },
  options: ServeOptions,
): Promise<void> {
  using served = options.folder.openFile(request.name);
  if (request.op === Op.SIZE) {
    await sendHeader(conn, served.size, 0, outcome, watchdog, options);
    outcome.result = "ok";
    return;
  }
  if (request.op === Op.BLOCK_HASHES) {
    await sendBlockHashes(conn, request, served, outcome, {
      watchdog,
      gone,
    }, options);
    return;
  }
  const { offset, length } = request;
  if (offset + length > served.size) {
    throw new FileAccessError(
      Status.RANGE,
      `Range ${offset}+${length} is past the end of ${
        quoteName(request.name)
      } (${served.size} bytes)`,
    );
  }
  if (request.op === Op.RANGE_HASH) {
    const digest = await digestRange(served.file, offset, length, gone);
    await sendReply(conn, served.size, digest, outcome, watchdog, options);
    outcome.result = "ok";
    return;
  }
  try {
    served.file.seekSync(offset, Deno.SeekMode.Start);
  } catch (error) {
    throw new FileAccessError(
      Status.SERVER_ERROR,
      `Cannot seek in ${quoteName(request.name)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  await sendHeader(conn, served.size, length, outcome, watchdog, options);
  const limiter = options.rateLimiter;
  const bufferBytes = Math.min(
    SEND_BUFFER_BYTES,
    limiter?.pieceSize ?? Infinity,
    length,
  );
  const buffer = options.sendBuffer?.length === SEND_BUFFER_BYTES
    ? options.sendBuffer.subarray(0, bufferBytes)
    : new Uint8Array(bufferBytes);
  let remaining = length;
  while (remaining > 0) {
    // Synchronous: the server is serial, and a read from the page cache is
    // a copy that costs less than the hop to a thread pool and back.
    const n = served.file.readSync(
      buffer.subarray(0, Math.min(buffer.length, remaining)),
    );
    if (n === null) {
      // The file shrank after the reply was sent: the client sees a short
      // transfer and fetches the rest elsewhere.
      outcome.result = `file shrank: ended after ${outcome.bytesSent} bytes`;
      return;
    }
    await sendPayload(conn, buffer.subarray(0, n), outcome, watchdog, options);
    remaining -= n;
  }
  outcome.result = "ok";
}

async function sendBlockHashes(
  conn: Deno.TcpConn,
  request: Request,
  served: ServedFile,
  outcome: Outcome,
  { watchdog, gone }: { watchdog: Watchdog; gone: AbortSignal },
  options: ServeOptions,
): Promise<void> {
  const blockSize = request.length;
  const listLength = request.offset === 0
    ? hashListLength(served.size, blockSize)
    : undefined;
  if (listLength === undefined) {
    throw new FileAccessError(
      Status.BAD_REQUEST,
      `Cannot list digests of ${
        quoteName(request.name)
      } (${served.size} bytes) in blocks of ${blockSize}: the block size must be a power of two up to 2^30 giving at most 2^21 blocks, and the offset 0`,
    );
  }
  const key = DigestCache.key(served.info, blockSize);
  const cached = options.digestCache.get(key);
  if (cached) {
    await sendReply(conn, served.size, cached, outcome, watchdog, options);
    outcome.result = "ok (cached)";
    return;
  }
  // Sent as computed, so a large file keeps the connection busy, not idle.
  await sendHeader(conn, served.size, listLength, outcome, watchdog, options);
  const digests = new Uint8Array(listLength);
  const readFrom = Date.now();
  const batches = digestBlocks(served.file, served.size, blockSize, gone);
  for await (const batch of batches) {
    digests.set(batch, outcome.bytesSent);
    await sendPayload(conn, batch, outcome, watchdog, options);
  }
  // Not cached if the file changed while it was read, or so shortly before
  // that a change to come could leave the same key.
  if (
    DigestCache.settled(served.info, readFrom) &&
    keyNow(served.file, blockSize) === key
  ) {
    options.digestCache.set(key, digests);
  }
  outcome.result = "ok";
}

/** The cache key of the open file as it is now, if `stat` can tell. */
function keyNow(file: Deno.FsFile, blockSize: number): string | undefined {
  try {
    return DigestCache.key(file.statSync(), blockSize);
  } catch {
    return undefined;
  }
}

async function sendHeader(
  conn: Deno.TcpConn,
  fileSize: number,
  payloadLength: number,
  outcome: Outcome,
  watchdog: Watchdog,
  options: ServeOptions,
): Promise<void> {
  watchdog.arm(options.sendTimeoutMs, "sending the reply");
  outcome.replied = true;
  await writeAll(
    conn,
    encodeResponse({ status: Status.OK, message: "", fileSize, payloadLength }),
  );
}

async function sendPayload(
  conn: Deno.TcpConn,
  bytes: Uint8Array,
  outcome: Outcome,
  watchdog: Watchdog,
  options: ServeOptions,
): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const piece = bytes.subarray(
      at,
      at + (options.rateLimiter?.pieceSize ?? bytes.length),
    );
    if (options.rateLimiter) await options.rateLimiter.take(piece.length);
    await writeAll(conn, piece);
    watchdog.kick();
    outcome.bytesSent += piece.length;
    at += piece.length;
  }
}

async function sendReply(
  conn: Deno.TcpConn,
  fileSize: number,
  payload: Uint8Array,
  outcome: Outcome,
  watchdog: Watchdog,
  options: ServeOptions,
): Promise<void> {
  await sendHeader(conn, fileSize, payload.length, outcome, watchdog, options);
  await sendPayload(conn, payload, outcome, watchdog, options);
}

/** How long a client has to close after a complete reply. */
const LINGER_MS = 1000;

/**
 * Half-closes and reads until the client closes (briefly): closing a socket
 * with unread input makes the kernel reset it, which would throw away the
 * end of a reply the client has not read yet.
 */
async function lingerForClose(
  conn: Deno.TcpConn,
  watchdog: Watchdog,
): Promise<void> {
  try {
    await conn.closeWrite();
    // At most this long in all: a client that keeps sending holds the
    // serial server no longer.
    watchdog.arm(LINGER_MS, "waiting for the client to close");
    const sink = new Uint8Array(4096);
    while (await conn.read(sink) !== null) {
      // Discarded.
    }
  } catch {
    // The reply is complete; however the client leaves is fine.
  }
}

async function replyError(
  conn: Deno.TcpConn,
  status: Status,
  message: string,
  outcome: Outcome,
  watchdog: Watchdog,
  options: ServeOptions,
): Promise<void> {
  // Once a reply is under way, another frame would be taken as payload.
  if (outcome.replied || watchdog.expired) return;
  outcome.replied = true;
  try {
    watchdog.arm(options.sendTimeoutMs, "sending an error reply");
    await writeAll(
      conn,
      encodeResponse({ status, message, fileSize: 0, payloadLength: 0 }),
    );
  } catch {
    // Whatever failed, the client cannot get the reply; the disconnect that
    // follows is all it gets, and the log line already says why.
  }
}

/**
 * What ended a request early, in words: the server stopping (SIGINT or
 * SIGTERM closed the connection), a deadline, or the client leaving; never
 * the system's error for the closed socket ("Bad resource ID", "Broken
 * pipe", "Connection reset by peer").
 */
function describeEnd(
  error: unknown,
  outcome: Outcome,
  { peer, stopping }: { peer: string; stopping: boolean },
): string {
  if (stopping) {
    return outcome.request === undefined
      ? `stopped while waiting for the request of ${peer}`
      : outcome.replied
      ? `stopped during a transfer to ${peer}`
      : `stopped before replying to ${peer}`;
  }
  if (error instanceof TimeoutError) return `disconnected: ${error.message}`;
  return `disconnected: the client closed the connection ${
    outcome.request === undefined
      ? "before its request was complete"
      : outcome.replied
      ? "during the transfer"
      : "before the reply"
  }`;
}

/** The client's address as the log shows it. */
function peerOf(conn: Deno.TcpConn): string {
  // A dual-stack socket sees IPv4 peers as "::ffff:a.b.c.d": log them as IPv4.
  const { hostname, port } = conn.remoteAddr;
  return formatAddress({
    hostname: hostname.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ""),
    port,
  });
}

function formatLogLine(
  conn: Deno.TcpConn,
  outcome: Outcome,
  elapsedMs: number,
): string {
  const peer = peerOf(conn);
  const request = outcome.request;
  const what = request === undefined
    ? "-"
    : request.op === Op.SIZE
    ? `SIZE ${quoteName(request.name)}`
    : `${OP_NAMES[request.op]} ${
      quoteName(request.name)
    } ${request.offset}+${request.length}`;
  return `${
    new Date().toISOString()
  } ${peer} ${what} sent=${outcome.bytesSent} ${
    // Names in it are quoted already; the system's messages may hold them
    // raw.
    escapeUnseen(outcome.result)} ${Math.round(elapsedMs)}ms`;
}
