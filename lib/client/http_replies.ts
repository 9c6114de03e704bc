/**
 * What a mirror's reply means, read strictly: its `Content-Range`, its
 * length and encoding, an HTML page where the file was asked for, a
 * redirect that may or may not be followed, a status that gives no bytes
 * (with the wait its `Retry-After` asks for), and the errors that say so.
 * The pure part of `http_source.ts`.
 *
 * @module
 */

import { escapeUnseen } from "../wire/quoted_name.ts";
import { scrubUrls, urlLabel } from "./server_entry.ts";
import { OtherVersionError, SourceLeftOutError } from "./source.ts";

/** The statuses that redirect. */
export const REDIRECT_STATUSES = [301, 302, 303, 307, 308];

/** A mirror answered with a status that gives no bytes of the range. */
export class HttpStatusError extends Error {
  /** The HTTP status. */
  readonly status: number;

  /** How long the mirror asked to be left alone (`Retry-After` of a 429
   * or 503), capped; `undefined` if it did not say. */
  readonly retryAfterMs: number | undefined;

  /**
   * Creates the error.
   *
   * @param status The HTTP status.
   * @param message What it means here.
   * @param retryAfterMs How long the mirror asked to be left alone.
   */
  constructor(status: number, message: string, retryAfterMs?: number) {
    super(message);
    this.name = "HttpStatusError";
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A mirror's reply does not say what it holds the way HTTP requires: a
 * `206` with another range, a `Content-Range` that cannot be read. */
export class MirrorReplyError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the reply.
   */
  constructor(message: string) {
    super(message);
    this.name = "MirrorReplyError";
  }
}

/** A request to a mirror failed before its reply (the connection was
 * refused, broke, or TLS failed): `fetch`'s words and the system's, with
 * every URL in them shown as messages show URLs (see
 * {@linkcode scrubUrls}). */
export class MirrorRequestError extends Error {
  /**
   * Creates the error.
   *
   * @param error What `fetch` threw.
   */
  constructor(error: Error) {
    super(
      scrubUrls(
        error.cause instanceof Error
          ? `${error.message}: ${error.cause.message}`
          : error.message,
      ),
      { cause: error },
    );
    this.name = "MirrorRequestError";
  }
}

/** A redirect the client will not follow: a loop, too many, a downgrade
 * from `https` to `http`, or no usable `Location`. The mirror cannot serve
 * the file. */
export class MirrorRedirectError extends SourceLeftOutError {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the redirect.
   */
  constructor(message: string) {
    super(message);
    this.name = "MirrorRedirectError";
  }
}

/** A parsed `Content-Range: bytes a-b/total`. */
export interface ContentRange {
  /** First byte. */
  start: number;
  /** Last byte (inclusive). */
  end: number;
  /** The whole file's size, if given. */
  total: number | undefined;
}

/**
 * Parses a `Content-Range` header of a `206` reply.
 *
 * @param text The header's value.
 * @returns The range, or `undefined` if it is not `bytes a-b/total`.
 */
export function parseContentRange(text: string): ContentRange | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(text.trim());
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === "*" ? undefined : Number(match[3]);
  if (![start, end, total ?? 0].every(Number.isSafeInteger)) return undefined;
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

/** Where a redirect leads, if it may be followed. */
export function redirectTarget(from: URL, response: Response): URL {
  const location = response.headers.get("location");
  if (location === null) {
    throw new MirrorRedirectError(
      `it redirects (${statusText(response)}) without a Location`,
    );
  }
  let next: URL;
  try {
    next = new URL(location, from);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    throw new MirrorRedirectError(
      `it redirects to a malformed URL: ${scrubUrls(escapeUnseen(location))}`,
    );
  }
  if (next.protocol !== "https:" && next.protocol !== "http:") {
    throw new MirrorRedirectError(
      `it redirects to a ${next.protocol} URL, not http or https`,
    );
  }
  if (from.protocol === "https:" && next.protocol === "http:") {
    throw new MirrorRedirectError(
      `refused a redirect from https to plain http (${urlLabel(next)})`,
    );
  }
  // fetch sends a URL's credentials to its host: never in the clear (the
  // list refuses those too), never to a host other than the one they
  // came with.
  if (next.username !== "" || next.password !== "") {
    if (next.protocol === "http:") {
      throw new MirrorRedirectError(
        `refused a redirect to plain http with credentials (${urlLabel(next)})`,
      );
    }
    if (next.origin !== from.origin) {
      throw new MirrorRedirectError(
        `refused a redirect that sends credentials to another host (${
          urlLabel(next)
        })`,
      );
    }
  }
  return next;
}

/** `404 Not Found`, or just `404` without a reason phrase. */
export function statusText(response: Response): string {
  return `${response.status}${
    response.statusText === "" ? "" : ` ${response.statusText}`
  }`;
}

/** A reply that gives no bytes, as an error; a 429 or 503 with the wait
 * its `Retry-After` asks for, capped. */
export function statusError(
  response: Response,
  capMs: number,
): HttpStatusError {
  const { status } = response;
  const retryAfter = response.headers.get("retry-after");
  const asked = (status === 429 || status === 503) && retryAfter !== null
    ? parseRetryAfter(retryAfter, Date.now())
    : undefined;
  const waitMs = asked === undefined ? undefined : Math.min(asked, capMs);
  const text = statusText(response);
  const what = status === 429 || status === 503
    ? `busy (${text})`
    : status >= 500
    ? `server error (${text})`
    : `the mirror answered ${text}`;
  return new HttpStatusError(
    status,
    waitMs === undefined ? what : `${what}, retry after ${waitMs / 1000} s`,
    waitMs,
  );
}

/**
 * Reads a `Retry-After` value: seconds, or an HTTP date.
 *
 * @param value The header's value.
 * @param now The time now, in ms since the epoch.
 * @returns The wait in milliseconds (0 for a date past), or `undefined`
 * if it is neither.
 */
export function parseRetryAfter(
  value: string,
  now: number,
): number | undefined {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Why a `Content-Range` cannot be read. */
export function invalidContentRange(header: string): string {
  return `its 206 reply has no valid Content-Range: ${JSON.stringify(header)}${
    (header.match(/\d+/g) ?? []).some((n) => !Number.isSafeInteger(Number(n)))
      ? TOO_LARGE
      : ""
  }`;
}

/** Why a number in a reply cannot be a size. */
const TOO_LARGE = " (a file of more than 2^53-1 bytes cannot be real)";

/** A reply's `Content-Length`, if it states one. */
export function contentLength(response: Response): number | undefined {
  const length = response.headers.get("content-length");
  if (length === null || !/^\d+$/.test(length)) return undefined;
  if (!Number.isSafeInteger(Number(length))) {
    throw new MirrorReplyError(`its Content-Length is ${length}${TOO_LARGE}`);
  }
  return Number(length);
}

/** Refuses an HTML page sent for the file with `200`: an error page. */
export function refuseHtml(response: Response): void {
  const type = response.headers.get("content-type") ?? "";
  if (/^\s*text\/html\b/i.test(type)) {
    throw new SourceLeftOutError(
      `it sent an HTML page (200, ${type}) instead of the file`,
    );
  }
}

/** Refuses a reply whose body is encoded (compressed): not the file's
 * bytes. */
export function checkIdentityEncoding(response: Response): void {
  const encoding = response.headers.get("content-encoding");
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity") {
    // It ignores Accept-Encoding: identity; asking again will not help.
    throw new SourceLeftOutError(
      `it sent the range encoded (${encoding}), not as bytes of the file`,
    );
  }
}

/**
 * Throws unless a `206` is of exactly the range asked for, of a file of
 * the agreed size.
 */
export function checkRangeReply(
  response: Response,
  asked: { offset: number; length: number; fileSize: number },
): void {
  checkIdentityEncoding(response);
  const type = response.headers.get("content-type") ?? "";
  if (/^\s*multipart\//i.test(type)) {
    throw new SourceLeftOutError(
      `it sent the range as ${escapeUnseen(type)}, not as bytes of the file`,
    );
  }
  const header = response.headers.get("content-range") ?? "";
  const range = parseContentRange(header);
  if (range === undefined) {
    throw new MirrorReplyError(invalidContentRange(header));
  }
  if (range.total !== undefined && range.total !== asked.fileSize) {
    throw new OtherVersionError(
      `its file is ${range.total} bytes, expected ${asked.fileSize}`,
    );
  }
  const last = asked.offset + asked.length - 1;
  if (range.start !== asked.offset || range.end !== last) {
    throw new MirrorReplyError(
      `it sent bytes ${range.start}-${range.end} for bytes ${asked.offset}-${last}`,
    );
  }
  const length = contentLength(response);
  if (length !== undefined && length !== asked.length) {
    throw new MirrorReplyError(
      `its 206 reply for bytes ${asked.offset}-${last} has a Content-Length of ${length}, not ${asked.length}`,
    );
  }
}

/** Why a mirror that ignores ranges serves no range but one at 0. */
export const IGNORES_RANGES =
  "it ignores Range requests (it answers 200 with the whole file)";
