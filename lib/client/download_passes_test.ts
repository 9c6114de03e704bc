import assert from "node:assert/strict";
import { Passes } from "./download_passes.ts";
import type { Interval } from "./plan/interval_set.ts";
import type { RangeTasks } from "./range_tasks.ts";

/** A finished pass that kept these bytes. */
function passOf(kept: Interval[]): RangeTasks {
  const received = kept.reduce((sum, [start, end]) => sum + end - start, 0);
  return {
    kept: () => kept,
    receivedBytes: received,
    progress: () => [],
  } as unknown as RangeTasks;
}

Deno.test("withdrawn bytes are no longer present until a later pass fetches them again", () => {
  const passes = new Passes(passOf([[0, 100]]), {
    trusted: [],
    kept: undefined,
    slots: [],
  });
  passes.withdraw([[40, 60]]);
  assert.deepEqual(passes.present(true).intervals, [[0, 40], [60, 100]]);
  assert.equal(passes.progress(100, []).doneBytes, 80);
  passes.add(passOf([[40, 60]]));
  assert.deepEqual(passes.present(true).intervals, [[0, 100]]);
  assert.equal(passes.progress(100, []).doneBytes, 100);
});
