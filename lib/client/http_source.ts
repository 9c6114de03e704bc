/**
 * A mirror on the web as a {@linkcode Source}: the file at a URL, asked in
 * ranges with Deno's `fetch` (`Range: bytes=a-b`, `Accept-Encoding:
 * identity`). Only a `206` whose `Content-Range` is exactly the range asked
 * for, of the agreed size, is handed over; no byte of any other reply is,
 * except a `200` with the whole file to a range that starts at 0 (a mirror
 * that ignores ranges serves that one range at most). Redirects are
 * followed by hand (at most {@linkcode MAX_REDIRECTS}, never from `https`
 * to `http`), and the URL reached is asked from then on. The mirror's first
 * `ETag` (else `Last-Modified`) goes back as `If-Range`. Statuses map to
 * what the range tasks do: 404/410 (not found), 401/403 (refused) and a
 * copy that changed leave the mirror out; 429/503 wait for `Retry-After`
 * before the mirror is asked again; others fail over. Connections are
 * `fetch`'s own, kept alive from one range to the next.
 *
 * @module
 */

import { TimeoutError, Watchdog } from "../wire/watchdog.ts";
import { notCapableIn } from "../cli/permission_error.ts";
import type { Timeouts } from "./request_exchange.ts";
import { announcedSha256 } from "./repr_digest.ts";
import { streamPieces } from "./http_body.ts";
import {
  checkIdentityEncoding,
  checkRangeReply,
  contentLength,
  HttpStatusError,
  IGNORES_RANGES,
  invalidContentRange,
  MirrorRedirectError,
  MirrorReplyError,
  MirrorRequestError,
  parseContentRange,
  REDIRECT_STATUSES,
  redirectTarget,
  refuseHtml,
  statusError,
  statusText,
} from "./http_replies.ts";
import { mirrorFailureReason } from "./failure_reasons.ts";
import { delay } from "./retry_policy.ts";
import { nextTurn } from "../wire/event_loop_turn.ts";
import { urlLabel } from "./server_entry.ts";
import { sha256 } from "../wire/sha256.ts";
import {
  type DigestListener,
  fetchWhole,
  NoDigestListError,
  OtherVersionError,
  type Source,
  SourceBusyError,
  type SourceFetch,
  SourceLeftOutError,
} from "./source.ts";

/** Redirects followed for one request, at most. */
export const MAX_REDIRECTS = 5;

/** The longest `Retry-After` waited for when the options do not say. */
const DEFAULT_RETRY_AFTER_CAP_MS = 8000;

/** What an {@linkcode HttpSource} needs. */
export interface HttpSourceOptions {
  /** The file's URL. */
  url: URL;
  /** How messages name the mirror. */
  label: string;
  /** Deadlines: connect and reply together bound the wait for the
   * status line; stall bounds each wait for the body. */
  timeouts: Timeouts;
  /** The longest `Retry-After` waited for before the mirror is asked
   * again (the retry policy's longest delay). Default 8 s. */
  retryAfterCapMs?: number;
}

/** What a mirror said of its copy's identity, with its size. */
export interface MirrorIdentity {
  /** The first `ETag` it sent (strong or weak, as sent), if any. */
  etag?: string | undefined;
  /** The first `Last-Modified` it sent, if any. */
  lastModified?: string | undefined;
  /** The SHA-256 of the whole file from its `Repr-Digest` (RFC 9530) or
   * `Digest` (RFC 3230) header, if it sent one. */
  sha256?: Uint8Array | undefined;
}

/** What a request is for, for the status it may get. */
interface Ask {
  /** The first and last byte asked for, if a range. */
  range?: { first: number; last: number };
  /** Send `If-Range` with the mirror's first validator. */
  ifRange?: boolean;
  /** `GET` (default) or `HEAD`. */
  method?: "GET" | "HEAD";
}

/** A mirror of one file. */
export class HttpSource implements Source {
  /** How messages name it. */
  readonly label: string;
  /** `fetch` receives the body in the background: writes leave the event
   * loop free. */
  readonly receivesInBackground = true;
  /** The URL as listed (the file's). */
  #listed: URL;
  /** The URL asked: the one the last redirects led to. */
  #url: URL;
  #timeouts: Timeouts;
  #retryAfterCapMs: number;
  /** Not asked again before this time (`performance.now()`), after a
   * `Retry-After`. */
  #notBefore = 0;
  /** It answered a range request with the whole file. */
  #ignoresRanges = false;
  /** It answered a request with the whole file, its length given: it can
   * serve a download in one chunk, and nothing else. */
  #sendsWholeFile = false;
  /** It answered a range request with a `206`. */
  #servesRanges = false;
  #identity: MirrorIdentity = {};

  /**
   * Creates the source; nothing is asked yet.
   *
   * @param options The file's URL, the label and the deadlines.
   */
  constructor(options: HttpSourceOptions) {
    this.#listed = options.url;
    this.#url = options.url;
    this.label = options.label;
    this.#timeouts = options.timeouts;
    this.#retryAfterCapMs = options.retryAfterCapMs ??
      DEFAULT_RETRY_AFTER_CAP_MS;
  }

  /** Whether it serves the file only whole: it ignores Range requests
   * and sends the whole file with its length. */
  get servesWholeFileOnly(): boolean {
    return this.#sendsWholeFile;
  }

  /**
   * When the mirror may be asked again, after a `Retry-After`.
   *
   * @returns A `performance.now()` time in the future, or `undefined` if it
   * may be asked now.
   */
  readyAt(): number | undefined {
    return this.#notBefore > performance.now() ? this.#notBefore : undefined;
  }

  /** The URL asked now: the listed one, or where its redirects led. */
  get url(): URL {
    return this.#url;
  }

  /** The `If-Range` value: its first strong `ETag`, else its first
   * `Last-Modified`; none if it sent neither (a weak tag never matches). */
  #ifRange(): string | undefined {
    const { etag, lastModified } = this.#identity;
    if (etag !== undefined && !etag.startsWith("W/")) return etag;
    return lastModified;
  }

  /**
   * Sends a request, following redirects by hand, and waits for the
   * status line of the last reply. Waits first for a `Retry-After` the
   * mirror asked for.
   */
  async #send(ask: Ask, signal: AbortSignal | undefined): Promise<Response> {
    const readyAt = this.readyAt();
    if (readyAt !== undefined) {
      throw new SourceBusyError(
        `busy: it asked to be left alone for ${
          ((readyAt - performance.now()) / 1000).toFixed(1)
        } s more (Retry-After)`,
        readyAt,
      );
    }
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    if (ask.range !== undefined) {
      headers["range"] = `bytes=${ask.range.first}-${ask.range.last}`;
      const validator = ask.ifRange ? this.#ifRange() : undefined;
      if (validator !== undefined) headers["if-range"] = validator;
    }
    let url = this.#url;
    const seen = new Set([url.href]);
    for (let hops = 0;; hops++) {
      const response = await this.#fetchOnce(url, {
        method: ask.method ?? "GET",
        headers,
        signal,
      });
      if (!REDIRECT_STATUSES.includes(response.status)) {
        this.#url = url;
        return response;
      }
      await response.body?.cancel();
      const next = redirectTarget(url, response);
      if (seen.has(next.href)) {
        throw new MirrorRedirectError(
          `redirect loop: ${urlLabel(url)} redirects back to ${urlLabel(next)}`,
        );
      }
      if (hops + 1 > MAX_REDIRECTS) {
        throw new MirrorRedirectError(
          `more than ${MAX_REDIRECTS} redirects (the last to ${
            urlLabel(next)
          })`,
        );
      }
      seen.add(next.href);
      url = next;
    }
  }

  /** One request, its wait for the status line bounded by the connect
   * and reply deadlines. */
  async #fetchOnce(
    url: URL,
    init: {
      method: string;
      headers: Record<string, string>;
      signal: AbortSignal | undefined;
    },
  ): Promise<Response> {
    const { connectMs, replyMs } = this.#timeouts;
    // Bounds the wait for the status line only: the body has its own.
    // fetch does not tell the connection from the reply: the reply's
    // deadline counts from the request, and 0 (none) leaves no deadline.
    const deadlineMs = replyMs > 0 ? connectMs + replyMs : 0;
    const deadline = new AbortController();
    // A watchdog, not a bare timer: the two timeouts together may pass the
    // longest delay a timer takes, and a longer one fires at once.
    using watchdog = new Watchdog(() => deadline.abort());
    watchdog.arm(deadlineMs, "waiting for the mirror's reply");
    const { signal } = init;
    try {
      return await fetch(url, {
        method: init.method,
        headers: init.headers,
        redirect: "manual",
        signal: signal === undefined
          ? deadline.signal
          : AbortSignal.any([signal, deadline.signal]),
      });
    } catch (error) {
      if (deadline.signal.aborted && !signal?.aborted) {
        throw new TimeoutError(
          `Timed out after ${
            deadlineMs / 1000
          } s waiting for the mirror's reply`,
          { cause: error },
        );
      }
      // fetch's own text repeats the URL asked, query and all.
      if (error instanceof TypeError && notCapableIn(error) === undefined) {
        throw new MirrorRequestError(error);
      }
      throw error;
    }
  }

  /** Notes what a reply says of the mirror's copy: its first validators
   * and announced digest; a later one that differs means its file
   * changed. */
  #learn(response: Response): void {
    const etag = response.headers.get("etag") ?? undefined;
    const lastModified = response.headers.get("last-modified") ?? undefined;
    const known = this.#identity;
    if (
      known.etag !== undefined && etag !== undefined && etag !== known.etag
    ) {
      throw new OtherVersionError(
        `its file changed: its ETag was ${known.etag}, now ${etag}`,
      );
    }
    // Without an ETag, its date says which file it is.
    if (
      known.etag === undefined && etag === undefined &&
      known.lastModified !== undefined && lastModified !== undefined &&
      lastModified !== known.lastModified
    ) {
      throw new OtherVersionError(
        `its file changed: its Last-Modified was ${known.lastModified}, now ${lastModified}`,
      );
    }
    if (known.etag === undefined && known.lastModified === undefined) {
      known.etag = etag;
      known.lastModified = lastModified;
    }
    known.sha256 ??= announcedSha256(response.headers);
  }

  /** The error for a reply that gives no bytes, noting a `Retry-After`. */
  #statusError(response: Response): HttpStatusError {
    const error = statusError(response, this.#retryAfterCapMs);
    if (error.retryAfterMs !== undefined) {
      this.#notBefore = Math.max(
        this.#notBefore,
        performance.now() + error.retryAfterMs,
      );
    }
    return error;
  }

  /**
   * Learns the file's size from the `Content-Range` of a `bytes=0-0`
   * request; where ranges are refused, from the `Content-Length` of the
   * whole file's reply (or of a `HEAD`). A `429` or `503` with
   * `Retry-After` is asked once more after the wait it asks for (capped).
   *
   * @param signal Gives the request up.
   * @returns The size in bytes.
   */
  async size(signal?: AbortSignal): Promise<number> {
    try {
      return await this.#size(signal);
    } catch (error) {
      // Busy: asked once more after the wait it asked for (capped).
      if (!(error instanceof HttpStatusError) || !error.retryAfterMs) {
        throw error;
      }
      await delay(error.retryAfterMs, signal ?? new AbortController().signal);
      signal?.throwIfAborted();
      this.#notBefore = 0;
      return await this.#size(signal);
    }
  }

  async #size(signal: AbortSignal | undefined): Promise<number> {
    const response = await this.#send({ range: { first: 0, last: 0 } }, signal);
    await response.body?.cancel();
    if (response.status === 206) {
      const header = response.headers.get("content-range") ?? "";
      const range = parseContentRange(header);
      if (range === undefined && header !== "") {
        throw new MirrorReplyError(invalidContentRange(header));
      }
      if (range?.total === undefined) {
        throw new MirrorReplyError(
          "its 206 reply has no Content-Range with the file's size",
        );
      }
      this.#learn(response);
      this.#servesRanges = true;
      return range.total;
    }
    if (response.status === 416) {
      // Only an empty file has no byte 0.
      const total = /^bytes \*\/0$/.exec(
        response.headers.get("content-range") ?? "",
      );
      if (total !== null) {
        this.#learn(response);
        return 0;
      }
    }
    if (response.status === 200) {
      refuseHtml(response);
      this.#ignoresRanges = true;
      this.#learn(response);
      const length = contentLength(response) ??
        await this.#headLength(signal);
      if (length !== undefined) return length;
      throw new MirrorReplyError(
        "it ignores Range requests and does not say the file's length",
      );
    }
    throw this.#statusError(response);
  }

  /** The `Content-Length` of a `HEAD`, if it says one. */
  async #headLength(signal: AbortSignal | undefined): Promise<
    number | undefined
  > {
    const response = await this.#send({ method: "HEAD" }, signal);
    await response.body?.cancel();
    return response.status === 200 ? contentLength(response) : undefined;
  }

  /**
   * A mirror keeps no block digest list.
   *
   * @throws {NoDigestListError} Always.
   */
  blockDigests(
    _request: { fileSize: number; blockSize: number; signal?: AbortSignal },
    _listener: DigestListener,
  ): Promise<void> {
    return Promise.reject(
      new NoDigestListError("a mirror on the web keeps no block digests"),
    );
  }

  /**
   * Fetches a range, handing it to the sink in pieces.
   *
   * @param request The range, the file's size and the sink.
   * @throws {SourceLeftOutError} If the mirror cannot serve the file: not
   * found, refused, its copy differs or changed, it ignores ranges (for a
   * range not at 0), its redirects are refused.
   * @throws {HttpStatusError} For other statuses (with `retryAfterMs` for
   * a 429 or 503 that said when to come back).
   */
  async fetch(request: SourceFetch): Promise<void> {
    const { offset, length, fileSize, sink } = request;
    if (length === 0) return;
    if (this.#ignoresRanges && offset !== 0) {
      throw new SourceLeftOutError(IGNORES_RANGES);
    }
    const giveUp = new AbortController();
    using watchdog = new Watchdog(() => giveUp.abort());
    const signal = request.signal === undefined
      ? giveUp.signal
      : AbortSignal.any([request.signal, giveUp.signal]);
    const response = await this.#send({
      range: { first: offset, last: offset + length - 1 },
      ifRange: true,
    }, signal);
    const body = response.body;
    try {
      this.#checkReply(response, { offset, length, fileSize });
      if (body === null) throw new MirrorReplyError("its reply has no body");
      watchdog.arm(this.#timeouts.stallMs, "receiving data");
      await streamPieces(body, { offset, length, sink, watchdog });
      // fetch puts a connection back in its pool a moment after the body
      // ended: waiting for that turn lets the next range reuse it instead
      // of opening another.
      await nextTurn();
    } catch (error) {
      throw watchdog.explain(error);
    } finally {
      await body?.cancel().catch(() => {});
    }
  }

  /**
   * Throws unless a reply may be written: a `206` of exactly the range
   * asked for, of a file of the agreed size; or a `200` with the whole
   * file of that size, for a range that starts at 0.
   */
  #checkReply(
    response: Response,
    asked: { offset: number; length: number; fileSize: number },
  ): void {
    const { status } = response;
    if (status === 206) {
      checkRangeReply(response, asked);
      this.#learn(response);
      this.#servesRanges = true;
      return;
    }
    if (status === 200) {
      refuseHtml(response);
      checkIdentityEncoding(response);
      if (this.#servesRanges && this.#ifRange() !== undefined) {
        // It served ranges, and sends the whole file to this If-Range.
        const etag = response.headers.get("etag");
        throw new OtherVersionError(
          `its file changed: it sent the whole file (200) to If-Range ${this.#ifRange()}${
            etag === null ? "" : `, its ETag is ${etag} now`
          }`,
        );
      }
      this.#learn(response);
      this.#ignoresRanges = true;
      const length = contentLength(response);
      this.#sendsWholeFile ||= length !== undefined;
      if (length !== undefined && length !== asked.fileSize) {
        throw new OtherVersionError(
          `its file is ${length} bytes, expected ${asked.fileSize}`,
        );
      }
      if (asked.offset !== 0) throw new SourceLeftOutError(IGNORES_RANGES);
      // Without its length, not even the whole file can be taken from it.
      if (length === undefined) {
        throw new SourceLeftOutError(
          "it ignores Range requests and sends the whole file without its length (no Content-Length)",
        );
      }
      return;
    }
    if (status === 404 || status === 410) {
      throw new SourceLeftOutError(`not found (${statusText(response)})`);
    }
    if (status === 401 || status === 403) {
      throw new SourceLeftOutError(`refused (${statusText(response)})`);
    }
    if (status === 416) {
      throw new OtherVersionError(
        `its file changed: bytes ${asked.offset}-${
          asked.offset + asked.length - 1
        } are past its end (416${
          response.headers.has("content-range")
            ? `, ${response.headers.get("content-range")}`
            : ""
        }), the file has ${asked.fileSize}`,
      );
    }
    throw this.#statusError(response);
  }

  /**
   * The digest of a range of the mirror's copy: the range fetched and
   * hashed here.
   *
   * @param request The range and the file's size.
   * @returns The SHA-256 digest.
   */
  async rangeDigest(
    request: {
      offset: number;
      length: number;
      fileSize: number;
      signal?: AbortSignal;
    },
  ): Promise<Uint8Array> {
    return await sha256(await fetchWhole(this, request));
  }

  /**
   * Describes a failed request in one line.
   *
   * @param error What the request threw.
   * @returns `<label>: <reason>`.
   */
  describeFailure(error: unknown): string {
    return `${this.label}: ${mirrorFailureReason(error)}`;
  }

  /**
   * Describes why the mirror did not report the size.
   *
   * @param error What {@linkcode HttpSource.size} threw.
   * @returns `<label>: <reason>`.
   */
  describeSizeFailure(error: unknown): string {
    return this.describeFailure(error);
  }

  /**
   * What the mirror said of its copy's identity so far (learnt from its
   * replies, the size's first).
   *
   * @returns The validators and digest it sent; empty before any reply.
   */
  identity(): MirrorIdentity {
    return { ...this.#identity };
  }

  /** Nothing to let go of: `fetch` keeps its connections itself. */
  release(): void {}
}
