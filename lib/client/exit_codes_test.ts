import assert from "node:assert/strict";
import { UsageError } from "../cli/cli_args.ts";
import { InputError } from "./client_input.ts";
import {
  CannotTransferError,
  ChecksumMismatchError,
  IncompleteDownloadError,
  MirrorsDisagreeError,
} from "./download_errors.ts";
import { ExitCode, exitFor } from "./exit_codes.ts";
import { OutputError } from "./output/output_file.ts";

const CONTEXT = { partialKept: () => Promise.resolve(true) };
const RANGE = { index: 0, chunk: 2, start: 10, end: 20 };

Deno.test("each error a run can end in maps to one message and exit code", async () => {
  const cases: [unknown, number, string][] = [
    [
      new CannotTransferError("a", ["h:1: not found"]),
      ExitCode.CANNOT_TRANSFER,
      'Cannot transfer this file "a": h:1: not found',
    ],
    [
      new UsageError("bad"),
      ExitCode.USAGE,
      "error: bad\nRun with --help for usage.",
    ],
    [
      new InputError("No file name given"),
      ExitCode.USAGE,
      "error: No file name given",
    ],
    [
      new IncompleteDownloadError({ missing: [RANGE], partialPath: "a.part" }),
      ExitCode.INCOMPLETE,
      'not all chunks are downloaded\n  chunk 2 (bytes 10-19) failed on every server\n  the partial file is kept as "a.part"; run the same command again to resume',
    ],
    [
      new IncompleteDownloadError({
        missing: [RANGE],
        partialPath: "a.part",
        noServerLeft: "other",
      }),
      ExitCode.INCOMPLETE,
      'not all chunks are downloaded\n  chunk 2 (bytes 10-19) failed on every server\n  every server was left out (the warnings above say why)\n  the partial file is kept as "a.part": the same command resumes it once those servers can serve the file, or with a list of other servers',
    ],
    [
      new IncompleteDownloadError({
        missing: [],
        partialPath: "a.part",
        interrupted: true,
      }),
      ExitCode.INTERRUPTED,
      'Interrupted: the partial file is kept as "a.part"; run the same command again to resume',
    ],
    [
      new IncompleteDownloadError({
        missing: [],
        partialPath: "a.part",
        interrupted: true,
        kept: false,
      }),
      ExitCode.INTERRUPTED,
      "Interrupted: nothing was written",
    ],
    [
      new ChecksumMismatchError({
        expected: "aa",
        actual: "bb",
        partialPath: "a.part",
      }),
      ExitCode.CHECKSUM,
      'error: The downloaded file\'s SHA-256 is bb, expected aa; the file is kept as "a.part"',
    ],
    [
      new ChecksumMismatchError({
        expected: "aa",
        actual: "bb",
        partialPath: "a.part",
        expectedFrom: "the Repr-Digest of http://h/a",
      }),
      ExitCode.CHECKSUM,
      'error: The downloaded file\'s SHA-256 is bb, expected aa (the Repr-Digest of http://h/a); the file is kept as "a.part"',
    ],
    [
      new MirrorsDisagreeError({
        name: "a",
        compared: "spot checks of 4 windows",
        groups: [["http://h/a"], ["http://i/a"]],
      }),
      ExitCode.MIRRORS_DISAGREE,
      'error: The mirrors hold different files named "a", and no majority agrees on one (spot checks of 4 windows differ):\n  file 1: http://h/a\n  file 2: http://i/a\nnothing was written: list another mirror of the file (a majority decides), or a server.ts that has it (its digest list decides)',
    ],
    [
      new OutputError("No space left"),
      ExitCode.OUTPUT,
      "error: No space left\nThe partial download is kept; fix the cause and run the same command again to resume.",
    ],
  ];
  for (const [error, code, message] of cases) {
    assert.deepEqual(await exitFor(error, CONTEXT), { code, message });
  }
});

Deno.test("a sandbox refusal in an error's causes comes first, with the flag to add", async () => {
  const denied = new Deno.errors.NotCapable(
    'Requires write access to "a.part", run again with the --allow-write flag',
  );
  const exit = await exitFor(
    new OutputError("Cannot write", { cause: denied }),
    CONTEXT,
  );
  assert.equal(exit?.code, ExitCode.USAGE);
  assert.match(exit!.message, /^error: .*--allow-write/);
});

Deno.test("an interrupted download says how far it got, and an unexpected error has no row", async () => {
  const exit = await exitFor(
    new IncompleteDownloadError({
      missing: [],
      partialPath: "a.part",
      interrupted: true,
    }),
    {
      ...CONTEXT,
      progress: () => ({
        size: 4096,
        doneBytes: 1024,
        resumedBytes: 0,
        bytesPerServer: [],
        tasks: [],
        chunks: [],
        resumed: [],
      }),
    },
  );
  assert.match(exit!.message, /^Interrupted at 25% \(/);
  assert.equal(await exitFor(new TypeError("bug"), CONTEXT), undefined);
});
