import assert from "node:assert/strict";
import { cpuModel, loadAverages, memTotalKiB } from "./machine.ts";
import { firstLine } from "./peers.ts";

Deno.test("the machine is read from /proc", () => {
  assert.equal(
    cpuModel("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n"),
    "AMD EPYC 7B13",
  );
  assert.equal(memTotalKiB("MemTotal:       24620016 kB\n"), 24620016);
  assert.equal(loadAverages("0.52 0.58 0.59 1/219 12345\n"), "0.52 0.58 0.59");
});

Deno.test("a version is the first non-empty line", () => {
  assert.equal(
    firstLine("\n aria2 version 1.36.0 \nCopyright"),
    "aria2 version 1.36.0",
  );
  assert.equal(firstLine("\n\n"), undefined);
});
