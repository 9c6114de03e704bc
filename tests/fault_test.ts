/**
 * Downloads through injected faults: each ends byte-identical, within a
 * bounded time, or with the documented error and a resumable partial file.
 */

import assert from "node:assert/strict";
import { digestsOf, sha256Of, toHex } from "./_support/digest_oracle.ts";
import { type Fault, FaultProxy } from "./_support/fault_proxy.ts";
import {
  clientOutcome,
  type ClientRun,
  randomBytes,
  runClient,
  sameBytes,
  ServerProcess,
  spawnClient,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";
import { Tmpfs } from "./_support/tmpfs.ts";
import { serveFile } from "./_support/served_file.ts";
import { waitUntil } from "./_support/file_system.ts";

const always = (fault: Fault) => () => fault;
const clean = () => undefined;

async function download(work: string, args: string[], timeoutMs = 30_000) {
  const started = performance.now();
  const run = await runClient({ cwd: work, args, timeoutMs });
  return { ...run, seconds: (performance.now() - started) / 1000 };
}

/** Starts a client, and after `ms` sends it `signal`; returns its output. */
async function stopClientAfter(
  work: string,
  args: string[],
  ms: number,
  signal: Deno.Signal,
): Promise<ClientRun> {
  const client = spawnClient({ cwd: work, args });
  await new Promise((resolve) => setTimeout(resolve, ms));
  client.kill(signal);
  return await clientOutcome(client);
}

/** The state file the client left in `work`, parsed. */
async function readState(work: string) {
  return JSON.parse(await Deno.readTextFile(`${work}/f.bin.part.state`));
}

/**
 * Downloads with `args` in `work`, and asserts the client ended well with
 * `f.bin` byte-identical to `bytes`.
 */
async function downloadWhole(
  options: { work: string; args: string[]; bytes: Uint8Array },
) {
  const run = await download(options.work, options.args);
  assert.equal(run.code, 0, run.stderr);
  await assertIdentical(`${options.work}/f.bin`, options.bytes);
  return run;
}

async function assertIdentical(path: string, bytes: Uint8Array) {
  assert.ok(sameBytes(await Deno.readFile(path), bytes), `${path} differs`);
}

Deno.test("every server cutting every connection short still completes by resuming at the byte reached", async () => {
  const bytes = randomBytes(1024 * 1024 + 5);
  await using env = await serveFile({
    bytes,
    faults: [
      always({ kind: "cut", after: 150_000 }),
      always({ kind: "cut", after: 150_000 }),
    ],
  });
  const run = await downloadWhole({
    work: env.work,
    args: ["servers.txt", "2", "f.bin"],
    bytes,
  });
  // Each chunk is over three times the cut: only resuming can finish, and
  // nothing is fetched twice beyond the partial blocks at each cut.
  const total = env.proxies.reduce((sum, p) => sum + p.bytesToClient, 0);
  assert.ok(total < bytes.length * 1.3, `${total} bytes went to the client`);
  console.log(`finished in ${run.seconds.toFixed(1)} s`);
});

Deno.test("a stalled server is dropped after the stall timeout and its chunk finishes elsewhere", async () => {
  const bytes = randomBytes(600_000);
  await using env = await serveFile({
    bytes,
    faults: [always({ kind: "stall", after: 100_000 }), clean],
  });
  const run = await downloadWhole({
    work: env.work,
    args: ["--stall-timeout", "1", "servers.txt", "2", "f.bin"],
    bytes,
  });
  assert.match(
    run.stderr,
    /Timed out after 1 s without progress while receiving data/,
  );
  assert.ok(run.seconds < 15, `took ${run.seconds} s`);
});

Deno.test("a damaged block followed by a stall is fetched again, not kept", async () => {
  // Zeros: after a wrong resume point the following blocks would still match
  // their digests, so only a verifier in step with the download catches it.
  const bytes = new Uint8Array(8 * 1024 * 1024);
  const header = 24;
  await using env = await serveFile({
    bytes,
    // Connections: SIZE, BLOCK_HASHES, then the range, which is damaged at
    // its 100th byte and stalls after 3 MiB.
    faults: [
      (connection) =>
        connection === 2
          ? {
            kind: "stall",
            after: header + 3 * 1024 * 1024 + 5000,
            flip: header + 100,
          }
          : undefined,
    ],
  });
  const run = await downloadWhole({
    work: env.work,
    args: ["--stall-timeout", "1", "servers.txt", "1", "f.bin"],
    bytes,
  });
  assert.match(run.stderr, /do not match their SHA-256 digest/);
});

Deno.test("a silent first server is skipped after the reply timeout", async () => {
  const bytes = randomBytes(300_000);
  await using env = await serveFile({
    bytes,
    faults: [always({ kind: "silent" }), clean],
  });
  const run = await downloadWhole({
    work: env.work,
    args: ["--reply-timeout", "1", "servers.txt", "3", "f.bin"],
    bytes,
  });
  assert.match(
    run.stderr,
    /no size from .*: timed out after 1 s .*waiting for the reply/,
  );
  assert.ok(run.seconds < 15, `took ${run.seconds} s`);
});

Deno.test("bytes damaged on the way are detected and fetched again from another server", async () => {
  const bytes = randomBytes(800_000);
  await using env = await serveFile({
    bytes,
    // The first server answers the size and digests; the second flips a
    // byte in the first reply of every connection long enough to reach it
    // (a kept connection's later replies pass untouched).
    faults: [clean, always({ kind: "flip", at: 24 + 5_000 })],
  });
  const run = await downloadWhole({
    work: env.work,
    args: ["servers.txt", "4", "f.bin"],
    bytes,
  });
  assert.match(run.stderr, /do not match their SHA-256 digest/);
  assert.doesNotMatch(run.stderr, /not using/);
});

Deno.test("a mirror with the same name and size but other content is never mixed in", async () => {
  const bytes = randomBytes(700_000);
  await using env = await serveFile({ bytes, faults: [clean] });
  await using otherRoot = await tempDir();
  await Deno.writeFile(`${otherRoot.path}/f.bin`, randomBytes(bytes.length));
  await using mirror = await ServerProcess.start(otherRoot.path);
  await writeServerList(env.work, [env.proxies[0]!.port, mirror.port]);
  const run = await downloadWhole({
    work: env.work,
    args: ["servers.txt", "4", "f.bin"],
    bytes,
  });
  assert.match(
    run.stderr,
    new RegExp(
      `not using 127\\.0\\.0\\.1:${mirror.port} for this file: its copy differs`,
    ),
  );
});

Deno.test("a client killed mid-download continues on rerun without fetching completed bytes", async () => {
  const bytes = randomBytes(3 * 1024 * 1024);
  await using env = await serveFile({
    bytes,
    faults: [clean],
    serverArgs: ["--rate-limit", "1M"],
  });
  await stopClientAfter(
    env.work,
    ["servers.txt", "3", "f.bin"],
    1800,
    "SIGKILL",
  );
  const state = await readState(env.work);
  const kept = (state.done as [number, number][])
    .reduce((sum, [s, e]) => sum + (e - s), 0);
  assert.ok(kept > 0, "the killed run saved no progress");
  // The file version is named by the SHA-256 of its digest list, in hex.
  assert.equal(
    state.identity,
    toHex(sha256Of(digestsOf(bytes, state.blockSize))),
  );

  const before = env.proxies[0]!.bytesToClient;
  const run = await downloadWhole({
    work: env.work,
    args: ["servers.txt", "3", "f.bin"],
    bytes,
  });
  const fetched = env.proxies[0]!.bytesToClient - before;
  assert.match(run.stderr, new RegExp(`Resuming: ${kept} bytes`));
  // The missing bytes, plus headers and the digest list, and no more.
  assert.ok(
    fetched <= bytes.length - kept + 64 * 1024,
    `the rerun fetched ${fetched} bytes with ${kept} of ${bytes.length} kept`,
  );
  await assert.rejects(Deno.stat(`${env.work}/f.bin.part.state`));
});

Deno.test("a partial download of a file that changed on the server starts over cleanly", async () => {
  const bytes = randomBytes(2 * 1024 * 1024);
  await using env = await serveFile({
    bytes,
    faults: [clean],
    serverArgs: ["--rate-limit", "1M"],
  });
  const interrupted = await stopClientAfter(
    env.work,
    ["servers.txt", "2", "f.bin"],
    1300,
    "SIGINT",
  );
  assert.equal(interrupted.code, 130);
  const changed = randomBytes(bytes.length);
  await Deno.writeFile(`${env.served}/f.bin`, changed);
  const run = await download(env.work, ["servers.txt", "2", "f.bin"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /starting over: the file changed on the servers/);
  await assertIdentical(`${env.work}/f.bin`, changed);
});

Deno.test("--sha256 keeps a file whose digest does not match from its final name", async () => {
  const bytes = new TextEncoder().encode("abc");
  await using env = await serveFile({ bytes, faults: [clean] });
  const wrong = await download(env.work, [
    "--sha256",
    "0".repeat(64),
    "servers.txt",
    "2",
    "f.bin",
  ]);
  assert.equal(wrong.code, 6, wrong.stderr);
  assert.match(
    wrong.stderr,
    /SHA-256 is ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/,
  );
  await assert.rejects(Deno.stat(`${env.work}/f.bin`));
  await downloadWhole({
    work: env.work,
    args: [
      "--sha256",
      "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
      "servers.txt",
      "2",
      "f.bin",
    ],
    bytes,
  });
});

Deno.test("a full disk ends with a clear message, exit 5, and the partial file kept", async (t) => {
  const bytes = randomBytes(3 * 1024 * 1024);
  await using env = await serveFile({ bytes, faults: [clean] });
  const disk = `${env.work}/small`;
  await Deno.mkdir(disk);
  await using tmpfs = await Tmpfs.mount(disk, { size: "1M" });
  if (tmpfs === undefined) {
    console.log("skipped: mounting a small tmpfs needs root");
    return;
  }
  await Deno.copyFile(`${env.work}/servers.txt`, `${disk}/servers.txt`);
  const run = await download(disk, ["servers.txt", "3", "f.bin"]);
  await t.step("exit code and message", () => {
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /no space left/);
  });
  await t.step(
    "no file under the final name, the partial file kept",
    async () => {
      await assert.rejects(Deno.stat(`${disk}/f.bin`));
      await Deno.stat(`${disk}/f.bin.part`);
    },
  );
});

Deno.test("a trickling server's chunk is finished by the others", async () => {
  const bytes = randomBytes(4 * 1024 * 1024);
  await using env = await serveFile({
    bytes,
    faults: [clean, always({ kind: "trickle", bytesPerSecond: 64 * 1024 })],
  });
  await downloadWhole({
    work: env.work,
    args: ["servers.txt", "2", "f.bin"],
    bytes,
  });
  // Alone, the trickle would need 32 s for its 2 MiB chunk.
  assert.ok(
    env.proxies[1]!.bytesToClient < 1024 * 1024,
    `the trickling server sent ${env.proxies[1]!.bytesToClient} bytes`,
  );
});

const MiB = 1024 * 1024;

/** A fault for the first server: its second connection, the digest list
 * after the size request, stalls after `digests` digests and `extra` bytes. */
function listStallsAfter(digests: number, extra = 0) {
  return (connection: number): Fault | undefined =>
    connection === 1
      ? { kind: "stall", after: 24 + digests * 32 + extra }
      : undefined;
}

/**
 * Serves 4 MiB (four ranges of 1 MiB in blocks of 64 KiB: a list of 64
 * digests) from a first server whose list stalls after `digests` digests,
 * and from three clean servers.
 */
function serveStallingList(bytes: Uint8Array, digests: number) {
  return serveFile({
    bytes,
    faults: [listStallsAfter(digests), clean, clean, clean],
  });
}

/** The client's arguments for four ranges with no stall deadline. */
const NO_STALL_TIMEOUT = ["--stall-timeout", "0", "servers.txt", "4", "f.bin"];

/** Whether `expected` is at `offset` in the file at `path` already. */
async function holds(path: string, offset: number, expected: Uint8Array) {
  try {
    using file = await Deno.open(path);
    await file.seek(offset, Deno.SeekMode.Start);
    const found = new Uint8Array(expected.length);
    let filled = 0;
    while (filled < found.length) {
      const n = await file.read(found.subarray(filled));
      if (n === null) return false;
      filled += n;
    }
    return sameBytes(found, expected);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("ranges the digest list covers are fetched while the rest of the list is on its way", async () => {
  // Four ranges of 1 MiB in blocks of 64 KiB: a list of 64 digests. The
  // first server sends the first 32 of them, then stalls.
  const bytes = randomBytes(4 * MiB);
  await using env = await serveStallingList(bytes, 32);
  const client = spawnClient({ cwd: env.work, args: NO_STALL_TIMEOUT });
  const output = clientOutcome(client);
  // The second range, which the first half of the list covers, arrives while
  // the list stalls with no deadline.
  const second = bytes.subarray(MiB, 2 * MiB);
  await waitUntil(
    () => holds(`${env.work}/f.bin.part`, MiB, second),
    "the second range arriving",
  );
  // The size request and the stalled list, nothing more.
  assert.equal(env.proxies[0]!.connections, 2);
  // With the first server gone, the next one sends the list again.
  await env.proxies[0]![Symbol.asyncDispose]();
  const run = await output;
  const stderr = run.stderr;
  assert.equal(run.code, 0, stderr);
  await assertIdentical(`${env.work}/f.bin`, bytes);
  assert.doesNotMatch(stderr, /without verification/);
});

Deno.test("when no server sends the rest of the digest list, the bytes past it go unchecked with a warning", async () => {
  const bytes = randomBytes(4 * MiB);
  await using env = await serveFile({
    bytes,
    faults: [listStallsAfter(32, 5)],
  });
  const run = await downloadWhole({
    work: env.work,
    args: ["--stall-timeout", "1", "servers.txt", "4", "f.bin"],
    bytes,
  });
  assert.match(
    run.stderr,
    /warning: downloading without verification from byte 2097152 on: no server sent the rest of the block digests: .*Timed out after 1 s without progress while receiving digests/,
  );
});

Deno.test("a digest list that stalls mid-range moves on to a server busy with a range, and the download completes", async () => {
  // The list stalls inside the second range; the next server asked for it
  // is busy with a range that must not wait for the list in turn.
  const bytes = randomBytes(4 * MiB);
  await using env = await serveStallingList(bytes, 20);
  const client = spawnClient({
    cwd: env.work,
    args: ["--stall-timeout", "3", "servers.txt", "4", "f.bin"],
  });
  const output = clientOutcome(client);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await env.proxies[0]![Symbol.asyncDispose]();
  const timer = setTimeout(() => client.kill("SIGKILL"), 20_000);
  const run = await output;
  clearTimeout(timer);
  const stderr = run.stderr;
  assert.equal(run.code, 0, stderr);
  await assertIdentical(`${env.work}/f.bin`, bytes);
  assert.doesNotMatch(stderr, /without verification/);
});

Deno.test("an interrupt while the digest list arrives keeps the bytes checked so far, and the next run resumes them", async () => {
  const bytes = randomBytes(4 * MiB);
  await using env = await serveStallingList(bytes, 40);
  const args = NO_STALL_TIMEOUT;
  const first = await stopClientAfter(env.work, args, 1500, "SIGINT");
  assert.equal(first.code, 130, first.stderr);
  // The second range came and was checked against the first 40 digests:
  // the state keeps it, tied to those digests.
  const state = await readState(env.work);
  const blockSize = state.blockSize as number;
  assert.equal(state.listed, 40);
  assert.equal(
    state.identity,
    toHex(sha256Of(digestsOf(bytes, blockSize).subarray(0, 40 * 32))),
  );
  const done = state.done as [number, number][];
  assert.ok(done.some(([s, e]) => s <= MiB && e >= 2 * MiB), `done: ${done}`);
  let kept = 0;
  for (const [start, end] of done) {
    assert.ok(end <= 40 * blockSize, `done: ${done}`);
    assert.ok(
      await holds(`${env.work}/f.bin.part`, start, bytes.subarray(start, end)),
    );
    kept += end - start;
  }
  const second = await download(env.work, args);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, new RegExp(`Resuming: ${kept} bytes`));
  assert.doesNotMatch(second.stderr, /starting over|do not match/);
  await assertIdentical(`${env.work}/f.bin`, bytes);
});

Deno.test("a resumed run interrupted while it waits for the digest list leaves its state as it was", async () => {
  const oldBytes = randomBytes(4 * MiB);
  const newBytes = randomBytes(4 * MiB);
  await using env = await serveFile({
    bytes: oldBytes,
    faults: [listStallsAfter(10)],
  });
  const blockSize = 64 * 1024;
  // A state as a first run leaves it: the first half done, of the old file.
  const part = new Uint8Array(4 * MiB);
  part.set(oldBytes.subarray(0, 2 * MiB));
  await Deno.writeFile(`${env.work}/f.bin.part`, part);
  const saved = JSON.stringify({
    format: "msfd-state-1",
    name: "f.bin",
    size: 4 * MiB,
    blockSize,
    identity: toHex(sha256Of(digestsOf(oldBytes, blockSize))),
    done: [[0, 2 * MiB]],
  }) + "\n";
  await Deno.writeTextFile(`${env.work}/f.bin.part.state`, saved);
  const args = NO_STALL_TIMEOUT;
  const first = await stopClientAfter(env.work, args, 1500, "SIGINT");
  assert.equal(first.code, 130, first.stderr);
  // The same bytes, tied to the same version: the list did not reach the
  // digests that would tell whether it still holds.
  const state = await readState(env.work);
  const old = JSON.parse(saved);
  assert.deepEqual(
    [state.identity, state.listed, state.done],
    [old.identity, 64, old.done],
  );
  // The file changes on the server, keeping its size: the next run sees it.
  await Deno.writeFile(`${env.served}/f.bin`, newBytes);
  const second = await download(env.work, args);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /starting over: the file changed on the servers/);
  await assertIdentical(`${env.work}/f.bin`, newBytes);
});

Deno.test("a server whose digest list differs from the one taken is left out, even when the list stays unfinished", async () => {
  // The first server's list stalls after 10 digests; the second server has
  // another file of the same size, differing in blocks 0 and 20.
  const wanted = randomBytes(4 * MiB);
  const other = wanted.slice();
  other[100]! ^= 0xff;
  other[20 * 64 * 1024 + 7]! ^= 0xff;
  await using first = await tempDir();
  await using second = await tempDir();
  await using work = await tempDir();
  await Deno.writeFile(`${first.path}/f.bin`, wanted);
  await Deno.writeFile(`${second.path}/f.bin`, other);
  await using server0 = await ServerProcess.start(first.path);
  await using server1 = await ServerProcess.start(second.path);
  await using proxy = FaultProxy.start({
    upstreamPort: server0.port,
    fault: listStallsAfter(10),
  });
  await writeServerList(work.path, [proxy.port, server1.port]);
  const run = await download(work.path, [
    "--stall-timeout",
    "1",
    "servers.txt",
    "4",
    "f.bin",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    // Its list, or its first block, whichever is compared first: blocks
    // are fetched while the list arrives.
    /not using 127\.0\.0\.1:\d+ for this file: (its digest list differs from the one received before|its copy differs from the first server's in bytes 0-65535)/,
  );
  await assertIdentical(`${work.path}/f.bin`, wanted);
});
