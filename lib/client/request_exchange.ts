/**
 * One request and its reply, as the client sends and reads them: the
 * deadlines, the connection (new or kept), the reply's status checked, and
 * the errors that say in words what went wrong.
 *
 * @module
 */

import { isDisconnect, writeAll } from "../wire/exact_io.ts";
import { escapeUnseen } from "../wire/quoted_name.ts";
import {
  type Request,
  type Response,
  Status,
  statusName,
} from "../wire/protocol.ts";
import { encodeRequest, readResponse } from "../wire/frame_codec.ts";
import type { ServerAddress } from "../wire/address.ts";
import type { KeptConnection } from "./kept_connection.ts";
import { OtherVersionError } from "./source.ts";
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

/** Reads a reply's payload from `conn`, positioned after the reply header;
 * `finish(true)` once the reply was read to its end lets the connection be
 * kept for the next request. */
export type ReplyReader<T> = (
  conn: Deno.TcpConn,
  response: Response,
  watchdog: Watchdog,
  finish: (reusable: boolean) => void,
) => Promise<T>;

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
 *
 * @param options The server, deadlines, signal and kept connection.
 * @param request The request to send (its `keepOpen` is decided here).
 * @param body Reads the reply's payload.
 * @param fileSize The size the client settled on, if it asks for bytes.
 * @returns What `body` returns.
 * @throws {ServerReplyError} If the server answered with an error status.
 * @throws {OtherVersionError} If a RANGE status says the file is shorter.
 * @throws {TimeoutError} If a deadline passed.
 * @throws {ConnectionLostError} If the server closed the connection.
 */
export async function exchange<T>(
  options: RequestOptions,
  request: Omit<Request, "keepOpen">,
  body: ReplyReader<T>,
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
