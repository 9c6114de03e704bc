import assert from "node:assert/strict";
import { parseCpuSeconds } from "./cpu_time.ts";

Deno.test("CPU time is utime plus stime in ticks of 1/100 s", () => {
  const stat =
    "1234 (deno) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 4 0 1 1 1";
  assert.equal(parseCpuSeconds(stat), 1.75);
});

Deno.test("a command name with spaces and parentheses is skipped whole", () => {
  const stat = "99 (a b) c)) R 1 99 99 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1";
  assert.equal(parseCpuSeconds(stat), 0.1);
  assert.equal(parseCpuSeconds("garbage"), undefined);
});
