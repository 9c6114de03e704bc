import assert from "node:assert/strict";
import {
  CannotTransferError,
  ChecksumMismatchError,
  FileChangedError,
  IncompleteDownloadError,
} from "./download_errors.ts";

const RANGE = { index: 0, chunk: 0, start: 0, end: 10 };

Deno.test("a file no server can transfer names each server's reason, on one line for one server", () => {
  assert.equal(
    new CannotTransferError("a.bin", ["127.0.0.1:1: not found"]).message,
    'Cannot transfer this file "a.bin": 127.0.0.1:1: not found',
  );
  assert.equal(
    new CannotTransferError("a.bin", ["h:1: not found", "h:2: timed out"])
      .message,
    'Cannot transfer this file "a.bin": no server reported its size\n  h:1: not found\n  h:2: timed out',
  );
});

Deno.test("an incomplete download is not interrupted unless it says so", () => {
  const failed = new IncompleteDownloadError({
    missing: [RANGE],
    partialPath: "a.part",
  });
  assert.equal(failed.interrupted, false);
  assert.equal(failed.message, "not all chunks are downloaded");
  assert.equal(
    new IncompleteDownloadError({
      missing: [],
      partialPath: "a.part",
      interrupted: true,
    }).interrupted,
    true,
  );
});

Deno.test("a file that changed is an incomplete download that says how", () => {
  const error = new FileChangedError({
    missing: [RANGE],
    partialPath: "a.part",
    how: "h:1: its size is 5 bytes now",
  });
  assert.ok(error instanceof IncompleteDownloadError);
  assert.equal(error.interrupted, false);
  assert.equal(
    error.message,
    "not all chunks are downloaded: the file changed on the servers since the download started (h:1: its size is 5 bytes now)",
  );
});

Deno.test("a checksum mismatch names both digests", () => {
  const error = new ChecksumMismatchError({
    expected: "aa",
    actual: "bb",
    partialPath: "a.part",
  });
  assert.equal(
    error.message,
    "The downloaded file's SHA-256 is bb, expected aa",
  );
  assert.equal(error.partialPath, "a.part");
});
