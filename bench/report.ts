/**
 * A scenario's results as text: the table of medians and ratios, and the
 * lines around it.
 *
 * @module
 */

import { describeScenario, idealSeconds, type Scenario } from "./scenarios.ts";
import {
  type Column,
  formatRate,
  formatRatio,
  formatSeconds,
  formatTable,
  GIB,
  median,
  mibPerSecond,
  ratio,
} from "./stats.ts";
import type { RunOutcome } from "./timed_run.ts";
import { CLIENT } from "./tools.ts";

/** The runs of one tool in one scenario. */
export interface ToolResult {
  name: string;
  outcomes: RunOutcome[];
}

/** Median times of an earlier scenario, to compare per-byte times with. */
export interface PerByteReference {
  scenario: Scenario;
  /** Median seconds per tool name. */
  medians: ReadonlyMap<string, number>;
}

/** Peak memory of the servers of a scenario. */
export interface ServerPeaks {
  label: string;
  kib: readonly (number | undefined)[];
}

/** Everything reported for one scenario. */
export interface ScenarioResults {
  scenario: Scenario;
  runs: number;
  tools: ToolResult[];
  /** The client's untimed warm-up run, which makes the servers hash. */
  warmUp: RunOutcome | undefined;
  servers: ServerPeaks[];
  reference: PerByteReference | undefined;
  /** What went wrong beside the runs themselves. */
  problems: string[];
}

/**
 * The median wall time of a tool's runs; a run that failed or timed out
 * counts as infinitely long.
 *
 * @param outcomes The runs.
 * @returns Seconds, `Infinity` when most runs failed, `NaN` when none ran.
 */
export function medianSeconds(outcomes: readonly RunOutcome[]): number {
  if (outcomes.length === 0) return NaN;
  return median(
    outcomes.map((run) => run.kind === "ok" ? run.seconds : Infinity),
  );
}

/**
 * The median of every tool, by name.
 *
 * @param tools The tools' runs.
 * @returns Median seconds per tool.
 */
export function mediansByTool(
  tools: readonly ToolResult[],
): Map<string, number> {
  return new Map(
    tools.map((tool) => [tool.name, medianSeconds(tool.outcomes)]),
  );
}

function medianCell(outcomes: readonly RunOutcome[]): string {
  const value = medianSeconds(outcomes);
  if (Number.isFinite(value)) return formatSeconds(value);
  if (outcomes.length === 0) return "not run";
  return outcomes.some((run) => run.kind === "timeout") ? "timeout" : "failed";
}

function spreadCell(outcomes: readonly RunOutcome[]): string {
  const times = outcomes.flatMap((run) =>
    run.kind === "ok" ? [run.seconds] : []
  );
  if (times.length === 0) return "-";
  return `${formatSeconds(Math.min(...times))}-${
    formatSeconds(Math.max(...times))
  }`;
}

/**
 * The median of a measure over a row's runs that went well.
 *
 * @param outcomes The row's runs.
 * @param field The measure: the tool's CPU time, or its servers'.
 * @returns The median, or `undefined` when no run measured it.
 */
export function medianOf(
  outcomes: readonly RunOutcome[],
  field: "cpuSeconds" | "serverCpuSeconds",
): number | undefined {
  const values = outcomes.flatMap((run) => {
    const value = run.kind === "ok" ? run[field] : undefined;
    return value === undefined ? [] : [value];
  });
  return values.length === 0 ? undefined : median(values);
}

/**
 * The largest peak resident set of a row's runs that went well.
 *
 * @param outcomes The row's runs.
 * @returns MiB, or `undefined` when no run measured it.
 */
export function peakMiB(outcomes: readonly RunOutcome[]): number | undefined {
  const peaks = outcomes.flatMap((run) =>
    run.kind === "ok" && run.peakRssKiB !== undefined ? [run.peakRssKiB] : []
  );
  return peaks.length === 0 ? undefined : Math.max(...peaks) / 1024;
}

function cpuCell(
  outcomes: readonly RunOutcome[],
  field: "cpuSeconds" | "serverCpuSeconds",
): string {
  return medianOf(outcomes, field)?.toFixed(2) ?? "-";
}

function perGibCell(
  outcomes: readonly RunOutcome[],
  field: "cpuSeconds" | "serverCpuSeconds",
  sizeBytes: number,
): string {
  const seconds = medianOf(outcomes, field);
  return seconds === undefined ? "-" : (seconds / (sizeBytes / GIB)).toFixed(2);
}

function anyOk(
  tools: readonly ToolResult[],
  field: "cpuSeconds" | "serverCpuSeconds",
): boolean {
  return tools.some((tool) =>
    tool.outcomes.some((run) => run.kind === "ok" && run[field] !== undefined)
  );
}

function peakCell(outcomes: readonly RunOutcome[]): string {
  return peakMiB(outcomes)?.toFixed(1) ?? "-";
}

function notesCell(outcomes: readonly RunOutcome[]): string {
  const timeouts = outcomes.filter((run) => run.kind === "timeout").length;
  const notes: string[] = [];
  if (timeouts > 0) notes.push(`${timeouts} of ${outcomes.length} timed out`);
  const failed = outcomes.filter((run) => run.kind === "failed");
  if (failed.length > 0) {
    const first = failed[0]!;
    notes.push(`${failed.length} failed (exit ${first.code})`);
  }
  return notes.join(", ");
}

function mib(kib: number | undefined): string {
  return kib === undefined ? "?" : (kib / 1024).toFixed(1);
}

/**
 * The report of one scenario: a title, the table and notes.
 *
 * @param results The scenario's results.
 * @returns The lines.
 */
export function formatScenarioResults(results: ScenarioResults): string[] {
  const { scenario, tools, reference } = results;
  const medians = mediansByTool(tools);
  const clientMedian = medians.get(CLIENT) ?? NaN;
  const ideal = idealSeconds(scenario);

  const columns: Column[] = [
    { header: "tool", align: "left" },
    { header: "median s", align: "right" },
    { header: "min-max s", align: "right" },
    { header: "MiB/s", align: "right" },
    { header: "vs client", align: "right" },
  ];
  if (ideal !== undefined) columns.push({ header: "vs ideal", align: "right" });
  if (reference !== undefined) {
    columns.push({
      header: `per byte vs ${reference.scenario.name}`,
      align: "right",
    });
  }
  const cpuMeasured = anyOk(tools, "cpuSeconds");
  if (cpuMeasured) {
    columns.push({ header: "CPU s", align: "right" });
    columns.push({ header: "core-s/GiB", align: "right" });
  }
  const serverCpuMeasured = anyOk(tools, "serverCpuSeconds");
  if (serverCpuMeasured) {
    columns.push({ header: "server CPU s", align: "right" });
    columns.push({ header: "server core-s/GiB", align: "right" });
  }
  if (scenario.measureMemory) {
    columns.push({ header: "peak RSS MiB", align: "right" });
  }
  columns.push({ header: "notes", align: "left" });

  const rows = tools.map((tool) => {
    const value = medians.get(tool.name)!;
    const row = [
      tool.name,
      medianCell(tool.outcomes),
      spreadCell(tool.outcomes),
      formatRate(mibPerSecond(scenario.sizeBytes, value)),
      formatRatio(ratio(value, clientMedian)),
    ];
    if (ideal !== undefined) row.push(formatRatio(ratio(value, ideal)));
    if (reference !== undefined) {
      const before = reference.medians.get(tool.name) ?? NaN;
      row.push(formatRatio(ratio(
        value / scenario.sizeBytes,
        before / reference.scenario.sizeBytes,
      )));
    }
    if (cpuMeasured) {
      row.push(cpuCell(tool.outcomes, "cpuSeconds"));
      row.push(perGibCell(tool.outcomes, "cpuSeconds", scenario.sizeBytes));
    }
    if (serverCpuMeasured) {
      row.push(cpuCell(tool.outcomes, "serverCpuSeconds"));
      row.push(
        perGibCell(tool.outcomes, "serverCpuSeconds", scenario.sizeBytes),
      );
    }
    if (scenario.measureMemory) row.push(peakCell(tool.outcomes));
    row.push(notesCell(tool.outcomes));
    return row;
  });

  const lines = [
    `== ${describeScenario(scenario)}; ${results.runs} timed run${
      results.runs === 1 ? "" : "s"
    } per tool`,
  ];
  if (ideal !== undefined) {
    lines.push(
      `ideal: ${
        formatSeconds(ideal)
      } s (file size / sum of the servers' rates)`,
    );
  }
  lines.push(...formatTable(columns, rows));
  if (results.warmUp !== undefined) {
    const warm = results.warmUp;
    lines.push(
      `untimed warm-up run of client (servers hash the file for the first time): ${
        warm.kind === "ok" ? `${formatSeconds(warm.seconds)} s` : warm.kind
      }`,
    );
  }
  for (const peaks of results.servers) {
    lines.push(
      `peak RSS of ${peaks.label} (VmHWM, MiB): ${
        peaks.kib.map(mib).join(", ")
      }`,
    );
  }
  for (const problem of results.problems) lines.push(`problem: ${problem}`);
  for (const tool of tools) {
    for (const run of tool.outcomes) {
      if (run.kind === "failed" && run.output !== "") {
        lines.push(`${tool.name} failed: ${run.output.split("\n").at(-1)}`);
        break;
      }
    }
  }
  return lines;
}
