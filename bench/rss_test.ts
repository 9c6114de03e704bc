import assert from "node:assert/strict";
import { parseVmHwm } from "./rss.ts";

Deno.test("VmHWM is read from /proc/<pid>/status", () => {
  const status = "Name:\tdeno\nVmPeak:\t  900 kB\nVmHWM:\t  51234 kB\n";
  assert.equal(parseVmHwm(status), 51234);
  assert.equal(parseVmHwm("Name:\tkthreadd\n"), undefined);
});
