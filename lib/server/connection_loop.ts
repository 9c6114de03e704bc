/**
 * Serving one client connection: read one request, answer it, disconnect;
 * or, while the client asks to keep the connection open, read and answer
 * one request after another, for a bounded time.
 * Nothing a client sends or does makes this throw; every outcome is logged.
 *
 * @module
 */

import type { DigestCache } from "./digest_cache.ts";
import { type ByteReader, isDisconnect, writeAll } from "../wire/exact_io.ts";
import {
  ProtocolError,
  type Request,
  Status,
  statusName,
} from "../wire/protocol.ts";
import { encodeResponse, readRequest } from "../wire/frame_codec.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import { FileAccessError, type ServedFolder } from "./served_folder.ts";
import {
  describeEnd,
  formatLogLine,
  peerOf,
  type RequestEnd,
  type ServedRequest,
} from "./request_log.ts";
import { type Reply, replyTo, SEND_BUFFER_BYTES } from "./request_handlers.ts";
import { TimeoutError, Watchdog } from "../wire/watchdog.ts";

export { SEND_BUFFER_BYTES };

/** Default time allowed for a client to send its whole request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Default time a send may make no progress (client not reading). */
export const DEFAULT_SEND_TIMEOUT_MS = 15_000;

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
      const started = performance.now();
      const served = await serveRequest(conn, {
        reader,
        watchdog,
        gone: gone.signal,
        options,
      });
      options.log(
        formatLogLine(served, {
          peer: peerOf(conn),
          elapsedMs: performance.now() - started,
        }),
      );
      linger ||= served.replied;
      if (!(served.end.ok && served.request?.keepOpen === true)) break;
      // Clients waiting in the backlog get their turn: past the hold time a
      // kept connection is closed after its reply (a client that asked to
      // keep it sends its next request only after reading the reply, so
      // nothing is left unread), and its next request queues like theirs.
      if (performance.now() - opened >= KEEP_OPEN_HOLD_MS) {
        linger = false;
        break;
      }
      const next = await nextRequest(conn, watchdog);
      if (next === undefined) break;
      reader = next;
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

/**
 * Waits for the first byte of the client's next request on a kept
 * connection: the client may send it or leave, and the server, which serves
 * one connection at a time, waits only briefly for either.
 *
 * @returns A reader of the request, or `undefined` if none came.
 */
async function nextRequest(
  conn: Deno.TcpConn,
  watchdog: Watchdog,
): Promise<ByteReader | undefined> {
  watchdog.arm(KEEP_OPEN_IDLE_MS, "waiting for the next request");
  const first = new Uint8Array(1);
  let n: number | null;
  try {
    n = await conn.read(first);
  } catch {
    return undefined;
  }
  return n === null ? undefined : withFirstByte(first[0]!, conn);
}

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

/** What serving one request needs besides the connection. */
interface RequestContext {
  /** Where the request is read from: the connection, or a byte read
   * already and then the connection. */
  reader: ByteReader;
  /** The connection's deadline, closing it on expiry. */
  watchdog: Watchdog;
  /** Aborted when the connection is closed. */
  gone: AbortSignal;
  /** How the connection is served. */
  options: ServeOptions;
}

/**
 * Reads one request, answers it, and tells what happened. Never throws.
 *
 * @returns What happened: the request, what was sent, how it ended.
 */
async function serveRequest(
  conn: Deno.TcpConn,
  { reader, watchdog, gone, options }: RequestContext,
): Promise<ServedRequest> {
  const sender = new ReplySender(conn, { watchdog, options });
  let request: Request | undefined;
  let end: RequestEnd;
  try {
    watchdog.arm(options.requestTimeoutMs, "reading the request");
    request = await readRequest(reader);
    // The request is in; from here on the send timeout applies.
    watchdog.arm(options.sendTimeoutMs, "preparing the reply");
    using served = options.folder.openFile(request.name);
    const reply = await replyTo(request, {
      served,
      digestCache: options.digestCache,
      sendBuffer: options.sendBuffer,
      pieceSize: options.rateLimiter?.pieceSize,
      signal: gone,
    });
    end = await sender.send(reply);
  } catch (caught) {
    const failure = failureOf(watchdog.explain(caught), {
      request,
      replied: sender.replied,
      peer: peerOf(conn),
      stopping: options.signal?.aborted ?? false,
    });
    if (failure.reply) await sender.sendError(failure.reply);
    end = { ok: false, detail: failure.detail };
  }
  return {
    request,
    bytesSent: sender.bytesSent,
    replied: sender.replied,
    end,
  };
}

/** An error reply's status and message. */
interface ErrorReply {
  status: Status;
  message: string;
}

/**
 * What a request that failed with `error` ends with: the detail for the
 * log, and the error reply to send, if the client is there to read one.
 */
function failureOf(
  error: unknown,
  context: {
    request: Request | undefined;
    replied: boolean;
    peer: string;
    stopping: boolean;
  },
): { detail: string; reply?: ErrorReply } {
  if (error instanceof FileAccessError) {
    const cause = error.cause instanceof Error
      ? ` (${error.cause.message})`
      : "";
    return {
      detail: `${statusName(error.status)}: ${error.message}${cause}`,
      reply: { status: error.status, message: error.message },
    };
  }
  if (error instanceof ProtocolError) {
    const detail = `bad request: ${error.message}`;
    // A stranger's bytes get no reply in this protocol's frames.
    return error.code === "bad-magic" ? { detail } : {
      detail,
      reply: { status: Status.BAD_REQUEST, message: error.message },
    };
  }
  if (isDisconnect(error) || error instanceof TimeoutError) {
    return { detail: describeEnd(error, context) };
  }
  return {
    detail: `server error: ${String(error)}`,
    reply: { status: Status.SERVER_ERROR, message: "Internal server error" },
  };
}

/**
 * Sends one request's reply on a connection, with the send deadline and
 * the rate limit, counting what went out.
 */
class ReplySender {
  #conn: Deno.TcpConn;
  #watchdog: Watchdog;
  #options: ServeOptions;
  #bytesSent = 0;
  #replied = false;

  constructor(
    conn: Deno.TcpConn,
    { watchdog, options }: { watchdog: Watchdog; options: ServeOptions },
  ) {
    this.#conn = conn;
    this.#watchdog = watchdog;
    this.#options = options;
  }

  /** Payload bytes sent so far. */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** Whether a reply header went out (or began to). */
  get replied(): boolean {
    return this.#replied;
  }

  /** Sends an OK reply: its header, then its payload as it is produced. */
  async send(reply: Reply): Promise<RequestEnd> {
    this.#watchdog.arm(this.#options.sendTimeoutMs, "sending the reply");
    this.#replied = true;
    await writeAll(
      this.#conn,
      encodeResponse({
        status: Status.OK,
        message: "",
        fileSize: reply.fileSize,
        payloadLength: reply.payloadLength,
      }),
    );
    for await (const piece of reply.payload) await this.#sendPayload(piece);
    if (this.#bytesSent < reply.payloadLength) {
      return {
        ok: false,
        detail: `file shrank: ended after ${this.#bytesSent} bytes`,
      };
    }
    return { ok: true, cached: reply.cached };
  }

  /**
   * Sends an error reply, unless a reply is under way (another frame would
   * be taken as payload) or the deadline passed. Never throws: a client
   * that cannot get it gets the disconnect that follows.
   */
  async sendError({ status, message }: ErrorReply): Promise<void> {
    if (this.#replied || this.#watchdog.expired) return;
    this.#replied = true;
    try {
      this.#watchdog.arm(this.#options.sendTimeoutMs, "sending an error reply");
      await writeAll(
        this.#conn,
        encodeResponse({ status, message, fileSize: 0, payloadLength: 0 }),
      );
    } catch {
      // The log line already says why the request failed.
    }
  }

  async #sendPayload(bytes: Uint8Array): Promise<void> {
    const limiter = this.#options.rateLimiter;
    for (let at = 0; at < bytes.length;) {
      const piece = bytes.subarray(
        at,
        at + (limiter?.pieceSize ?? bytes.length),
      );
      if (limiter) await limiter.take(piece.length);
      await writeAll(this.#conn, piece);
      this.#watchdog.kick();
      this.#bytesSent += piece.length;
      at += piece.length;
    }
  }
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
