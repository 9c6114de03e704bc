/**
 * A fault mirror for the tests: an HTTP server (`Deno.serve`) on a free port
 * of 127.0.0.1 serving files from memory. By default it behaves as a good
 * mirror should (single `Range` requests answered `206` with the exact
 * `Content-Range`, `416` with `bytes *\/size` past the end, `ETag`,
 * `Last-Modified`, `If-Range`, `HEAD`); a hook may change what it does for
 * any request: ignore `Range`, send a wrong `Content-Range`, answer with a
 * status (and `Retry-After`), redirect, cut or stall the body, serve another
 * copy of the file, send an HTML page with `200`, add digest headers, or
 * answer with its own `Response`. Every request is recorded, in order.
 *
 * ```ts
 * await using mirror = FaultMirror.start({
 *   files: { "data.bin": bytes },
 *   hook: ({ index }) => index === 1 ? { status: 503, retryAfter: "1" } : undefined,
 * });
 * // fetch(`${mirror.url}data.bin`, { headers: { range: "bytes=0-99" } })
 * ```
 *
 * @module
 */

/** A file the mirror serves. */
export interface MirrorFile {
  /** Its bytes. */
  content: Uint8Array;
  /** Its `ETag` (as sent, quotes included); `null` sends none. Default: a
   * strong tag made from the content. */
  etag?: string | null;
  /** Its `Last-Modified`; `null` sends none. Default: a fixed date. */
  lastModified?: string | null;
}

/** One request the mirror received. */
export interface RecordedRequest {
  /** Its place among all requests to the mirror, from 0. */
  index: number;
  /** `GET`, `HEAD`, ... */
  method: string;
  /** The path, percent-encoded as sent (`/data.bin`). */
  path: string;
  /** The `Range` header, or `null`. */
  range: string | null;
  /** The `If-Range` header, or `null`. */
  ifRange: string | null;
  /** All its headers. */
  headers: Headers;
  /** When it arrived (`performance.now()`). */
  at: number;
}

/**
 * What the mirror does with one request instead of (or on top of) the
 * default. Fields combine: `{ ignoreRange: true, cutAfter: 10 }` sends a
 * `200` with the whole file and cuts it after 10 bytes.
 */
export interface MirrorBehaviour {
  /** Answers with this status and a short text body, no file bytes. */
  status?: number;
  /** With `status`: its `Retry-After` value (seconds or an HTTP date). */
  retryAfter?: string;
  /** Redirects here (an absolute URL, or a path resolved by the client). */
  redirect?: string;
  /** With `redirect`: the status; default 302. */
  redirectStatus?: number;
  /** Answers a ranged request with `200` and the whole file. */
  ignoreRange?: boolean;
  /** Sends the body as a stream of unknown length (chunked, no
   * `Content-Length`); a `HEAD` still gives the length. */
  chunked?: boolean;
  /** Sends this `Content-Range` on its `206` instead of the right one. */
  contentRange?: string;
  /** Sends this many body bytes, then breaks the connection. */
  cutAfter?: number;
  /** Sends no status line at all until the mirror stops. */
  stall?: boolean;
  /** Sends the status line and this many body bytes, then nothing more
   * until the mirror stops. */
  stallAfter?: number;
  /** Answers `200` with an HTML error page (`text/html`). */
  html?: boolean;
  /** Serves this copy of the file (other content, validators) instead. */
  file?: MirrorFile;
  /** Adds `Repr-Digest: sha-256=:…:` (RFC 9530) of the file served. */
  reprDigest?: boolean;
  /** Adds `Digest: SHA-256=…` (RFC 3230) of the file served. */
  digest?: boolean;
  /** Adds (or replaces) these headers. */
  headers?: Record<string, string>;
  /** Sends the body at this many bytes per second, in steps of 50 ms. */
  bytesPerSecond?: number;
}

/** What the hook is given. */
export interface HookRequest {
  /** The request itself (its body unread). */
  request: Request;
  /** Its place among all requests to the mirror, from 0. */
  index: number;
  /** Its record. */
  recorded: RecordedRequest;
}

/** Options for {@linkcode FaultMirror.start}. */
export interface FaultMirrorOptions {
  /** Files by path below the root (`"data.bin"`, `"dir/x.iso"`). */
  files: Record<string, Uint8Array | MirrorFile>;
  /** Decides each request; `undefined` means the default behaviour. */
  hook?: (
    request: HookRequest,
  ) =>
    | Response
    | MirrorBehaviour
    | undefined
    | Promise<Response | MirrorBehaviour | undefined>;
}

const HOSTNAME = "127.0.0.1";
const DEFAULT_LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT";
const HTML_PAGE = new TextEncoder().encode(
  "<!DOCTYPE html>\n<html><head><title>Not Found</title></head>" +
    "<body><h1>Sorry, this file is not here</h1></body></html>\n",
);

/** A running fault mirror; dispose of it to stop it. */
export class FaultMirror implements AsyncDisposable {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  /** The files served, by path below the root; may be changed. */
  readonly files: Map<string, MirrorFile>;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #hook: FaultMirrorOptions["hook"];
  #life = new AbortController();
  #disposed = false;

  private constructor(options: FaultMirrorOptions) {
    this.files = new Map(
      Object.entries(options.files).map((
        [path, file],
      ) => [path, file instanceof Uint8Array ? { content: file } : file]),
    );
    this.#hook = options.hook;
    this.#server = Deno.serve(
      { hostname: HOSTNAME, port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  /**
   * Starts a mirror on a free port of 127.0.0.1.
   *
   * @param options The files and the hook.
   * @returns The running mirror.
   */
  static start(options: FaultMirrorOptions): FaultMirror {
    return new FaultMirror(options);
  }

  /** The port it listens on. */
  get port(): number {
    return this.#server.addr.port;
  }

  /** Its root URL, `http://127.0.0.1:PORT/`. */
  get url(): string {
    return `http://${HOSTNAME}:${this.port}/`;
  }

  /**
   * The URL of one of its files.
   *
   * @param path The file's path below the root.
   * @returns `http://127.0.0.1:PORT/<path>`.
   */
  fileUrl(path: string): string {
    return `${this.url}${path}`;
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const recorded: RecordedRequest = {
      index: this.requests.length,
      method: request.method,
      path: url.pathname,
      range: request.headers.get("range"),
      ifRange: request.headers.get("if-range"),
      headers: new Headers(request.headers),
      at: performance.now(),
    };
    this.requests.push(recorded);
    const answer = await this.#hook?.({
      request,
      index: recorded.index,
      recorded,
    });
    if (answer instanceof Response) return answer;
    return await this.#answer(request, url, answer ?? {});
  }

  async #answer(
    request: Request,
    url: URL,
    behaviour: MirrorBehaviour,
  ): Promise<Response> {
    if (behaviour.stall === true) {
      await this.#untilStopped();
      return new Response(null, { status: 503 });
    }
    const headers = new Headers({ "accept-ranges": "bytes" });
    if (behaviour.redirect !== undefined) {
      headers.set("location", behaviour.redirect);
      return this.#reply(request, behaviour, {
        status: behaviour.redirectStatus ?? 302,
        headers,
        body: new Uint8Array(0),
      });
    }
    if (behaviour.status !== undefined) {
      if (behaviour.retryAfter !== undefined) {
        headers.set("retry-after", behaviour.retryAfter);
      }
      headers.set("content-type", "text/plain");
      return this.#reply(request, behaviour, {
        status: behaviour.status,
        headers,
        body: new TextEncoder().encode(`status ${behaviour.status}\n`),
      });
    }
    if (behaviour.html === true) {
      headers.set("content-type", "text/html");
      return this.#reply(request, behaviour, {
        status: 200,
        headers,
        body: HTML_PAGE,
      });
    }
    const path = decodeURIComponent(url.pathname.slice(1));
    const file = behaviour.file ?? this.files.get(path);
    if (file === undefined || !["GET", "HEAD"].includes(request.method)) {
      return this.#reply(request, behaviour, {
        status: file === undefined ? 404 : 405,
        headers,
        body: new TextEncoder().encode("no such file\n"),
      });
    }
    const { content } = file;
    const etag = file.etag === undefined ? defaultEtag(content) : file.etag;
    const lastModified = file.lastModified === undefined
      ? DEFAULT_LAST_MODIFIED
      : file.lastModified;
    if (etag !== null) headers.set("etag", etag);
    if (lastModified !== null) headers.set("last-modified", lastModified);
    headers.set("content-type", "application/octet-stream");
    if (behaviour.reprDigest === true) {
      headers.set("repr-digest", `sha-256=:${await sha256Base64(content)}:`);
    }
    if (behaviour.digest === true) {
      headers.set("digest", `SHA-256=${await sha256Base64(content)}`);
    }
    const whole = () =>
      this.#reply(request, behaviour, { status: 200, headers, body: content });
    const rangeHeader = request.headers.get("range");
    if (rangeHeader === null || behaviour.ignoreRange === true) return whole();
    const ifRange = request.headers.get("if-range");
    if (ifRange !== null && ifRange !== etag && ifRange !== lastModified) {
      return whole();
    }
    const range = parseRange(rangeHeader, content.length);
    if (range === "ignore") return whole();
    if (range === "unsatisfiable") {
      headers.set("content-range", `bytes */${content.length}`);
      return this.#reply(request, behaviour, {
        status: 416,
        headers,
        body: new Uint8Array(0),
      });
    }
    headers.set(
      "content-range",
      behaviour.contentRange ??
        `bytes ${range.start}-${range.end}/${content.length}`,
    );
    return this.#reply(request, behaviour, {
      status: 206,
      headers,
      body: content.subarray(range.start, range.end + 1),
    });
  }

  /** Builds the response, applying the body faults and extra headers. */
  #reply(
    request: Request,
    behaviour: MirrorBehaviour,
    reply: { status: number; headers: Headers; body: Uint8Array },
  ): Response {
    const { status, headers, body } = reply;
    for (const [name, value] of Object.entries(behaviour.headers ?? {})) {
      headers.set(name, value);
    }
    const head = request.method === "HEAD";
    if (head || [204, 304].includes(status)) {
      if (head) headers.set("content-length", String(body.length));
      return new Response(null, { status, headers });
    }
    if (behaviour.bytesPerSecond !== undefined) {
      headers.set("content-length", String(body.length));
      return new Response(paced(body, behaviour.bytesPerSecond), {
        status,
        headers,
      });
    }
    if (behaviour.chunked) {
      headers.delete("content-length");
      return new Response(ReadableStream.from([body.slice()]), {
        status,
        headers,
      });
    }
    const cut = behaviour.cutAfter;
    const stall = behaviour.stallAfter;
    if (cut === undefined && stall === undefined) {
      return new Response(body as Uint8Array<ArrayBuffer>, { status, headers });
    }
    headers.set("content-length", String(body.length));
    const sent = body.subarray(0, Math.min(body.length, cut ?? stall ?? 0));
    const stream = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        if (sent.length > 0) controller.enqueue(sent.slice());
        // Closing short of the Content-Length breaks the connection.
        if (cut === undefined) await this.#untilStopped();
        controller.close();
      },
    });
    return new Response(stream, { status, headers });
  }

  /** Waits until the mirror stops (a stalled request is not told when its
   * client gives up without reading Deno's request signal). */
  #untilStopped(): Promise<void> {
    const life = this.#life.signal;
    if (life.aborted) return Promise.resolve();
    return new Promise((resolve) =>
      life.addEventListener("abort", () => resolve(), { once: true })
    );
  }

  /** Stops the server after ending every stalled request. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#life.abort();
    await this.#server.shutdown();
  }
}

/** The strong `ETag` the mirror makes for a content by default. */
export function defaultEtag(content: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < content.length; i += Math.max(1, content.length >> 12)) {
    hash = Math.imul(hash ^ content[i]!, 0x01000193) >>> 0;
  }
  return `"${content.length.toString(16)}-${hash.toString(16)}"`;
}

/** The SHA-256 of bytes, in base64. */
export async function sha256Base64(content: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    content as Uint8Array<ArrayBuffer>,
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** A single byte range of a file of `size` bytes, as the mirror serves it. */
function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | "ignore" | "unsatisfiable" {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === "" && match[2] === "")) return "ignore";
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== "" && Number(match[2]) < start) return "ignore";
  if (start >= size) return "unsatisfiable";
  return { start, end };
}

/** A body sent in steps of 50 ms at a pace. */
function paced(
  body: Uint8Array,
  bytesPerSecond: number,
): ReadableStream<Uint8Array> {
  const step = Math.max(1, Math.floor(bytesPerSecond / 20));
  let at = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= body.length) {
        controller.close();
        return;
      }
      await new Promise((resolve) => timer = setTimeout(resolve, 50));
      timer = undefined;
      controller.enqueue(body.slice(at, at + step));
      at += step;
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
    },
  });
}
