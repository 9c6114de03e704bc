import assert from "node:assert/strict";
import { formatByteSize, parseByteSize } from "./byte_size.ts";

Deno.test("parseByteSize reads plain byte counts", () => {
  assert.equal(parseByteSize("1"), 1);
  assert.equal(parseByteSize("4096"), 4096);
  assert.equal(parseByteSize("4096B"), 4096);
  assert.equal(parseByteSize("  4096  "), 4096);
});

Deno.test("parseByteSize reads K, M, G and T as powers of 1024", () => {
  assert.equal(parseByteSize("40M"), 41_943_040);
  assert.equal(parseByteSize("1K"), 1024);
  assert.equal(parseByteSize("64K"), 65_536);
  assert.equal(parseByteSize("1M"), 1_048_576);
  assert.equal(parseByteSize("1G"), 1_073_741_824);
  assert.equal(parseByteSize("2T"), 2 * 1024 ** 4);
});

Deno.test("parseByteSize ignores case, a B or iB suffix and a space before the unit", () => {
  for (
    const text of [
      "40M",
      "40m",
      "40MB",
      "40mb",
      "40MiB",
      "40mib",
      "40 M",
      "40 MiB",
    ]
  ) {
    assert.equal(parseByteSize(text), 41_943_040, text);
  }
});

Deno.test("parseByteSize reads decimals and rounds down to whole bytes", () => {
  assert.equal(parseByteSize("1.5K"), 1536);
  assert.equal(parseByteSize("1.5G"), 1_610_612_736);
  assert.equal(parseByteSize("0.5M"), 524_288);
  assert.equal(parseByteSize("1.0001K"), 1024);
  assert.equal(parseByteSize("2.9"), 2);
});

Deno.test("parseByteSize refuses what is not a positive byte count", () => {
  const invalid = [
    "",
    " ",
    "abc",
    "M",
    "-1",
    "-1K",
    "+5",
    "0",
    "0K",
    "0.5",
    ".5K",
    "1.K",
    "1e3",
    "0x10",
    "10X",
    "10KB/s",
    "10 K B",
    "1,5M",
    "Infinity",
    "NaN",
    "99999999999999999999",
    "99999999T",
  ];
  for (const text of invalid) {
    assert.throws(() => parseByteSize(text), {
      name: "RangeError",
      message:
        `Expected a positive byte count such as 4096, 64K or 40M: received "${text}"`,
    }, text);
  }
});

Deno.test("formatByteSize writes counts under 1 KiB in bytes", () => {
  assert.equal(formatByteSize(0), "0 B");
  assert.equal(formatByteSize(512), "512 B");
  assert.equal(formatByteSize(1023), "1023 B");
});

Deno.test("formatByteSize writes larger counts in binary units with one decimal", () => {
  assert.equal(formatByteSize(1024), "1.0 KiB");
  assert.equal(formatByteSize(1536), "1.5 KiB");
  assert.equal(formatByteSize(41_943_040), "40.0 MiB");
  assert.equal(formatByteSize(1_610_612_736), "1.5 GiB");
  assert.equal(formatByteSize(3 * 1024 ** 4), "3.0 TiB");
  assert.equal(formatByteSize(2048 * 1024 ** 4), "2048.0 TiB");
});

Deno.test("formatByteSize and parseByteSize agree on whole units", () => {
  for (const text of ["1K", "40M", "3G", "2T"]) {
    const unit = text.at(-1)!;
    assert.equal(
      formatByteSize(parseByteSize(text)),
      `${text.slice(0, -1)}.0 ${unit}iB`,
    );
  }
});
