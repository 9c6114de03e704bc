import assert from "node:assert/strict";
import { MIB, SERVERS } from "../../../tests/_support/progress_fixtures.ts";
import type { DownloadResult } from "../download.ts";
import { absolutePath, formatSummary, summarizeDownload } from "./summary.ts";

const RESULT: DownloadResult = {
  size: 10 * MIB,
  ranges: [
    { index: 0, chunk: 0, start: 0, end: 5 * MIB },
    { index: 1, chunk: 1, start: 5 * MIB, end: 10 * MIB },
  ],
  chunks: 2,
  bytesPerServer: [6 * MIB, 0, 0, 2 * MIB],
  failovers: 1,
  retryRounds: 2,
  resumedBytes: 2 * MIB,
  refetchedBytes: MIB,
  excluded: ["127.0.0.1:30003"],
};

Deno.test("the summary counts the bytes fetched in this run for its rate", () => {
  const summary = summarizeDownload({
    file: "dir/f.bin",
    path: "f.bin",
    result: RESULT,
    servers: SERVERS,
    excluded: ["127.0.0.1:30003"],
    seconds: 2.00049,
    verified: true,
  });
  assert.deepEqual(summary, {
    file: "dir/f.bin",
    path: "f.bin",
    size: 10 * MIB,
    seconds: 2,
    bytesPerSecond: 4 * MIB,
    chunks: 2,
    servers: SERVERS.map((server, i) => ({
      server,
      bytes: RESULT.bytesPerServer[i],
    })),
    failovers: 1,
    retryRounds: 2,
    resumedBytes: 2 * MIB,
    resumedCheck: "digests",
    fetchedBytes: 8 * MIB,
    refetchedBytes: MIB,
    excluded: ["127.0.0.1:30003"],
    unusable: [],
    verified: true,
  });
});

Deno.test("the summary for people names the servers that sent bytes, what was resumed or left out, and the path", () => {
  const summary = summarizeDownload({
    file: "f.bin",
    path: "f.bin",
    result: RESULT,
    servers: SERVERS,
    excluded: ["127.0.0.1:30003"],
    seconds: 2,
    verified: true,
  });
  assert.deepEqual(formatSummary(summary, "/home/me/f.bin"), [
    'Downloaded "f.bin": 10.0 MiB (10485760 bytes) in 2.00 s: 2.0 MiB resumed from before, 8.0 MiB fetched at 4.0 MiB/s',
    "  127.0.0.1:30001  sent 6.0 MiB (6291456 bytes)",
    "  127.0.0.1:30004  sent 2.0 MiB (2097152 bytes)",
    "  2 chunks from 2 of 4 servers; 1 failover, 2 retry rounds",
    "  2.0 MiB (2097152 bytes) resumed from before, checked against the digests",
    "  1.0 MiB (1048576 bytes) kept from before did not match their digests and were fetched again",
    "  left out (their copy differs): 127.0.0.1:30003",
    'Saved as "/home/me/f.bin"',
  ]);
});

Deno.test("the summary of a plain download has no resumed or left-out line", () => {
  const lines = formatSummary(
    summarizeDownload({
      file: "f.bin",
      path: "f.bin",
      result: {
        ...RESULT,
        bytesPerServer: [600, 0, 0, 0],
        size: 600,
        resumedBytes: 0,
        refetchedBytes: 0,
        excluded: [],
        failovers: 0,
        retryRounds: 0,
      },
      servers: SERVERS,
      excluded: [],
      seconds: 0.5,
      verified: false,
    }),
    "/tmp/f.bin",
  );
  assert.deepEqual(lines, [
    'Downloaded "f.bin": 600 bytes in 0.50 s, 1.2 KiB/s',
    "  127.0.0.1:30001  sent 600 bytes",
    "  2 chunks from 1 of 4 servers; 0 failovers, 0 retry rounds; blocks not verified",
    'Saved as "/tmp/f.bin"',
  ]);
});

Deno.test("the summary says kept bytes were not checked when blocks were not verified", () => {
  const lines = formatSummary(
    summarizeDownload({
      file: "f.bin",
      path: "f.bin",
      result: { ...RESULT, refetchedBytes: 0, excluded: [] },
      servers: SERVERS,
      excluded: [],
      seconds: 2,
      verified: false,
    }),
    "/tmp/f.bin",
  );
  assert.ok(
    lines.includes(
      "  2.0 MiB (2097152 bytes) resumed from before, not checked",
    ),
    lines.join("\n"),
  );
  assert.ok(!lines.some((line) => /fetched again/.test(line)));
});

Deno.test("bytes resumed without a digest list are vouched for by the mirrors' validators, not the digests", () => {
  const lines = formatSummary(
    summarizeDownload({
      file: "f.bin",
      path: "f.bin",
      result: {
        ...RESULT,
        refetchedBytes: 0,
        excluded: [],
        resumedCheck: "validators",
      },
      servers: SERVERS,
      excluded: [],
      seconds: 2,
      verified: true,
    }),
    "/f.bin",
  );
  assert.ok(
    lines.includes(
      "  2.0 MiB (2097152 bytes) resumed from before, the mirrors' validators (ETag, Last-Modified) say the file is unchanged",
    ),
    lines.join("\n"),
  );
  assert.ok(
    !lines.some((line) => line.includes("checked against the digests")),
  );
});

Deno.test("servers that could not serve the file are named apart from those whose copy differs", () => {
  const summary = summarizeDownload({
    file: "f.bin",
    path: "f.bin",
    result: {
      ...RESULT,
      excluded: ["127.0.0.1:30003"],
      unusable: ["127.0.0.1:30002"],
    },
    servers: SERVERS,
    excluded: ["127.0.0.1:30003"],
    seconds: 2,
    verified: true,
  });
  assert.deepEqual(summary.unusable, ["127.0.0.1:30002"]);
  const lines = formatSummary(summary, "/f.bin");
  assert.ok(lines.includes("  left out (their copy differs): 127.0.0.1:30003"));
  assert.ok(
    lines.includes("  left out (could not serve the file): 127.0.0.1:30002"),
  );
});

Deno.test("the summary's path is absolute, its . and .. steps walked", () => {
  assert.equal(absolutePath("f.bin", "/home/me"), "/home/me/f.bin");
  assert.equal(absolutePath("./out//f.bin", "/home/me/"), "/home/me/out/f.bin");
  assert.equal(absolutePath("../f.bin", "/home/me"), "/home/f.bin");
  assert.equal(absolutePath("/tmp/./a/../f.bin", "/home/me"), "/tmp/f.bin");
  assert.equal(absolutePath("../../../f.bin", "/home"), "/f.bin");
});

Deno.test("the summary says what the cross-checks after the transfer did, in JSON and for people, and nothing when they compared nothing", () => {
  const summarize = (crossChecks: DownloadResult["crossChecks"]) =>
    summarizeDownload({
      file: "f.bin",
      path: "f.bin",
      result: { ...RESULT, excluded: [], crossChecks },
      servers: SERVERS,
      excluded: [],
      seconds: 2,
      verified: true,
    });
  const checked = summarize({
    compared: 12,
    unanswered: 2,
    refetchedBytes: MIB,
  });
  assert.deepEqual(checked.crossChecks, {
    compared: 12,
    unanswered: 2,
    refetchedBytes: MIB,
  });
  assert.ok(
    formatSummary(checked, "/f.bin").includes(
      "  cross-checked with other mirrors: 12 windows of what each sent, 2 unanswered; 1.0 MiB (1048576 bytes) fetched again",
    ),
  );
  const none = summarize({ compared: 0, unanswered: 0, refetchedBytes: 0 });
  assert.ok(
    !formatSummary(none, "/f.bin").some((line) => line.includes("cross-")),
  );
  assert.equal("crossChecks" in summarize(undefined), false);
});

Deno.test("with nothing resumed, nothing is said to have vouched for resumed bytes", () => {
  const summary = summarizeDownload({
    file: "f.bin",
    path: "f.bin",
    result: { ...RESULT, resumedBytes: 0, resumedCheck: "digests" },
    servers: SERVERS,
    excluded: [],
    seconds: 2,
    verified: true,
  });
  assert.equal(summary.resumedCheck, "none");
});
