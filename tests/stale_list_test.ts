import assert from "node:assert/strict";
import { digestsOf, sha256Of } from "./_support/digest_oracle.ts";
import { Op, Status } from "../lib/wire/protocol.ts";
import { answeringServer } from "./_support/fake_server.ts";
import { runClient, tempDir, writeServerList } from "./_support/harness.ts";

Deno.test("a server whose blocks fail its own digest list is said to have changed, not to differ from itself", async () => {
  await using work = await tempDir();
  const bytes = new Uint8Array(64 * 1024).map((_, i) => i % 253);
  const stale = bytes.map((b) => b ^ 1);
  // A stale cached list: the server's own bytes do not match it.
  await using server = answeringServer((request) => {
    const { op, offset, length } = request;
    const fileSize = bytes.length;
    if (op === Op.BLOCK_HASHES) {
      return { fileSize, payload: digestsOf(stale, length) };
    }
    if (op === Op.RANGE) {
      return { fileSize, payload: bytes.subarray(offset, offset + length) };
    }
    if (op === Op.RANGE_HASH) {
      return {
        fileSize,
        payload: sha256Of(bytes.subarray(offset, offset + length)),
      };
    }
    return { fileSize };
  });
  await writeServerList(work.path, [server.port]);
  const run = await runClient({
    cwd: work.path,
    args: ["--retries", "1", "servers.txt", "2", "f.bin"],
  });
  assert.equal(run.code, 4, run.stderr);
  assert.doesNotMatch(run.stderr, /differs from the first server's/);
  assert.match(
    run.stderr,
    /^not all chunks are downloaded: the file changed on the servers since the download started \(127\.0\.0\.1:\d+: its file changed after it sent its digest list \(bytes 0-\d+ differ\)\)$/m,
  );
});

Deno.test("no retry round is announced once every server is left out", async () => {
  await using work = await tempDir();
  const size = 64 * 1024;
  // Its ranges come from another version of the file than its size says.
  await using server = answeringServer((request) =>
    request.op === Op.SIZE
      ? { fileSize: size }
      : request.op === Op.RANGE
      ? { fileSize: size + 1, payload: new Uint8Array(request.length) }
      : { status: Status.FORBIDDEN, fileSize: 0 }
  );
  await writeServerList(work.path, [server.port]);
  const run = await runClient({
    cwd: work.path,
    args: ["--retries", "2", "servers.txt", "3", "f.bin"],
  });
  assert.equal(run.code, 4, run.stderr);
  assert.match(run.stderr, /not using 127\.0\.0\.1:\d+ for this file/);
  assert.doesNotMatch(run.stderr, /retry round \d/);
});
