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

Deno.test("seconds are read into milliseconds, and must be a number from 0 up to what a timer can wait", () => {
  assert.equal(parseSeconds("2.5", "--reply-timeout"), 2500);
  assert.throws(() => parseSeconds("soon", "--reply-timeout"), UsageError);
  // A timer cannot wait longer: it would fire at once.
  assert.equal(parseSeconds("2147483", "--reply-timeout"), 2_147_483_000);
  assert.throws(
    () => parseSeconds("3000000", "--connect-timeout"),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message ===
        '--connect-timeout takes at most 2147483 seconds (about 24 days; 0 for no limit): received "3000000"',
  );
});

const OPTIONS = {
  mirror: { type: "string", multiple: true },
  output: { type: "string", short: "o" },
  force: { type: "boolean", default: false },
  quiet: { type: "boolean", short: "q", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

Deno.test("options are read in every spelling: --name VALUE, --name=VALUE, -x VALUE, -xVALUE and flags together", () => {
  for (
    const args of [
      ["--output", "f.bin", "list", "4"],
      ["--output=f.bin", "list", "4"],
      ["list", "-o", "f.bin", "4"],
      ["list", "4", "-of.bin"],
    ]
  ) {
    const parsed = parseCommandLine(args, OPTIONS);
    assert.equal(parsed.values.output, "f.bin");
    assert.deepEqual(parsed.positionals, ["list", "4"]);
    assert.equal(parsed.values.force, false);
    assert.equal(parsed.values.mirror, undefined);
  }
  for (const args of [["-qo", "f.bin"], ["-qof.bin"], ["-hqo", "f.bin"]]) {
    const grouped = parseCommandLine(args, OPTIONS);
    assert.equal(grouped.values.quiet, true, args.join(" "));
    assert.equal(grouped.values.output, "f.bin", args.join(" "));
  }
  const flags = parseCommandLine(["-qh", "--force"], OPTIONS);
  assert.deepEqual(
    [flags.values.quiet, flags.values.help, flags.values.force],
    [true, true, true],
  );
});

Deno.test("an option given more than once keeps every value in order when it may, else the last", () => {
  const parsed = parseCommandLine(
    ["--mirror", "a", "--mirror=b", "-o", "x", "-o", "y"],
    OPTIONS,
  );
  assert.deepEqual(parsed.values.mirror, ["a", "b"]);
  assert.equal(parsed.values.output, "y");
});

Deno.test("after -- and a lone - everything is a positional argument", () => {
  const parsed = parseCommandLine(["-", "4", "--", "--force", "-o"], OPTIONS);
  assert.deepEqual(parsed.positionals, ["-", "4", "--force", "-o"]);
  assert.equal(parsed.values.force, false);
});

Deno.test("a negative number is the value of the option before it", () => {
  const parsed = parseCommandLine(["-o", "-2", "list"], OPTIONS);
  assert.equal(parsed.values.output, "-2");
  assert.deepEqual(parsed.positionals, ["list"]);
});

Deno.test("unknown options, missing values and values given to flags are usage errors that say so", () => {
  const cases: [string[], string][] = [
    [
      ["--bogus"],
      'Unknown option "--bogus" (a name that starts with "-" goes after "--")',
    ],
    [
      ["-x"],
      'Unknown option "-x" (a name that starts with "-" goes after "--")',
    ],
    [
      ["-qx"],
      'Unknown option "-x" (a name that starts with "-" goes after "--")',
    ],
    [
      ["--constructor"],
      'Unknown option "--constructor" (a name that starts with "-" goes after "--")',
    ],
    [["--output"], 'Option "--output" needs a value'],
    [
      ["-o", "--force"],
      'Option "-o" needs a value (one that starts with "-" is written --output=-VALUE)',
    ],
    [["--force=yes"], 'Option "--force" takes no value'],
    [["-qo"], 'Option "-o" needs a value'],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseCommandLine(args, OPTIONS),
      (error: unknown) =>
        error instanceof UsageError && error.message === message,
      args.join(" "),
    );
  }
});
