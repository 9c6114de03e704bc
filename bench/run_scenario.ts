/**
 * Runs one scenario: generates its file, starts the project's servers and
 * nginx, runs every tool in turn (A B C A B C ...) with the downloads
 * emptied between runs, checks each download, and stops everything again.
 *
 * @module
 */

import { writeRandomFile } from "./data_file.ts";
import { SETTLE_MS } from "../lib/server/digest_cache.ts";
import { Nginx } from "./nginx.ts";
import type { Installed } from "./peers.ts";
import { ProjectServers, serverInfoText } from "./project_servers.ts";
import type {
  PerByteReference,
  ScenarioResults,
  ServerPeaks,
  ToolResult,
} from "./report.ts";
import type { Scenario } from "./scenarios.ts";
import { formatMiB, formatSeconds } from "./stats.ts";
import { type RunOutcome, runTimed } from "./timed_run.ts";
import {
  CLIENT,
  type DownloadJob,
  mirrorListText,
  mirrorUrls,
  mixedListText,
  type Tool,
} from "./tools.ts";

/** What {@linkcode runScenario} needs. */
export interface ScenarioOptions {
  scenario: Scenario;
  runs: number;
  /** The work folder: the file and the downloads go there. */
  workDir: string;
  tools: readonly Tool[];
  installed: Installed;
  reference: PerByteReference | undefined;
  /** Stops the runs (the benchmark was interrupted). */
  signal: AbortSignal;
  /** Progress lines. */
  log: (line: string) => void;
}

async function emptyFolder(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await Deno.mkdir(path);
}

/**
 * Whether a download equals the original: byte for byte with `cmp` when it
 * is installed, else by size.
 *
 * @returns `undefined` when it does, else what is wrong.
 */
async function checkDownload(
  original: string,
  copy: string,
  useCmp: boolean,
): Promise<string | undefined> {
  let size: number;
  try {
    size = (await Deno.stat(copy)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "no output file";
    throw error;
  }
  const expected = (await Deno.stat(original)).size;
  if (size !== expected) {
    return `output has ${size} bytes, expected ${expected}`;
  }
  if (!useCmp) return undefined;
  const { code } = await new Deno.Command("cmp", {
    args: ["-s", original, copy],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return code === 0 ? undefined : "output differs from the original";
}

function describe(run: RunOutcome): string {
  switch (run.kind) {
    case "ok":
      return `${formatSeconds(run.seconds)} s`;
    case "timeout":
      return `timeout after ${formatSeconds(run.seconds)} s`;
    case "failed":
      return `failed (exit ${run.code}) after ${formatSeconds(run.seconds)} s`;
  }
}

/**
 * Runs a scenario.
 *
 * @param options The scenario, the tools and where to work.
 * @returns The runs of every tool, and the servers' peak memory.
 */
export async function runScenario(
  options: ScenarioOptions,
): Promise<ScenarioResults> {
  const { scenario, log, signal } = options;
  const dataDir = `${options.workDir}/data`;
  const downloadDir = `${options.workDir}/downloads`;
  const fileName = `${scenario.name}.bin`;
  const sourcePath = `${dataDir}/${fileName}`;
  await emptyFolder(dataDir);
  await emptyFolder(downloadDir);
  try {
    log(`generating ${formatMiB(scenario.sizeBytes)} of random bytes`);
    await writeRandomFile(sourcePath, scenario.sizeBytes);
    // A server caches a file's digests only once its last change is
    // SETTLE_MS old (a rewrite within the same second could keep its key):
    // without the wait, the warm runs would hash the file again.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

    await using servers = await ProjectServers.start(
      dataDir,
      scenario.rates,
      scenario.servers,
    );
    const needsNginx = options.tools.some((tool) => tool.needsNginx);
    await using nginx = needsNginx
      ? await Nginx.serve({
        root: dataDir,
        rates: scenario.rates,
        count: scenario.servers,
      })
      : undefined;
    log(
      `server.ts on ports ${servers.ports.join(", ")}${
        nginx ? `; nginx on ${nginx.ports.join(", ")}` : ""
      }`,
    );
    const serverInfoPath = `${options.workDir}/server-info.text`;
    const mirrorListPath = `${options.workDir}/mirror-list.text`;
    const mixedListPath = `${options.workDir}/mixed-list.text`;
    const writeLists = async () => {
      await Deno.writeTextFile(serverInfoPath, serverInfoText(servers.ports));
      if (nginx) {
        await Deno.writeTextFile(mirrorListPath, mirrorListText(nginx.ports));
        await Deno.writeTextFile(
          mixedListPath,
          mixedListText(servers.ports, nginx.ports),
        );
      }
    };
    await writeLists();
    const job: DownloadJob = {
      sourcePath,
      fileName,
      downloadDir,
      serverInfoPath,
      mirrorListPath,
      mixedListPath,
      chunks: scenario.chunks,
      servers: scenario.servers,
      mirrorUrls: nginx ? mirrorUrls(nginx.ports, fileName) : [],
    };

    // The servers a tool downloads from; none for the local copy.
    const serverCpu = async (tool: Tool) => {
      const nginxCpu = tool.needsNginx ? await nginx?.cpuSeconds() : undefined;
      const ownCpu = tool.usesProjectServers
        ? await servers.cpuSeconds()
        : undefined;
      if (nginxCpu === undefined) return ownCpu;
      return nginxCpu + (ownCpu ?? 0);
    };
    const runOnce = async (tool: Tool): Promise<RunOutcome> => {
      await emptyFolder(downloadDir);
      if (scenario.freshServers && tool.usesProjectServers) {
        await servers.restart();
        await writeLists();
      }
      const cpuBefore = await serverCpu(tool);
      let outcome = await runTimed(tool.command(job), {
        timeoutMs: scenario.timeoutMs,
        signal,
        gnuTime: options.installed.gnuTime,
      });
      const cpuAfter = await serverCpu(tool);
      if (outcome.kind === "ok" && cpuBefore !== undefined) {
        outcome = { ...outcome, serverCpuSeconds: cpuAfter! - cpuBefore };
      }
      if (outcome.kind === "ok") {
        const wrong = await checkDownload(
          sourcePath,
          `${downloadDir}/${fileName}`,
          options.installed.cmp,
        );
        if (wrong !== undefined) {
          outcome = {
            kind: "failed",
            seconds: outcome.seconds,
            code: 0,
            output: wrong,
          };
        }
      }
      await emptyFolder(downloadDir);
      return outcome;
    };

    const client = options.tools.find((tool) => tool.name === CLIENT);
    let warmUp: RunOutcome | undefined;
    // Fresh servers for each run: nothing to warm.
    if (client !== undefined && !scenario.freshServers) {
      warmUp = await runOnce(client);
      log(`warm-up ${client.name}: ${describe(warmUp)}`);
    }

    const tools: ToolResult[] = options.tools.map((tool) => ({
      name: tool.name,
      outcomes: [],
    }));
    const problems: string[] = [];
    let abandoned = false;
    const serversGone = () => {
      if (abandoned) return true;
      const gone = servers.exited();
      if (gone.length === 0) return false;
      abandoned = true;
      problems.push(
        `server.ts processes stopped by something else, runs abandoned: ${
          gone.join("; ")
        }`,
      );
      return true;
    };
    rounds: for (let run = 1; run <= options.runs; run++) {
      for (const [i, tool] of options.tools.entries()) {
        if (serversGone()) break rounds;
        const outcome = await runOnce(tool);
        tools[i]!.outcomes.push(outcome);
        log(`run ${run}/${options.runs} ${tool.name}: ${describe(outcome)}`);
      }
    }

    const peaks: ServerPeaks[] = [];
    if (scenario.measureMemory && !serversGone()) {
      peaks.push({
        label: "server.ts processes",
        kib: await servers.peakRssKiB(),
      });
      if (nginx) {
        peaks.push({
          label: "nginx workers",
          kib: await nginx.workerPeakRssKiB(),
        });
      }
    }
    return {
      scenario,
      runs: options.runs,
      tools,
      warmUp,
      servers: peaks,
      reference: options.reference,
      problems,
    };
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(downloadDir, { recursive: true });
  }
}
