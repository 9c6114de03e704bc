import assert from "node:assert/strict";
import { type ByteRange, planRanges } from "./range_planner.ts";

function assertPlan(ranges: ByteRange[], size: number, numChunks: number) {
  const where = `size ${size}, ${numChunks} chunks`;
  assert.equal(ranges.length, Math.min(size, numChunks), where);
  let next = 0;
  for (const [i, range] of ranges.entries()) {
    assert.equal(range.index, i, where);
    assert.equal(range.start, next, `${where}: gap or overlap at ${i}`);
    assert.ok(range.end > range.start, `${where}: empty range ${i}`);
    assert.ok(Number.isSafeInteger(range.end), where);
    next = range.end;
  }
  assert.equal(next, size, `${where}: does not end at the file size`);
  if (ranges.length > 1) {
    // Every range but the last has the same length; the last takes the rest.
    const length = ranges[0]!.end - ranges[0]!.start;
    assert.equal(length, Math.floor(size / ranges.length), where);
    for (const range of ranges.slice(0, -1)) {
      assert.equal(range.end - range.start, length, where);
    }
    const last = ranges.at(-1)!;
    assert.equal(last.end - last.start, length + (size % ranges.length), where);
  }
}

Deno.test("ranges cover the file exactly and contiguously", () => {
  const sizes = [
    1,
    2,
    3,
    7,
    10,
    99,
    100,
    101,
    1023,
    1024,
    4097,
    65_537,
    1_000_003,
    2 ** 31 - 1,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 32 + 1,
    5 * 2 ** 32 + 12_345,
    2 ** 40 + 3,
    Number.MAX_SAFE_INTEGER,
  ];
  const counts = [1, 2, 3, 4, 5, 7, 8, 10, 16, 20, 33, 100, 1000];
  for (const size of sizes) {
    for (const numChunks of counts) {
      assertPlan(planRanges(size, numChunks), size, numChunks);
    }
  }
});

Deno.test("the last range takes the remainder", () => {
  assert.deepEqual(planRanges(10, 4), [
    { index: 0, start: 0, end: 2 },
    { index: 1, start: 2, end: 4 },
    { index: 2, start: 4, end: 6 },
    { index: 3, start: 6, end: 10 },
  ]);
  assert.deepEqual(planRanges(11, 3), [
    { index: 0, start: 0, end: 3 },
    { index: 1, start: 3, end: 6 },
    { index: 2, start: 6, end: 11 },
  ]);
  const big = 2 ** 32 + 5;
  assert.deepEqual(planRanges(big, 2), [
    { index: 0, start: 0, end: 2 ** 31 + 2 },
    { index: 1, start: 2 ** 31 + 2, end: big },
  ]);
});

Deno.test("one chunk is the whole file", () => {
  assert.deepEqual(planRanges(12_345, 1), [{
    index: 0,
    start: 0,
    end: 12_345,
  }]);
});

Deno.test("an empty file gets no range", () => {
  for (const numChunks of [1, 5, 1000]) {
    assert.deepEqual(planRanges(0, numChunks), []);
  }
});

Deno.test("a file smaller than the chunk count gets one range per byte", () => {
  assert.deepEqual(planRanges(3, 10), [
    { index: 0, start: 0, end: 1 },
    { index: 1, start: 1, end: 2 },
    { index: 2, start: 2, end: 3 },
  ]);
  for (let size = 1; size < 20; size++) {
    assertPlan(planRanges(size, 20), size, 20);
  }
});

Deno.test("planRanges refuses sizes and chunk counts out of range", () => {
  for (const size of [-1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) {
    assert.throws(() => planRanges(size, 4), {
      name: "RangeError",
      message: `File size must be a non-negative integer: received ${size}`,
    });
  }
  for (const numChunks of [0, -1, 2.5, NaN, Infinity]) {
    assert.throws(() => planRanges(100, numChunks), {
      name: "RangeError",
      message:
        `Number of chunks must be a positive integer: received ${numChunks}`,
    });
  }
});
