import assert from "node:assert/strict";
import {
  formatMiB,
  formatRate,
  formatRatio,
  formatSeconds,
  formatTable,
  median,
  MIB,
  mibPerSecond,
  ratio,
} from "./stats.ts";

Deno.test("median takes the middle value of an odd count", () => {
  assert.deepEqual(median([3, 1, 2]), 2);
  assert.deepEqual(median([5]), 5);
});

Deno.test("median averages the two middle values of an even count", () => {
  assert.deepEqual(median([4, 1, 3, 2]), 2.5);
});

Deno.test("median sorts numerically, not as text", () => {
  assert.deepEqual(median([10, 9, 100]), 10);
});

Deno.test("median counts a timed-out run as the longest", () => {
  assert.deepEqual(median([1, Infinity, 2]), 2);
  assert.deepEqual(median([1, Infinity, Infinity]), Infinity);
  assert.deepEqual(median([Infinity, Infinity]), Infinity);
});

Deno.test("median leaves its input in order", () => {
  const values = [3, 1, 2];
  median(values);
  assert.deepEqual(values, [3, 1, 2]);
});

Deno.test("median of nothing is an error", () => {
  assert.throws(() => median([]), RangeError);
});

Deno.test("ratio divides a time by the reference", () => {
  assert.deepEqual(ratio(3, 2), 1.5);
  assert.deepEqual(ratio(0, 2), 0);
});

Deno.test("ratio has no value for missing or infinite times", () => {
  assert.deepEqual(ratio(Infinity, 2), undefined);
  assert.deepEqual(ratio(2, Infinity), undefined);
  assert.deepEqual(ratio(2, NaN), undefined);
  assert.deepEqual(ratio(2, 0), undefined);
});

Deno.test("mibPerSecond divides MiB by seconds", () => {
  assert.deepEqual(mibPerSecond(512 * MIB, 2), 256);
  assert.deepEqual(mibPerSecond(MIB, Infinity), undefined);
  assert.deepEqual(mibPerSecond(MIB, 0), undefined);
});

Deno.test("numbers are formatted with fixed decimals", () => {
  assert.deepEqual(formatSeconds(1.23456), "1.235");
  assert.deepEqual(formatRatio(1.005), "1.00x");
  assert.deepEqual(formatRatio(2.5), "2.50x");
  assert.deepEqual(formatRatio(undefined), "-");
  assert.deepEqual(formatRate(123.456), "123.5");
  assert.deepEqual(formatRate(undefined), "-");
  assert.deepEqual(formatMiB(256 * MIB), "256.0 MiB");
});

Deno.test("formatTable pads columns to their widest cell", () => {
  const lines = formatTable(
    [
      { header: "tool", align: "left" },
      { header: "s", align: "right" },
    ],
    [
      ["client", "1.5"],
      ["dd", "10.25"],
    ],
  );
  assert.deepEqual(lines, [
    "tool        s",
    "------  -----",
    "client    1.5",
    "dd      10.25",
  ]);
});

Deno.test("formatTable trims the spaces a left-aligned last column leaves", () => {
  const lines = formatTable(
    [
      { header: "s", align: "right" },
      { header: "notes", align: "left" },
    ],
    [["1", ""], ["2", "slow"]],
  );
  assert.deepEqual(lines, ["s  notes", "-  -----", "1", "2  slow"]);
});

Deno.test("formatTable refuses a row of the wrong width", () => {
  assert.throws(
    () => formatTable([{ header: "a", align: "left" }], [["x", "y"]]),
    TypeError,
  );
});
