import assert from "node:assert/strict";
import {
  SPOT_RANDOM_WINDOWS,
  SPOT_WINDOW_BYTES,
  spotWindows,
  tallyPlaces,
  tallyVotes,
} from "./spot_checks.ts";

const W = SPOT_WINDOW_BYTES;

Deno.test("an empty file has no spot-check windows", () => {
  assert.deepEqual(spotWindows(0, 1), []);
});

Deno.test("a file of at most one window is compared whole, once", () => {
  assert.deepEqual(spotWindows(1, 1), [{ offset: 0, length: 1 }]);
  assert.deepEqual(spotWindows(W, 7), [{ offset: 0, length: W }]);
});

Deno.test("a file too small for random windows is compared at its first and last window only", () => {
  assert.deepEqual(spotWindows(W + 10, 1), [
    { offset: 0, length: W },
    { offset: 10, length: W },
  ]);
  assert.deepEqual(spotWindows(3 * W, 5), [
    { offset: 0, length: W },
    { offset: 2 * W, length: W },
  ]);
});

Deno.test("a large file is compared at its first and last window and at random ones between them", () => {
  const size = 100 * 1024 * 1024 + 17;
  const windows = spotWindows(size, 42);
  assert.equal(windows.length, 2 + SPOT_RANDOM_WINDOWS);
  assert.deepEqual(windows[0], { offset: 0, length: W });
  assert.deepEqual(windows.at(-1), { offset: size - W, length: W });
  for (const window of windows.slice(1, -1)) {
    assert.equal(window.length, W);
    assert.ok(window.offset >= W && window.offset + W <= size - W);
  }
  const sorted = windows.map((w) => w.offset);
  assert.deepEqual(sorted, [...sorted].sort((a, b) => a - b));
});

Deno.test("the same seed gives the same windows, another seed others", () => {
  const size = 1024 * 1024 * 1024;
  assert.deepEqual(spotWindows(size, 9), spotWindows(size, 9));
  assert.notDeepEqual(spotWindows(size, 9), spotWindows(size, 10));
});

Deno.test("the windows of every size fit in the file", () => {
  for (let size = 1; size < 5 * W; size += 997) {
    for (const { offset, length } of spotWindows(size, size)) {
      assert.ok(offset >= 0 && length > 0 && offset + length <= size);
    }
  }
});

Deno.test("sources that all answer alike agree, nobody outvoted", () => {
  assert.deepEqual(tallyVotes(["a", "a", "a"]), {
    agreed: true,
    answer: "a",
    majority: [0, 1, 2],
    outvoted: [],
  });
});

Deno.test("a source outvoted by the others is named", () => {
  assert.deepEqual(tallyVotes(["a", "b", "a"]), {
    agreed: true,
    answer: "a",
    majority: [0, 2],
    outvoted: [1],
  });
  assert.deepEqual(tallyVotes(["x", "a", "a", "y", "a"]), {
    agreed: true,
    answer: "a",
    majority: [1, 2, 4],
    outvoted: [0, 3],
  });
});

Deno.test("two sources that disagree have no majority", () => {
  assert.deepEqual(tallyVotes(["a", "b"]), {
    agreed: false,
    groups: [[0], [1]],
  });
});

Deno.test("a tie, or a largest group of half the voters, has no majority", () => {
  assert.deepEqual(tallyVotes(["a", "b", "b", "a"]), {
    agreed: false,
    groups: [[0, 3], [1, 2]],
  });
  assert.deepEqual(tallyVotes(["a", "a", "b", "c"]), {
    agreed: false,
    groups: [[0, 1], [2], [3]],
  });
});

Deno.test("sources that did not answer are not counted", () => {
  assert.deepEqual(tallyVotes([undefined, "a", "b", "a", undefined]), {
    agreed: true,
    answer: "a",
    majority: [1, 3],
    outvoted: [2],
  });
  assert.deepEqual(tallyVotes(["a", undefined]), {
    agreed: true,
    answer: "a",
    majority: [0],
    outvoted: [],
  });
  assert.deepEqual(tallyVotes([undefined, undefined]), {
    agreed: true,
    answer: undefined,
    majority: [],
    outvoted: [],
  });
});

Deno.test("sources at the same place vote once: a mirror listed twice cannot outvote another", () => {
  assert.deepEqual(tallyPlaces(["x", "x", "y"], ["L", "L", "G"]), {
    agreed: false,
    groups: [[0, 1], [2]],
  });
  assert.deepEqual(
    tallyPlaces(["x", "x", "y", "y"], ["L", "L", "G", "H"]),
    { agreed: true, answer: "y", majority: [2, 3], outvoted: [0, 1] },
  );
  // The second line of a place is judged by its own answer, without a
  // vote of its own.
  assert.deepEqual(
    tallyPlaces(["x", "y", "x", undefined], ["A", "A", "B", "C"]),
    { agreed: true, answer: "x", majority: [0, 2], outvoted: [1] },
  );
});
