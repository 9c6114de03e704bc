import assert from "node:assert/strict";
import { eventMessage, reporter } from "./event_messages.ts";

const SERVER = "127.0.0.1:9";
const RANGE = { index: 0, chunk: 1, start: 100, end: 200 };

Deno.test("download events read as warnings and notes, one line each", () => {
  assert.equal(
    eventMessage({ type: "size", server: SERVER, size: 42 }),
    "127.0.0.1:9 reports 42 bytes",
  );
  assert.equal(
    eventMessage({
      type: "range-failed",
      range: RANGE,
      position: 150,
      detail: "boom",
    }),
    "warning: chunk 1 (bytes 100-199) stopped at byte 150: boom",
  );
  assert.equal(
    eventMessage({ type: "unverified", from: 0, detail: "x" }),
    "warning: downloading without verification: x",
  );
  assert.equal(
    eventMessage({ type: "unverified", from: 0, detail: "x", checked: [] }),
    "warning: downloading without verification: x",
  );
  assert.equal(
    eventMessage({
      type: "unverified",
      from: 0,
      detail: "x",
      checked: ["spot checks agree", "the finished file is checked"],
    }),
    "warning: blocks are not checked one by one: x; checked instead: spot checks agree; the finished file is checked",
  );
  assert.equal(
    eventMessage({ type: "resumed", bytes: 2048, checking: true }),
    "Resuming: 2048 bytes (2.0 KiB) are already here; checking them against the block digests",
  );
  assert.equal(
    eventMessage({
      type: "retry-round",
      range: RANGE,
      round: 2,
      delayMs: 1000,
    }),
    "chunk 1: retry round 2 in 1 s",
  );
});

Deno.test("events the display shows on its own print nothing", () => {
  const lines: string[] = [];
  reporter((line) => lines.push(line))({
    type: "range-done",
    range: RANGE,
    server: 0,
  });
  assert.deepEqual(lines, []);
});

Deno.test("a failed range with no bytes left (all taken by others) is not told", () => {
  for (const [start, end] of [[0, 0], [1507328, 1507328], [200, 100]]) {
    assert.equal(
      eventMessage({
        type: "range-failed",
        range: { index: 2, chunk: 2, start: start!, end: end! },
        position: start!,
        detail: "a: connection refused",
      }),
      undefined,
    );
  }
});
