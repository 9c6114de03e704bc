import assert from "node:assert/strict";
import type { DownloadEvent } from "./download_events.ts";
import { alignDone, keptCandidates } from "./resume.ts";

const STATE = {
  name: "a.bin",
  size: 100,
  blockSize: 10,
  identity: null,
  listed: 0,
  done: [[5, 38], [0, 3], [90, 100]] as [number, number][],
};

Deno.test("kept bytes shrink to whole blocks, the file's short last block kept", () => {
  assert.deepEqual(alignDone(STATE.done, 10, 100), [[10, 30], [90, 100]]);
  assert.deepEqual(alignDone([[0, 95]], 10, 95), [[0, 95]]);
  assert.deepEqual(alignDone([[1, 9]], 10, 100), []);
});

Deno.test("the kept bytes are candidates only for the same file, and only when they can be checked", () => {
  const events: DownloadEvent[] = [];
  const base = {
    saved: STATE,
    sameFile: true,
    verify: true,
    listed: true,
    blockSize: 10,
    size: 100,
    onEvent: (event: DownloadEvent) => events.push(event),
  };
  assert.deepEqual(keptCandidates(base), [[10, 30], [90, 100]]);
  assert.deepEqual(keptCandidates({ ...base, sameFile: false }), []);
  assert.deepEqual(keptCandidates({ ...base, listed: false }), []);
  assert.deepEqual(
    keptCandidates({ ...base, verify: false, listed: false }),
    [[10, 30], [90, 100]],
  );
  assert.deepEqual(keptCandidates({ ...base, saved: undefined }), []);
  assert.deepEqual(events, [
    { type: "restarted", reason: "the partial download is of another file" },
    {
      type: "restarted",
      reason:
        "the bytes kept from before cannot be checked: no server sent block digests",
    },
  ]);
});

Deno.test("a state of the same name and another size says the file's size changed, and keeps nothing", () => {
  const events: DownloadEvent[] = [];
  const kept = keptCandidates({
    saved: STATE,
    sameFile: false,
    verify: true,
    listed: true,
    blockSize: 10,
    size: STATE.size + 20,
    name: STATE.name,
    onEvent: (event: DownloadEvent) => events.push(event),
  });
  assert.deepEqual(kept, []);
  assert.deepEqual(events, [{
    type: "restarted",
    reason: `the file is ${
      STATE.size + 20
    } bytes on the servers now, the partial download is of ${STATE.size}`,
  }]);
});
