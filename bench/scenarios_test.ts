import assert from "node:assert/strict";
import {
  defaultScenarios,
  describeScenario,
  idealSeconds,
  rateText,
  SMOKE_SIZE,
} from "./scenarios.ts";
import { MIB } from "./stats.ts";

Deno.test("the default scenarios are the four of the brief and the first download, in order", () => {
  const scenarios = defaultScenarios(false);
  assert.deepEqual(
    scenarios.map((s) => [s.name, s.sizeBytes / MIB, s.servers, s.chunks]),
    [
      ["uniform", 512, 4, 4],
      ["unequal", 256, 4, 4],
      ["many-chunks", 512, 20, 200],
      ["memory", 2048, 4, 16],
      ["first", 512, 4, 4],
    ],
  );
  // Only the first download starts its servers afresh for each run.
  assert.deepEqual(
    scenarios.map((s) => s.freshServers === true),
    [false, false, false, false, true],
  );
});

Deno.test("the unequal scenario lists its slow mirror first", () => {
  const unequal = defaultScenarios(false).find((s) => s.name === "unequal")!;
  assert.deepEqual(unequal.rates, [4 * MIB, 40 * MIB, 40 * MIB, 40 * MIB]);
});

Deno.test("the ideal time is the size over the sum of the rates", () => {
  const unequal = defaultScenarios(false).find((s) => s.name === "unequal")!;
  assert.equal(idealSeconds(unequal)!.toFixed(2), "2.06");
  const uniform = defaultScenarios(false)[0]!;
  assert.equal(idealSeconds(uniform), undefined);
});

Deno.test("smoke scenarios are tiny and keep their shape", () => {
  for (const scenario of defaultScenarios(true)) {
    assert.equal(scenario.sizeBytes, SMOKE_SIZE);
    assert.ok(scenario.timeoutMs <= 30_000);
  }
  assert.equal(defaultScenarios(true)[2]!.chunks, 200);
});

Deno.test("rates are written in MiB/s when whole, else in bytes", () => {
  assert.equal(rateText(40 * MIB), "40M");
  assert.equal(rateText(4 * MIB), "4M");
  assert.equal(rateText(1536 * 1024), "1572864");
});

Deno.test("a scenario is described in one line", () => {
  const [uniform, unequal] = defaultScenarios(false);
  assert.equal(
    describeScenario(uniform!),
    "uniform: 512.0 MiB from 4 servers in 4 chunks",
  );
  assert.equal(
    describeScenario(unequal!),
    "unequal: 256.0 MiB from 4 servers in 4 chunks, servers limited to 4, 40, 40, 40 MiB/s",
  );
});
