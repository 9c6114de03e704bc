import { prng } from "../../../tests/_support/seeded_random.ts";
import assert from "node:assert/strict";
import { type Interval, IntervalSet } from "./interval_set.ts";

/** The runs of `value` in a boolean array, as half-open intervals. */
function runsOf(bits: boolean[], value: boolean): Interval[] {
  const runs: Interval[] = [];
  let start = -1;
  for (let i = 0; i <= bits.length; i++) {
    const inside = i < bits.length && bits[i] === value;
    if (inside && start < 0) start = i;
    if (!inside && start >= 0) {
      runs.push([start, i]);
      start = -1;
    }
  }
  return runs;
}

Deno.test("an empty interval set has no intervals and size 0", () => {
  const set = new IntervalSet();
  assert.deepEqual(set.intervals, []);
  assert.equal(set.size, 0);
});

Deno.test("disjoint intervals added out of order come back sorted", () => {
  const set = new IntervalSet();
  set.add(20, 30);
  set.add(0, 5);
  set.add(10, 12);
  assert.deepEqual(set.intervals, [[0, 5], [10, 12], [20, 30]]);
  assert.equal(set.size, 17);
  assert.deepEqual(new IntervalSet([[20, 30], [0, 5], [10, 12]]).intervals, [
    [0, 5],
    [10, 12],
    [20, 30],
  ]);
});

Deno.test("overlapping intervals merge into one", () => {
  const set = new IntervalSet([[0, 10], [5, 15]]);
  assert.deepEqual(set.intervals, [[0, 15]]);
  set.add(12, 20);
  assert.deepEqual(set.intervals, [[0, 20]]);
  set.add(0, 3);
  assert.deepEqual(set.intervals, [[0, 20]]);
  assert.equal(set.size, 20);
});

Deno.test("adjacent intervals merge into one", () => {
  const set = new IntervalSet([[10, 20]]);
  set.add(20, 25);
  set.add(5, 10);
  assert.deepEqual(set.intervals, [[5, 25]]);
  assert.equal(set.size, 20);
});

Deno.test("an interval nested in another changes nothing", () => {
  const set = new IntervalSet([[0, 100]]);
  set.add(10, 20);
  set.add(0, 100);
  set.add(99, 100);
  assert.deepEqual(set.intervals, [[0, 100]]);
  assert.equal(set.size, 100);
});

Deno.test("an interval covering several others absorbs them all", () => {
  const set = new IntervalSet([[2, 3], [5, 6], [8, 9], [20, 21]]);
  set.add(1, 10);
  assert.deepEqual(set.intervals, [[1, 10], [20, 21]]);
  set.add(10, 20);
  assert.deepEqual(set.intervals, [[1, 21]]);
  assert.equal(set.size, 20);
});

Deno.test("an interval bridging a gap joins its neighbours", () => {
  const set = new IntervalSet([[0, 4], [8, 12]]);
  set.add(4, 8);
  assert.deepEqual(set.intervals, [[0, 12]]);
});

Deno.test("empty intervals are ignored", () => {
  const set = new IntervalSet([[5, 5], [0, 0]]);
  assert.deepEqual(set.intervals, []);
  set.add(3, 7);
  set.add(10, 10);
  // An empty interval adjacent to the set does not extend or split it.
  set.add(7, 7);
  set.add(3, 3);
  assert.deepEqual(set.intervals, [[3, 7]]);
  assert.equal(set.size, 4);
});

Deno.test("the intervals getter returns a copy", () => {
  const set = new IntervalSet([[0, 4]]);
  const copy = set.intervals as [number, number][];
  copy.push([10, 20]);
  copy[0]![1] = 100;
  assert.deepEqual(set.intervals, [[0, 4]]);
});

Deno.test("malformed intervals are a RangeError", () => {
  const set = new IntervalSet([[0, 4]]);
  const bad: [number, number][] = [
    [-1, 3],
    [5, 4],
    [0.5, 3],
    [0, 2.5],
    [NaN, 3],
    [0, NaN],
    [0, Infinity],
    [0, Number.MAX_SAFE_INTEGER + 1],
  ];
  for (const [start, end] of bad) {
    assert.throws(() => set.add(start, end), {
      name: "RangeError",
      message: `Invalid interval: received [${start}, ${end})`,
    });
    assert.throws(() => new IntervalSet([[start, end]]), RangeError);
  }
  assert.deepEqual(set.intervals, [[0, 4]]);
});

Deno.test("the gaps of an empty set are the whole range", () => {
  assert.deepEqual(new IntervalSet().gaps(10), [[0, 10]]);
  assert.deepEqual(new IntervalSet().gaps(0), []);
});

Deno.test("a set covering the whole range has no gaps", () => {
  assert.deepEqual(new IntervalSet([[0, 10]]).gaps(10), []);
  assert.deepEqual(new IntervalSet([[0, 4], [4, 10]]).gaps(10), []);
  assert.deepEqual(new IntervalSet([[0, 50]]).gaps(10), []);
});

Deno.test("gaps lie between, before and after the intervals", () => {
  const set = new IntervalSet([[2, 4], [6, 8]]);
  assert.deepEqual(set.gaps(10), [[0, 2], [4, 6], [8, 10]]);
  assert.deepEqual(set.gaps(8), [[0, 2], [4, 6]]);
  assert.deepEqual(new IntervalSet([[0, 3]]).gaps(5), [[3, 5]]);
});

Deno.test("intervals past the size are cut off from the gaps", () => {
  const set = new IntervalSet([[2, 4], [8, 20], [30, 40]]);
  assert.deepEqual(set.gaps(10), [[0, 2], [4, 8]]);
  assert.deepEqual(set.gaps(6), [[0, 2], [4, 6]]);
  assert.deepEqual(set.gaps(3), [[0, 2]]);
  assert.deepEqual(set.gaps(2), [[0, 2]]);
  assert.deepEqual(set.gaps(35), [[0, 2], [4, 8], [20, 30]]);
  assert.deepEqual(new IntervalSet([[12, 20]]).gaps(10), [[0, 10]]);
  assert.deepEqual(new IntervalSet([[10, 20]]).gaps(10), [[0, 10]]);
});

Deno.test("an interval set agrees with a boolean array on random additions", () => {
  const random = prng(0x5eed);
  for (let trial = 0; trial < 400; trial++) {
    const size = 1 + random(200);
    const bits = new Array<boolean>(size + 20).fill(false);
    const set = new IntervalSet();
    const additions = random(12);
    const added: Interval[] = [];
    for (let k = 0; k < additions; k++) {
      // Some intervals reach past `size`, some are empty.
      const start = random(size + 10);
      const end = Math.min(start + random(size / 3 + 2), size + 20);
      added.push([start, end]);
      set.add(start, end);
      for (let i = start; i < end; i++) bits[i] = true;
    }
    const where = `trial ${trial}, size ${size}, added ${
      JSON.stringify(added)
    }`;
    assert.deepEqual(set.intervals, runsOf(bits, true), where);
    assert.equal(set.size, bits.filter((bit) => bit).length, where);
    assert.deepEqual(set.gaps(size), runsOf(bits.slice(0, size), false), where);
    // The same intervals in another order build the same set.
    assert.deepEqual(
      new IntervalSet(added.toReversed()).intervals,
      set.intervals,
      where,
    );
  }
});

Deno.test("removing an interval cuts what of the set lies there, splitting one it falls inside", () => {
  const set = new IntervalSet([[0, 10], [20, 30], [40, 50]]);
  set.remove(5, 25);
  assert.deepEqual(set.intervals, [[0, 5], [25, 30], [40, 50]]);
  set.remove(42, 44);
  assert.deepEqual(set.intervals, [[0, 5], [25, 30], [40, 42], [44, 50]]);
  set.remove(60, 70);
  set.remove(0, 0);
  assert.equal(set.size, 18);
  assert.throws(() => set.remove(3, 2), RangeError);
});
