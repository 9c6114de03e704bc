/**
 * The benchmark scenarios: what each one downloads, from how many servers,
 * in how many chunks, at which rates, and their smoke-test variants.
 *
 * @module
 */

import { formatMiB, MIB } from "./stats.ts";

/** The names of the scenarios, in the order they run. */
export const SCENARIO_NAMES = [
  "uniform",
  "unequal",
  "many-chunks",
  "memory",
  "first",
] as const;

/** One of {@linkcode SCENARIO_NAMES}. */
export type ScenarioName = typeof SCENARIO_NAMES[number];

/** One scenario. */
export interface Scenario {
  name: ScenarioName;
  /** Size of the file downloaded. */
  sizeBytes: number;
  /** How many servers (ours, and as many nginx server blocks). */
  servers: number;
  /** The `numchunks` argument of our client. */
  chunks: number;
  /**
   * Output limit of each server in bytes per second, in list order; empty
   * when the servers are not limited.
   */
  rates: readonly number[];
  /** Time a single run may take before it is killed and counted a timeout. */
  timeoutMs: number;
  /** Whether peak memory is measured and shown. */
  measureMemory: boolean;
  /** A scenario whose per-byte time this one is compared with. */
  perByteReference: ScenarioName | undefined;
  /** Whether the project's servers are started afresh before each run
   * (their digest caches empty): a first download, not a warm one. */
  freshServers?: boolean;
}

/** The smoke test's file size: enough to take every code path, quickly. */
export const SMOKE_SIZE = 4 * MIB;
/** The smoke test's limit for one run: far more than 4 MiB needs. */
const SMOKE_TIMEOUT_MS = 30_000;

/**
 * The scenarios with their default settings.
 *
 * @param smoke Whether to use the tiny smoke-test sizes.
 * @returns The scenarios, in the order they run.
 */
export function defaultScenarios(smoke: boolean): Scenario[] {
  const size = (bytes: number) => smoke ? SMOKE_SIZE : bytes;
  const timeout = (ms: number) => smoke ? SMOKE_TIMEOUT_MS : ms;
  const uniform: Scenario = {
    name: "uniform",
    sizeBytes: size(512 * MIB),
    servers: 4,
    chunks: 4,
    rates: [],
    timeoutMs: timeout(60_000),
    measureMemory: false,
    perByteReference: undefined,
  };
  return [
    uniform,
    {
      name: "unequal",
      sizeBytes: size(256 * MIB),
      servers: 4,
      chunks: 4,
      // The slow mirror first: the one a naive client gives the first chunk.
      rates: [4 * MIB, 40 * MIB, 40 * MIB, 40 * MIB],
      timeoutMs: timeout(60_000),
      measureMemory: false,
      perByteReference: undefined,
    },
    {
      name: "many-chunks",
      sizeBytes: size(512 * MIB),
      servers: 20,
      chunks: 200,
      rates: [],
      timeoutMs: timeout(60_000),
      measureMemory: false,
      perByteReference: "uniform",
    },
    {
      name: "memory",
      sizeBytes: size(2048 * MIB),
      servers: 4,
      chunks: 16,
      rates: [],
      timeoutMs: timeout(180_000),
      measureMemory: true,
      perByteReference: undefined,
    },
    // The uniform download from servers that never saw the file: they
    // hash it for the digest list while the ranges arrive.
    {
      ...uniform,
      name: "first",
      perByteReference: "uniform",
      freshServers: true,
    },
  ];
}

/**
 * The time the download would take if every server sent at its limit the
 * whole time: size / sum of the rates.
 *
 * @param scenario The scenario.
 * @returns Seconds, or `undefined` when some server is not limited.
 */
export function idealSeconds(scenario: Scenario): number | undefined {
  if (scenario.rates.length !== scenario.servers) return undefined;
  const total = scenario.rates.reduce((sum, rate) => sum + rate, 0);
  return scenario.sizeBytes / total;
}

/**
 * A one-line description: `uniform: 512.0 MiB from 4 servers in 4 chunks`.
 *
 * @param scenario The scenario.
 * @returns The text.
 */
export function describeScenario(scenario: Scenario): string {
  let text = `${scenario.name}: ${
    formatMiB(scenario.sizeBytes)
  } from ${scenario.servers} servers in ${scenario.chunks} chunks`;
  if (scenario.rates.length > 0) {
    const rates = scenario.rates.map((rate) => `${rate / MIB}`).join(", ");
    text += `, servers limited to ${rates} MiB/s`;
  }
  if (scenario.freshServers) text += ", servers started afresh for each run";
  return text;
}

/**
 * A rate as both servers read it: `40M` (1024-based), or plain bytes when
 * it is not a whole number of MiB/s. nginx takes the same text for
 * `limit_rate` (its suffixes are also 1024-based).
 *
 * @param bytesPerSecond The rate.
 * @returns The text.
 */
export function rateText(bytesPerSecond: number): string {
  return bytesPerSecond % MIB === 0
    ? `${bytesPerSecond / MIB}M`
    : `${Math.round(bytesPerSecond)}`;
}
