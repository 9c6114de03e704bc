/**
 * The project's own servers (`server.ts`) for a scenario: started on free
 * ports of 127.0.0.1, each with its rate limit, stopped together.
 *
 * @module
 */

import { totalCpuSeconds } from "./cpu_time.ts";
import { readPeakRssKiB } from "./rss.ts";
import { rateText } from "./scenarios.ts";

/** The project's folder. */
export const PROJECT_DIR = new URL("../", import.meta.url).pathname;
/** The server script. */
export const SERVER_SCRIPT = `${PROJECT_DIR}server.ts`;
/** The client script. */
export const CLIENT_SCRIPT = `${PROJECT_DIR}client.ts`;

/**
 * The arguments that run `client.ts` with its permission flags.
 *
 * @param clientArgs The client's own arguments.
 * @returns Arguments for `Deno.execPath()`.
 */
export function clientRunArgs(...clientArgs: string[]): string[] {
  return clientScriptArgs(CLIENT_SCRIPT, clientArgs);
}

/**
 * The arguments of `deno` that run a given client script, such as another
 * checkout's.
 *
 * @param script The client script's path.
 * @param clientArgs The client's own arguments.
 * @returns The arguments.
 */
export function clientScriptArgs(
  script: string,
  clientArgs: readonly string[],
): string[] {
  return [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    script,
    ...clientArgs,
  ];
}

/** How long a server may take to print its address. */
const START_TIMEOUT_MS = 30_000;
/** How long a server may take to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

/**
 * The port in a server's start line, `Serving "<root>" on 127.0.0.1:PORT`.
 *
 * @param text The output seen so far.
 * @returns The port, or `undefined` until the line is complete.
 */
export function parseServingPort(text: string): number | undefined {
  const match = /^Serving .* on 127\.0\.0\.1:(\d+)\r?\n/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * The server-info text for ports of 127.0.0.1, in order.
 *
 * @param ports The ports.
 * @returns One `127.0.0.1 PORT` line each.
 */
export function serverInfoText(ports: readonly number[]): string {
  return ports.map((port) => `127.0.0.1 ${port}\n`).join("");
}

/** Sends `signal` to `child`, unless it has exited already (its status is
 * still collected by whoever awaits it). */
function signalUnlessExited(
  child: Deno.ChildProcess,
  signal: Deno.Signal,
): void {
  try {
    child.kill(signal);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
}

/**
 * Stops a child process: a signal, then SIGKILL if it has not exited within
 * 5 s.
 *
 * @param child The process.
 * @param signal The first signal sent.
 * @returns Its exit status.
 */
export async function stopProcess(
  child: Deno.ChildProcess,
  signal: Deno.Signal = "SIGTERM",
): Promise<Deno.CommandStatus> {
  signalUnlessExited(child, signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const lingering = new Promise<"lingering">((resolve) => {
    timer = setTimeout(() => resolve("lingering"), STOP_TIMEOUT_MS);
  });
  try {
    const first = await Promise.race([child.status, lingering]);
    if (first !== "lingering") return first;
    signalUnlessExited(child, "SIGKILL");
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const piece of stream.pipeThrough(new TextDecoderStream())) {
    text = (text + piece).slice(-4000);
  }
  return text;
}

/** One running `server.ts`. */
class ProjectServer {
  readonly child: Deno.ChildProcess;
  readonly port: number;
  readonly #output: Promise<unknown>;
  /** Set once the process has exited. */
  exit: Deno.CommandStatus | undefined;

  private constructor(
    child: Deno.ChildProcess,
    port: number,
    output: Promise<unknown>,
  ) {
    this.child = child;
    this.port = port;
    this.#output = output;
    child.status.then((status) => this.exit = status);
  }

  static async start(root: string, rate: number | undefined) {
    const args = ["run", "--allow-net", "--allow-read", SERVER_SCRIPT];
    args.push("--host", "127.0.0.1", "--quiet");
    if (rate !== undefined) args.push("--rate-limit", rateText(rate));
    args.push("0");
    const child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = drain(child.stderr);
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const timer = setTimeout(
      () => signalUnlessExited(child, "SIGKILL"),
      START_TIMEOUT_MS,
    );
    let seen = "";
    let port: number | undefined;
    try {
      while (port === undefined) {
        const { value, done } = await reader.read();
        if (done) {
          await child.status;
          throw new Error(
            `Cannot start server.ts: it exited before listening: ${seen}${await stderr}`,
          );
        }
        seen += value;
        port = parseServingPort(seen);
      }
    } finally {
      clearTimeout(timer);
    }
    const stdout = (async () => {
      while (!(await reader.read()).done) {
        // Nothing more is expected; read on so the pipe never fills.
      }
    })();
    return new ProjectServer(child, port, Promise.all([stdout, stderr]));
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
    await this.#output;
  }
}

/** The servers of one scenario. */
export class ProjectServers implements AsyncDisposable {
  #servers: ProjectServer[];
  readonly #root: string;
  readonly #rates: readonly number[];

  private constructor(
    servers: ProjectServer[],
    root: string,
    rates: readonly number[],
  ) {
    this.#servers = servers;
    this.#root = root;
    this.#rates = rates;
  }

  /**
   * Starts `count` servers serving `root`, in parallel.
   *
   * @param root The folder to serve.
   * @param rates Rate limits in list order; servers past its end have none.
   * @param count How many servers.
   * @returns The running servers, in list order.
   * @throws {Error} If one cannot start; those that did are stopped.
   */
  static async start(
    root: string,
    rates: readonly number[],
    count: number,
  ): Promise<ProjectServers> {
    const started = await Promise.allSettled(
      Array.from(
        { length: count },
        (_, i) => ProjectServer.start(root, rates[i]),
      ),
    );
    const servers = started.flatMap((s) =>
      s.status === "fulfilled" ? [s.value] : []
    );
    const failure = started.find((s) => s.status === "rejected");
    if (failure !== undefined) {
      await Promise.all(servers.map((server) => server.stop()));
      throw failure.reason;
    }
    return new ProjectServers(servers, root, rates);
  }

  /**
   * Stops the servers and starts as many fresh ones (on new ports): their
   * digest caches are empty, as for a first download.
   *
   * @throws {Error} If one cannot start; those that did are stopped.
   */
  async restart(): Promise<void> {
    const count = this.#servers.length;
    await Promise.all(this.#servers.map((server) => server.stop()));
    this.#servers = [];
    const fresh = await ProjectServers.start(this.#root, this.#rates, count);
    this.#servers = fresh.#servers;
  }

  /** The ports, in list order. */
  get ports(): number[] {
    return this.#servers.map((server) => server.port);
  }

  /**
   * The servers that have exited, which they do only when something else
   * stops them: one line each, such as `port 4000: killed by SIGTERM`.
   */
  exited(): string[] {
    return this.#servers.flatMap((server) => {
      const exit = server.exit;
      if (exit === undefined) return [];
      return [
        `port ${server.port}: ${
          exit.signal === null
            ? `exited with code ${exit.code}`
            : `killed by ${exit.signal}`
        }`,
      ];
    });
  }

  /** The CPU time all the servers have used so far, in seconds. */
  cpuSeconds(): Promise<number> {
    return totalCpuSeconds(this.#servers.map((server) => server.child.pid));
  }

  /** Each server's peak resident set in KiB so far (`VmHWM`). */
  peakRssKiB(): Promise<(number | undefined)[]> {
    return Promise.all(
      this.#servers.map((server) => readPeakRssKiB(server.child.pid)),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.#servers.map((server) => server.stop()));
  }
}
