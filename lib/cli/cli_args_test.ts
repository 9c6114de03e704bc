import assert from "node:assert/strict";
import {
  countArguments,
  parseCommandLine,
  parseSeconds,
  UsageError,
  versionLine,
} from "./cli_args.ts";

Deno.test("a count of arguments is said in words: none, 1 argument, N arguments", () => {
  assert.equal(countArguments(0), "none");
  assert.equal(countArguments(1), "1 argument");
  assert.equal(countArguments(3), "3 arguments");
});

Deno.test("the version line names the protocol version", () => {
  assert.match(versionLine("client.ts"), /^client\.ts \S+, protocol \d+$/);
});

Deno.test("a negative number is a value, never an option", () => {
  const parsed = parseCommandLine(["-1", "x"], {});
  assert.deepEqual(parsed.positionals, ["-1", "x"]);
});

Deno.test("seconds are read into milliseconds, and must be a number from 0 up", () => {
  assert.equal(parseSeconds("2.5", "--reply-timeout"), 2500);
  assert.throws(() => parseSeconds("soon", "--reply-timeout"), UsageError);
});
