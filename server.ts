/**
 * The file server: `server.ts [options] <port>`. Serves the regular files of
 * a folder, one client at a time.
 *
 * @module
 */

import { DigestCache } from "./lib/server/digest_cache.ts";
import { parseByteSize } from "./lib/cli/byte_size.ts";
import {
  parseCommandLine,
  parseSeconds,
  UsageError,
  versionLine,
} from "./lib/cli/cli_args.ts";
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SEND_TIMEOUT_MS,
  SEND_BUFFER_BYTES,
  serveConnection,
  type ServeOptions,
} from "./lib/server/connection_loop.ts";
import { describeDenied } from "./lib/cli/permission_error.ts";
import { quoteName } from "./lib/wire/quoted_name.ts";
import { RateLimiter } from "./lib/server/rate_limiter.ts";
import { ServedFolder } from "./lib/server/served_folder.ts";
import { formatAddress } from "./lib/wire/address.ts";

const USAGE = `Usage: server.ts [options] <port>

Serves the regular files under a folder over TCP, one client at a time.
Port 0 picks a free port; the address in use is printed on start.

Options:
  --root DIR                 folder to serve (default: the current folder)
  --host ADDRESS             address to listen on (default: all interfaces,
                             IPv4 and IPv6; IPv4 only where the machine has
                             no IPv6)
  --request-timeout SECONDS  time a client has to send its request (default: ${
  DEFAULT_REQUEST_TIMEOUT_MS / 1000
})
  --send-timeout SECONDS     time a send may stall before the client is dropped
                             (default: ${
  DEFAULT_SEND_TIMEOUT_MS / 1000
}; 0 for no limit)
  --rate-limit BYTES         limit the output to BYTES per second (K, M, G:
                             1024-based, so 40M is 40 MiB/s)
  --quiet                    no log line per request
  -h, --help                 show this help
  --version                  show the version and the protocol version

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 cannot start, 2 bad command line.`;

const OPTIONS = {
  root: { type: "string", default: "." },
  host: { type: "string" },
  "request-timeout": { type: "string" },
  "send-timeout": { type: "string" },
  "rate-limit": { type: "string" },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", default: false },
} as const;

/** Settings taken from the command line. */
interface ServerConfig {
  port: number;
  /** The address to listen on; undefined: all interfaces, both families. */
  host: string | undefined;
  root: string;
  requestTimeoutMs: number;
  sendTimeoutMs: number;
  rateLimit: number | undefined;
  quiet: boolean;
}

function parseConfig(args: string[]): ServerConfig | "help" | "version" {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (values.help) return "help";
  if (values.version) return "version";
  if (positionals.length !== 1) {
    throw new UsageError(
      `Expected exactly one argument, the port: received ${positionals.length}`,
    );
  }
  const portText = positionals[0]!;
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(
      `Port must be an integer from 0 to 65535: received ${
        quoteName(portText)
      }`,
    );
  }
  let rateLimit: number | undefined;
  if (values["rate-limit"] !== undefined) {
    try {
      rateLimit = parseByteSize(values["rate-limit"]);
    } catch (error) {
      throw new UsageError(`--rate-limit: ${(error as Error).message}`);
    }
  }
  return {
    port,
    host: values.host,
    root: values.root,
    requestTimeoutMs: values["request-timeout"] === undefined
      ? DEFAULT_REQUEST_TIMEOUT_MS
      : parseSeconds(values["request-timeout"], "--request-timeout"),
    sendTimeoutMs: values["send-timeout"] === undefined
      ? DEFAULT_SEND_TIMEOUT_MS
      : parseSeconds(values["send-timeout"], "--send-timeout"),
    rateLimit,
    quiet: values.quiet,
  };
}

/** The sockets a server accepts connections on. */
interface Listening {
  listeners: Deno.TcpListener[];
  /** What they are, for the start line. */
  description: string;
}

/**
 * Listens on `host`, or without one on all interfaces for both IPv4 and
 * IPv6: on "::", which takes IPv4 connections too where the system allows
 * it, else on "::" and "0.0.0.0"; on "0.0.0.0" alone where there is no IPv6.
 */
function listen(host: string | undefined, port: number): Listening {
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

/**
 * Runs the server until SIGINT or SIGTERM.
 *
 * @param args The command-line arguments.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let config: ServerConfig | "help" | "version";
  try {
    config = parseConfig(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (config === "help") {
    console.log(USAGE);
    return 0;
  }
  if (config === "version") {
    console.log(versionLine("server.ts"));
    return 0;
  }

  let folder: ServedFolder;
  let listening: Listening;
  try {
    folder = await ServedFolder.open(config.root);
    listening = listen(config.host, config.port);
  } catch (error) {
    console.error(
      `error: Cannot start the server: ${describeStartError(error, config)}`,
    );
    return 1;
  }

  const shutdown = new AbortController();
  const options: ServeOptions = {
    folder,
    signal: shutdown.signal,
    digestCache: new DigestCache(),
    // Connections are served one at a time, so they share one buffer.
    sendBuffer: new Uint8Array(SEND_BUFFER_BYTES),
    requestTimeoutMs: config.requestTimeoutMs,
    sendTimeoutMs: config.sendTimeoutMs,
    rateLimiter: config.rateLimit === undefined
      ? undefined
      : new RateLimiter(config.rateLimit),
    log: config.quiet ? () => {} : (line) => console.error(line),
  };

  const stop = () => {
    if (shutdown.signal.aborted) return;
    for (const listener of listening.listeners) listener.close();
    // Ends the transfer in progress; serveConnection logs it and returns.
    shutdown.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  console.log(`Serving ${quoteName(folder.root)} on ${listening.description}`);
  const pending = new Map<Deno.TcpListener, Promise<Accepted>>();
  try {
    while (!shutdown.signal.aborted) {
      const accepted = await acceptNext(listening.listeners, pending);
      if (accepted.conn === undefined) {
        if (shutdown.signal.aborted) break;
        // A connection that was reset while queued, or a passing shortage
        // of file descriptors: not a reason to stop serving.
        console.error(
          `warning: accept failed: ${(accepted.error as Error).message}`,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      await serveConnection(accepted.conn, options);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    // A connection another listener took while this one was served.
    for (const accepted of pending.values()) {
      accepted.then(({ conn }) => conn?.close());
    }
  }
  return 0;
}

function describeStartError(error: unknown, config: ServerConfig): string {
  if (error instanceof Deno.errors.AddrInUse) {
    return `port ${config.port} on ${
      config.host ?? "all interfaces"
    } is already in use`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `address "${
      config.host ?? "0.0.0.0"
    }" is not available on this machine`;
  }
  if (error instanceof Deno.errors.NotFound) {
    return `folder ${quoteName(config.root)} does not exist`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${error.message}`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return describeDenied(error, {
      flags: "--allow-net --allow-read",
      task: "deno task server",
    });
  }
  return error instanceof Error ? error.message : String(error);
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
