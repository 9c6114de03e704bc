/**
 * A fault-injecting TCP proxy for the integration tests. It listens on a free
 * port of 127.0.0.1, forwards each accepted connection to a server on
 * 127.0.0.1 and, per connection, damages the server->client stream: cuts it,
 * stalls it, never answers, flips a byte or slows it down. Client->server
 * bytes are always forwarded unchanged. When either side closes, the proxy
 * closes the other.
 *
 * ```ts
 * await using proxy = FaultProxy.start({
 *   upstreamPort: server.port,
 *   fault: (i) => i === 0 ? { kind: "cut", after: 24 + 1000 } : undefined,
 * });
 * // point a client at 127.0.0.1:proxy.port
 * ```
 *
 * @module
 */

import { isDisconnect, writeAll } from "../../lib/wire/exact_io.ts";

/** What the proxy does to one connection. */
export type Fault =
  /** Forward `after` bytes server->client, then close both sides. */
  | { kind: "cut"; after: number }
  /**
   * Forward `after` bytes server->client, then forward nothing more and stop
   * reading from the server, keeping both sockets open until the client
   * closes or the proxy is disposed. With `flip`, the byte at that offset is
   * damaged on the way first, as with `flip`.
   */
  | { kind: "stall"; after: number; flip?: number }
  /** Accept the client, never connect upstream, never send anything. */
  | { kind: "silent" }
  /** XOR 0xff into the byte at offset `at` of the server->client stream. */
  | { kind: "flip"; at: number }
  /**
   * Forward server->client at that rate, in small evenly spaced pieces; with
   * `after`, the first `after` bytes at full speed, then the rest so.
   */
  | { kind: "trickle"; bytesPerSecond: number; after?: number };

/** Options for {@linkcode FaultProxy.start}. */
export interface FaultProxyOptions {
  /** The port of the server on 127.0.0.1. */
  upstreamPort: number;
  /**
   * The fault for the connection accepted `connectionIndex`-th, counting
   * from 0; `undefined` passes it through untouched.
   */
  fault: (connectionIndex: number) => Fault | undefined;
}

const HOSTNAME = "127.0.0.1";
const BUFFER_BYTES = 64 * 1024;
/** Pieces of a trickle are spaced about this far apart. */
const TRICKLE_INTERVAL_MS = 20;

/** One proxied connection: the client's socket and, once open, the server's. */
class Link {
  readonly client: Deno.TcpConn;
  upstream: Deno.TcpConn | undefined;
  #closed = false;
  #resolveClosed!: () => void;
  /** Settles when {@linkcode close} has run. */
  readonly whenClosed: Promise<void>;

  constructor(client: Deno.TcpConn) {
    this.client = client;
    this.whenClosed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes both sockets; pending reads and writes on them then fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.client.close();
    this.upstream?.close();
    this.#resolveClosed();
  }
}

/** A TCP proxy on 127.0.0.1 that injects one fault per connection. */
export class FaultProxy implements AsyncDisposable {
  /** The port the proxy listens on. */
  readonly port: number;
  /** Total bytes forwarded server->client over all connections. */
  bytesToClient = 0;
  #listener: Deno.TcpListener;
  #options: FaultProxyOptions;
  #connections = 0;
  #disposed = false;
  #links = new Set<Link>();
  #tasks = new Set<Promise<void>>();
  #acceptLoop: Promise<void>;
  #errors: unknown[] = [];

  private constructor(listener: Deno.TcpListener, options: FaultProxyOptions) {
    this.#listener = listener;
    this.#options = options;
    this.port = listener.addr.port;
    this.#acceptLoop = this.#accept();
  }

  /**
   * Starts a proxy on a free port of 127.0.0.1.
   *
   * @param options The upstream port and the fault of each connection.
   * @returns The running proxy; dispose of it to stop it.
   */
  static start(options: FaultProxyOptions): FaultProxy {
    const listener = Deno.listen({ hostname: HOSTNAME, port: 0 });
    return new FaultProxy(listener, options);
  }

  /** Connections accepted so far. */
  get connections(): number {
    return this.#connections;
  }

  /**
   * Closes the listener and every open socket and waits for all internal
   * tasks.
   *
   * @throws {AggregateError} If a task failed other than by a disconnect,
   * which would be a bug of the proxy.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#disposed) {
      this.#disposed = true;
      this.#listener.close();
      for (const link of this.#links) link.close();
    }
    await this.#acceptLoop;
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
    if (this.#errors.length > 0) {
      throw new AggregateError(this.#errors, "The fault proxy failed");
    }
  }

  async #accept(): Promise<void> {
    while (!this.#disposed) {
      let client: Deno.TcpConn;
      try {
        client = await this.#listener.accept();
      } catch (error) {
        if (this.#disposed) return;
        // A connection reset while queued: keep accepting.
        if (isDisconnect(error)) continue;
        this.#errors.push(error);
        return;
      }
      if (this.#disposed) {
        // Accepted just as the proxy was disposed: no task may start now.
        client.close();
        return;
      }
      const index = this.#connections++;
      let fault: Fault | undefined;
      try {
        fault = this.#options.fault(index);
      } catch (error) {
        this.#errors.push(error);
        client.close();
        continue;
      }
      const link = new Link(client);
      this.#links.add(link);
      const task = this.#serve(link, fault)
        .catch((error) => {
          if (!isDisconnect(error)) this.#errors.push(error);
        })
        .finally(() => {
          link.close();
          this.#links.delete(link);
          this.#tasks.delete(task);
        });
      this.#tasks.add(task);
    }
  }

  async #serve(link: Link, fault: Fault | undefined): Promise<void> {
    if (fault?.kind === "silent") {
      // Read only to notice the client leaving; nothing goes anywhere.
      await drain(link.client, link);
      return;
    }
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({
        hostname: HOSTNAME,
        port: this.#options.upstreamPort,
      });
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionRefused) return;
      throw error;
    }
    if (link.closed) {
      // Disposed while connecting.
      upstream.close();
      return;
    }
    link.upstream = upstream;
    await Promise.all([
      this.#pumpToServer(link, upstream, fault),
      this.#pumpToClient(link, upstream, fault),
    ]);
  }

  /**
   * Forwards client->server unchanged. The client's end of stream is passed
   * on as a half-close, so a client that shuts down its sending side still
   * gets the reply; a client that closed for good makes the next write to it
   * fail, which ends the link. A stalled link sends nothing more to write,
   * so there the end of stream closes it at once.
   */
  async #pumpToServer(
    link: Link,
    upstream: Deno.TcpConn,
    fault: Fault | undefined,
  ): Promise<void> {
    const buffer = new Uint8Array(BUFFER_BYTES);
    let halfClosed = false;
    try {
      while (!link.closed) {
        const n = await link.client.read(buffer);
        if (n === null) {
          if (fault?.kind === "stall") return;
          await upstream.closeWrite();
          halfClosed = true;
          return;
        }
        await writeAll(upstream, buffer.subarray(0, n));
      }
    } catch (error) {
      if (!link.closed && !isDisconnect(error)) throw error;
    } finally {
      if (!halfClosed) link.close();
    }
  }

  /** Forwards server->client, applying the fault, until either side ends. */
  async #pumpToClient(
    link: Link,
    upstream: Deno.TcpConn,
    fault: Fault | undefined,
  ): Promise<void> {
    const limit = fault?.kind === "cut" || fault?.kind === "stall"
      ? fault.after
      : Infinity;
    const buffer = new Uint8Array(BUFFER_BYTES);
    let position = 0;
    let started: number | undefined;
    try {
      while (!link.closed) {
        if (position >= limit) {
          if (fault?.kind === "stall") await link.whenClosed;
          return;
        }
        const n = await upstream.read(buffer);
        if (n === null) return;
        let bytes = buffer.subarray(0, Math.min(n, limit - position));
        const flip = fault?.kind === "flip"
          ? fault.at
          : fault?.kind === "stall"
          ? fault.flip
          : undefined;
        if (
          flip !== undefined && flip >= position &&
          flip < position + bytes.length
        ) {
          bytes[flip - position]! ^= 0xff;
        }
        const fullSpeed = fault?.kind === "trickle"
          ? Math.max(0, (fault.after ?? 0) - position)
          : bytes.length;
        if (fullSpeed > 0) {
          const now = bytes.subarray(0, fullSpeed);
          await writeAll(link.client, now);
          position += now.length;
          this.bytesToClient += now.length;
          bytes = bytes.subarray(now.length);
        }
        if (fault?.kind !== "trickle") {
          continue;
        }
        const rate = fault.bytesPerSecond;
        const from = fault.after ?? 0;
        // The clock starts at the server's first byte to trickle, not at
        // the connect.
        if (bytes.length > 0) started ??= performance.now();
        const pieceBytes = Math.max(
          1,
          Math.round(rate * TRICKLE_INTERVAL_MS / 1000),
        );
        while (bytes.length > 0) {
          // Paced from the start, so timer lateness does not add up.
          const due = started! + ((position - from) * 1000) / rate;
          await sleep(due - performance.now(), link);
          if (link.closed) return;
          const piece = bytes.subarray(0, pieceBytes);
          await writeAll(link.client, piece);
          position += piece.length;
          this.bytesToClient += piece.length;
          bytes = bytes.subarray(piece.length);
        }
      }
    } catch (error) {
      if (!link.closed && !isDisconnect(error)) throw error;
    } finally {
      link.close();
    }
  }
}

/** Reads and discards until the end of the stream, then closes the link. */
async function drain(conn: Deno.TcpConn, link: Link): Promise<void> {
  const buffer = new Uint8Array(BUFFER_BYTES);
  try {
    while (!link.closed && await conn.read(buffer) !== null) {
      // Discarded.
    }
  } catch (error) {
    if (!link.closed && !isDisconnect(error)) throw error;
  } finally {
    link.close();
  }
}

/** Waits `ms` milliseconds, or less if the link closes first. */
function sleep(ms: number, link: Link): Promise<void> {
  if (ms <= 0 || link.closed) return Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
    link.whenClosed,
  ]).finally(() => clearTimeout(timer));
}
