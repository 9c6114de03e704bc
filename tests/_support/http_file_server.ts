/**
 * A plain HTTP file server for the tests of the command line: a
 * {@linkcode FaultMirror} that behaves well, counting the ranged requests
 * it serves at once, and able to hold them until several arrive or to pace
 * its replies. Internal to the tests.
 *
 * @module
 */

import { FaultMirror } from "./fault_mirror.ts";

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
  /** Bytes per second of each range reply's body; default unlimited. */
  bytesPerSecond?: number;
}

/** A running file server; stop it with `await using`. */
export class HttpFileServer implements AsyncDisposable {
  #mirror: FaultMirror;
  #serving = 0;
  #mostAtOnce = 0;
  #ranges = 0;
  /** Settles when a range request arrives, then is made anew. */
  #arrived = Promise.withResolvers<void>();

  private constructor(options: HttpFileServerOptions) {
    const files = Object.fromEntries(
      Object.entries(options.files).map((
        [path, bytes],
      ) => [decodeURIComponent(path.slice(1)), bytes]),
    );
    this.#mirror = FaultMirror.start({
      files,
      hook: async ({ recorded }) => {
        const range = recorded.range;
        if (range === null || range === "bytes=0-0") return undefined;
        await this.#holdFor(options);
        return { bytesPerSecond: options.bytesPerSecond };
      },
    });
  }

  /**
   * Starts a server on a free port of 127.0.0.1.
   *
   * @param options The files and how replies are paced.
   * @returns The server.
   */
  static start(options: HttpFileServerOptions): HttpFileServer {
    return new HttpFileServer(options);
  }

  /**
   * A URL on the server.
   *
   * @param path The path, from `/`.
   * @returns `http://127.0.0.1:<port><path>`.
   */
  url(path: string): string {
    return `${this.#mirror.url}${path.slice(1)}`;
  }

  /** The most range requests (besides `bytes=0-0`) it served at once. */
  get mostAtOnce(): number {
    return this.#mostAtOnce;
  }

  /** How many range requests (besides `bytes=0-0`) it answered. */
  get ranges(): number {
    return this.#ranges;
  }

  /** Counts a range request, and holds it until the barrier is met. */
  async #holdFor(options: HttpFileServerOptions): Promise<void> {
    this.#ranges++;
    this.#serving++;
    this.#mostAtOnce = Math.max(this.#mostAtOnce, this.#serving);
    this.#arrived.resolve();
    this.#arrived = Promise.withResolvers<void>();
    try {
      const deadline = performance.now() + (options.barrierMs ?? 3000);
      while (
        this.#mostAtOnce < (options.barrier ?? 1) &&
        performance.now() < deadline
      ) {
        const timer = Promise.withResolvers<void>();
        const id = setTimeout(timer.resolve, deadline - performance.now());
        await Promise.race([this.#arrived.promise, timer.promise]);
        clearTimeout(id);
      }
    } finally {
      this.#serving--;
    }
  }

  /** Stops it, closing its connections. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#mirror[Symbol.asyncDispose]();
  }
}
