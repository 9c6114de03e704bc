import assert from "node:assert/strict";
import { parseTimeReport } from "./timed_run.ts";

Deno.test("GNU time's report is its last line", () => {
  assert.deepEqual(parseTimeReport("1.25 0.50 65536\n"), {
    userSeconds: 1.25,
    systemSeconds: 0.5,
    maxRssKiB: 65536,
  });
  assert.deepEqual(
    parseTimeReport("Command exited with non-zero status 3\n0.00 0.01 1464\n"),
    { userSeconds: 0, systemSeconds: 0.01, maxRssKiB: 1464 },
  );
  assert.equal(parseTimeReport("Command terminated by signal 9\n"), undefined);
  assert.equal(parseTimeReport(""), undefined);
});
