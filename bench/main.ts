/**
 * The benchmark: `deno task bench [options]`. Measures client.ts against
 * aria2c and axel (over nginx) and a local dd copy, on a tmpfs, in the
 * scenarios of `bench/scenarios.ts`, and prints a table per scenario.
 *
 * @module
 */

import { currentLoad, describeMachine } from "./machine.ts";
import { BenchUsageError, parseOptions, USAGE } from "./options.ts";
import { detectInstalled, INSTALL_HINT } from "./peers.ts";
import { clientRunArgs } from "./project_servers.ts";
import {
  formatScenarioResults,
  mediansByTool,
  type PerByteReference,
} from "./report.ts";
import { runScenario } from "./run_scenario.ts";
import type { ScenarioName } from "./scenarios.ts";
import { MIB } from "./stats.ts";
import { openWorkDir } from "./tmpfs.ts";
import { benchTools, toolsFor } from "./tools.ts";
import { formatTargets } from "./targets.ts";

/** What the columns of the tables mean. */
const LEGEND = [
  "columns: wall times in s; vs client = median / client's median;",
  "  CPU s = user + system CPU of the tool (GNU time), median;",
  "  server CPU s = CPU its servers used during the run (server.ts for",
  "  client, nginx for client (nginx), aria2c and axel, both for",
  "  client (mixed)), median",
];

/** Room on the tmpfs beyond the original and one download. */
const TMPFS_SLACK = 64 * MIB;

function log(line: string): void {
  console.error(`[bench] ${line}`);
}

/** Runs `client.ts --help` once so its modules are compiled before timing. */
async function warmModuleCache(): Promise<void> {
  await new Deno.Command(Deno.execPath(), {
    args: clientRunArgs("--help"),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
}

/**
 * Runs the benchmark.
 *
 * @param args The command-line arguments.
 * @returns The exit code: 0 when every run of the client succeeded, 1 when
 * one failed or timed out, 2 for a bad command line, 130 when interrupted.
 */
export async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseOptions(args);
  } catch (error) {
    if (!(error instanceof BenchUsageError)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (options.scenarios.length === 0) {
    console.error("error: no scenario to run");
    return 2;
  }

  const started = performance.now();
  const installed = await detectInstalled();
  console.log(`msfd benchmark${options.smoke ? " (smoke test)" : ""}`);
  for (const line of await describeMachine(installed)) console.log(line);
  console.log(`load:   ${await currentLoad()} (1, 5, 15 min) at the start`);
  const missing = (["nginx", "aria2c", "axel"] as const).filter((name) =>
    !installed[name]
  );
  if (missing.length > 0) {
    console.log(
      `skipped, not installed: ${
        missing.join(", ")
      } (install with: ${INSTALL_HINT})`,
    );
  }
  const tools = benchTools(
    installed,
    options.baseline,
    options.baseline !== undefined &&
      await takesMirrors(options.baseline),
  );
  const clients = new Set(
    tools.filter((tool) => tool.isClient).map((tool) => tool.name),
  );

  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort(new Error("Interrupted"));
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let clientFailed = false;
  try {
    const largest = Math.max(...options.scenarios.map((s) => s.sizeBytes));
    await using work = await openWorkDir({
      dir: options.dir,
      sizeBytes: 2 * largest + TMPFS_SLACK,
      warn: (message) => log(`warning: ${message}`),
    });
    console.log(`work folder: ${work.description}`);
    if (!work.onTmpfs) {
      console.log(
        "note: not on a tmpfs, so the times include that file system's costs",
      );
    }
    for (const line of LEGEND) console.log(line);
    await warmModuleCache();

    const done = new Map<ScenarioName, PerByteReference>();
    for (const scenario of options.scenarios) {
      console.log("");
      const loadBefore = await currentLoad();
      log(`scenario ${scenario.name}`);
      const results = await runScenario({
        scenario,
        runs: options.runs,
        workDir: work.path,
        tools: toolsFor(tools, scenario.name),
        installed,
        reference: scenario.perByteReference === undefined
          ? undefined
          : done.get(scenario.perByteReference),
        signal: interrupt.signal,
        log: (line) => log(`${scenario.name}: ${line}`),
      });
      for (const line of formatScenarioResults(results)) console.log(line);
      for (const line of formatTargets(results, !options.smoke)) {
        console.log(line);
      }
      console.log(
        `load (1, 5, 15 min) before: ${loadBefore}; after: ${await currentLoad()}`,
      );
      done.set(scenario.name, {
        scenario,
        medians: mediansByTool(results.tools),
      });
      clientFailed ||= results.tools.some((tool) =>
        clients.has(tool.name) &&
        tool.outcomes.some((run) => run.kind !== "ok")
      );
    }
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
    console.error("Interrupted: stopped the servers and removed the files");
    return 130;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  console.log("");
  console.log(`load at the end: ${await currentLoad()} (1, 5, 15 min)`);
  console.log(
    `total time: ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  if (clientFailed) {
    console.log("FAILED: some run of the client failed or timed out");
    return 1;
  }
  return 0;
}

/** Whether a checkout's client takes mirrors on the web: an older one
 * has no HTTP source. */
async function takesMirrors(checkout: string): Promise<boolean> {
  try {
    await Deno.stat(`${checkout}/lib/client/http_source.ts`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
