import assert from "node:assert/strict";
import { pattern } from "../../../tests/_support/digest_oracle.ts";
import { FakeSource } from "../../../tests/_support/fake_source.ts";
import type { Interval } from "../plan/interval_set.ts";
import { ServerSlot } from "../server_slot.ts";
import { crossCheck } from "./cross_check_fetch.ts";
import {
  CROSS_CHECK_WINDOW_BYTES,
  CROSS_CHECK_WINDOWS,
} from "./cross_checks.ts";

const MIB = 1024 * 1024;
const SIZE = 3 * MIB + 5;
const FILE = pattern(SIZE);
/** Who sent which bytes: a the first MiB, b the second, c the rest. */
const SENT: Interval[][] = [[[0, MIB]], [[MIB, 2 * MIB]], [[2 * MIB, SIZE]]];

/** FILE with every byte of `[start, end)` changed. */
function spoiled(start: number, end: number): Uint8Array<ArrayBuffer> {
  const copy = FILE.slice();
  for (let i = start; i < end; i++) copy[i]! ^= 0xff;
  return copy;
}

/** Runs the cross-checks over fake sources and a written file. */
function check(
  sources: FakeSource[],
  options: { written?: Uint8Array<ArrayBuffer>; sent?: Interval[][] } = {},
) {
  const written = options.written ?? FILE;
  const slots = sources.map((source, i) => new ServerSlot(i, source));
  return crossCheck({
    slots,
    sent: options.sent ?? SENT,
    size: SIZE,
    seed: 11,
    graceMs: 300,
    readWritten: ({ offset, length }) =>
      Promise.resolve(written.slice(offset, offset + length)),
  });
}

/** Whether a source was ever asked for bytes within `[start, end)`. */
function askedWithin(source: FakeSource, [start, end]: Interval): boolean {
  return source.fetched.some(({ offset, length }) =>
    offset < end && offset + length > start
  );
}

Deno.test("bytes that agree with two other places stand; each source is asked only for windows of the others' bytes", async () => {
  const sources = ["a", "b", "c"].map((l) => new FakeSource(l, FILE));
  const result = await check(sources);
  assert.deepEqual(result, {
    compared: 3 * CROSS_CHECK_WINDOWS,
    unanswered: 0,
    outvoted: [],
    unsettled: [],
  });
  for (const [i, source] of sources.entries()) {
    assert.equal(askedWithin(source, SENT[i]![0]!), false);
    assert.equal(source.fetched.length, 2 * CROSS_CHECK_WINDOWS);
    for (const { length } of source.fetched) {
      assert.equal(length, CROSS_CHECK_WINDOW_BYTES);
    }
  }
});

Deno.test("a source that sent other bytes than its copy's windows say is outvoted on a window it sent, never asked for its own bytes", async () => {
  // b answers every window truthfully, but what it sent in bulk differs.
  const sources = ["a", "b", "c"].map((l) => new FakeSource(l, FILE));
  const result = await check(sources, { written: spoiled(MIB, 2 * MIB) });
  assert.equal(result.outvoted.length, 1);
  const [found] = result.outvoted;
  assert.deepEqual(
    { index: found!.index, sender: found!.sender, places: found!.places },
    { index: 1, sender: true, places: 2 },
  );
  assert.ok(found!.window.offset >= MIB && found!.window.offset < 2 * MIB);
  assert.deepEqual(result.unsettled, []);
  assert.equal(askedWithin(sources[1]!, SENT[1]![0]!), false);
});

Deno.test("a source that answers for another's bytes with a copy that differs is outvoted as an answerer", async () => {
  const sources = [
    new FakeSource("a", FILE),
    new FakeSource("b", FILE),
    new FakeSource("c", spoiled(0, SIZE)),
  ];
  const result = await check(sources);
  assert.deepEqual(result.outvoted.map((o) => [o.index, o.sender]), [[
    2,
    false,
  ]]);
  assert.deepEqual(result.unsettled, []);
});

Deno.test("two sources that disagree on bytes one of them sent leave the window unsettled", async () => {
  const sources = ["a", "b"].map((l) => new FakeSource(l, FILE));
  const result = await check(sources, {
    written: spoiled(MIB, 2 * MIB),
    sent: [[[0, MIB], [2 * MIB, SIZE]], [[MIB, 2 * MIB]]],
  });
  assert.deepEqual(result.outvoted, []);
  assert.equal(result.unsettled.length, CROSS_CHECK_WINDOWS);
  for (const { sender, groups } of result.unsettled) {
    assert.deepEqual([sender, groups], [1, [[1], [0]]]);
  }
});

Deno.test("a silent source costs the grace time, not a hang: the windows it was asked for are settled by the others", async () => {
  const sources = [
    new FakeSource("a", FILE),
    new FakeSource("b", FILE),
    new FakeSource("c", FILE, { stall: true }),
  ];
  const started = performance.now();
  const result = await check(sources);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  assert.deepEqual(result.outvoted, []);
  assert.deepEqual(result.unsettled, []);
  // c's own windows are asked of a and b; the others' are answered by the
  // one that is not c (and c, silent, is asked once only).
  assert.equal(result.compared + result.unanswered, 3 * CROSS_CHECK_WINDOWS);
  assert.equal(result.unanswered, 0);
  assert.equal(sources[2]!.fetched.length, 1);
});

Deno.test("sources at the same place are asked once between them and never for each other's bytes", async () => {
  const sources = ["a", "a", "c"].map((l) => new FakeSource(l, FILE));
  await check(sources);
  // a (twice, one place) is asked for c's windows by one of its lines.
  const asked = sources.map((s) => s.fetched.length);
  assert.equal(asked[0]! + asked[1]!, CROSS_CHECK_WINDOWS);
  assert.equal(asked[2], 2 * CROSS_CHECK_WINDOWS);
});
