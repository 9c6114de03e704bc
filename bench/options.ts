/**
 * The benchmark's command line.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseByteSize } from "../lib/cli/byte_size.ts";
import {
  defaultScenarios,
  type Scenario,
  SCENARIO_NAMES,
  type ScenarioName,
} from "./scenarios.ts";

/** The usage text. */
export const USAGE = `Usage: deno task bench [options]

Benchmarks client.ts against aria2c, axel (over nginx) and dd on a tmpfs,
with the project's servers and nginx on 127.0.0.1.

Options:
  --scenario NAME     run only this scenario (repeatable): ${
  SCENARIO_NAMES.join(", ")
}
  --runs N            timed runs of each tool, alternated (default: 3; smoke: 1)
  --size NAME=BYTES   file size of a scenario, e.g. uniform=1G (K, M, G are
                      1024-based; repeatable)
  --dir PATH          work in a new folder under PATH instead of mounting a
                      tmpfs (results then include that file system's costs)
  --timeout SECONDS   limit for one run of any tool (default: 60, memory: 180;
                      smoke: 30)
  --baseline DIR      also run DIR/client.ts (another checkout, say the commit
                      before a change) as "client @baseline", alternated with
                      the others against the same servers
  --smoke             tiny files (4 MiB), one run each: a quick smoke test
  -h, --help          show this help

Peers that are not installed are skipped: apt-get install nginx aria2 axel`;

/** What the command line asks for. */
export interface BenchOptions {
  help: boolean;
  smoke: boolean;
  runs: number;
  /** The scenarios to run, in order, with sizes and timeouts applied. */
  scenarios: Scenario[];
  /** A folder to work under instead of a tmpfs of our own. */
  dir: string | undefined;
  /** Another checkout whose `client.ts` runs beside ours. */
  baseline: string | undefined;
}

/** A command line the benchmark cannot use. */
export class BenchUsageError extends Error {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "BenchUsageError";
  }
}

function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(name);
}

function scenarioName(name: string, flag: string): ScenarioName {
  if (!isScenarioName(name)) {
    throw new BenchUsageError(
      `${flag} takes one of ${SCENARIO_NAMES.join(", ")}: received "${name}"`,
    );
  }
  return name;
}

/**
 * Parses the benchmark's arguments.
 *
 * @param args The arguments, without the program name.
 * @returns The options.
 * @throws {BenchUsageError} For an unknown option or a bad value.
 */
export function parseOptions(args: string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: "string", multiple: true },
        runs: { type: "string" },
        size: { type: "string", multiple: true },
        dir: { type: "string" },
        baseline: { type: "string" },
        timeout: { type: "string" },
        smoke: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new BenchUsageError((error as Error).message);
  }
  const { values } = parsed;
  const smoke = values.smoke;

  let runs = smoke ? 1 : 3;
  if (values.runs !== undefined) {
    runs = /^\d{1,3}$/.test(values.runs) ? Number(values.runs) : NaN;
    if (!(runs >= 1)) {
      throw new BenchUsageError(
        `--runs takes a whole number from 1 to 999: received "${values.runs}"`,
      );
    }
  }

  let scenarios = defaultScenarios(smoke);
  for (const text of values.size ?? []) {
    const match = /^([^=]+)=(.+)$/.exec(text);
    if (!match) {
      throw new BenchUsageError(
        `--size takes NAME=BYTES, such as uniform=1G: received "${text}"`,
      );
    }
    const name = scenarioName(match[1]!, "--size");
    let bytes: number;
    try {
      bytes = parseByteSize(match[2]!);
    } catch (error) {
      throw new BenchUsageError(`--size: ${(error as Error).message}`);
    }
    scenarios = scenarios.map((scenario) =>
      scenario.name === name ? { ...scenario, sizeBytes: bytes } : scenario
    );
  }

  if (values.timeout !== undefined) {
    const seconds = /^\d+(\.\d+)?$/.test(values.timeout)
      ? Number(values.timeout)
      : NaN;
    if (!(seconds > 0)) {
      throw new BenchUsageError(
        `--timeout takes a positive number of seconds: received "${values.timeout}"`,
      );
    }
    scenarios = scenarios.map((scenario) => ({
      ...scenario,
      timeoutMs: Math.round(seconds * 1000),
    }));
  }

  if (values.scenario !== undefined) {
    const wanted = new Set(
      values.scenario.map((name) => scenarioName(name, "--scenario")),
    );
    scenarios = scenarios.filter((scenario) => wanted.has(scenario.name));
  }

  if (values.dir === "") {
    throw new BenchUsageError("--dir takes a folder: received an empty name");
  }

  return {
    help: values.help,
    smoke,
    runs,
    scenarios,
    dir: values.dir,
    baseline: values.baseline,
  };
}
