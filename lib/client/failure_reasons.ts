/**
 * A failed request told in a few words, for warnings and for the size
 * lookup's report.
 *
 * @module
 */

import { isDisconnect } from "../wire/exact_io.ts";
import { escapeUnseen } from "../wire/quoted_name.ts";
import { ProtocolError, Status } from "../wire/protocol.ts";
import { formatAddress, type ServerAddress } from "../wire/address.ts";
import { TimeoutError } from "../wire/watchdog.ts";
import { ServerReplyError } from "./request_exchange.ts";
import { HttpStatusError, MirrorRequestError } from "./http_replies.ts";
import { scrubUrls } from "./server_entry.ts";

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

/**
 * Why a request to a mirror failed, in a few words: `not found (404)`,
 * `refused (403 Forbidden)`, `connection refused`, `timed out ...`,
 * `certificate not trusted: ...`, and so on.
 *
 * @param error What the request threw.
 * @returns The reason, on one line.
 */
export function mirrorFailureReason(error: unknown): string {
  return scrubUrls(mirrorReason(error));
}

function mirrorReason(error: unknown): string {
  if (error instanceof HttpStatusError) {
    if (error.status === 404 || error.status === 410) {
      return `not found (${error.status})`;
    }
    if (error.status === 401 || error.status === 403) {
      return `refused (${error.message.replace(/^the mirror answered /, "")})`;
    }
    return error.message;
  }
  if (error instanceof DOMException && error.name === "AbortError") {
    return "the request was given up";
  }
  if (error instanceof TimeoutError) return lowerFirst(error.message);
  if (!(error instanceof Error)) return escapeUnseen(String(error));
  // fetch says "fetch failed"; the system's words are in the cause.
  const detail = error instanceof MirrorRequestError
    ? error.message
    : error.cause instanceof Error
    ? `${error.message}: ${error.cause.message}`
    : error.message;
  if (/Connection refused/i.test(detail)) return "connection refused";
  if (/Connection reset/i.test(detail)) return "connection reset";
  const certificate = /(invalid peer certificate[^\n]*)/i.exec(detail);
  if (certificate !== null) {
    return `certificate not trusted: ${escapeUnseen(certificate[1]!)}`;
  }
  if (/failed to lookup address/i.test(detail)) {
    return `unknown host: ${escapeUnseen(detail)}`;
  }
  if (/error reading a body from connection/i.test(detail)) {
    return "the connection broke while the body arrived";
  }
  return escapeUnseen(detail);
}

/**
 * A failure's line without the `<label>: ` a source's descriptions start
 * with, for messages that name the source already.
 *
 * @param label The source's label.
 * @param line The line, such as `127.0.0.1:9000: not found`.
 * @returns The reason alone: `not found`.
 */
export function withoutLabel(label: string, line: string): string {
  const prefix = `${label}: `;
  return line.startsWith(prefix) ? line.slice(prefix.length) : line;
}
