import { prng } from "../../../tests/_support/seeded_random.ts";
import assert from "node:assert/strict";
import {
  type ByteRange,
  planChunks,
  type PlanOptions,
  planRanges,
} from "./range_planner.ts";

function assertPlan(ranges: ByteRange[], size: number, numChunks: number) {
  const where = `size ${size}, ${numChunks} chunks`;
  assert.equal(ranges.length, Math.min(size, numChunks), where);
  let next = 0;
  for (const [i, range] of ranges.entries()) {
    assert.equal(range.index, i, where);
    assert.equal(range.chunk, i, where);
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
    { index: 0, chunk: 0, start: 0, end: 2 },
    { index: 1, chunk: 1, start: 2, end: 4 },
    { index: 2, chunk: 2, start: 4, end: 6 },
    { index: 3, chunk: 3, start: 6, end: 10 },
  ]);
  assert.deepEqual(planRanges(11, 3), [
    { index: 0, chunk: 0, start: 0, end: 3 },
    { index: 1, chunk: 1, start: 3, end: 6 },
    { index: 2, chunk: 2, start: 6, end: 11 },
  ]);
  const big = 2 ** 32 + 5;
  assert.deepEqual(planRanges(big, 2), [
    { index: 0, chunk: 0, start: 0, end: 2 ** 31 + 2 },
    { index: 1, chunk: 1, start: 2 ** 31 + 2, end: big },
  ]);
});

Deno.test("one chunk is the whole file", () => {
  assert.deepEqual(planRanges(12_345, 1), [{
    index: 0,
    chunk: 0,
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
    { index: 0, chunk: 0, start: 0, end: 1 },
    { index: 1, chunk: 1, start: 1, end: 2 },
    { index: 2, chunk: 2, start: 2, end: 3 },
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

/** The runs of missing bytes: the model of what a plan must cover. */
function missingRuns(size: number, done: PlanOptions["done"]): number[][] {
  // Sizes far too large for a byte array are only planned fresh.
  if (done === undefined || done.length === 0) {
    return size > 0 ? [[0, size]] : [];
  }
  const have = new Array<boolean>(size).fill(false);
  for (const [start, end] of done ?? []) {
    for (let i = start; i < Math.min(end, size); i++) have[i] = true;
  }
  const runs: number[][] = [];
  for (let i = 0; i < size; i++) {
    if (have[i]) continue;
    const last = runs.at(-1);
    if (last !== undefined && last[1] === i) last[1] = i + 1;
    else runs.push([i, i + 1]);
  }
  return runs;
}

/**
 * Checks a plan made with options: block alignment, order, and that the
 * ranges cover exactly the missing bytes, each gap on its own.
 */
function assertAlignedPlan(
  ranges: ByteRange[],
  size: number,
  numChunks: number,
  options: Required<PlanOptions>,
) {
  const { blockSize, done } = options;
  const where = `size ${size}, ${numChunks} chunks, block ${blockSize}, ` +
    `done ${JSON.stringify(done)}`;
  // The runs of missing bytes, cut where the user's chunks meet.
  const chunks = planChunks(size, numChunks, blockSize);
  const gaps = missingRuns(size, done).flatMap(([start, end]) =>
    chunks.flatMap((chunk) => {
      const from = Math.max(start!, chunk.start);
      const to = Math.min(end!, chunk.end);
      return from < to ? [[from, to, chunk.chunk]] : [];
    })
  );
  let at = 0;
  let previousEnd = 0;
  for (const [g, [gapStart, gapEnd, chunk]] of gaps.entries()) {
    const inGap: ByteRange[] = [];
    let next = gapStart!;
    while (at < ranges.length && ranges[at]!.start < gapEnd!) {
      const range = ranges[at]!;
      assert.equal(range.index, at, `${where}: index of range ${at}`);
      assert.equal(range.chunk, chunk, `${where}: chunk of range ${at}`);
      assert.ok(range.start >= previousEnd, `${where}: overlap at ${at}`);
      assert.equal(
        range.start,
        next,
        `${where}: gap ${g} not covered at ${at}`,
      );
      assert.ok(range.end > range.start, `${where}: empty range ${at}`);
      assert.equal(range.start % blockSize, 0, `${where}: start of ${at}`);
      assert.ok(
        range.end % blockSize === 0 || range.end === size,
        `${where}: end of ${at}`,
      );
      inGap.push(range);
      next = range.end;
      previousEnd = range.end;
      at++;
    }
    assert.equal(next, gapEnd, `${where}: gap ${g} not covered to its end`);
    assert.ok(inGap.length >= 1, `${where}: gap ${g} has no range`);
    const blocks = Math.ceil((gapEnd! - gapStart!) / blockSize);
    assert.ok(inGap.length <= blocks, `${where}: gap ${g} has too many`);
    // Within a gap, every range but the last has the same length.
    for (const range of inGap.slice(1, -1)) {
      const first = inGap[0]!;
      assert.equal(range.end - range.start, first.end - first.start, where);
    }
  }
  assert.equal(at, ranges.length, `${where}: ranges past the last gap`);
  assert.ok(ranges.length <= numChunks + gaps.length, `${where}: too many`);
}

/** Random block-aligned done intervals, some overlapping or out of order. */
function randomDone(
  random: (limit: number) => number,
  size: number,
  blockSize: number,
): [number, number][] {
  const blocks = Math.ceil(size / blockSize);
  const done: [number, number][] = [];
  for (let k = random(5); k > 0; k--) {
    const first = random(blocks + 1);
    const last = Math.min(blocks, first + random(blocks / 2 + 1));
    done.push([
      Math.min(size, first * blockSize),
      Math.min(size, last * blockSize),
    ]);
  }
  return done;
}

Deno.test("with a block size, fresh ranges start and end on block boundaries", () => {
  assert.deepEqual(planRanges(100, 4, { blockSize: 8 }), [
    { index: 0, chunk: 0, start: 0, end: 24 },
    { index: 1, chunk: 1, start: 24, end: 48 },
    { index: 2, chunk: 2, start: 48, end: 72 },
    { index: 3, chunk: 3, start: 72, end: 100 },
  ]);
  assert.deepEqual(planRanges(64, 2, { blockSize: 16 }), [
    { index: 0, chunk: 0, start: 0, end: 32 },
    { index: 1, chunk: 1, start: 32, end: 64 },
  ]);
  for (const size of [1, 7, 100, 1000, 4096, 65_537, 1_000_003, 2 ** 40 + 3]) {
    for (const blockSize of [1, 2, 3, 16, 1024, 65_536]) {
      for (const numChunks of [1, 2, 3, 4, 7, 16, 100]) {
        const options = { blockSize, done: [] };
        assertAlignedPlan(
          planRanges(size, numChunks, options),
          size,
          numChunks,
          options,
        );
      }
    }
  }
});

Deno.test("a fresh download gets exactly numChunks ranges when it has enough blocks", () => {
  for (const blockSize of [1, 2, 5, 64, 1024, 1024 * 1024]) {
    for (const numChunks of [1, 2, 3, 4, 8, 13, 16]) {
      for (const extra of [0, 1, blockSize - 1, blockSize, 7 * blockSize + 3]) {
        const size = numChunks * blockSize + extra;
        const ranges = planRanges(size, numChunks, { blockSize });
        const where = `size ${size}, ${numChunks} chunks, block ${blockSize}`;
        assert.equal(ranges.length, numChunks, where);
        assert.deepEqual(ranges.map((r) => r.index), [...ranges.keys()], where);
        assert.equal(ranges[0]!.start, 0, where);
        assert.equal(ranges.at(-1)!.end, size, where);
      }
    }
  }
});

Deno.test("a fresh download with fewer blocks than chunks gets one range per block", () => {
  assert.deepEqual(planRanges(10, 8, { blockSize: 4 }), [
    { index: 0, chunk: 0, start: 0, end: 4 },
    { index: 1, chunk: 1, start: 4, end: 8 },
    { index: 2, chunk: 2, start: 8, end: 10 },
  ]);
  assert.deepEqual(planRanges(3, 4, { blockSize: 1024 }), [
    { index: 0, chunk: 0, start: 0, end: 3 },
  ]);
});

Deno.test("ranges cover only the bytes not done, each within the user's chunk it lies in", () => {
  // Chunks of 20, 20, 20 and 40 bytes; the gap from 50 is cut at 60.
  assert.deepEqual(planRanges(100, 4, { blockSize: 10, done: [[0, 50]] }), [
    { index: 0, chunk: 2, start: 50, end: 60 },
    { index: 1, chunk: 3, start: 60, end: 70 },
    { index: 2, chunk: 3, start: 70, end: 80 },
    { index: 3, chunk: 3, start: 80, end: 100 },
  ]);
  // Gaps of 20 and 40 bytes share 4 ranges about 1:3.
  assert.deepEqual(planRanges(100, 4, { blockSize: 10, done: [[20, 60]] }), [
    { index: 0, chunk: 0, start: 0, end: 20 },
    { index: 1, chunk: 3, start: 60, end: 70 },
    { index: 2, chunk: 3, start: 70, end: 80 },
    { index: 3, chunk: 3, start: 80, end: 100 },
  ]);
  // A tiny gap still gets its own range.
  assert.deepEqual(
    planRanges(1000, 2, { blockSize: 10, done: [[0, 10], [20, 1000]] }),
    [{ index: 0, chunk: 0, start: 10, end: 20 }],
  );
  // Done intervals in any order, overlapping, ending at an unaligned size;
  // chunks of 30, 30 and 35 bytes: the gap from 40 to 80 is cut at 60.
  assert.deepEqual(
    planRanges(95, 3, { blockSize: 10, done: [[80, 95], [0, 30], [10, 40]] }),
    [
      { index: 0, chunk: 1, start: 40, end: 50 },
      { index: 1, chunk: 1, start: 50, end: 60 },
      { index: 2, chunk: 2, start: 60, end: 70 },
      { index: 3, chunk: 2, start: 70, end: 80 },
    ],
  );
});

Deno.test("a resumed run numbers its ranges by the chunks of the first run", () => {
  // 8 chunks of 1 MiB in 64 KiB blocks; the first run got the first
  // 640 KiB of each chunk, and all of chunk 5.
  const MiB = 1024 * 1024;
  const blockSize = 64 * 1024;
  const done: [number, number][] = Array.from(
    { length: 8 },
    (_, i) => [i * MiB, i === 5 ? (i + 1) * MiB : i * MiB + 640 * 1024],
  );
  const ranges = planRanges(8 * MiB, 8, { blockSize, done });
  assert.deepEqual(
    [...new Set(ranges.map((r) => r.chunk))],
    [0, 1, 2, 3, 4, 6, 7],
  );
  for (const range of ranges) {
    const chunk = Math.floor(range.start / MiB);
    assert.equal(range.chunk, chunk, JSON.stringify(range));
    assert.ok(range.end <= (chunk + 1) * MiB, JSON.stringify(range));
  }
});

Deno.test("the user's chunks are the fresh plan, whatever is done", () => {
  assert.deepEqual(
    planChunks(100, 4, 10),
    planRanges(100, 4, { blockSize: 10 }),
  );
  assert.deepEqual(planChunks(10, 8, 4), [
    { index: 0, chunk: 0, start: 0, end: 4 },
    { index: 1, chunk: 1, start: 4, end: 8 },
    { index: 2, chunk: 2, start: 8, end: 10 },
  ]);
  assert.deepEqual(planChunks(0, 4), []);
  assert.throws(() => planChunks(100, 0), RangeError);
});

Deno.test("a file already done gets no range", () => {
  for (const blockSize of [1, 10, 64]) {
    assert.deepEqual(planRanges(100, 4, { blockSize, done: [[0, 100]] }), []);
    assert.deepEqual(planRanges(100, 4, { blockSize, done: [[0, 500]] }), []);
    assert.deepEqual(
      planRanges(100, 4, { blockSize, done: [[0, 40], [40, 100]] }),
      [],
    );
    assert.deepEqual(planRanges(0, 4, { blockSize, done: [] }), []);
  }
});

Deno.test("planRanges with options agrees with a byte model on random cases", () => {
  const random = prng(20_240_607);
  for (let trial = 0; trial < 500; trial++) {
    const size = random(201);
    const blockSize = [1, 2, 3, 4, 8, 16, 50][random(7)]!;
    const numChunks = 1 + random(12);
    const done = randomDone(random, size, blockSize);
    const options = { blockSize, done };
    const ranges = planRanges(size, numChunks, options);
    assertAlignedPlan(ranges, size, numChunks, options);
    if (done.length === 0 && size >= numChunks * blockSize) {
      assert.equal(ranges.length, numChunks, `trial ${trial}`);
    }
  }
});

Deno.test("planRanges refuses block sizes that are not positive integers", () => {
  for (const blockSize of [0, -4, 1.5, NaN, Infinity]) {
    assert.throws(() => planRanges(100, 4, { blockSize }), {
      name: "RangeError",
      message: `Block size must be a positive integer: received ${blockSize}`,
    });
  }
});

Deno.test("planRanges refuses malformed done intervals", () => {
  for (const interval of [[-1, 5], [5, 4], [0, 1.5]] as const) {
    assert.throws(
      () => planRanges(100, 4, { done: [interval] }),
      RangeError,
    );
  }
});
