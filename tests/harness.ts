/**
 * Helpers for the integration tests: real server and client processes on
 * 127.0.0.1, temporary folders and random files.
 *
 * @module
 */

const PROJECT = new URL("../", import.meta.url).pathname;
/** The server script. */
export const SERVER_SCRIPT = `${PROJECT}server.ts`;
/** The client script. */
export const CLIENT_SCRIPT = `${PROJECT}client.ts`;

/** A temporary folder, removed with everything in it on dispose. */
export async function tempDir(): Promise<
  { path: string } & AsyncDisposable
> {
  const path = await Deno.makeTempDir({ prefix: "msfd_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/** `length` random bytes. */
export function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(length, at + 65536)));
  }
  return bytes;
}

/** A server-info text listing 127.0.0.1 at the given ports. */
export function serverInfo(ports: number[]): string {
  return ports.map((port) => `127.0.0.1 ${port}\n`).join("");
}

/** A port nothing listens on: bound, then released. */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
  }
  return text;
}

/** A running server process. */
export class ServerProcess implements AsyncDisposable {
  readonly port: number;
  readonly child: Deno.ChildProcess;
  #stderr: Promise<string>;
  #stdout: Promise<string>;
  #status: Promise<Deno.CommandStatus> | undefined;

  private constructor(
    port: number,
    child: Deno.ChildProcess,
    stdout: Promise<string>,
    stderr: Promise<string>,
  ) {
    this.port = port;
    this.child = child;
    this.#stdout = stdout;
    this.#stderr = stderr;
  }

  /**
   * Starts `server.ts` on a free port of 127.0.0.1 serving `root`, and waits
   * for its start line.
   */
  static async start(
    root: string,
    extraArgs: string[] = [],
  ): Promise<ServerProcess> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        SERVER_SCRIPT,
        "--host",
        "127.0.0.1",
        ...extraArgs,
        "0",
      ],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = collect(child.stderr);
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let port: number | undefined;
    while (port === undefined) {
      const { value, done } = await lines.read();
      if (done) {
        await child.status;
        throw new Error(
          `The server exited before listening: ${seen}${await stderr}`,
        );
      }
      seen += value;
      const match = /on 127\.0\.0\.1:(\d+)/.exec(seen);
      if (match) port = Number(match[1]);
    }
    const stdout = (async () => {
      let rest = seen;
      while (true) {
        const { value, done } = await lines.read();
        if (done) return rest;
        rest += value;
      }
    })();
    return new ServerProcess(port, child, stdout, stderr);
  }

  /** Sends a signal and waits for the exit. */
  stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (this.#status === undefined) {
      try {
        this.child.kill(signal);
      } catch (error) {
        // Already exited: its status is still collected below.
        if (!(error instanceof TypeError)) throw error;
      }
      this.#status = this.child.status;
    }
    return this.#status;
  }

  /** The server's standard error, once it has exited. */
  async log(): Promise<string> {
    await this.stop();
    return await this.#stderr;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
    await Promise.all([this.#stdout, this.#stderr]);
  }
}

/** The outcome of a client run. */
export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode runClient}. */
export interface ClientOptions {
  /** Folder the client runs in (and writes to). */
  cwd: string;
  args: string[];
  /** Text for standard input; none when omitted. */
  stdin?: string;
  /** Kill the client after this long; the test then fails. */
  timeoutMs?: number;
}

/** Runs `client.ts` to its end with the given arguments. */
export async function runClient(options: ClientOptions): Promise<ClientRun> {
  const child = spawnClient(options);
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** Starts `client.ts` with piped output; the caller awaits or kills it. */
export function spawnClient(options: ClientOptions): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      CLIENT_SCRIPT,
      ...options.args,
    ],
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).spawn();
}

/** Compares two byte arrays without printing megabytes on failure. */
export { equalBytes as sameBytes } from "../lib/byte_arrays.ts";
