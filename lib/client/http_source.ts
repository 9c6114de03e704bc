/**
 * A mirror on the web as a {@linkcode Source}: the file at a URL, asked in
 * ranges with Deno's `fetch` (`Range: bytes=a-b`, `Accept-Encoding:
 * identity`). Only a `206` whose `Content-Range` is exactly the range asked
 * for, of the agreed size, is handed over; no byte of any other reply is.
 * Connections are `fetch`'s own, kept alive from one range to the next.
 *
 * @module
 */

import { TimeoutError, Watchdog } from "../wire/watchdog.ts";
import { ConnectionLostError, type Timeouts } from "./request_exchange.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import {
  type DigestListener,
  NoDigestListError,
  OtherVersionError,
  type RangeSink,
  type Source,
  type SourceFetch,
} from "./source.ts";

/** Pieces end on multiples of this when the sink does not say. */
const DEFAULT_PIECE_BYTES = 1024 * 1024;

/** A mirror answered with a status that gives no bytes of the range. */
export class HttpStatusError extends Error {
  /** The HTTP status. */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param status The HTTP status.
   * @param message What it means here.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpStatusError";
    this.status = status;
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

/** What an {@linkcode HttpSource} needs. */
export interface HttpSourceOptions {
  /** The file's URL. */
  url: URL;
  /** How messages name the mirror. */
  label: string;
  /** Deadlines: connect and reply together bound the wait for the
   * status line; stall bounds each wait for the body. */
  timeouts: Timeouts;
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
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
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

/** A mirror of one file. */
export class HttpSource implements Source {
  /** How messages name it. */
  readonly label: string;
  #url: URL;
  #timeouts: Timeouts;

  /**
   * Creates the source; nothing is asked yet.
   *
   * @param options The file's URL, the label and the deadlines.
   */
  constructor(options: HttpSourceOptions) {
    this.#url = options.url;
    this.label = options.label;
    this.#timeouts = options.timeouts;
  }

  /** Sends a GET for `[first, last]` and waits for its status line. */
  async #get(
    first: number,
    last: number,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const { connectMs, replyMs } = this.#timeouts;
    const deadline = AbortSignal.timeout(connectMs + replyMs);
    try {
      return await fetch(this.#url, {
        headers: {
          "range": `bytes=${first}-${last}`,
          "accept-encoding": "identity",
        },
        signal: signal === undefined
          ? deadline
          : AbortSignal.any([signal, deadline]),
      });
    } catch (error) {
      if (deadline.aborted && !signal?.aborted) {
        throw new TimeoutError(
          `Timed out after ${
            (connectMs + replyMs) / 1000
          } s waiting for the mirror's reply`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Learns the file's size from the `Content-Range` of a `bytes=0-0`
   * request.
   *
   * @param signal Gives the request up.
   * @returns The size in bytes.
   */
  async size(signal?: AbortSignal): Promise<number> {
    const response = await this.#get(0, 0, signal);
    await response.body?.cancel();
    if (response.status === 206) {
      const range = parseContentRange(
        response.headers.get("content-range") ?? "",
      );
      if (range?.total === undefined) {
        throw new MirrorReplyError(
          "its 206 reply has no Content-Range with the file's size",
        );
      }
      return range.total;
    }
    if (response.status === 416) {
      // Only an empty file has no byte 0.
      const total = /^bytes \*\/(\d+)$/.exec(
        response.headers.get("content-range") ?? "",
      );
      if (total !== null) return Number(total[1]);
    }
    if (response.status === 200) {
      const length = response.headers.get("content-length");
      if (length !== null && /^\d+$/.test(length)) return Number(length);
    }
    throw statusError(response);
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
   */
  async fetch(request: SourceFetch): Promise<void> {
    const { offset, length, fileSize, sink } = request;
    if (length === 0) return;
    const giveUp = new AbortController();
    using watchdog = new Watchdog(() => giveUp.abort());
    const signal = request.signal === undefined
      ? giveUp.signal
      : AbortSignal.any([request.signal, giveUp.signal]);
    const response = await this.#get(offset, offset + length - 1, signal);
    const body = response.body;
    try {
      checkRangeReply(response, { offset, length, fileSize });
      if (body === null) throw new MirrorReplyError("its reply has no body");
      watchdog.arm(this.#timeouts.stallMs, "receiving data");
      await streamPieces(body, { offset, length, sink, watchdog });
    } catch (error) {
      throw watchdog.explain(error);
    } finally {
      await body?.cancel().catch(() => {});
    }
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
    const bytes = new Uint8Array(request.length);
    let at = 0;
    await this.fetch({
      ...request,
      sink: {
        onData: (piece) => {
          bytes.set(piece, at);
          at += piece.length;
          return Promise.resolve();
        },
      },
    });
    if (at !== request.length) {
      throw new ConnectionLostError(
        `the mirror sent ${at} of ${request.length} bytes`,
      );
    }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  /**
   * Describes a failed request in one line.
   *
   * @param error What the request threw.
   * @returns `<label>: <reason>`.
   */
  describeFailure(error: unknown): string {
    return `${this.label}: ${failureReason(error)}`;
  }

  /**
   * Describes why the mirror did not report the size.
   *
   * @param error What {@linkcode HttpSource.size} threw.
   * @returns `<label>: <reason>`.
   */
  describeSizeFailure(error: unknown): string {
    if (error instanceof HttpStatusError && [404, 410].includes(error.status)) {
      return `${this.label}: not found (${error.status})`;
    }
    return this.describeFailure(error);
  }

  /**
   * What the mirror said of its copy's identity so far (learnt from its
   * replies, the size's first).
   *
   * @returns The validators and digest it sent; empty before any reply.
   */
  identity(): MirrorIdentity {
    return {};
  }

  /** Nothing to let go of: `fetch` keeps its connections itself. */
  release(): void {}
}

/** A reply that gives no bytes, as an error. */
function statusError(response: Response): HttpStatusError {
  const text = `${response.status}${
    response.statusText === "" ? "" : ` ${response.statusText}`
  }`;
  return new HttpStatusError(response.status, `the mirror answered ${text}`);
}

/**
 * Throws unless a reply is a `206` of exactly the range asked for, of a
 * file of the agreed size.
 */
function checkRangeReply(
  response: Response,
  asked: { offset: number; length: number; fileSize: number },
): void {
  if (response.status !== 206) throw statusError(response);
  const encoding = response.headers.get("content-encoding");
  if (encoding !== null && encoding.toLowerCase() !== "identity") {
    throw new MirrorReplyError(
      `it sent the range encoded (${encoding}), not as bytes of the file`,
    );
  }
  const header = response.headers.get("content-range") ?? "";
  const range = parseContentRange(header);
  if (range === undefined) {
    throw new MirrorReplyError(
      `its 206 reply has no valid Content-Range: ${JSON.stringify(header)}`,
    );
  }
  if (range.total !== undefined && range.total !== asked.fileSize) {
    throw new OtherVersionError(
      `the mirror's file is ${range.total} bytes, expected ${asked.fileSize}: another version`,
    );
  }
  const last = asked.offset + asked.length - 1;
  if (range.start !== asked.offset || range.end !== last) {
    throw new MirrorReplyError(
      `it sent bytes ${range.start}-${range.end} for bytes ${asked.offset}-${last}`,
    );
  }
}

/** Hands a body to the sink in pieces ending on multiples of its piece
 * size, until the range (or its moved end) is complete. */
async function streamPieces(
  body: ReadableStream<Uint8Array>,
  options: {
    offset: number;
    length: number;
    sink: RangeSink;
    watchdog: Watchdog;
  },
): Promise<void> {
  const { offset, length, sink, watchdog } = options;
  const pieceBytes = sink.pieceBytes ?? DEFAULT_PIECE_BYTES;
  const buffers = sink.buffers ?? new ReceiveBuffers();
  const requestedEnd = offset + length;
  const end = () => Math.min(requestedEnd, sink.end?.() ?? requestedEnd);
  const reader = body.getReader();
  let position = offset;
  let chunk: Uint8Array | undefined;
  let used = 0;
  try {
    while (position < end()) {
      const buffer = await buffers.take(Math.min(pieceBytes, length));
      const pieceEnd = Math.min(
        (Math.floor(position / pieceBytes) + 1) * pieceBytes,
        end(),
      );
      let filled = 0;
      try {
        while (position + filled < pieceEnd) {
          if (chunk === undefined || used === chunk.length) {
            const next = await reader.read();
            if (next.done) {
              throw new ConnectionLostError(
                `the mirror ended the body after ${
                  position + filled - offset
                } of ${length} bytes`,
              );
            }
            chunk = next.value;
            used = 0;
            watchdog.kick();
            sink.onRead?.(chunk.length);
          }
          const n = Math.min(chunk.length - used, pieceEnd - position - filled);
          buffer.set(chunk.subarray(used, used + n), filled);
          used += n;
          filled += n;
        }
      } catch (error) {
        if (filled > 0) await sink.onData(buffer.subarray(0, filled));
        throw error;
      }
      const more = await sink.onData(buffer.subarray(0, filled));
      watchdog.kick();
      position += filled;
      if (more === false) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Why a request failed, in a few words. */
function failureReason(error: unknown): string {
  if (error instanceof DOMException && error.name === "AbortError") {
    return "the request was given up";
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
