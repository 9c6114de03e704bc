/**
 * A connection to one server kept open between requests.
 *
 * @module
 */

/**
 * A connection to one server kept open after a complete reply, for the next
 * request to that server: it saves a connection's setup and the time its
 * TCP windows need to grow. The server waits about a second for the next
 * request, so keep one only while more requests follow soon, and dispose
 * of it when none will.
 */
export class KeptConnection implements Disposable {
  #conn: Deno.TcpConn | undefined;
  /** Whether the server refused version 2 requests: it speaks only 1. */
  refused = false;

  /**
   * Takes the kept connection, if there is one.
   *
   * @returns The connection, now the caller's to use and close.
   */
  take(): Deno.TcpConn | undefined {
    const conn = this.#conn;
    this.#conn = undefined;
    return conn;
  }

  /**
   * Keeps a connection whose last reply was read to its end.
   *
   * @param conn The connection; one kept before is closed.
   */
  keep(conn: Deno.TcpConn): void {
    this[Symbol.dispose]();
    this.#conn = conn;
  }

  /** Closes the kept connection, if any. */
  [Symbol.dispose](): void {
    const conn = this.take();
    try {
      conn?.close();
    } catch {
      // Already closed: nothing to release.
    }
  }
}
