/**
 * Helpers for the integration tests: real server and client processes on
 * 127.0.0.1, temporary folders and random files.
 *
 * @module
 */

const PROJECT = new URL("../../", import.meta.url).pathname;
/** The server script. */
export const SERVER_SCRIPT = `${PROJECT}server.ts`;
/** The client script. */
export const CLIENT_SCRIPT = `${PROJECT}client.ts`;

export { tempDir } from "./temp_dir.ts";

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

/** Writes `servers.txt` in `dir`: a server list naming 127.0.0.1 at the
 * given ports. */
export async function writeServerList(
  dir: string,
  ports: number[],
): Promise<void> {
  await Deno.writeTextFile(`${dir}/servers.txt`, serverInfo(ports));
}

/** A port nothing listens on: bound, then released. */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** All the text a stream carries, read to its end. */
export async function collect(
  stream: ReadableStream<Uint8Array>,
): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text += chunk;
  }
  return text;
}

/** How {@linkcode ServerProcess.start} runs `server.ts`. */
export interface ServerStartOptions {
  /**
   * The `--host` value; `null` passes none, so the server listens on its
   * default, all interfaces. Default: `"127.0.0.1"`.
   */
  host?: string | null;
  /** The `--allow-read` value, such as the served folder; default: none. */
  allowRead?: string;
  /** The folder the server runs in; default: the served folder. */
  cwd?: string;
}

/** A running server process. */
export class ServerProcess implements AsyncDisposable {
  readonly port: number;
  readonly child: Deno.ChildProcess;
  /** What the server printed on start: `Serving "<root>" on <address>`. */
  readonly startLine: string;
  #stderr: Promise<string>;
  #stdout: Promise<string>;
  #status: Promise<Deno.CommandStatus> | undefined;

  private constructor(
    port: number,
    child: Deno.ChildProcess,
    stdout: Promise<string>,
    stderr: Promise<string>,
    startLine: string,
  ) {
    this.port = port;
    this.child = child;
    this.startLine = startLine;
    this.#stdout = stdout;
    this.#stderr = stderr;
  }

  /**
   * Starts `server.ts` on a free port of 127.0.0.1 (or of the host the
   * options give) serving `root`, and waits for its start line.
   */
  static async start(
    root: string,
    extraArgs: string[] = [],
    options: ServerStartOptions = {},
  ): Promise<ServerProcess> {
    const host = options.host === undefined ? "127.0.0.1" : options.host;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        options.allowRead === undefined
          ? "--allow-read"
          : `--allow-read=${options.allowRead}`,
        SERVER_SCRIPT,
        ...(host === null ? [] : ["--host", host]),
        ...extraArgs,
        "0",
      ],
      cwd: options.cwd ?? root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = collect(child.stderr);
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let port: number | undefined;
    let startLine = "";
    while (port === undefined) {
      const { value, done } = await lines.read();
      if (done) {
        await child.status;
        throw new Error(
          `The server exited before listening: ${seen}${await stderr}`,
        );
      }
      seen += value;
      // `on 127.0.0.1:PORT`, `on [::]:PORT (...)`, `on [::1]:PORT`
      const match = /^Serving ".*" on \S+:(\d+)\b.*\n/m.exec(seen);
      if (match) {
        port = Number(match[1]);
        startLine = match[0].trimEnd();
      }
    }
    const stdout = (async () => {
      let rest = seen;
      while (true) {
        const { value, done } = await lines.read();
        if (done) return rest;
        rest += value;
      }
    })();
    return new ServerProcess(port, child, stdout, stderr, startLine);
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
  /** Variables added to the client's environment (such as `DENO_CERT`). */
  env?: Record<string, string>;
}

/** Runs `client.ts` to its end with the given arguments. */
export async function runClient(options: ClientOptions): Promise<ClientRun> {
  const child = spawnClient(options);
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  return await clientOutcome(child);
}

/** Waits for a client started with {@linkcode spawnClient} to end: its
 * exit code and its output as text. */
export async function clientOutcome(
  child: Deno.ChildProcess,
): Promise<ClientRun> {
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
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).spawn();
}

/** Compares two byte arrays without printing megabytes on failure. */
export { equalBytes as sameBytes } from "../../lib/wire/byte_arrays.ts";

/** Quotes a word for `sh`. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Options for {@linkcode spawnClientInTerminal}. */
export interface TerminalClientOptions {
  /** Folder the client runs in (and writes to). */
  cwd: string;
  args: string[];
  /** The terminal's size; default 80 columns, 24 rows. */
  columns?: number;
  rows?: number;
  /** Keep standard input open for keys (such as Ctrl-C); default: none. */
  keyboard?: boolean;
  /** Kill the terminal after this long; the test then fails. */
  timeoutMs?: number;
}

/**
 * Starts `client.ts` on a pseudo-terminal (util-linux `script`), as a person
 * at a terminal runs it. The child's standard output is what the terminal
 * shows, standard output and error mixed; with `keyboard`, its standard
 * input is what is typed.
 */
export function spawnClientInTerminal(
  options: TerminalClientOptions,
): Deno.ChildProcess {
  const command = [
    Deno.execPath(),
    "run",
    // A missing permission fails instead of waiting for an answer.
    "--no-prompt",
    "--allow-net",
    "--allow-read",
    "--allow-write",
    CLIENT_SCRIPT,
    ...options.args,
  ].map(shellQuote).join(" ");
  const size = `stty cols ${options.columns ?? 80} rows ${options.rows ?? 24}`;
  return new Deno.Command("script", {
    args: ["-qfec", `${size} && exec ${command}`, "/dev/null"],
    cwd: options.cwd,
    stdin: options.keyboard ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).spawn();
}

/** The outcome of a client run on a terminal. */
export interface TerminalRun {
  code: number;
  /** Everything the terminal received, escape codes included. */
  output: string;
}

/** Runs `client.ts` to its end on a pseudo-terminal. */
export async function runClientInTerminal(
  options: Omit<TerminalClientOptions, "keyboard">,
): Promise<TerminalRun> {
  const output = await spawnClientInTerminal(options).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    output: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

/** What a terminal shows after some output, as {@linkcode replayTerminal}
 * works it out. */
export interface TerminalScreen {
  /** The screen's lines from the first, without trailing blanks. */
  lines: string[];
  /** Whether the cursor is shown at the end. */
  cursorVisible: boolean;
  /** The furthest column written while the cursor was hidden. */
  widestWhileHidden: number;
}

/**
 * Replays terminal output on an unbounded screen `columns` wide: text,
 * CR, LF (as CR LF), backspace, and the ANSI codes for cursor up, column,
 * erase line, erase below, colours and cursor visibility.
 *
 * @throws {SyntaxError} For any other escape code, so a stray one shows.
 */
export function replayTerminal(output: string, columns = 80): TerminalScreen {
  const screen: string[][] = [];
  let row = 0;
  let col = 0;
  let cursorVisible = true;
  let widestWhileHidden = 0;
  const at = (r: number) => {
    while (screen.length <= r) screen.push([]);
    return screen[r]!;
  };
  for (let i = 0; i < output.length;) {
    const char = output[i]!;
    if (char === "\x1b") {
      // deno-lint-ignore no-control-regex -- terminal output is control codes
      const code = /^\x1b\[(\??)(\d*(?:;\d+)*)([A-Za-z])/.exec(
        output.slice(i, i + 16),
      );
      if (code === null) {
        throw new SyntaxError(
          `Unknown escape code at ${i}: ${
            JSON.stringify(output.slice(i, i + 12))
          }`,
        );
      }
      i += code[0].length;
      const n = Number(code[2] || "0");
      switch (`${code[1]}${code[3]}`) {
        case "A":
          row = Math.max(0, row - Math.max(1, n));
          break;
        case "G":
          col = Math.max(0, n - 1);
          break;
        case "K":
          if (n === 2) at(row).length = 0;
          else at(row).length = Math.min(at(row).length, col);
          break;
        case "J":
          at(row).length = Math.min(at(row).length, col);
          screen.length = row + 1;
          break;
        case "?l":
          if (n === 25) cursorVisible = false;
          break;
        case "?h":
          if (n === 25) cursorVisible = true;
          break;
        case "m":
          break;
        default:
          throw new SyntaxError(
            `Unknown escape code: ${JSON.stringify(code[0])}`,
          );
      }
      continue;
    }
    i++;
    if (char === "\r") {
      col = 0;
    } else if (char === "\n") {
      row++;
      col = 0;
    } else if (char === "\b") {
      col = Math.max(0, col - 1);
    } else if (char >= " ") {
      if (col >= columns) {
        row++;
        col = 0;
      }
      const line = at(row);
      while (line.length < col) line.push(" ");
      line[col] = char;
      col++;
      if (!cursorVisible) widestWhileHidden = Math.max(widestWhileHidden, col);
    }
  }
  const lines = screen.map((line) => line.join("").trimEnd());
  while (lines.length > 0 && lines.at(-1) === "") lines.pop();
  return { lines, cursorVisible, widestWhileHidden };
}
