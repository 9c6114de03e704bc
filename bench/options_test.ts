import assert from "node:assert/strict";
import { BenchUsageError, parseOptions } from "./options.ts";
import { MIB } from "./stats.ts";

Deno.test("without options every scenario runs three times", () => {
  const options = parseOptions([]);
  assert.equal(options.runs, 3);
  assert.equal(options.smoke, false);
  assert.equal(options.dir, undefined);
  assert.deepEqual(
    options.scenarios.map((s) => s.name),
    ["uniform", "unequal", "many-chunks", "memory", "first"],
  );
});

Deno.test("--smoke runs once each on tiny files", () => {
  const options = parseOptions(["--smoke"]);
  assert.equal(options.runs, 1);
  assert.ok(options.scenarios.every((s) => s.sizeBytes === 4 * MIB));
});

Deno.test("--scenario picks scenarios and keeps their order", () => {
  const options = parseOptions([
    "--scenario",
    "memory",
    "--scenario",
    "uniform",
  ]);
  assert.deepEqual(options.scenarios.map((s) => s.name), ["uniform", "memory"]);
});

Deno.test("--size sets one scenario's size", () => {
  const options = parseOptions(["--size", "uniform=1G", "--runs", "5"]);
  assert.equal(options.scenarios[0]!.sizeBytes, 1024 * MIB);
  assert.equal(options.scenarios[1]!.sizeBytes, 256 * MIB);
  assert.equal(options.runs, 5);
});

Deno.test("--timeout applies to every scenario", () => {
  const options = parseOptions(["--timeout", "2.5"]);
  assert.ok(options.scenarios.every((s) => s.timeoutMs === 2500));
});

Deno.test("bad values are usage errors naming the option", () => {
  for (
    const args of [
      ["--scenario", "fast"],
      ["--size", "uniform"],
      ["--size", "nope=1M"],
      ["--size", "uniform=lots"],
      ["--runs", "0"],
      ["--runs", "x"],
      ["--timeout", "0"],
      ["--dir", ""],
      ["--unknown"],
      ["positional"],
    ]
  ) {
    assert.throws(() => parseOptions(args), BenchUsageError, args.join(" "));
  }
});

Deno.test("--baseline names another checkout to run beside ours", () => {
  assert.equal(parseOptions([]).baseline, undefined);
  assert.equal(parseOptions(["--baseline", "/old"]).baseline, "/old");
});
