/**
 * The downloader: `client.ts [options] <server-info> <numchunks> [filename]`.
 * Fetches one file from several servers at once, in ranges.
 *
 * @module
 */

import { resolve } from "node:path";
import { formatByteSize } from "./lib/cli/byte_size.ts";
import { writeAllSync } from "./lib/wire/exact_io.ts";
import {
  describeDenied,
  describeNoAccess,
  notCapableIn,
} from "./lib/cli/permission_error.ts";
import {
  parseCommandLine,
  parseSeconds,
  UsageError,
  versionLine,
} from "./lib/cli/cli_args.ts";
import {
  download,
  type DownloadEvent,
  type DownloadProgress,
  type DownloadResult,
} from "./lib/client/download.ts";
import {
  CannotTransferError,
  ChecksumMismatchError,
  FileChangedError,
  IncompleteDownloadError,
} from "./lib/client/download_errors.ts";
import { UnreadableStateError } from "./lib/client/output/download_state.ts";
import {
  localName,
  OutputError,
  OutputExistsError,
  pathExists,
} from "./lib/client/output/output_file.ts";
import { OutputLock } from "./lib/client/output/output_lock.ts";
import {
  formatSummary,
  percentOf,
  ProgressDisplay,
  summarizeDownload,
} from "./lib/client/progress/progress_display.ts";
import { encodeName, ProtocolError } from "./lib/wire/protocol.ts";
import { quoteName } from "./lib/wire/quoted_name.ts";
import {
  DEFAULT_TIMEOUTS,
  type Timeouts,
} from "./lib/client/protocol_client.ts";
import { formatAddress, type ServerAddress } from "./lib/wire/address.ts";
import {
  MAX_SERVERS,
  parseServerList,
  ServerListError,
} from "./lib/client/server_list.ts";
import {
  checkOutputPath,
  type FileIdentity,
  ownerLockPath,
  sideFilePaths,
  type SideFiles,
  UnusableOutputError,
} from "./lib/client/output/side_files.ts";

/** Exit codes, as documented in the README. */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CANNOT_TRANSFER: 3,
  INCOMPLETE: 4,
  OUTPUT: 5,
  CHECKSUM: 6,
  INTERRUPTED: 130,
} as const;

/** The most ranges a download is split into: each is a request at least,
 * and with many more the client spends its time and memory on them (a
 * million took over 4 GB). */
const MAX_CHUNKS = 10_000;

const USAGE = `Usage: client.ts [options] <server-info> <numchunks> [filename]

Downloads a file from the servers listed in <server-info> (one "host port"
per line, at most ${MAX_SERVERS} used; - reads the list from standard input),
split into <numchunks> ranges (1 to ${MAX_CHUNKS}) fetched at once. Without
[filename] it asks for one on standard input. The file is written to the
current folder under its base name.

Options:
  -o, --output PATH          where to write: a file name, or an existing folder
                             (default: the current folder, under the file's
                             base name)
  --force                    replace the output file if it exists
  --json                     print a summary of the download as one JSON
                             object on standard output
  --retries N                rounds over all servers after the first, per
                             chunk, with backoff (default: 3)
  --no-verify                do not check blocks against SHA-256 digests
  --sha256 HEX               check the finished file's SHA-256
  --connect-timeout SECONDS  time to establish a connection (default: ${
  DEFAULT_TIMEOUTS.connectMs / 1000
})
  --reply-timeout SECONDS    time to wait for a server's reply (default: ${
  DEFAULT_TIMEOUTS.replyMs / 1000
})
  --stall-timeout SECONDS    time a transfer may receive nothing (default: ${
  DEFAULT_TIMEOUTS.stallMs / 1000
})
  --quiet                    print errors only (no progress, no summary)
  -h, --help                 show this help
  --version                  show the version and the protocol version

On a terminal, standard error shows the progress live: the whole file, and
each chunk with its server, percent and failovers. A summary follows.

Exit codes:
  0  the file was downloaded
  1  unexpected internal error
  2  bad command line, server list, file name, or output path (its folder
     is missing or not writable, it is a folder, it exists, or another
     download to it is running); or a permission Deno's sandbox denied
     (run with the flag it names)
  3  Cannot transfer this file: no server reported the file's size
  4  not all chunks are downloaded: the partial file is kept
  5  the output file could not be written (for example, no space left)
  6  the finished file does not match --sha256
130  interrupted (SIGINT/SIGTERM); run the same command again to resume

An interrupted or failed download keeps <name>.part and <name>.part.state;
the same command continues it, fetching only the missing bytes.`;

const OPTIONS = {
  force: { type: "boolean", default: false },
  retries: { type: "string" },
  "no-verify": { type: "boolean", default: false },
  output: { type: "string", short: "o" },
  json: { type: "boolean", default: false },
  sha256: { type: "string" },
  "connect-timeout": { type: "string" },
  "reply-timeout": { type: "string" },
  "stall-timeout": { type: "string" },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", default: false },
} as const;

/** Settings taken from the command line. */
interface ClientConfig {
  serverInfo: string;
  numChunks: number;
  filename: string | undefined;
  force: boolean;
  quiet: boolean;
  output: string | undefined;
  json: boolean;
  timeouts: Timeouts;
  retries: number;
  verify: boolean;
  sha256: string | undefined;
}

function parseConfig(args: string[]): ClientConfig | "help" | "version" {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (values.help) return "help";
  if (values.version) return "version";
  if (positionals.length < 2 || positionals.length > 3) {
    throw new UsageError(
      `Expected <server-info> <numchunks> [filename]: received ${positionals.length} arguments`,
    );
  }
  const [serverInfo, chunksText, filename] = positionals as [
    string,
    string,
    string | undefined,
  ];
  const numChunks = /^\d+$/.test(chunksText) ? Number(chunksText) : NaN;
  if (!(numChunks >= 1 && numChunks <= MAX_CHUNKS)) {
    throw new UsageError(
      `numchunks must be a whole number from 1 to ${MAX_CHUNKS}: received ${
        quoteName(chunksText)
      }`,
    );
  }
  const seconds = (flag: keyof typeof OPTIONS, fallback: number) => {
    const text = values[flag];
    return typeof text === "string"
      ? parseSeconds(text, `--${flag}`)
      : fallback;
  };
  const retries = values.retries === undefined
    ? 3
    : /^\d{1,3}$/.test(values.retries)
    ? Number(values.retries)
    : NaN;
  if (Number.isNaN(retries)) {
    throw new UsageError(
      `--retries takes a whole number from 0 to 999: received ${
        quoteName(values.retries ?? "")
      }`,
    );
  }
  if (values.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(values.sha256)) {
    throw new UsageError(
      `--sha256 takes 64 hexadecimal digits: received ${
        quoteName(values.sha256)
      }`,
    );
  }
  return {
    serverInfo,
    numChunks,
    filename,
    retries,
    verify: !values["no-verify"],
    sha256: values.sha256?.toLowerCase(),
    force: values.force,
    output: values.output,
    json: values.json,
    quiet: values.quiet,
    timeouts: {
      connectMs: seconds("connect-timeout", DEFAULT_TIMEOUTS.connectMs),
      replyMs: seconds("reply-timeout", DEFAULT_TIMEOUTS.replyMs),
      stallMs: seconds("stall-timeout", DEFAULT_TIMEOUTS.stallMs),
    },
  };
}

/**
 * An input that cannot be used, other than a malformed command line (the
 * server list, the file name): exit code 2, without the pointer to --help,
 * which would not help.
 */
class InputError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the input.
   */
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** The server-info arguments that mean standard input: `-`, and
 * `/dev/stdin`, which Deno opens only with all permissions. */
const STANDARD_INPUT = new Set(["-", "/dev/stdin"]);

/** Reads all of standard input as text. */
async function readStandardInput(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

async function readServers(path: string): Promise<ServerAddress[]> {
  const fromStdin = STANDARD_INPUT.has(path);
  const shown = fromStdin ? "standard input" : quoteName(path);
  let text: string;
  try {
    text = fromStdin
      ? await readStandardInput()
      : await Deno.readTextFile(path);
  } catch (error) {
    const cannot = `Cannot read server list ${shown}`;
    if (error instanceof Deno.errors.NotFound) {
      throw new InputError(`${cannot}: no such file`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new InputError(`${cannot}: it is a folder`);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new InputError(`${cannot}: permission denied`);
    }
    if (
      error instanceof Deno.errors.NotCapable && path.startsWith("/dev/")
    ) {
      // Such as bash's <(...), which passes /dev/fd/63.
      throw new InputError(
        `${cannot}: Deno opens paths under /dev only with all permissions; give - to read the list from standard input`,
      );
    }
    throw error;
  }
  try {
    const list = parseServerList(text);
    if (list.ignored > 0) {
      console.error(
        `warning: ${shown} lists ${
          list.servers.length + list.ignored
        } servers; only the first ${MAX_SERVERS} are used`,
      );
    }
    return list.servers;
  } catch (error) {
    if (error instanceof ServerListError) {
      throw new InputError(`${error.message} (in ${shown})`);
    }
    throw error;
  }
}

/** Reads one line from standard input, without its line ending. */
async function readLine(): Promise<string | undefined> {
  // A file name is kept byte for byte, a leading U+FEFF included.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const buffer = new Uint8Array(1024);
  let text = "";
  while (true) {
    const n = await Deno.stdin.read(buffer);
    if (n === null) return text === "" ? undefined : text;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
    const end = text.indexOf("\n");
    if (end >= 0) return text.slice(0, end).replace(/\r$/, "");
  }
}

async function askFilename(serverInfo: string): Promise<string> {
  if (STANDARD_INPUT.has(serverInfo)) {
    throw new UsageError(
      "No file name given: standard input holds the server list, so the file name goes on the command line",
    );
  }
  await Deno.stderr.write(new TextEncoder().encode("enter filename: "));
  const line = await readLine();
  // Blanks around the name go, but not a U+FEFF, which names can hold.
  const name = line?.replace(/^[^\S\uFEFF]+|[^\S\uFEFF]+$/g, "");
  if (name === undefined || name === "") {
    throw new InputError("No file name given");
  }
  return name;
}

function checkFilename(name: string): string {
  try {
    encodeName(name);
    return localName(name);
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof TypeError) {
      throw new InputError(error.message);
    }
    throw error;
  }
}

/** The output path: `-o` as given, or inside it when it is a folder. */
async function chooseOutputPath(
  base: string,
  output: string | undefined,
): Promise<string> {
  if (output === undefined || output === "") return base;
  // `x/`, `x/.` and `..` name a folder, whatever the system's stat makes
  // of them (Deno's drops a trailing slash).
  const namesFolder = /(^|\/)\.{0,2}$/.test(output);
  try {
    if ((await Deno.stat(output)).isDirectory) {
      return `${output.replace(/\/+$/, "")}/${base}`;
    }
    if (namesFolder) {
      throw new UnusableOutputError(
        `Cannot write into ${quoteName(output)}: it is not a folder`,
      );
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotADirectory) {
      throw new UnusableOutputError(
        `Cannot write to ${
          quoteName(output)
        }: part of that path is not a folder`,
      );
    }
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (namesFolder) {
    throw new UnusableOutputError(
      `Cannot write into ${quoteName(output)}: no such folder`,
    );
  }
  return output;
}

/** Writes all of a text to standard error, at once. */
function writeStderr(text: string): void {
  writeAllSync(Deno.stderr, new TextEncoder().encode(text));
}

function reporter(
  print: (line: string) => void,
): (event: DownloadEvent) => void {
  return (event) => {
    switch (event.type) {
      case "size-failed":
        print(`warning: no size from ${event.detail}`);
        break;
      case "size":
        print(
          `${formatAddress(event.server)} reports ${event.size} bytes`,
        );
        break;
      case "range-failed":
        print(
          `warning: chunk ${event.range.chunk} (bytes ${event.range.start}-${
            event.range.end - 1
          }) stopped at byte ${event.position}: ${event.detail}`,
        );
        break;
      case "unverified":
        print(
          `warning: downloading without verification${
            event.from === 0 ? "" : ` from byte ${event.from} on`
          }: ${event.detail}`,
        );
        break;
      case "resumed":
        print(
          `Resuming: ${event.bytes} bytes (${
            formatByteSize(event.bytes)
          }) are already here${
            event.checking ? "; checking them against the block digests" : ""
          }`,
        );
        break;
      case "kept-mismatch":
        print(
          `warning: ${event.bytes} bytes (${
            formatByteSize(event.bytes)
          }) kept from before do not match their digests; fetching them again`,
        );
        break;
      case "kept-unchecked":
        print(
          `warning: ${event.bytes} bytes (${
            formatByteSize(event.bytes)
          }) kept from before cannot be checked (no server sent their digests); fetching them again`,
        );
        break;
      case "restarted":
        print(`warning: starting over: ${event.reason}`);
        break;
      case "list-moved":
        print(`warning: ${event.detail}`);
        break;
      case "server-excluded":
        print(
          `warning: not using ${
            formatAddress(event.server)
          } for this file: ${event.reason}`,
        );
        break;
      case "retry-round":
        print(
          `chunk ${event.range.chunk}: retry round ${event.round} in ${
            event.delayMs / 1000
          } s`,
        );
        break;
      case "range-done":
        break;
    }
  };
}

/** The flags the client needs, and the task that runs it with them. */
const CLIENT_PERMISSIONS = {
  flags: "--allow-net --allow-read --allow-write",
  task: "deno task client",
};

/** What the sandbox denied, in one line with the flag that allows it. */
function describeDeniedToClient(error: Deno.errors.NotCapable): string {
  return describeDenied(error, CLIENT_PERMISSIONS);
}

/**
 * What the sandbox will not allow of a download, checked before it starts
 * so the user learns it before any server is asked. Where Deno would ask
 * the user (on a terminal), it asks now, before the progress display is
 * up; where it cannot ask, the permission counts as refused.
 *
 * @returns One line naming the first refused permission and its flag.
 */
async function deniedPermission(
  needs: { servers: readonly string[]; writes: readonly string[] },
): Promise<string | undefined> {
  const canPrompt = Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
  const needed: { descriptor: Deno.PermissionDescriptor; what: string }[] = [
    ...needs.servers.map((host) => ({
      descriptor: { name: "net", host } as const,
      what: host,
    })),
    ...needs.writes.map((path) => ({
      descriptor: { name: "write", path } as const,
      what: path,
    })),
  ];
  for (const { descriptor, what } of needed) {
    let { state } = await Deno.permissions.query(descriptor);
    if (state === "prompt" && canPrompt) {
      ({ state } = await Deno.permissions.request(descriptor));
    }
    if (state !== "granted") {
      const kind = descriptor.name;
      const access = { kind, what, flag: `--allow-${kind}` };
      return describeNoAccess(access, CLIENT_PERMISSIONS);
    }
  }
  return undefined;
}

/** The locks a download holds, and the partial file its checks found. */
interface HeldOutput {
  /** The output's own lock. */
  lock: OutputLock;
  /** The lock of the download whose side file the output is, if any. */
  ownerLock: OutputLock | undefined;
  /** The partial file found, `null` if none. */
  partial: FileIdentity | null;
}

/**
 * Takes the output's locks and checks, under them, that the output and its
 * side files can be used, before any server is asked.
 *
 * @returns The locks, or the exit code after the message was printed.
 */
async function lockOutput(
  sideFiles: SideFiles,
  force: boolean,
): Promise<HeldOutput | number> {
  let lock: OutputLock | undefined;
  let ownerLock: OutputLock | undefined;
  try {
    lock = await OutputLock.acquire(sideFiles);
    const owner = ownerLockPath(sideFiles.output);
    if (owner !== undefined) {
      ownerLock = await OutputLock.acquire({
        output: sideFiles.output,
        lock: owner,
        owner: true,
      });
    }
    const { partial } = await checkOutputPath(sideFiles, { force });
    return { lock, ownerLock, partial };
  } catch (error) {
    await ownerLock?.release();
    await lock?.release();
    const denied = notCapableIn(error);
    if (denied !== undefined) {
      console.error(`error: ${describeDeniedToClient(denied)}`);
      return ExitCode.USAGE;
    }
    if (!(error instanceof UnusableOutputError)) throw error;
    console.error(`error: ${error.message}`);
    return ExitCode.USAGE;
  }
}

/** ` at 37% (17.8 MiB of 48.0 MiB)`, or nothing before the start. */
function describeReached(
  progress: (() => DownloadProgress) | undefined,
): string {
  if (progress === undefined) return "";
  const { doneBytes, size } = progress();
  return ` at ${percentOf(doneBytes, size)}% (${formatByteSize(doneBytes)} of ${
    formatByteSize(size)
  })`;
}

/**
 * Runs the client.
 *
 * @param args The command-line arguments.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let config: ClientConfig | "help" | "version";
  let servers: ServerAddress[];
  let name: string;
  let outputPath: string;
  try {
    config = parseConfig(args);
    if (config === "help") {
      console.log(USAGE);
      return ExitCode.OK;
    }
    if (config === "version") {
      console.log(versionLine("client.ts"));
      return ExitCode.OK;
    }
    servers = await readServers(config.serverInfo);
    name = config.filename ?? await askFilename(config.serverInfo);
    outputPath = await chooseOutputPath(checkFilename(name), config.output);
  } catch (error) {
    const denied = notCapableIn(error);
    if (denied !== undefined) {
      console.error(`error: ${describeDeniedToClient(denied)}`);
      return ExitCode.USAGE;
    }
    if (
      error instanceof UnusableOutputError || error instanceof InputError
    ) {
      console.error(`error: ${error.message}`);
      return ExitCode.USAGE;
    }
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\nRun with --help for usage.`);
    return ExitCode.USAGE;
  }
  const serverNames = servers.map(formatAddress);
  const sideFiles = sideFilePaths(outputPath);
  const needs = {
    servers: serverNames,
    writes: [
      sideFiles.partial,
      sideFiles.state,
      sideFiles.stateTemporary,
      sideFiles.lock,
      ...[ownerLockPath(outputPath) ?? []].flat(),
      outputPath,
    ],
  };
  const refused = await deniedPermission(needs);
  if (refused !== undefined) {
    console.error(`error: ${refused}`);
    return ExitCode.USAGE;
  }
  // Held until the download ends, so no other run writes the same output
  // or side files.
  const held = await lockOutput(sideFiles, config.force);
  if (typeof held === "number") return held;
  await using _lock = held.lock;
  await using _ownerLock = held.ownerLock;

  const started = performance.now();
  const display = !config.quiet && Deno.stderr.isTerminal()
    ? new ProgressDisplay({
      servers: serverNames,
      write: writeStderr,
      consoleSize: () => Deno.consoleSize(),
      startedAt: started,
    })
    : undefined;
  let progress: (() => DownloadProgress) | undefined;
  const interrupt = new AbortController();
  const exitNow = () => {
    // The terminal must get its cursor back even on a forced exit.
    display?.stop();
    Deno.exit(ExitCode.INTERRUPTED);
  };
  const onSignal = () => {
    if (interrupt.signal.aborted) exitNow();
    interrupt.abort();
    // Saving the state takes moments; a stuck stop must not keep the
    // process alive. A second signal ends it at once.
    const timer = setTimeout(exitNow, 3000);
    Deno.unrefTimer(timer);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    let result: DownloadResult;
    try {
      result = await download({
        servers,
        name,
        numChunks: config.numChunks,
        outputPath,
        replace: config.force,
        partialFound: held.partial,
        timeouts: config.timeouts,
        retries: config.retries,
        verify: config.verify,
        sha256: config.sha256,
        signal: interrupt.signal,
        onEvent: config.quiet
          ? undefined
          : reporter((line) =>
            display === undefined ? console.error(line) : display.println(line)
          ),
        onStart: (current) => {
          progress = current;
          display?.start(current);
        },
      });
    } finally {
      display?.stop();
    }
    const summary = summarizeDownload({
      file: name,
      path: outputPath,
      result,
      servers: serverNames,
      excluded: result.excluded.map(formatAddress),
      seconds: (performance.now() - started) / 1000,
      verified: config.verify,
    });
    if (config.json) console.log(JSON.stringify(summary));
    if (!config.quiet) {
      console.error(formatSummary(summary, resolve(outputPath)).join("\n"));
    }
    return ExitCode.OK;
  } catch (error) {
    if (error instanceof CannotTransferError) {
      console.error(error.message);
      return ExitCode.CANNOT_TRANSFER;
    }
    const denied = notCapableIn(error);
    if (denied !== undefined) {
      console.error(`error: ${describeDeniedToClient(denied)}`);
      return ExitCode.USAGE;
    }
    if (error instanceof IncompleteDownloadError && error.interrupted) {
      console.error(
        `Interrupted${describeReached(progress)}: the partial file is kept as ${
          quoteName(error.partialPath)
        }; run the same command again to resume`,
      );
      return ExitCode.INTERRUPTED;
    }
    if (error instanceof IncompleteDownloadError) {
      console.error(error.message);
      for (const range of error.missing) {
        console.error(
          `  chunk ${range.chunk} (bytes ${range.start}-${range.end - 1}) ${
            // Not for want of a server: the version it was part of is gone.
            error instanceof FileChangedError
              ? "is not downloaded"
              : "failed on every server"}`,
        );
      }
      console.error(
        `  the partial file is kept as ${
          quoteName(error.partialPath)
        }; run the same command again to resume`,
      );
      return ExitCode.INCOMPLETE;
    }
    if (error instanceof ChecksumMismatchError) {
      console.error(
        `error: ${error.message}; the file is kept as ${
          quoteName(error.partialPath)
        }`,
      );
      return ExitCode.CHECKSUM;
    }
    if (error instanceof OutputExistsError) {
      console.error(
        `error: ${error.message}: it is not replaced; the download is kept as ${
          quoteName(error.partialPath)
        }: remove ${
          quoteName(error.path)
        }, or run the same command with --force to replace it`,
      );
      return ExitCode.USAGE;
    }
    if (error instanceof UnreadableStateError) {
      // Only a state of a newer version ends the download: it is kept.
      console.error(
        `error: ${error.message}; resume with that version, or remove ${
          quoteName(error.path)
        } to start over`,
      );
      return ExitCode.USAGE;
    }
    if (error instanceof OutputError) {
      // Kept only if the next run can resume it: a partial file with its
      // state.
      const kept = await pathExists(sideFiles.partial) &&
        await pathExists(sideFiles.state);
      console.error(
        `error: ${error.message}\n${
          kept
            ? "The partial download is kept; fix the cause and run the same command again to resume."
            : "Nothing was kept; fix the cause and run the same command again."
        }`,
      );
      return ExitCode.OUTPUT;
    }
    throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
