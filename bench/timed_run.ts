/**
 * One timed run of a command: wall time around the child process, a time
 * limit, its CPU time and peak memory, and the end of its output for error
 * reports.
 *
 * @module
 */

import { childPids, PeakRssSampler } from "./rss.ts";

/** A command to run. */
export interface CommandSpec {
  command: string;
  args: string[];
  cwd: string;
}

/** How a run ended. */
export type RunOutcome =
  | {
    kind: "ok";
    seconds: number;
    /** User plus system CPU time, when GNU time measured it. */
    cpuSeconds?: number | undefined;
    /** CPU time the servers spent meanwhile, when there are servers. */
    serverCpuSeconds?: number | undefined;
    peakRssKiB: number | undefined;
  }
  | { kind: "failed"; seconds: number; code: number; output: string }
  | { kind: "timeout"; seconds: number };

/** Options for {@linkcode runTimed}. */
export interface RunOptions {
  /** Kill the child after this long. */
  timeoutMs: number;
  /** Kills the child and throws when aborted (the benchmark is stopping). */
  signal: AbortSignal;
  /**
   * GNU time (`/usr/bin/time`), to wrap the command in for its exact CPU
   * time and peak memory; without it the peak is polled from `/proc`.
   */
  gnuTime: string | undefined;
}

/** What GNU time reports about its command. */
export interface TimeReport {
  userSeconds: number;
  systemSeconds: number;
  maxRssKiB: number;
}

/** The format given to GNU time, read back by {@linkcode parseTimeReport}. */
export const TIME_FORMAT = "%U %S %M";

/**
 * Reads the `-o` file of GNU time run with {@linkcode TIME_FORMAT}: its last
 * line (a line such as `Command exited with non-zero status 3` may come
 * first).
 *
 * @param text The file's text.
 * @returns The numbers, or `undefined` if the last line is not three.
 */
export function parseTimeReport(text: string): TimeReport | undefined {
  const last = text.trim().split("\n").at(-1) ?? "";
  const match = /^(\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+)$/.exec(last.trim());
  if (!match) return undefined;
  return {
    userSeconds: Number(match[1]),
    systemSeconds: Number(match[2]),
    maxRssKiB: Number(match[3]),
  };
}

/** How much of a failed run's output is kept for the report. */
const OUTPUT_TAIL = 2000;

async function tail(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const piece of stream.pipeThrough(new TextDecoderStream())) {
    text = (text + piece).slice(-OUTPUT_TAIL);
  }
  return text;
}

function killPid(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch (error) {
    // It exited just now.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Runs a command to its end and times it with `performance.now()` from
 * just before the spawn to its exit. Standard input is closed; the output
 * is read concurrently and only its end kept.
 *
 * @param spec The command.
 * @param options The time limit, the abort signal and GNU time.
 * @returns How it ended, with the wall time in seconds.
 * @throws The abort reason if the signal is aborted.
 */
export async function runTimed(
  spec: CommandSpec,
  options: RunOptions,
): Promise<RunOutcome> {
  options.signal.throwIfAborted();
  const timeFile = options.gnuTime === undefined
    ? undefined
    : await Deno.makeTempFile({ prefix: "msfd_bench_time_" });
  try {
    const [command, args] = timeFile === undefined
      ? [spec.command, spec.args]
      : [
        options.gnuTime!,
        ["-f", TIME_FORMAT, "-o", timeFile, spec.command, ...spec.args],
      ];
    const started = performance.now();
    const child = new Deno.Command(command, {
      args,
      cwd: spec.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const sampler = timeFile === undefined
      ? new PeakRssSampler(child.pid)
      : undefined;
    const output = Promise.all([tail(child.stdout), tail(child.stderr)]);
    let timedOut = false;
    const kill = async () => {
      // The command under GNU time first: killing time alone would leave it.
      for (const pid of await childPids(child.pid)) killPid(pid);
      killPid(child.pid);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    const onAbort = () => kill();
    options.signal.addEventListener("abort", onAbort);
    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
    }
    const seconds = (performance.now() - started) / 1000;
    const polledPeak = await sampler?.stop();
    const [stdout, stderr] = await output;
    options.signal.throwIfAborted();
    if (timedOut) return { kind: "timeout", seconds };
    if (!status.success) {
      return {
        kind: "failed",
        seconds,
        code: status.code,
        output: `${stdout}${stderr}`.trim(),
      };
    }
    const report = timeFile === undefined
      ? undefined
      : parseTimeReport(await Deno.readTextFile(timeFile));
    return {
      kind: "ok",
      seconds,
      cpuSeconds: report && report.userSeconds + report.systemSeconds,
      peakRssKiB: report?.maxRssKiB ?? polledPeak,
    };
  } finally {
    if (timeFile !== undefined) await Deno.remove(timeFile);
  }
}
