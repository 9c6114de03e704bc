import assert from "node:assert/strict";
import { escapeUnseen, quoteName } from "./quoted_name.ts";

Deno.test("quoteName quotes a plain name as it is", () => {
  assert.equal(quoteName("sub/inner file.txt"), '"sub/inner file.txt"');
  assert.equal(quoteName("ü/ß/日本"), '"ü/ß/日本"');
});

Deno.test("quoteName escapes what could end a line, forge one or hide", () => {
  const cases: [string, string][] = [
    ['a"b', '"a\\"b"'],
    ["a\\b", '"a\\\\b"'],
    ["a\nb\rc\td", '"a\\nb\\rc\\td"'],
    ["\x1b[31mred", '"\\u001b[31mred"'],
    ["del\x7f", '"del\\u007f"'],
    ["c1\u0085\u009b", '"c1\\u0085\\u009b"'],
    ["sep\u2028\u2029", '"sep\\u2028\\u2029"'],
    ["\ufeffbom", '"\\ufeffbom"'],
    ["rtl\u202eexe.txt", '"rtl\\u202eexe.txt"'],
    ["zw\u200bsp", '"zw\\u200bsp"'],
    ["tag\u{e0041}", '"tag\\udb40\\udc41"'],
    ["lone\ud800", '"lone\\ud800"'],
  ];
  for (const [name, shown] of cases) {
    const quoted = quoteName(name);
    assert.equal(quoted, shown);
    assert.doesNotMatch(quoted, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    // Read back exactly.
    assert.equal(JSON.parse(quoted), name);
  }
});

Deno.test("escapeUnseen escapes controls but leaves quotes and backslashes", () => {
  assert.equal(
    escapeUnseen('No such file: "a\\"b"\n\x1b[2Kforged'),
    'No such file: "a\\"b"\\u000a\\u001b[2Kforged',
  );
});
