import assert from "node:assert/strict";
import {
  answerersFor,
  CROSS_CHECK_WINDOW_BYTES,
  CROSS_CHECK_WINDOWS,
  crossCheckWindows,
  judgeWindow,
  WINDOW_ALIGN,
} from "./cross_checks.ts";

const KIB = 1024;

Deno.test("cross-check windows lie within the bytes a source sent, at seeded offsets", () => {
  const sent = [[100_000, 1_100_000], [2_000_000, 2_500_000]] as const;
  const windows = crossCheckWindows(sent, 42);
  assert.equal(windows.length, CROSS_CHECK_WINDOWS);
  for (const { offset, length } of windows) {
    assert.equal(length, CROSS_CHECK_WINDOW_BYTES);
    assert.ok(
      sent.some(([start, end]) => offset >= start && offset + length <= end),
      `window at ${offset} outside the bytes sent`,
    );
  }
  assert.deepEqual(crossCheckWindows(sent, 42), windows);
  assert.notDeepEqual(crossCheckWindows(sent, 43), windows);
  const offsets = windows.map((w) => w.offset);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
});

Deno.test("cross-check windows are not the first or last 64 KiB of what was sent, over many seeds", () => {
  const sent = [[0, 3_000_000]] as const;
  let edges = 0;
  for (let seed = 0; seed < 200; seed++) {
    for (const { offset } of crossCheckWindows(sent, seed)) {
      if (offset === 0 || offset === 3_000_000 - 64 * KIB) edges++;
    }
  }
  // About one place in 700 (windows start on whole pages).
  assert.ok(edges <= 8, `${edges} of 800 windows at the edges`);
});

Deno.test("a stretch shorter than a window is checked whole, and nothing sent has no windows", () => {
  assert.deepEqual(crossCheckWindows([[10, 1010]], 1), [{
    offset: 10,
    length: 1000,
  }]);
  assert.deepEqual(crossCheckWindows([], 1), []);
  assert.deepEqual(crossCheckWindows([[5, 5]], 1), []);
});

Deno.test("windows are spread over the stretches by where they fit, not by stretch", () => {
  // A short stretch holds one place; the long one all the others.
  const sent = [[0, 100], [1_000_000, 3_000_000]] as const;
  let inShort = 0;
  for (let seed = 0; seed < 100; seed++) {
    inShort += crossCheckWindows(sent, seed).filter((w) => w.offset === 0)
      .length;
  }
  // One place against about 470 in the long one (whole pages).
  assert.ok(inShort <= 6, `${inShort} of 400 windows in the 100-byte stretch`);
});

Deno.test("the answerers of a window are at other places than the sender, one per place, after it in list order", () => {
  const places = ["a", "b", "a", "c", undefined, "d"];
  assert.deepEqual(answerersFor(0, places), [1, 3]);
  assert.deepEqual(answerersFor(3, places), [5, 0]);
  assert.deepEqual(answerersFor(0, places, { count: 9 }), [1, 3, 5]);
  assert.deepEqual(answerersFor(0, places, { count: 9, skip: [1, 3] }), [5]);
  assert.deepEqual(answerersFor(0, ["a", "a"]), []);
});

Deno.test("a window stands when the others agree with the sender, and their dissenter is outvoted", () => {
  assert.deepEqual(judgeWindow(["x", "x", "x"], 0, ["a", "b", "c"]), {
    verdict: "stands",
    outvoted: [],
    places: 3,
  });
  assert.deepEqual(judgeWindow(["x", "y", "x"], 0, ["a", "b", "c"]), {
    verdict: "stands",
    outvoted: [1],
    places: 2,
  });
});

Deno.test("a sender whose bytes two other places answer otherwise is outvoted", () => {
  assert.deepEqual(judgeWindow(["y", "x", "x"], 0, ["a", "b", "c"]), {
    verdict: "outvoted",
    outvoted: [0],
    places: 2,
  });
});

Deno.test("a sender and one other that disagree leave the window unsettled, the sender's group first", () => {
  assert.deepEqual(judgeWindow(["x", "y"], 1, ["a", "b"]), {
    verdict: "unsettled",
    groups: [[1], [0]],
  });
  // A second source at the other's place does not make a majority.
  assert.deepEqual(judgeWindow(["x", "y", "y"], 0, ["a", "b", "b"]), {
    verdict: "unsettled",
    groups: [[0], [1, 2]],
  });
});

Deno.test("a window nobody else answered is not checked", () => {
  assert.deepEqual(
    judgeWindow(["x", undefined, undefined], 0, ["a", "b", "c"]),
    { verdict: "unanswered" },
  );
});

Deno.test("cross-check windows start on whole pages where one fits", () => {
  for (let seed = 0; seed < 50; seed++) {
    for (
      const { offset, length } of crossCheckWindows([[1000, 900_000]], seed)
    ) {
      assert.equal(offset % WINDOW_ALIGN, 0, `seed ${seed}: ${offset}`);
      assert.ok(offset >= 1000 && offset + length <= 900_000);
    }
  }
});
