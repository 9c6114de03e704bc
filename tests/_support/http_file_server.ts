/**
 * A small HTTP file server in the test process (`Deno.serve` on
 * 127.0.0.1): files from memory, `Range: bytes=a-b` answered with a `206`
 * and its `Content-Range`, and a count of the ranged requests it serves at
 * once. Internal to the tests.
 *
 * @module
 */

/** What {@linkcode HttpFileServer.start} needs. */
export interface HttpFileServerOptions {
  /** The files by URL path (`/pub/f.bin`), as the request names them
   * (percent-encoded). */
  files: Record<string, Uint8Array>;
  /** Each range reply (not the `bytes=0-0` size request) waits until this
   * many ranges have been served at once, or `barrierMs` has passed: a
   * client that sends them one at a time is slowed, one that sends them at
   * once is not. Default 1 (no wait). */
  barrier?: number;
  /** How long a range reply waits for the barrier; default 3000 ms. */
  barrierMs?: number;
  /** Bytes per second of each reply's body; default unlimited. */
  bytesPerSecond?: number;
}

/** A running file server; stop it with `await using`. */
export class HttpFileServer implements AsyncDisposable {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  #server: Deno.HttpServer;
  #state: ServeState;

  private constructor(server: Deno.HttpServer, state: ServeState) {
    this.#server = server;
    this.#state = state;
    this.port = (server.addr as Deno.NetAddr).port;
  }

  /**
   * Starts a server on a free port of 127.0.0.1.
   *
   * @param options The files and how replies are paced.
   * @returns The server.
   */
  static start(options: HttpFileServerOptions): HttpFileServer {
    const state: ServeState = {
      options,
      serving: 0,
      mostAtOnce: 0,
      ranges: 0,
      arrived: Promise.withResolvers<void>(),
    };
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => serve(state, request),
    );
    return new HttpFileServer(server, state);
  }

  /**
   * A URL on the server.
   *
   * @param path The path, from `/`.
   * @returns `http://127.0.0.1:<port><path>`.
   */
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The most range requests (besides `bytes=0-0`) it served at once. */
  get mostAtOnce(): number {
    return this.#state.mostAtOnce;
  }

  /** How many range requests (besides `bytes=0-0`) it answered. */
  get ranges(): number {
    return this.#state.ranges;
  }

  /** Stops it, closing its connections. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

interface ServeState {
  options: HttpFileServerOptions;
  serving: number;
  mostAtOnce: number;
  ranges: number;
  /** Settles when a range request arrives, then is made anew. */
  arrived: PromiseWithResolvers<void>;
}

async function serve(state: ServeState, request: Request): Promise<Response> {
  const { options } = state;
  const path = new URL(request.url).pathname;
  const file = options.files[path];
  if (file === undefined) return new Response("not found", { status: 404 });
  const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.get("range") ?? "");
  if (range === null) return reply(file, 200, {}, options.bytesPerSecond);
  const start = Number(range[1]);
  const end = Math.min(Number(range[2]), file.length - 1);
  if (start >= file.length) {
    return new Response(null, {
      status: 416,
      headers: { "content-range": `bytes */${file.length}` },
    });
  }
  const headers = { "content-range": `bytes ${start}-${end}/${file.length}` };
  const body = file.subarray(start, end + 1);
  if (start === 0 && end === 0) return reply(body, 206, headers);
  state.ranges++;
  state.serving++;
  state.mostAtOnce = Math.max(state.mostAtOnce, state.serving);
  state.arrived.resolve();
  state.arrived = Promise.withResolvers<void>();
  try {
    const deadline = performance.now() + (options.barrierMs ?? 3000);
    while (
      state.mostAtOnce < (options.barrier ?? 1) &&
      performance.now() < deadline
    ) {
      const timer = Promise.withResolvers<void>();
      const id = setTimeout(timer.resolve, deadline - performance.now());
      await Promise.race([state.arrived.promise, timer.promise]);
      clearTimeout(id);
    }
  } finally {
    state.serving--;
  }
  return reply(body, 206, headers, options.bytesPerSecond);
}

/** A reply with a body, sent at a pace if one is given. */
function reply(
  body: Uint8Array,
  status: number,
  headers: Record<string, string>,
  bytesPerSecond?: number,
): Response {
  const all = { ...headers, "content-length": String(body.length) };
  if (bytesPerSecond === undefined) {
    return new Response(body.slice(), { status, headers: all });
  }
  const step = Math.max(1, Math.floor(bytesPerSecond / 20));
  let at = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stream = new ReadableStream<Uint8Array>({
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
  return new Response(stream, { status, headers: all });
}
