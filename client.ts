/**
 * The downloader: `client.ts [options] <server-info> <numchunks> [filename]`.
 * Fetches one file from several servers at once, in ranges.
 *
 * @module
 */

import { writeAllSync } from "./lib/wire/exact_io.ts";
import { versionLine } from "./lib/cli/cli_args.ts";
import {
  download,
  type DownloadProgress,
  type DownloadResult,
} from "./lib/client/download.ts";
import { pathExists } from "./lib/client/output/output_file.ts";
import {
  type HeldOutput,
  lockOutput,
} from "./lib/client/output/held_output.ts";
import { ProgressDisplay } from "./lib/client/progress/terminal.ts";
import {
  absolutePath,
  formatSummary,
  summarizeDownload,
} from "./lib/client/progress/summary.ts";
import { reporter } from "./lib/client/progress/event_messages.ts";
import { entryLabel, entryNetHost } from "./lib/client/server_entry.ts";
import {
  ownerLockPath,
  sideFilePaths,
  type SideFiles,
} from "./lib/client/output/side_files.ts";
import {
  type ClientConfig,
  parseConfig,
  USAGE,
} from "./lib/client/client_args.ts";
import {
  askFilename,
  checkFilename,
  chooseOutputPath,
  mirrorsToUse,
  nameFromFileUrls,
  onlyFileUrls,
  readServers,
} from "./lib/client/client_input.ts";
import { deniedPermission } from "./lib/client/client_permissions.ts";
import {
  ExitCode,
  type ExitContext,
  exitFor,
} from "./lib/client/exit_codes.ts";

export { ExitCode };

/** Writes all of a text to standard error, at once. */
function writeStderr(text: string): void {
  writeAllSync(Deno.stderr, new TextEncoder().encode(text));
}

/** Prints how a failed run ends and gives its exit code; an error the
 * client does not expect is rethrown. */
async function exitOn(error: unknown, context: ExitContext): Promise<number> {
  const exit = await exitFor(error, context);
  if (exit === undefined) throw error;
  console.error(exit.message);
  return exit.code;
}

/** Where the download goes, read and checked before any server is asked. */
async function prepare(config: ClientConfig) {
  const servers = config.mirrors.length > 0
    ? mirrorsToUse(config.mirrors)
    : await readServers(config.serverInfo!);
  // A list of file URLs needs no name: the first URL gives it, and a name
  // on the command line names the output.
  const name = onlyFileUrls(servers)
    ? config.filename ?? nameFromFileUrls(servers)
    : config.filename ?? await askFilename(config.serverInfo);
  const outputPath = await chooseOutputPath(checkFilename(name), config.output);
  return { servers, name, outputPath, sideFiles: sideFilePaths(outputPath) };
}

/**
 * Runs the client.
 *
 * @param args The command-line arguments.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  let progress: (() => DownloadProgress) | undefined;
  let sideFiles: SideFiles | undefined;
  const context: ExitContext = {
    progress: () => progress!(),
    partialKept: async () =>
      sideFiles !== undefined && await pathExists(sideFiles.partial) &&
      await pathExists(sideFiles.state),
  };
  let config: ClientConfig;
  let target: Awaited<ReturnType<typeof prepare>>;
  let held: HeldOutput;
  try {
    const parsed = parseConfig(args);
    if (parsed === "help") {
      console.log(USAGE);
      return ExitCode.OK;
    }
    if (parsed === "version") {
      console.log(versionLine("client.ts"));
      return ExitCode.OK;
    }
    config = parsed;
    target = await prepare(config);
    sideFiles = target.sideFiles;
    const refused = await deniedPermission({
      servers: target.servers.map(entryNetHost),
      writes: [
        sideFiles.partial,
        sideFiles.state,
        sideFiles.stateTemporary,
        sideFiles.lock,
        ...[ownerLockPath(target.outputPath) ?? []].flat(),
        target.outputPath,
      ],
    });
    if (refused !== undefined) {
      console.error(`error: ${refused}`);
      return ExitCode.USAGE;
    }
    // Held until the download ends, so no other run writes the same output
    // or side files.
    held = await lockOutput(sideFiles, config.force);
  } catch (error) {
    return await exitOn(error, { ...context, progress: undefined });
  }
  await using _lock = held.lock;
  await using _ownerLock = held.ownerLock;
  const { servers, name, outputPath } = target;
  const serverNames = servers.map((entry) => entryLabel(entry, name));
  const started = performance.now();
  const display = !config.quiet && Deno.stderr.isTerminal()
    ? new ProgressDisplay({
      servers: serverNames,
      write: writeStderr,
      consoleSize: () => Deno.consoleSize(),
      startedAt: started,
    })
    : undefined;
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
        connectionsPerMirror: config.connectionsPerMirror,
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
      excluded: result.excluded,
      seconds: (performance.now() - started) / 1000,
      verified: config.verify,
    });
    if (config.json) console.log(JSON.stringify(summary));
    if (!config.quiet) {
      console.error(
        formatSummary(summary, absolutePath(outputPath, Deno.cwd())).join("\n"),
      );
    }
    return ExitCode.OK;
  } catch (error) {
    return await exitOn(error, {
      ...context,
      progress: progress === undefined ? undefined : context.progress,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
