/**
 * Listeners on 127.0.0.1 that stand in for a server: one that holds every
 * connection open and never writes, one that sends the same bytes to each
 * connection, and one that answers protocol requests as a test tells it.
 * Internal to the tests.
 *
 * @module
 */

import { writeAll } from "../../lib/wire/exact_io.ts";
import { type Request, Status } from "../../lib/wire/protocol.ts";
import { encodeResponse, readRequest } from "../../lib/wire/frame_codec.ts";

/**
 * A listener on a free port of 127.0.0.1. With `serve`, it serves its
 * connections one at a time and closes each after; without, it holds every
 * connection open and silent until it is disposed.
 */
export class FakeServer implements AsyncDisposable {
  /** The port it listens on. */
  readonly port: number;
  #listener: Deno.TcpListener;
  #held = new Set<Deno.TcpConn>();
  #accepted = 0;
  #serving: Promise<void>;

  /**
   * Starts listening.
   *
   * @param serve What to do with each connection; errors (a client that
   * left) are dropped and the next connection is served.
   */
  constructor(serve?: (conn: Deno.TcpConn) => Promise<void>) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#listener = listener;
    this.port = listener.addr.port;
    this.#serving = (async () => {
      try {
        for await (const conn of listener) {
          this.#accepted++;
          if (serve === undefined) {
            this.#held.add(conn);
            continue;
          }
          try {
            await serve(conn);
          } catch {
            // The client left; the next one comes.
          } finally {
            conn.close();
          }
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.BadResource)) throw error;
      }
    })();
  }

  /** How many connections it accepted. */
  get accepted(): number {
    return this.#accepted;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#serving;
    for (const conn of this.#held) {
      try {
        conn.close();
      } catch {
        // The client closed it already.
      }
    }
  }
}

/** A listener that accepts connections and never writes, holding them
 * open until it is disposed. */
export function silentServer(): FakeServer {
  return new FakeServer();
}

/** A listener that sends `reply` on each connection, then closes it. */
export function replyingServer(reply: string): FakeServer {
  const bytes = new TextEncoder().encode(reply);
  return new FakeServer((conn) => writeAll(conn, bytes));
}

/** How an {@linkcode answeringServer} answers, request by request. */
export type Answer = (request: Request) => {
  status?: Status;
  fileSize: number;
  payload?: Uint8Array;
};

/** A serial server of the protocol that answers as `answer` says, one
 * reply per connection. */
export function answeringServer(answer: Answer): FakeServer {
  return new FakeServer(async (conn) => {
    const request = await readRequest(conn);
    const { status = Status.OK, fileSize, payload = new Uint8Array() } = answer(
      request,
    );
    const ok = status === Status.OK;
    await writeAll(
      conn,
      encodeResponse({
        status,
        message: ok ? "" : "refused",
        fileSize: ok ? fileSize : 0,
        payloadLength: ok ? payload.length : 0,
      }),
    );
    if (ok) await writeAll(conn, payload);
  });
}
