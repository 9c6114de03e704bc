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
