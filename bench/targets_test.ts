import assert from "node:assert/strict";
import type { ScenarioResults, ToolResult } from "./report.ts";
import { defaultScenarios } from "./scenarios.ts";
import { checkTargets, formatTargets } from "./targets.ts";
import type { RunOutcome } from "./timed_run.ts";

function ok(seconds: number, peakRssKiB?: number): RunOutcome {
  return { kind: "ok", seconds, peakRssKiB };
}

/** A run of 0.5 s with the client's and the servers' CPU time. */
function timed(cpuSeconds: number, serverCpuSeconds: number): RunOutcome {
  return {
    kind: "ok",
    seconds: 0.5,
    peakRssKiB: undefined,
    cpuSeconds,
    serverCpuSeconds,
  };
}

function results(
  index: number,
  tools: ToolResult[],
): ScenarioResults {
  return {
    scenario: defaultScenarios(false)[index]!,
    runs: 1,
    tools,
    warmUp: undefined,
    servers: [],
    reference: undefined,
    problems: [],
  };
}

Deno.test("the client from nginx is held to 0.9 × aria2c and the mixed list to the slower single kind", () => {
  const lines = formatTargets(results(0, [
    { name: "client", outcomes: [ok(0.6)] },
    { name: "client (nginx)", outcomes: [ok(0.63), ok(0.7), ok(0.65)] },
    { name: "client (mixed)", outcomes: [ok(0.66)] },
    { name: "aria2c", outcomes: [ok(0.7)] },
  ]));
  assert.deepEqual(lines, [
    "target: client ≤ 0.80 × aria2c: 0.86 × (0.600 s against 0.700 s), missed",
    "target: client client CPU ≤ 1.2 core-s/GiB: not measured",
    "target: client server CPU ≤ 0.3 core-s/GiB: not measured",
    "target: client (nginx) ≤ 0.90 × aria2c: 0.93 × (0.650 s against 0.700 s), missed",
    "target: client (mixed) ≤ the slower of client and client (nginx): 1.02 × (0.660 s against 0.650 s), missed",
  ]);
});

Deno.test("the unequal mirrors are held to 1.15 × the ideal time", () => {
  const [check] = checkTargets(results(1, [
    { name: "client (nginx)", outcomes: [ok(2.3)] },
  ]));
  assert.deepEqual(check, {
    text: "client (nginx) ≤ 1.15 × the ideal: 1.11 × (2.300 s against 2.065 s)",
    met: true,
  });
});

Deno.test("the memory target takes the largest peak of the client from nginx", () => {
  assert.deepEqual(
    formatTargets(results(3, [
      {
        name: "client (nginx)",
        outcomes: [ok(3, 70 * 1024), ok(3, 97 * 1024)],
      },
    ])),
    ["target: client (nginx) peak RSS ≤ 96 MiB: 97.0 MiB, missed"],
  );
});

Deno.test("a target is not measured when its reference failed, and left out when its row did not run", () => {
  const checks = checkTargets(results(0, [
    { name: "client (nginx)", outcomes: [ok(0.6)] },
    {
      name: "aria2c",
      outcomes: [{ kind: "failed", seconds: 0.1, code: 1, output: "" }],
    },
  ]));
  assert.deepEqual(checks, [{
    text:
      "client (nginx) ≤ 0.90 × aria2c: not measured (0.600 s against no time)",
    met: undefined,
  }]);
  assert.deepEqual(formatTargets(results(2, [])), []);
  assert.deepEqual(
    checkTargets(results(3, [{ name: "aria2c", outcomes: [] }])),
    [],
  );
});

Deno.test("the smoke test prints the targets' measurements without a verdict", () => {
  assert.deepEqual(
    formatTargets(
      results(3, [{ name: "client (nginx)", outcomes: [ok(3, 50 * 1024)] }]),
      false,
    ),
    [
      "target: client (nginx) peak RSS ≤ 96 MiB: 50.0 MiB (not judged in the smoke test)",
    ],
  );
});

Deno.test("the client's CPU is held per GiB, its first download to aria2c and to the warm run", () => {
  const uniform = results(0, [
    {
      name: "client",
      outcomes: [
        timed(0.6, 0.1),
        timed(0.5, 0.2),
        timed(0.7, 0.3),
      ],
    },
  ]);
  assert.deepEqual(formatTargets(uniform).slice(1, 3), [
    "target: client client CPU ≤ 1.2 core-s/GiB: 1.20, met",
    "target: client server CPU ≤ 0.3 core-s/GiB: 0.40, missed",
  ]);
  const first = {
    ...results(4, [
      { name: "client", outcomes: [ok(0.66)] },
      { name: "aria2c", outcomes: [ok(0.7)] },
    ]),
    reference: {
      scenario: defaultScenarios(false)[0]!,
      medians: new Map([["client", 0.5]]),
    },
  };
  assert.deepEqual(formatTargets(first), [
    "target: client ≤ 1.10 × aria2c: 0.94 × (0.660 s against 0.700 s), met",
    "target: client per byte ≤ 1.20 × uniform: 1.32 ×, missed",
  ]);
});
