/**
 * A file that changes on the server during a download: the client says the
 * file changed, naming how, exits 4 and keeps the partial download; it
 * never writes the other version's bytes as the file.
 */

import assert from "node:assert/strict";
import { randomBytes, runClient } from "./_support/harness.ts";
import { serveFile } from "./_support/served_file.ts";
import { exists } from "./_support/file_system.ts";

const MiB = 1024 * 1024;

/** Downloads `f.bin` in 4 chunks from one server sending 1 MiB/s, and
 * runs `change` on the served file half a second in. */
async function downloadWhileChanging(
  change: (path: string) => Promise<void>,
) {
  await using env = await serveFile({
    bytes: randomBytes(4 * MiB),
    serverArgs: ["--rate-limit", "1M"],
  });
  const path = `${env.served}/f.bin`;
  const running = runClient({
    cwd: env.work,
    args: ["servers.txt", "4", "f.bin"],
    timeoutMs: 30_000,
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await change(path);
  const run = await running;
  const saved = await exists(`${env.work}/f.bin`);
  const partial = await exists(`${env.work}/f.bin.part`);
  return { ...run, saved, partial };
}

Deno.test("a file that grows during a download is reported as changed on the servers, with exit 4 and the partial file kept", async () => {
  const run = await downloadWhileChanging(async (path) => {
    using file = await Deno.open(path, { append: true });
    await file.write(new Uint8Array(1000));
  });
  assert.equal(run.code, 4, run.stderr);
  assert.match(
    run.stderr,
    /^not all chunks are downloaded: the file changed on the servers since the download started \(127\.0\.0\.1:\d+: the server's file is 4195304 bytes, expected 4194304: another version\)$/m,
  );
  assert.equal(run.saved, false);
  assert.equal(run.partial, true);
});

Deno.test("a file that shrinks during a download is reported as changed on the servers", async () => {
  const run = await downloadWhileChanging(async (path) => {
    await Deno.truncate(path, 3 * MiB);
  });
  assert.equal(run.code, 4, run.stderr);
  assert.match(
    run.stderr,
    /^not all chunks are downloaded: the file changed on the servers since the download started \(127\.0\.0\.1:\d+: the server's file is 3145728 bytes, expected 4194304: another version\)$/m,
  );
  assert.equal(run.saved, false);
});

Deno.test("a file rewritten with other bytes of the same size during a download is reported as changed on the servers", async () => {
  const run = await downloadWhileChanging(async (path) => {
    // The last chunk, fetched last from the only server.
    using file = await Deno.open(path, { write: true });
    await file.seek(3 * MiB, Deno.SeekMode.Start);
    await file.write(randomBytes(MiB));
  });
  assert.equal(run.code, 4, run.stderr);
  assert.match(
    run.stderr,
    /^not all chunks are downloaded: the file changed on the servers since the download started \(127\.0\.0\.1:\d+: its file changed after it sent its digest list \(bytes 3145728-\d+ differ\)\)$/m,
  );
  assert.equal(run.saved, false);
  assert.equal(run.partial, true);
});

Deno.test("a file that shrinks below the chunks still to fetch is reported as changed on the servers, not as failed on every server", async () => {
  // Once the first chunk is in, the next ones lie past the new end: the
  // server answers that their range is not satisfiable.
  const run = await downloadWhileChanging(async (path) => {
    await Deno.truncate(path, MiB);
  });
  assert.equal(run.code, 4, run.stderr);
  assert.match(
    run.stderr,
    /^not all chunks are downloaded: the file changed on the servers since the download started \(127\.0\.0\.1:\d+: the server's file is 1048576 bytes, expected 4194304: another version\)$/m,
  );
  assert.doesNotMatch(run.stderr, /failed on every server|retry round/);
  assert.equal(run.saved, false);
  assert.equal(run.partial, true);
});
