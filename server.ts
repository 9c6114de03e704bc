/**
 * The file server: `server.ts [options] <port>`. Serves the regular files of
 * a folder, one client at a time.
 *
 * @module
 */

import { DigestCache } from "./lib/server/digest_cache.ts";
import { parseByteSize } from "./lib/cli/byte_size.ts";
import {
  countArguments,
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
import {
  acceptSerially,
  listen,
  type Listening,
} from "./lib/server/listener.ts";

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
      `Expected exactly one argument, the port: received ${
        countArguments(positionals.length)
      }`,
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
    listening = listen({ host: config.host, port: config.port });
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

  // SIGINT and SIGTERM close the sockets, then end the transfer in
  // progress, which serveConnection logs.
  const stop = () => shutdown.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  console.log(`Serving ${quoteName(folder.root)} on ${listening.description}`);
  try {
    await acceptSerially(listening, {
      serve: (conn) => serveConnection(conn, options),
      signal: shutdown.signal,
      warn: (line) => console.error(line),
    });
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
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
