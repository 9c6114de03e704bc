/**
 * Resuming a partial download: bytes kept from an earlier run count only
 * once they match the digest list, a full disk keeps what was written, and
 * "the file changed" is said only when it did.
 */

import assert from "node:assert/strict";
import { digestsOf, sha256Of, toHex } from "./_support/digest_oracle.ts";
import { formatByteSize } from "../lib/cli/byte_size.ts";
import { randomBytes, runClient, sameBytes } from "./_support/harness.ts";
import { Tmpfs } from "./_support/tmpfs.ts";
import { type FaultPlan, serveFile } from "./_support/served_file.ts";

const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;

/** A file served by one server behind a proxy that counts the bytes (and
 * does `fault` to connections, if given). */
async function setup(bytes: Uint8Array, fault: FaultPlan = () => undefined) {
  const env = await serveFile({ bytes, faults: [fault] });
  return { ...env, proxy: env.proxies[0]! };
}

/** A partial download as an earlier run leaves it: `<name>.part` holding
 * `part`, and a state of the older format saying `done` is complete (in
 * blocks of 64 KiB, unless `edit` changes that or more). */
async function leavePartial(options: {
  work: string;
  bytes: Uint8Array;
  part: Uint8Array;
  done: [number, number][];
  identity?: string | null;
  edit?: Record<string, unknown>;
}) {
  await Deno.writeFile(`${options.work}/f.bin.part`, options.part);
  const identity = options.identity !== undefined
    ? options.identity
    : toHex(sha256Of(digestsOf(options.bytes, BLOCK)));
  await Deno.writeTextFile(
    `${options.work}/f.bin.part.state`,
    JSON.stringify({
      format: "msfd-state-1",
      name: "f.bin",
      size: options.bytes.length,
      blockSize: BLOCK,
      identity,
      done: options.done,
      ...options.edit,
    }) + "\n",
  );
}

async function download(work: string, args: string[]) {
  return await runClient({
    cwd: work,
    args: ["--json", ...args, "servers.txt", "4", "f.bin"],
    timeoutMs: 30_000,
  });
}

/** A part file of `bytes`' size holding their first `count`, zeros after. */
function firstBytes(bytes: Uint8Array, count: number): Uint8Array {
  const part = new Uint8Array(bytes.length);
  part.set(bytes.subarray(0, count));
  return part;
}

/** Downloads in `work` and asserts the client ended well with `f.bin`
 * byte-identical to `bytes`. */
async function downloadWhole(work: string, bytes: Uint8Array) {
  const run = await download(work, []);
  assert.equal(run.code, 0, run.stderr);
  await assertIdentical(`${work}/f.bin`, bytes);
  return run;
}

async function assertIdentical(path: string, bytes: Uint8Array) {
  assert.ok(sameBytes(await Deno.readFile(path), bytes), `${path} differs`);
}

Deno.test("kept bytes overwritten with zeros inside their completed range are checked, and fetched again", async () => {
  const bytes = randomBytes(8 * MiB);
  await using env = await setup(bytes);
  // Six of eight MiB done; then 1 MiB of them overwritten with zeros.
  const part = firstBytes(bytes, 6 * MiB);
  part.fill(0, 2 * MiB, 3 * MiB);
  await leavePartial({ work: env.work, bytes, part, done: [[0, 6 * MiB]] });
  const run = await downloadWhole(env.work, bytes);
  assert.match(
    run.stderr,
    /warning: 1048576 bytes \(1\.0 MiB\) kept from before do not match their digests; fetching them again/,
  );
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.resumedBytes, 5 * MiB);
  assert.equal(summary.refetchedBytes, MiB);
  // The missing and the damaged bytes, the digest list and headers.
  assert.ok(
    env.proxy.bytesToClient <= 3 * MiB + 64 * 1024,
    `fetched ${env.proxy.bytesToClient} bytes`,
  );
});

Deno.test("a resumed download numbers its chunks as the first run did, and its summary tells resumed and fetched bytes apart", async () => {
  const bytes = randomBytes(8 * MiB);
  // The second server answers the size, then closes every later
  // connection before replying.
  const env = await serveFile({
    bytes,
    faults: [
      () => undefined,
      (connection) => connection === 0 ? undefined : { kind: "cut", after: 0 },
    ],
  });
  await using _ = env;
  const closing = env.proxies[1];
  // Chunks of 2 MiB. The first run got chunk 0 and half of chunk 1; one
  // block of that half was damaged since.
  const part = firstBytes(bytes, 3 * MiB);
  const damaged = 2 * MiB + MiB / 2;
  part.fill(0, damaged, damaged + BLOCK);
  await leavePartial({ work: env.work, bytes, part, done: [[0, 3 * MiB]] });
  // Every other range starts at the server that closes: each says which.
  const run = await downloadWhole(env.work, bytes);
  // The missing bytes of chunk 2 are fetched in two ranges, the second
  // from the closing server first: still chunk 2, as the user's.
  assert.ok(
    run.stderr.includes(
      `warning: chunk 2 (bytes 4194304-5242879) stopped at byte 4194304: 127.0.0.1:${
        closing!.port
      }: the server closed the connection before replying\n`,
    ),
    run.stderr,
  );
  const warnings = [
    ...run.stderr.matchAll(/^warning: chunk (\d+) \(bytes (\d+)-(\d+)\)/gm),
  ];
  assert.ok(warnings.length >= 2, run.stderr);
  for (const [line, chunk, first, last] of warnings) {
    assert.equal(Number(chunk), Math.floor(Number(first) / (2 * MiB)), line);
    assert.equal(Number(chunk), Math.floor(Number(last) / (2 * MiB)), line);
  }
  const summary = JSON.parse(run.stdout);
  const resumed = 3 * MiB - BLOCK;
  assert.equal(summary.chunks, 4);
  assert.equal(summary.resumedBytes, resumed);
  assert.equal(summary.fetchedBytes, bytes.length - resumed);
  assert.equal(summary.refetchedBytes, BLOCK);
  assert.equal(
    summary.bytesPerSecond,
    Math.round((bytes.length - resumed) / summary.seconds),
  );
  assert.ok(
    run.stderr.includes(
      `\nDownloaded "f.bin": 8.0 MiB (8388608 bytes) in ${
        summary.seconds.toFixed(2)
      } s: ${formatByteSize(resumed)} resumed from before, ${
        formatByteSize(bytes.length - resumed)
      } fetched at ${formatByteSize(summary.bytesPerSecond)}/s\n`,
    ),
    run.stderr,
  );
  assert.match(run.stderr, /^ {2}4 chunks from 1 of 2 servers; /m);
});

Deno.test("a state that says every byte is done counts only the bytes that match the digests", async () => {
  const bytes = randomBytes(4 * MiB);
  await using env = await setup(bytes);
  // The first half came; the state was edited to claim the whole file.
  const part = firstBytes(bytes, 2 * MiB);
  await leavePartial({
    work: env.work,
    bytes,
    part,
    done: [[0, bytes.length]],
  });
  const run = await downloadWhole(env.work, bytes);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.resumedBytes, 2 * MiB);
  assert.equal(summary.refetchedBytes, 2 * MiB);
  assert.ok(summary.chunks > 0);
  assert.match(run.stderr, /2\.0 MiB \(2097152 bytes\) resumed from before/);
  assert.match(
    run.stderr,
    /2\.0 MiB \(2097152 bytes\) kept from before did not match their digests and were fetched again/,
  );
});

Deno.test("with --no-verify, kept bytes are trusted as they are", async () => {
  const bytes = randomBytes(2 * MiB);
  await using env = await setup(bytes);
  const part = bytes.slice();
  part.fill(0, 0, 100);
  await leavePartial({
    work: env.work,
    bytes,
    part,
    done: [[0, bytes.length]],
  });
  const run = await download(env.work, ["--no-verify"]);
  assert.equal(run.code, 0, run.stderr);
  await assertIdentical(`${env.work}/f.bin`, part);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.resumedBytes, bytes.length);
  assert.equal(summary.refetchedBytes, 0);
});

Deno.test("a state with a digest identity and no finished bytes does not say the file changed", async () => {
  const bytes = randomBytes(2 * MiB);
  await using env = await setup(bytes);
  await leavePartial({
    work: env.work,
    bytes,
    part: new Uint8Array(bytes.length),
    done: [],
  });
  const run = await downloadWhole(env.work, bytes);
  assert.doesNotMatch(run.stderr, /starting over/);
});

Deno.test("a partial download whose file changed on the server says so, and keeps none of its bytes", async () => {
  const bytes = randomBytes(2 * MiB);
  await using env = await setup(bytes);
  const old = randomBytes(bytes.length);
  await leavePartial({
    work: env.work,
    bytes: old,
    part: old,
    done: [[0, MiB]],
  });
  const run = await downloadWhole(env.work, bytes);
  assert.match(
    run.stderr,
    /warning: starting over: the file changed on the servers since the partial download/,
  );
  assert.doesNotMatch(run.stderr, /do not match their digests/);
  assert.equal(JSON.parse(run.stdout).resumedBytes, 0);
});

/** Fills a small disk with a download, frees space, and runs it again. */
async function fillTheDiskThenResume(cached: boolean) {
  const bytes = randomBytes(24 * MiB);
  await using env = await setup(bytes);
  if (cached) {
    // A whole download first, so the server has the digests cached.
    const warm = await download(env.work, []);
    assert.equal(warm.code, 0, warm.stderr);
    await Deno.remove(`${env.work}/f.bin`);
  }
  const disk = `${env.work}/small`;
  await Deno.mkdir(disk);
  await using tmpfs = await Tmpfs.mount(disk, { size: "8M" });
  if (tmpfs === undefined) {
    console.log("skipped: mounting a small tmpfs needs root");
    return;
  }
  await Deno.copyFile(`${env.work}/servers.txt`, `${disk}/servers.txt`);
  const full = await download(disk, []);
  assert.equal(full.code, 5, full.stderr);
  assert.match(full.stderr, /no space left/);
  assert.match(full.stderr, /The partial download is kept/);
  const state = JSON.parse(
    await Deno.readTextFile(`${disk}/f.bin.part.state`),
  );
  const done = state.done as [number, number][];
  const kept = done.reduce((sum, [s, e]) => sum + (e - s), 0);
  assert.ok(kept >= MiB, `the state keeps ${kept} bytes`);
  const part = await Deno.readFile(`${disk}/f.bin.part`);
  for (const [start, end] of done) {
    assert.ok(
      sameBytes(part.subarray(start, end), bytes.subarray(start, end)),
      `bytes ${start}-${end} are not the file's`,
    );
  }

  await tmpfs.resize("64M");
  const before = env.proxy.bytesToClient;
  const again = await download(disk, []);
  assert.equal(again.code, 0, again.stderr);
  await assertIdentical(`${disk}/f.bin`, bytes);
  assert.doesNotMatch(again.stderr, /starting over/);
  assert.match(again.stderr, new RegExp(`Resuming: ${kept} bytes`));
  assert.equal(JSON.parse(again.stdout).resumedBytes, kept);
  const fetched = env.proxy.bytesToClient - before;
  assert.ok(
    fetched <= bytes.length - kept + 64 * 1024,
    `the rerun fetched ${fetched} bytes with ${kept} of ${bytes.length} kept`,
  );
}

Deno.test("a download that fills the disk keeps what it wrote, and the rerun resumes it", async () => {
  await fillTheDiskThenResume(false);
});

Deno.test("a download that fills the disk keeps what it wrote with the digests cached on the server too", async () => {
  await fillTheDiskThenResume(true);
});

/** An 8 MiB file of which an earlier run kept 6 MiB, the fifth of them
 * zeros since: a wrong file if they were trusted. */
function damagedPartial(bytes: Uint8Array): Uint8Array {
  const part = firstBytes(bytes, 6 * MiB);
  part.fill(0, 4 * MiB, 5 * MiB);
  return part;
}

/** The second connection the client opens asks for the digest list (the
 * first asks for the size). */
const LIST_CONNECTION = 1;

Deno.test("kept bytes are fetched again, not trusted, when no server sends block digests", async () => {
  const bytes = randomBytes(8 * MiB);
  await using env = await setup(
    bytes,
    (i) => i === LIST_CONNECTION ? { kind: "cut", after: 0 } : undefined,
  );
  const part = damagedPartial(bytes);
  await leavePartial({ work: env.work, bytes, part, done: [[0, 6 * MiB]] });
  const run = await downloadWhole(env.work, bytes);
  assert.match(run.stderr, /warning: downloading without verification/);
  assert.match(
    run.stderr,
    /warning: starting over: the bytes kept from before cannot be checked: no server sent block digests/,
  );
  assert.doesNotMatch(run.stderr, /resumed from before|Resuming/);
  assert.equal(JSON.parse(run.stdout).resumedBytes, 0);
});

Deno.test("kept bytes past the end of a digest list that stopped early are fetched again, not trusted", async () => {
  const bytes = randomBytes(8 * MiB);
  // The list of 128 digests stops after 40 of them (2.5 MiB).
  await using env = await setup(
    bytes,
    (i) =>
      i === LIST_CONNECTION ? { kind: "cut", after: 24 + 40 * 32 } : undefined,
  );
  const part = damagedPartial(bytes);
  await leavePartial({ work: env.work, bytes, part, done: [[0, 6 * MiB]] });
  const run = await downloadWhole(env.work, bytes);
  assert.match(
    run.stderr,
    /warning: downloading without verification from byte 2621440 on/,
  );
  assert.match(
    run.stderr,
    /warning: 3670016 bytes \(3\.5 MiB\) kept from before cannot be checked \(no server sent their digests\); fetching them again/,
  );
  assert.match(
    run.stderr,
    /2\.5 MiB \(2621440 bytes\) resumed from before, checked against the digests/,
  );
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.resumedBytes, 2.5 * MiB);
  assert.equal(summary.refetchedBytes, 0);
});

for (const blockSize of [3, 2, 1 << 30]) {
  Deno.test(`a state with block size ${blockSize}, which the client does not use for this file, has its kept bytes checked in blocks it picks`, async () => {
    const bytes = randomBytes(8 * MiB);
    await using env = await setup(bytes);
    const part = damagedPartial(bytes);
    await leavePartial({
      work: env.work,
      bytes,
      part,
      done: [[0, 6 * MiB]],
      edit: { blockSize },
    });
    const run = await downloadWhole(env.work, bytes);
    assert.doesNotMatch(run.stderr, /without verification|starting over/);
    assert.match(
      run.stderr,
      /warning: 1048576 bytes \(1\.0 MiB\) kept from before do not match their digests; fetching them again/,
    );
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.resumedBytes, 5 * MiB);
    assert.equal(summary.refetchedBytes, MiB);
  });
}

Deno.test("a state edited to another block size the servers can list does not say the file changed", async () => {
  const bytes = randomBytes(8 * MiB);
  await using env = await setup(bytes);
  const part = firstBytes(bytes, 6 * MiB);
  // Its identity is of the list in blocks of 64 KiB.
  await leavePartial({
    work: env.work,
    bytes,
    part,
    done: [[0, 6 * MiB]],
    edit: { blockSize: 16384 },
  });
  const run = await downloadWhole(env.work, bytes);
  assert.doesNotMatch(run.stderr, /changed on the servers|starting over/);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.resumedBytes, 6 * MiB);
  assert.equal(summary.refetchedBytes, 0);
});

Deno.test("a state that cannot be used is named with what is wrong with it before the download starts over", async () => {
  const bytes = randomBytes(8 * MiB);
  await using env = await setup(bytes);
  await leavePartial({
    work: env.work,
    bytes,
    part: damagedPartial(bytes),
    done: [[0, 6 * MiB]],
    edit: { format: "msfd-state-2", identity: null, listed: 100000 },
  });
  const run = await downloadWhole(env.work, bytes);
  assert.match(
    run.stderr,
    /warning: starting over: the download state "f\.bin\.part\.state" cannot be used: its listed count 100000 does not fit its identity and its 128 blocks\n/,
  );
  assert.equal(JSON.parse(run.stdout).resumedBytes, 0);
});

Deno.test("a state written by a newer version ends the download with exit code 2 and is left as it is", async () => {
  const bytes = randomBytes(8 * MiB);
  await using env = await setup(bytes);
  const part = damagedPartial(bytes);
  await leavePartial({
    work: env.work,
    bytes,
    part,
    done: [[0, 6 * MiB]],
    edit: { format: "msfd-state-3" },
  });
  const state = await Deno.readTextFile(`${env.work}/f.bin.part.state`);
  const run = await download(env.work, []);
  assert.equal(run.code, 2, run.stderr);
  assert.equal(
    run.stderr,
    'error: The download state "f.bin.part.state" cannot be read: it was written by a newer version of the client (format "msfd-state-3"); resume with that version, or remove "f.bin.part.state" to start over\n',
  );
  assert.equal(env.proxy.connections, 0);
  assert.equal(
    await Deno.readTextFile(`${env.work}/f.bin.part.state`),
    state,
  );
  await assertIdentical(`${env.work}/f.bin.part`, part);
});

Deno.test("a state file of 1.5 GiB is not read: the download says so and starts over", async () => {
  const bytes = randomBytes(2 * MiB);
  await using env = await setup(bytes);
  await Deno.writeFile(`${env.work}/f.bin.part`, bytes);
  {
    using file = await Deno.open(`${env.work}/f.bin.part.state`, {
      write: true,
      create: true,
    });
    await file.truncate(1536 * MiB);
  }
  const run = await downloadWhole(env.work, bytes);
  assert.match(
    run.stderr,
    /warning: starting over: the download state "f\.bin\.part\.state" cannot be used: it is larger than the 64 MiB a download state can be\n/,
  );
});

Deno.test("a partial file shorter than its state says is reported before the download starts over", async () => {
  const bytes = randomBytes(2 * MiB);
  await using env = await setup(bytes);
  await leavePartial({
    work: env.work,
    bytes,
    part: bytes.subarray(0, MiB),
    done: [[0, MiB]],
  });
  const run = await downloadWhole(env.work, bytes);
  assert.match(
    run.stderr,
    /warning: starting over: the partial file "f\.bin\.part" is missing or not 2097152 bytes long\n/,
  );
});

Deno.test("a state whose done intervals are out of order and overlap resumes the bytes they cover", async () => {
  const bytes = randomBytes(8 * MiB);
  await using env = await setup(bytes);
  await leavePartial({
    work: env.work,
    bytes,
    part: damagedPartial(bytes),
    done: [[3 * MiB, 6 * MiB], [0, 2 * MiB], [MiB, 3 * MiB + 100]],
  });
  const run = await downloadWhole(env.work, bytes);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.resumedBytes, 5 * MiB);
  assert.equal(summary.refetchedBytes, MiB);
});
