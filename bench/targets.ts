/**
 * The targets the downloads from mirrors on the web are held to, and each
 * scenario's results checked against them in a line each.
 *
 * @module
 */

import {
  medianOf,
  mediansByTool,
  peakMiB,
  type ScenarioResults,
} from "./report.ts";
import { idealSeconds, type ScenarioName } from "./scenarios.ts";
import { formatSeconds, GIB, ratio } from "./stats.ts";
import { CLIENT, CLIENT_MIXED, CLIENT_NGINX } from "./tools.ts";

/** One target: a bound on a row's median time or peak memory. */
export type Target =
  /** The row's median at most `limit` times another row's. */
  | { kind: "vs-tool"; tool: string; reference: string; limit: number }
  /** The row's median at most `limit` times the scenario's ideal time. */
  | { kind: "vs-ideal"; tool: string; limit: number }
  /** The row's median at most the largest of the other rows' medians. */
  | { kind: "vs-slowest"; tool: string; references: readonly string[] }
  /** The row's largest peak resident set at most `limitMiB`. */
  | { kind: "peak-rss"; tool: string; limitMiB: number }
  /** The row's median per byte at most `limit` times its median per byte
   * in the scenario this one is compared with (see `perByteReference`). */
  | { kind: "vs-reference"; tool: string; limit: number }
  /** The row's median CPU time (the client's, or its servers'), user and
   * system, at most `limit` core-seconds per GiB downloaded. */
  | {
    kind: "cpu-per-gib";
    tool: string;
    of: "client" | "servers";
    limit: number;
  };

/** The targets of each scenario. */
export const TARGETS: Readonly<Record<ScenarioName, readonly Target[]>> = {
  uniform: [
    { kind: "vs-tool", tool: CLIENT, reference: "aria2c", limit: 0.8 },
    { kind: "cpu-per-gib", tool: CLIENT, of: "client", limit: 1.2 },
    { kind: "cpu-per-gib", tool: CLIENT, of: "servers", limit: 0.3 },
    { kind: "vs-tool", tool: CLIENT_NGINX, reference: "aria2c", limit: 0.9 },
    {
      kind: "vs-slowest",
      tool: CLIENT_MIXED,
      references: [CLIENT, CLIENT_NGINX],
    },
  ],
  first: [
    { kind: "vs-tool", tool: CLIENT, reference: "aria2c", limit: 1.1 },
    { kind: "vs-reference", tool: CLIENT, limit: 1.2 },
  ],
  unequal: [{ kind: "vs-ideal", tool: CLIENT_NGINX, limit: 1.15 }],
  "many-chunks": [{ kind: "vs-reference", tool: CLIENT, limit: 1.1 }],
  memory: [
    { kind: "peak-rss", tool: CLIENT, limitMiB: 64 },
    { kind: "peak-rss", tool: CLIENT_NGINX, limitMiB: 96 },
  ],
};

/** A target checked against a scenario's results. */
export interface TargetCheck {
  /** What the target is and what was measured. */
  text: string;
  /** Whether it is met; `undefined` when it could not be measured. */
  met: boolean | undefined;
}

function seconds(value: number): string {
  return Number.isFinite(value) ? `${formatSeconds(value)} s` : "no time";
}

function bounded(
  text: string,
  value: number,
  reference: number,
  limit: number,
): TargetCheck {
  const share = ratio(value, reference);
  if (share === undefined) {
    return {
      text: `${text}: not measured (${seconds(value)} against ${
        seconds(reference)
      })`,
      met: undefined,
    };
  }
  return {
    text: `${text}: ${share.toFixed(2)} × (${seconds(value)} against ${
      seconds(reference)
    })`,
    met: share <= limit,
  };
}

/** A row's runs; none if it did not run. */
function outcomesOf(results: ScenarioResults, tool: string) {
  return results.tools.find((row) => row.name === tool)?.outcomes ?? [];
}

/** A row's median CPU time (its own, or its servers') per GiB
 * downloaded; `undefined` when not measured. */
function cpuPerGib(
  results: ScenarioResults,
  tool: string,
  of: "client" | "servers",
): number | undefined {
  const seconds = medianOf(
    outcomesOf(results, tool),
    of === "client" ? "cpuSeconds" : "serverCpuSeconds",
  );
  return seconds === undefined
    ? undefined
    : seconds / (results.scenario.sizeBytes / GIB);
}

function check(target: Target, results: ScenarioResults): TargetCheck {
  const medians = mediansByTool(results.tools);
  const value = medians.get(target.tool) ?? NaN;
  switch (target.kind) {
    case "vs-tool":
      return bounded(
        `${target.tool} ≤ ${target.limit.toFixed(2)} × ${target.reference}`,
        value,
        medians.get(target.reference) ?? NaN,
        target.limit,
      );
    case "vs-ideal":
      return bounded(
        `${target.tool} ≤ ${target.limit.toFixed(2)} × the ideal`,
        value,
        idealSeconds(results.scenario) ?? NaN,
        target.limit,
      );
    case "vs-slowest": {
      const references = target.references.map((name) =>
        medians.get(name) ?? NaN
      );
      return bounded(
        `${target.tool} ≤ the slower of ${target.references.join(" and ")}`,
        value,
        references.some(Number.isNaN) ? NaN : Math.max(...references),
        1,
      );
    }
    case "vs-reference": {
      const reference = results.reference;
      const before = reference?.medians.get(target.tool) ?? NaN;
      const size = results.scenario.sizeBytes;
      const text = `${target.tool} per byte ≤ ${target.limit.toFixed(2)} × ${
        reference?.scenario.name ?? "its reference"
      }`;
      const share = reference === undefined
        ? undefined
        : ratio(value / size, before / reference.scenario.sizeBytes);
      return share === undefined
        ? { text: `${text}: not measured`, met: undefined }
        : {
          text: `${text}: ${share.toFixed(2)} ×`,
          met: share <= target.limit,
        };
    }
    case "cpu-per-gib": {
      const perGib = cpuPerGib(results, target.tool, target.of);
      const text = `${target.tool} ${
        target.of === "client" ? "client" : "server"
      } CPU ≤ ${target.limit} core-s/GiB`;
      return perGib === undefined
        ? { text: `${text}: not measured`, met: undefined }
        : {
          text: `${text}: ${perGib.toFixed(2)}`,
          met: perGib <= target.limit,
        };
    }
    case "peak-rss": {
      const text = `${target.tool} peak RSS ≤ ${target.limitMiB} MiB`;
      const peak = peakMiB(outcomesOf(results, target.tool));
      return peak === undefined
        ? { text: `${text}: not measured`, met: undefined }
        : {
          text: `${text}: ${peak.toFixed(1)} MiB`,
          met: peak <= target.limitMiB,
        };
    }
  }
}

/**
 * Checks a scenario's results against its targets; a target whose row did
 * not run (its tool is not installed) is left out.
 *
 * @param results The scenario's results.
 * @returns One check per target whose row ran.
 */
export function checkTargets(results: ScenarioResults): TargetCheck[] {
  const ran = new Set(results.tools.map((tool) => tool.name));
  return TARGETS[results.scenario.name]
    .filter((target) => ran.has(target.tool))
    .map((target) => check(target, results));
}

/**
 * The target lines printed under a scenario's table:
 * `target: client (nginx) ≤ 0.90 × aria2c: 0.85 × (0.612 s against 0.720 s), met`.
 *
 * @param results The scenario's results.
 * @param judge Whether to say met or missed; not for the smoke test's tiny
 * files, whose times are mostly start-up.
 * @returns The lines; none for a scenario without targets.
 */
export function formatTargets(
  results: ScenarioResults,
  judge = true,
): string[] {
  return checkTargets(results).map(({ text, met }) =>
    `target: ${text}${
      !judge
        ? " (not judged in the smoke test)"
        : met === undefined
        ? ""
        : met
        ? ", met"
        : ", missed"
    }`
  );
}
