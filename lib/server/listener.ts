/**
 * The server's listening sockets, and the serial loop that accepts one
 * connection from them at a time and serves it to its end.
 *
 * @module
 */

import { formatAddress } from "../wire/address.ts";

/** The sockets a server accepts connections on. */
export interface Listening {
  /** The sockets; closed when the accept loop stops. */
  listeners: Deno.TcpListener[];
  /** What they are, for the start line. */
  description: string;
}

/**
 * Listens on `host`, or without one on all interfaces for both IPv4 and
 * IPv6: on "::", which takes IPv4 connections too where the system allows
 * it, else on "::" and "0.0.0.0"; on "0.0.0.0" alone where there is no IPv6.
 *
 * @param address The address to listen on (all interfaces if undefined)
 * and the port (0 for one the system picks).
 * @returns The sockets and their description.
 * @throws {Deno.errors.AddrInUse} If the port is taken.
 * @throws {Deno.errors.AddrNotAvailable} If the host is not this machine's.
 */
export function listen(
  { host, port }: { host: string | undefined; port: number },
): Listening {
  if (host !== undefined) {
    const listener = Deno.listen({ hostname: host, port });
    return { listeners: [listener], description: formatAddress(listener.addr) };
  }
  let any6: Deno.TcpListener;
  try {
    any6 = Deno.listen({ hostname: "::", port });
  } catch (error) {
    if (
      error instanceof Deno.errors.AddrInUse ||
      error instanceof Deno.errors.PermissionDenied ||
      error instanceof Deno.errors.NotCapable
    ) {
      throw error;
    }
    // No IPv6 on this machine (not in the kernel, or turned off).
    const any4 = Deno.listen({ hostname: "0.0.0.0", port });
    return {
      listeners: [any4],
      description: `${
        formatAddress(any4.addr)
      } (all interfaces, IPv4 only: no IPv6 here)`,
    };
  }
  // Deno leaves IPV6_V6ONLY at the system's default (on Linux
  // net.ipv6.bindv6only, mostly 0), so "::" usually takes IPv4 connections
  // too. Binding 0.0.0.0 to the same port tells: it fails when the IPv6
  // socket covers IPv4 already, and else gives the IPv4 half.
  try {
    const any4 = Deno.listen({ hostname: "0.0.0.0", port: any6.addr.port });
    return {
      listeners: [any6, any4],
      description: `${formatAddress(any6.addr)} and ${
        formatAddress(any4.addr)
      } (all interfaces, IPv4 and IPv6)`,
    };
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      return {
        listeners: [any6],
        description: `${
          formatAddress(any6.addr)
        } (all interfaces, IPv4 and IPv6)`,
      };
    }
    return {
      listeners: [any6],
      description: `${formatAddress(any6.addr)} (all interfaces, IPv6 only: ${
        (error as Error).message
      })`,
    };
  }
}

/** How {@linkcode acceptSerially} serves. */
export interface AcceptOptions {
  /** Serves one connection to its end, closes it, and never throws. */
  serve: (conn: Deno.TcpConn) => Promise<void>;
  /** Stops the loop when aborted: the sockets are closed. */
  signal: AbortSignal;
  /** Receives a line for an accept that failed. */
  warn: (line: string) => void;
}

/**
 * Accepts connections from all the sockets, one at a time, and serves each
 * to its end before the next; the others wait in their backlogs. Returns
 * once the signal is aborted, with the sockets closed.
 *
 * @param listening The sockets.
 * @param options What serves a connection, what stops the loop, and where
 * warnings go.
 */
export async function acceptSerially(
  listening: Listening,
  { serve, signal, warn }: AcceptOptions,
): Promise<void> {
  let closed = false;
  const closeAll = () => {
    if (closed) return;
    closed = true;
    for (const listener of listening.listeners) listener.close();
  };
  if (signal.aborted) return closeAll();
  // Registered before any connection is served: the sockets close before
  // the connection in progress is ended.
  signal.addEventListener("abort", closeAll, { once: true });
  const pending = new Map<Deno.TcpListener, Promise<Accepted>>();
  try {
    while (!signal.aborted) {
      const accepted = await acceptNext(listening.listeners, pending);
      if (accepted.conn === undefined) {
        if (signal.aborted) break;
        // A connection that was reset while queued, or a passing shortage
        // of file descriptors: not a reason to stop serving.
        warn(`warning: accept failed: ${(accepted.error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      await serve(accepted.conn);
    }
  } finally {
    signal.removeEventListener("abort", closeAll);
    closeAll();
    // A connection another listener took while this one was served.
    for (const accepted of pending.values()) {
      accepted.then(({ conn }) => conn?.close());
    }
  }
}

/** What one `accept` of a listener gave. */
interface Accepted {
  listener: Deno.TcpListener;
  conn?: Deno.TcpConn;
  error?: unknown;
}

/**
 * The next connection from any of the listeners. Each listener has at most
 * one accept pending (in `pending`, kept between calls), so at most one
 * connection per listener waits here; the others stay in its backlog.
 */
async function acceptNext(
  listeners: Deno.TcpListener[],
  pending: Map<Deno.TcpListener, Promise<Accepted>>,
): Promise<Accepted> {
  for (const listener of listeners) {
    if (!pending.has(listener)) {
      pending.set(
        listener,
        listener.accept().then(
          (conn) => ({ listener, conn }),
          (error) => ({ listener, error }),
        ),
      );
    }
  }
  const accepted = await Promise.race(pending.values());
  pending.delete(accepted.listener);
  return accepted;
}
