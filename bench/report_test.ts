import assert from "node:assert/strict";
import { formatScenarioResults, medianSeconds } from "./report.ts";
import { defaultScenarios } from "./scenarios.ts";
import type { RunOutcome } from "./timed_run.ts";

function ok(
  seconds: number,
  peakRssKiB?: number,
  cpuSeconds?: number,
): RunOutcome {
  return { kind: "ok", seconds, peakRssKiB, cpuSeconds };
}

Deno.test("a failed or timed-out run counts as the longest", () => {
  assert.equal(
    medianSeconds([ok(1), { kind: "timeout", seconds: 60 }, ok(2)]),
    2,
  );
  assert.equal(
    medianSeconds([
      { kind: "failed", seconds: 0.1, code: 3, output: "" },
      { kind: "timeout", seconds: 60 },
      ok(2),
    ]),
    Infinity,
  );
  assert.ok(Number.isNaN(medianSeconds([])));
});

Deno.test("the unequal table compares with the client and the ideal", () => {
  const unequal = defaultScenarios(false)[1]!;
  const lines = formatScenarioResults({
    scenario: unequal,
    runs: 3,
    tools: [
      { name: "client", outcomes: [ok(4), ok(4.2), ok(3.9)] },
      {
        name: "axel",
        outcomes: [
          { kind: "timeout", seconds: 60 },
          ok(16),
          { kind: "timeout", seconds: 60 },
        ],
      },
    ],
    warmUp: ok(5),
    servers: [],
    reference: undefined,
    problems: [],
  });
  assert.deepEqual(lines.slice(0, 5), [
    "== unequal: 256.0 MiB from 4 servers in 4 chunks, servers limited to 4, 40, 40, 40 MiB/s; 3 timed runs per tool",
    "ideal: 2.065 s (file size / sum of the servers' rates)",
    "tool    median s      min-max s  MiB/s  vs client  vs ideal  notes",
    "------  --------  -------------  -----  ---------  --------  ----------------",
    "client     4.000    3.900-4.200   64.0      1.00x     1.94x",
  ]);
  assert.equal(
    lines[5],
    "axel     timeout  16.000-16.000      -          -         -  2 of 3 timed out",
  );
});

Deno.test("the many-chunks table compares per-byte times", () => {
  const [uniform, , many] = defaultScenarios(false);
  const lines = formatScenarioResults({
    scenario: many!,
    runs: 1,
    tools: [{ name: "client", outcomes: [ok(3)] }],
    warmUp: undefined,
    servers: [],
    reference: { scenario: uniform!, medians: new Map([["client", 2]]) },
    problems: [],
  });
  assert.match(lines[1]!, /per byte vs uniform/);
  assert.match(lines[3]!, / 1\.50x$/);
});

Deno.test("the memory table shows peak RSS of the tools and servers", () => {
  const memory = defaultScenarios(false)[3]!;
  const lines = formatScenarioResults({
    scenario: memory,
    runs: 1,
    tools: [{ name: "client", outcomes: [ok(8, 100 * 1024, 9.5)] }],
    warmUp: undefined,
    servers: [{ label: "server.ts processes", kib: [51200, undefined] }],
    reference: undefined,
    problems: ["something"],
  });
  assert.match(lines[1]!, /CPU s {2}core-s\/GiB {2}peak RSS MiB/);
  // 9.5 s of CPU for 2 GiB: 4.75 core-seconds per GiB.
  assert.match(lines[3]!, / 9\.50 +4\.75 +100\.0$/);
  assert.ok(
    lines.includes("peak RSS of server.ts processes (VmHWM, MiB): 50.0, ?"),
  );
  assert.ok(lines.includes("problem: something"));
});
