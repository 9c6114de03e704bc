/**
 * nginx as the HTTP mirrors aria2c and axel download from: one nginx
 * process, one `server` block per mirror on a port of 127.0.0.1, each with
 * its own `limit_rate`, and its config, pid file, logs and temp folders in
 * a temporary folder of its own.
 *
 * @module
 */

import { totalCpuSeconds } from "./cpu_time.ts";
import { stopProcess } from "./project_servers.ts";
import { childPids, readPeakRssKiB } from "./rss.ts";
import { rateText } from "./scenarios.ts";

/** How long nginx may take to listen on every port. */
const START_TIMEOUT_MS = 10_000;

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
}

/**
 * The nginx configuration: in the foreground, static files only, with
 * `sendfile` and no access log.
 *
 * @param options Folders, ports and rates.
 * @returns The text of `nginx.conf`.
 */
export function nginxConfig(options: NginxConfigOptions): string {
  const { prefix } = options;
  const servers = options.ports.map((port, i) => {
    const rate = options.rates[i];
    const limit = rate === undefined
      ? ""
      : `\n    limit_rate ${rateText(rate).toLowerCase()};`;
    return `  server {
    listen 127.0.0.1:${port};
    root ${quote(options.root)};${limit}
  }`;
  });
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
  access_log off;
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

/** A running nginx with one server block per mirror. */
export class Nginx implements AsyncDisposable {
  readonly ports: number[];
  readonly #child: Deno.ChildProcess;
  readonly #prefix: string;

  private constructor(
    child: Deno.ChildProcess,
    ports: number[],
    prefix: string,
  ) {
    this.#child = child;
    this.ports = ports;
    this.#prefix = prefix;
  }

  /**
   * Writes a config and starts nginx, then waits until every port accepts
   * connections.
   *
   * @param root The folder to serve.
   * @param rates Rate limits in list order; mirrors past its end have none.
   * @param count How many mirrors.
   * @returns The running nginx.
   * @throws {Error} If nginx exits or does not listen in time; with its
   * error log.
   */
  static async start(
    root: string,
    rates: readonly number[],
    count: number,
  ): Promise<Nginx> {
    const prefix = await Deno.makeTempDir({ prefix: "msfd_bench_nginx_" });
    const ports = freePorts(count);
    const conf = `${prefix}/nginx.conf`;
    await Deno.writeTextFile(
      conf,
      nginxConfig({
        prefix,
        root,
        ports,
        rates,
        user: Deno.uid() === 0 ? "root" : undefined,
      }),
    );
    const child = new Deno.Command("nginx", {
      args: ["-p", prefix, "-c", conf, "-e", `${prefix}/error.log`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const nginx = new Nginx(child, ports, prefix);
    try {
      await nginx.#waitUntilListening();
    } catch (error) {
      await nginx[Symbol.asyncDispose]();
      throw error;
    }
    return nginx;
  }

  async #waitUntilListening(): Promise<void> {
    let exited = false;
    this.#child.status.then(() => exited = true);
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
    const workers = await childPids(this.#child.pid);
    return await totalCpuSeconds([this.#child.pid, ...workers]);
  }

  /** The peak resident set of each worker process in KiB (`VmHWM`). */
  async workerPeakRssKiB(): Promise<(number | undefined)[]> {
    const workers = await childPids(this.#child.pid);
    return await Promise.all(workers.map(readPeakRssKiB));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await stopProcess(this.#child);
    } finally {
      await Deno.remove(this.#prefix, { recursive: true });
    }
  }
}
