/**
 * nginx as HTTP mirrors: those aria2c, axel and the client download from in
 * the benchmark, and those the integration tests start. One nginx process,
 * one `server` block per mirror on a port of 127.0.0.1, each with its own
 * root and `limit_rate`, over HTTPS when given a certificate, and its
 * config, pid file, logs and temp folders in a temporary folder of its own.
 * An access log, when asked for, names each request's connection, so a
 * test can tell whether connections are kept from one request to the next.
 *
 * @module
 */

import { totalCpuSeconds } from "./cpu_time.ts";
import { stopProcess } from "./project_servers.ts";
import { childPids, readPeakRssKiB } from "./rss.ts";
import { rateText } from "./scenarios.ts";

/** How long nginx may take to listen on every port. */
const START_TIMEOUT_MS = 10_000;
/** How many times nginx is started on new ports when one was taken. */
const PORT_ATTEMPTS = 3;

/** What {@linkcode nginxConfig} needs. */
export interface NginxConfigOptions {
  /** The folder for the pid file, logs and temp folders. */
  prefix: string;
  /** The folder served. */
  root: string;
  /** One server block per port, in list order. */
  ports: readonly number[];
  /** Rate limits in bytes per second, in list order; none past the end. */
  rates: readonly number[];
  /**
   * The `user` directive's value: needed when nginx starts as root, whose
   * workers would otherwise run as `nobody` and not read a private folder.
   */
  user: string | undefined;
  /** Roots in list order, in place of `root`; blocks past its end serve
   * `root`. */
  roots?: readonly string[];
  /** A certificate and key: every block then serves HTTPS. */
  tls?: NginxTls;
  /** Where to write the access log, in {@linkcode ACCESS_LOG_FORMAT};
   * none when omitted. */
  accessLog?: string;
}

/** The files of an HTTPS server. */
export interface NginxTls {
  /** The server's certificate (PEM), followed by any intermediates. */
  certificate: string;
  /** Its private key (PEM). */
  key: string;
}

/**
 * The access log's line: the server block's port, the connection's serial
 * number and how many requests it has carried with this one, the status,
 * the body bytes sent and the `Range` header asked for (`-` without one).
 * {@linkcode parseAccessLog} reads it.
 */
export const ACCESS_LOG_FORMAT =
  "$server_port $connection $connection_requests $status $body_bytes_sent $http_range";

/** One line of the access log. */
export interface AccessLogEntry {
  /** The port of the server block that answered. */
  port: number;
  /** The connection's serial number, unique within one nginx. */
  connection: number;
  /** Which request on that connection this was, from 1. */
  connectionRequests: number;
  /** The status sent. */
  status: number;
  /** How many bytes of body were sent. */
  bodyBytes: number;
  /** The `Range` header, or `undefined` without one. */
  range: string | undefined;
}

/**
 * Reads an access log written in {@linkcode ACCESS_LOG_FORMAT}.
 *
 * @param text The log's text.
 * @returns One entry per line, in order.
 * @throws {SyntaxError} For a line in another format.
 */
export function parseAccessLog(text: string): AccessLogEntry[] {
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const match = /^(\d+) (\d+) (\d+) (\d{3}) (\d+) (.+)$/.exec(line);
    if (match === null) {
      throw new SyntaxError(`Not an access log line: ${JSON.stringify(line)}`);
    }
    return {
      port: Number(match[1]),
      connection: Number(match[2]),
      connectionRequests: Number(match[3]),
      status: Number(match[4]),
      bodyBytes: Number(match[5]),
      range: match[6] === "-" ? undefined : match[6],
    };
  });
}

/**
 * The nginx configuration: in the foreground, static files only, with
 * `sendfile`, and no access log unless asked for.
 *
 * @param options Folders, ports and rates.
 * @returns The text of `nginx.conf`.
 */
export function nginxConfig(options: NginxConfigOptions): string {
  const { prefix } = options;
  const { tls } = options;
  const servers = options.ports.map((port, i) => {
    const rate = options.rates[i];
    const limit = rate === undefined
      ? ""
      : `\n    limit_rate ${rateText(rate).toLowerCase()};`;
    const root = options.roots?.[i] ?? options.root;
    const certificate = tls === undefined
      ? ""
      : `\n    ssl_certificate ${quote(tls.certificate)};
    ssl_certificate_key ${quote(tls.key)};`;
    return `  server {
    listen 127.0.0.1:${port}${tls === undefined ? "" : " ssl"};
    root ${quote(root)};${limit}${certificate}
  }`;
  });
  const accessLog = options.accessLog === undefined
    ? "access_log off;"
    : `log_format msfd '${ACCESS_LOG_FORMAT}';
  access_log ${quote(options.accessLog)} msfd;`;
  return `# Written by the msfd benchmark; removed when it stops.
daemon off;
worker_processes auto;
${options.user === undefined ? "" : `user ${options.user};\n`}pid ${
    quote(`${prefix}/nginx.pid`)
  };
error_log ${quote(`${prefix}/error.log`)} warn;

events {
  worker_connections 1024;
}

http {
  ${accessLog}
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path ${quote(`${prefix}/client_body`)};
  proxy_temp_path ${quote(`${prefix}/proxy`)};
  fastcgi_temp_path ${quote(`${prefix}/fastcgi`)};
  uwsgi_temp_path ${quote(`${prefix}/uwsgi`)};
  scgi_temp_path ${quote(`${prefix}/scgi`)};

${servers.join("\n")}
}
`;
}

function quote(path: string): string {
  if (/["\\]/.test(path)) {
    throw new TypeError(
      `Cannot use a path with quotes in nginx.conf: received "${path}"`,
    );
  }
  return `"${path}"`;
}

/**
 * Free ports of 127.0.0.1: all bound at once, so they differ, then
 * released for nginx to take.
 *
 * @param count How many.
 * @returns The ports.
 */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((listener) => listener.addr.port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** Whether this process runs as root: `Deno.uid()`, or without the
 * permission for it (as in the tests), `id -u`. */
async function runsAsRoot(): Promise<boolean> {
  try {
    return Deno.uid() === 0;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
  }
  const id = await new Deno.Command("id", {
    args: ["-u"],
    stdin: "null",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(id.stdout).trim() === "0";
}

async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return false;
    throw error;
  }
}

/** What {@linkcode Nginx.serve} starts. */
export interface NginxServeOptions {
  /** The folder served. */
  root: string;
  /** Roots in list order, in place of `root`; blocks past its end serve
   * `root`. */
  roots?: readonly string[];
  /** How many mirrors (server blocks). */
  count: number;
  /** Rate limits in bytes per second, in list order; none past the end. */
  rates?: readonly number[];
  /** A certificate and key: every block then serves HTTPS. */
  tls?: NginxTls;
  /** Whether to keep an access log ({@linkcode Nginx.accessLog}). */
  accessLog?: boolean;
}

/** A running nginx with one server block per mirror. */
export class Nginx implements AsyncDisposable {
  /** The ports of its server blocks, in list order. */
  readonly ports: number[];
  #child: Deno.ChildProcess | undefined;
  readonly #prefix: string;
  readonly #accessLog: string | undefined;

  private constructor(
    ports: number[],
    prefix: string,
    accessLog: string | undefined,
  ) {
    this.ports = ports;
    this.#prefix = prefix;
    this.#accessLog = accessLog;
  }

  get #process(): Deno.ChildProcess {
    if (this.#child === undefined) throw new Error("nginx is not running");
    return this.#child;
  }

  /**
   * The requests answered so far, from the access log.
   *
   * @returns One entry per request, in the order they ended.
   * @throws {Error} If nginx was started without an access log.
   */
  async accessLog(): Promise<AccessLogEntry[]> {
    if (this.#accessLog === undefined) {
      throw new Error("nginx was started without an access log");
    }
    return parseAccessLog(await Deno.readTextFile(this.#accessLog));
  }

  /**
   * Writes a config and starts nginx, then waits until every port accepts
   * connections. A port taken by another program between its choice and
   * nginx's start is chosen again, up to 3 times.
   *
   * @param options What to serve, how and where.
   * @returns The running nginx.
   * @throws {Error} If nginx exits or does not listen in time; with its
   * error log.
   */
  static async serve(options: NginxServeOptions): Promise<Nginx> {
    for (let attempt = 1;; attempt++) {
      try {
        return await Nginx.#startOnce(options);
      } catch (error) {
        const portTaken = error instanceof Error &&
          /Address already in use/.test(error.message);
        if (!portTaken || attempt === PORT_ATTEMPTS) throw error;
      }
    }
  }

  static async #startOnce(options: NginxServeOptions): Promise<Nginx> {
    const prefix = await Deno.makeTempDir({ prefix: "msfd_nginx_" });
    const ports = freePorts(options.count);
    const conf = `${prefix}/nginx.conf`;
    const accessLog = options.accessLog ? `${prefix}/access.log` : undefined;
    const nginx = new Nginx(ports, prefix, accessLog);
    try {
      await Deno.writeTextFile(
        conf,
        nginxConfig({
          prefix,
          root: options.root,
          roots: options.roots,
          ports,
          rates: options.rates ?? [],
          tls: options.tls,
          accessLog,
          user: await runsAsRoot() ? "root" : undefined,
        }),
      );
      nginx.#child = new Deno.Command("nginx", {
        args: ["-p", prefix, "-c", conf, "-e", `${prefix}/error.log`],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      await nginx.#waitUntilListening(nginx.#child);
    } catch (error) {
      await nginx[Symbol.asyncDispose]();
      throw error;
    }
    return nginx;
  }

  async #waitUntilListening(child: Deno.ChildProcess): Promise<void> {
    let exited = false;
    child.status.then(() => exited = true);
    const deadline = performance.now() + START_TIMEOUT_MS;
    const pending = new Set(this.ports);
    while (pending.size > 0) {
      for (const port of pending) {
        if (await accepts(port)) pending.delete(port);
      }
      if (pending.size === 0) break;
      if (exited || performance.now() > deadline) {
        throw new Error(
          `Cannot start nginx: ${
            exited ? "it exited" : "it does not listen"
          }: ${await this.#errorLog()}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async #errorLog(): Promise<string> {
    try {
      return (await Deno.readTextFile(`${this.#prefix}/error.log`)).trim();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "(no error log)";
      throw error;
    }
  }

  /** The CPU time nginx (master and workers) has used so far, in seconds. */
  async cpuSeconds(): Promise<number> {
    const workers = await childPids(this.#process.pid);
    return await totalCpuSeconds([this.#process.pid, ...workers]);
  }

  /** The peak resident set of each worker process in KiB (`VmHWM`). */
  async workerPeakRssKiB(): Promise<(number | undefined)[]> {
    const workers = await childPids(this.#process.pid);
    return await Promise.all(workers.map(readPeakRssKiB));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      if (this.#child !== undefined) await stopProcess(this.#child);
    } finally {
      await Deno.remove(this.#prefix, { recursive: true });
    }
  }
}
