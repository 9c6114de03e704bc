/**
 * The server's log: one line per request, saying who asked for what, how
 * much was sent and how it ended.
 *
 * @module
 */

import { formatAddress } from "../wire/address.ts";
import { Op, opName, type Request } from "../wire/protocol.ts";
import { escapeUnseen, quoteName } from "../wire/quoted_name.ts";
import { TimeoutError } from "../wire/watchdog.ts";

/**
 * How a request ended: its reply went out whole (`ok`), or not, and why.
 * Only a request that ended `ok` may keep its connection open.
 */
export type RequestEnd =
  | {
    /** The whole reply went out. */
    ok: true;
    /** Whether the reply came from the digest cache. */
    cached: boolean;
  }
  | {
    /** The reply was an error, was cut short, or was never sent. */
    ok: false;
    /** Why, for the log: names in it are quoted already. */
    detail: string;
  };

/** What happened to one request: the facts its log line tells. */
export interface ServedRequest {
  /** The request, once it was read whole. */
  request?: Request | undefined;
  /** Payload bytes sent. */
  bytesSent: number;
  /** Whether a reply header went out; after it, only a disconnect is left. */
  replied: boolean;
  /** How it ended. */
  end: RequestEnd;
}

/**
 * The client's address as the log shows it.
 *
 * @param conn The connection.
 * @returns The peer's address, an IPv4-mapped IPv6 address as IPv4.
 */
export function peerOf(conn: Deno.Conn<Deno.NetAddr>): string {
  // A dual-stack socket sees IPv4 peers as "::ffff:a.b.c.d": log them as IPv4.
  const { hostname, port } = conn.remoteAddr;
  return formatAddress({
    hostname: hostname.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ""),
    port,
  });
}

/**
 * What ended a request early, in words: the server stopping (SIGINT or
 * SIGTERM closed the connection), a deadline, or the client leaving; never
 * the system's error for the closed socket ("Bad resource ID", "Broken
 * pipe", "Connection reset by peer").
 *
 * @param error What the request ended with.
 * @param context Whether the request was read and replied to, the peer's
 * address, and whether the server is stopping.
 * @returns The detail for the log line.
 */
export function describeEnd(
  error: unknown,
  context: {
    request: Request | undefined;
    replied: boolean;
    peer: string;
    stopping: boolean;
  },
): string {
  const { request, replied, peer } = context;
  if (context.stopping) {
    return request === undefined
      ? `stopped while waiting for the request of ${peer}`
      : replied
      ? `stopped during a transfer to ${peer}`
      : `stopped before replying to ${peer}`;
  }
  if (error instanceof TimeoutError) return `disconnected: ${error.message}`;
  return `disconnected: the client closed the connection ${
    request === undefined
      ? "before its request was complete"
      : replied
      ? "during the transfer"
      : "before the reply"
  }`;
}

/**
 * The log line of one request:
 * `<time> <peer> <op> <name> <offset>+<length> sent=<bytes> <end> <ms>ms`.
 *
 * @param served What happened to the request.
 * @param context The peer's address, the time the request took, and the
 * time it is logged at.
 * @returns The line, without a line break; characters that do not show are
 * escaped.
 */
export function formatLogLine(
  served: ServedRequest,
  context: { peer: string; elapsedMs: number; now?: Date },
): string {
  const request = served.request;
  const what = request === undefined
    ? "-"
    : request.op === Op.SIZE
    ? `SIZE ${quoteName(request.name)}`
    : `${opName(request.op)} ${
      quoteName(request.name)
    } ${request.offset}+${request.length}`;
  const end = served.end.ok
    ? served.end.cached ? "ok (cached)" : "ok"
    : served.end.detail;
  const time = (context.now ?? new Date()).toISOString();
  // Names in it are quoted already; the system's messages may hold them raw.
  return `${time} ${context.peer} ${what} sent=${served.bytesSent} ${
    escapeUnseen(end)
  } ${Math.round(context.elapsedMs)}ms`;
}
