/**
 * Serving one client connection: read one request, answer it, disconnect.
 * Nothing a client sends or does makes this throw; every outcome is logged.
 *
 * @module
 */

import { isDisconnect, writeAll } from "./conn_io.ts";
import {
  encodeResponse,
  Op,
  ProtocolError,
  readRequest,
  type Request,
  Status,
  statusName,
} from "./protocol.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import { FileAccessError, type ServedFolder } from "./served_folder.ts";
import { formatAddress } from "./server_list.ts";
import { TimeoutError, Watchdog } from "./watchdog.ts";

/** Default time allowed for a client to send its whole request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** Default time a send may make no progress (client not reading). */
export const DEFAULT_SEND_TIMEOUT_MS = 15_000;
/** Default size of the reads from the file and writes to the socket. */
export const SEND_BUFFER_BYTES = 256 * 1024;

/** How a connection is served. */
export interface ServeOptions {
  folder: ServedFolder;
  /** Milliseconds allowed to receive the whole request; 0 for no limit. */
  requestTimeoutMs: number;
  /** Milliseconds a send may make no progress; 0 for no limit. */
  sendTimeoutMs: number;
  /** Limits the output rate, if given. */
  rateLimiter?: RateLimiter | undefined;
  /** Receives one line per connection. */
  log: (line: string) => void;
  /** Closes the connection in progress when aborted (server shutdown). */
  signal?: AbortSignal | undefined;
}

/** What happened on one connection, for the log line. */
interface Outcome {
  request?: Request;
  bytesSent: number;
  result: string;
  /** Whether a reply header went out; after it, only a disconnect is left. */
  replied: boolean;
}

/**
 * Serves one connection to its end and closes it. Never throws.
 *
 * @param conn The accepted connection; it is closed on return.
 * @param options How to serve.
 */
export async function serveConnection(
  conn: Deno.TcpConn,
  options: ServeOptions,
): Promise<void> {
  const started = performance.now();
  const outcome: Outcome = { bytesSent: 0, result: "", replied: false };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    conn.close();
  };
  using watchdog = new Watchdog(close);
  options.signal?.addEventListener("abort", close, { once: true });
  try {
    conn.setNoDelay(true);
    watchdog.arm(options.requestTimeoutMs, "reading the request");
    outcome.request = await readRequest(conn);
    await answer(conn, outcome.request, outcome, watchdog, options);
  } catch (caught) {
    const error = watchdog.explain(caught);
    if (error instanceof FileAccessError) {
      outcome.result = `${statusName(error.status)}: ${error.message}`;
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
      outcome.result = `disconnected: ${(error as Error).message}`;
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
  } finally {
    options.signal?.removeEventListener("abort", close);
    close();
    options.log(formatLogLine(conn, outcome, performance.now() - started));
  }
}

async function answer(
  conn: Deno.TcpConn,
  request: Request,
  outcome: Outcome,
  watchdog: Watchdog,
  options: ServeOptions,
): Promise<void> {
  using served = await options.folder.openFile(request.name);
  if (request.op === Op.SIZE) {
    watchdog.arm(options.sendTimeoutMs, "sending the reply");
    outcome.replied = true;
    await writeAll(
      conn,
      encodeResponse({
        status: Status.OK,
        message: "",
        fileSize: served.size,
        payloadLength: 0,
      }),
    );
    outcome.result = "ok";
    return;
  }
  const { offset, length } = request;
  if (offset + length > served.size) {
    throw new FileAccessError(
      Status.RANGE,
      `Range ${offset}+${length} is past the end of "${request.name}" (${served.size} bytes)`,
    );
  }
  try {
    await served.file.seek(offset, Deno.SeekMode.Start);
  } catch (error) {
    throw new FileAccessError(
      Status.SERVER_ERROR,
      `Cannot seek in "${request.name}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  watchdog.arm(options.sendTimeoutMs, "sending data");
  outcome.replied = true;
  await writeAll(
    conn,
    encodeResponse({
      status: Status.OK,
      message: "",
      fileSize: served.size,
      payloadLength: length,
    }),
  );
  const limiter = options.rateLimiter;
  const buffer = new Uint8Array(
    Math.min(SEND_BUFFER_BYTES, limiter?.pieceSize ?? Infinity, length),
  );
  let remaining = length;
  while (remaining > 0) {
    const n = await served.file.read(
      buffer.subarray(0, Math.min(buffer.length, remaining)),
    );
    if (n === null) {
      // The file shrank after the reply was sent: the client sees a short
      // transfer and fetches the rest elsewhere.
      outcome.result = `file shrank: ended after ${outcome.bytesSent} bytes`;
      return;
    }
    if (limiter) await limiter.take(n);
    await writeAll(conn, buffer.subarray(0, n));
    watchdog.kick();
    outcome.bytesSent += n;
    remaining -= n;
  }
  outcome.result = "ok";
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

function formatLogLine(
  conn: Deno.TcpConn,
  outcome: Outcome,
  elapsedMs: number,
): string {
  const peer = formatAddress(conn.remoteAddr);
  const request = outcome.request;
  const what = request === undefined
    ? "-"
    : request.op === Op.SIZE
    ? `SIZE ${JSON.stringify(request.name)}`
    : `RANGE ${
      JSON.stringify(request.name)
    } ${request.offset}+${request.length}`;
  return `${
    new Date().toISOString()
  } ${peer} ${what} sent=${outcome.bytesSent} ${outcome.result} ${
    Math.round(elapsedMs)
  }ms`;
}
