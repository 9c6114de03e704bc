/**
 * Servers that accept connections and never answer, or go quiet: a free
 * server takes their work over, and the size lookup does not wait on them
 * in turn. Every download ends byte-identical within seconds of what the
 * good server alone needs, with the default timeouts.
 */

import assert from "node:assert/strict";
import { FaultProxy } from "./_support/fault_proxy.ts";
import { silentServer } from "./_support/fake_server.ts";
import {
  type FaultPlan,
  type ServedFile,
  serveFile,
} from "./_support/served_file.ts";
import {
  randomBytes,
  runClient,
  sameBytes,
  ServerProcess,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";

/** A served folder with one file, the work folder, and the servers. */
function setup(bytes: Uint8Array, goodServers = 1): Promise<ServedFile> {
  return serveFile({ bytes, servers: goodServers });
}

async function download(work: string, ports: number[], args: string[]) {
  await writeServerList(work, ports);
  const started = performance.now();
  const run = await runClient({
    cwd: work,
    args: ["servers.txt", ...args],
    timeoutMs: 40_000,
  });
  return { ...run, seconds: (performance.now() - started) / 1000 };
}

/** The time a download may take beyond the good server's own: the grace
 * of the size lookup and the one before a stuck task is taken over, with
 * room for a loaded machine. */
const BOUND_S = 9;

/** Asserts that a download ended well within `withinS` seconds, with
 * `f.bin` in `work` byte-identical to `bytes`. */
async function assertWell(
  run: { code: number; stderr: string; seconds: number },
  { work, bytes, withinS = BOUND_S }: {
    work: string;
    bytes: Uint8Array;
    withinS?: number;
  },
): Promise<void> {
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work}/f.bin`), bytes));
  assert.ok(run.seconds < withinS, `took ${run.seconds} s\n${run.stderr}`);
}

Deno.test("one good server listed first and three silent ones download within seconds", async () => {
  const bytes = randomBytes(4 * 1024 * 1024 + 17);
  await using env = await setup(bytes);
  await using s1 = silentServer();
  await using s2 = silentServer();
  await using s3 = silentServer();
  const run = await download(
    env.work,
    [env.servers[0]!.port, s1.port, s2.port, s3.port],
    ["4", "f.bin"],
  );
  await assertWell(run, { work: env.work, bytes });
  assert.match(run.stderr, /nothing received for 2 s; a free server took over/);
});

Deno.test("three silent servers listed before the good one delay neither the size nor the chunks", async () => {
  const bytes = randomBytes(4 * 1024 * 1024 + 17);
  await using env = await setup(bytes);
  await using s1 = silentServer();
  await using s2 = silentServer();
  await using s3 = silentServer();
  const run = await download(
    env.work,
    [s1.port, s2.port, s3.port, env.servers[0]!.port],
    ["4", "f.bin"],
  );
  await assertWell(run, { work: env.work, bytes });
  assert.match(
    run.stderr,
    /no size from 127\.0\.0\.1:\d+: no answer within 1 s of the first server that answered/,
  );
});

Deno.test("nineteen silent servers and one good one listed last download within seconds", async () => {
  const bytes = randomBytes(2 * 1024 * 1024 + 5);
  await using env = await setup(bytes);
  const silent = Array.from({ length: 19 }, () => silentServer());
  try {
    for (const chunks of ["4", "1"]) {
      await Deno.remove(`${env.work}/f.bin`).catch(() => {});
      const run = await download(
        env.work,
        [...silent.map((s) => s.port), env.servers[0]!.port],
        [chunks, "f.bin"],
      );
      await assertWell(run, { work: env.work, bytes });
    }
  } finally {
    await Promise.all(silent.map((s) => s[Symbol.asyncDispose]()));
  }
});

Deno.test("the size comes from the first server in list order that answers within the grace", async () => {
  // Two servers with files of the same name and other sizes: the one
  // listed first wins, though a silent one is listed before both.
  const served = await tempDir();
  const other = await tempDir();
  await Deno.writeFile(`${served.path}/f.bin`, randomBytes(300_000));
  await Deno.writeFile(`${other.path}/f.bin`, randomBytes(200_000));
  await using a = await ServerProcess.start(served.path);
  await using b = await ServerProcess.start(other.path);
  await using env = await setup(new Uint8Array(0), 0);
  await using silent = silentServer();
  try {
    for (
      const [ports, size] of [[[silent.port, a.port, b.port], 300_000], [[
        silent.port,
        b.port,
        a.port,
      ], 200_000]] as const
    ) {
      await Deno.remove(`${env.work}/f.bin`).catch(() => {});
      const run = await download(env.work, [...ports], ["2", "f.bin"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await Deno.stat(`${env.work}/f.bin`)).size, size);
      assert.ok(run.seconds < BOUND_S, `took ${run.seconds} s`);
    }
  } finally {
    await other[Symbol.asyncDispose]();
    await served[Symbol.asyncDispose]();
  }
});

/**
 * Downloads `f.bin` in `chunks` chunks from two good servers, the one at
 * index `faulty` behind a proxy that applies `fault` to its connections,
 * and asserts the client ended well, in time, with the file byte-identical.
 */
async function downloadPastFault(options: {
  bytes: Uint8Array;
  faulty: 0 | 1;
  fault: FaultPlan;
  chunks: string;
  /** The bound on the download's time; {@linkcode BOUND_S} unless told. */
  withinS?: number;
}) {
  await using env = await setup(options.bytes, 2);
  await using proxy = faulty(env, options.faulty, options.fault);
  const ports = env.servers.map((s) => s.port);
  ports[options.faulty] = proxy.port;
  const run = await download(env.work, ports, [options.chunks, "f.bin"]);
  await assertWell(run, {
    work: env.work,
    bytes: options.bytes,
    withinS: options.withinS,
  });
  return run;
}

/** A good server behind a proxy that applies `fault` to its connections. */
function faulty(
  env: { servers: ServerProcess[] },
  server: number,
  fault: FaultPlan,
): FaultProxy {
  return FaultProxy.start({ upstreamPort: env.servers[server]!.port, fault });
}

Deno.test("a server that answers the size but never a range has its chunks taken over", async () => {
  const bytes = randomBytes(4 * 1024 * 1024 + 3);
  // Connections: the size, the digest list, then ranges.
  await downloadPastFault({
    bytes,
    faulty: 0,
    fault: (i) => i >= 2 ? { kind: "silent" } : undefined,
    chunks: "4",
  });
});

Deno.test("a server that sends a few bytes of each range then stalls has its chunks taken over", async () => {
  const bytes = randomBytes(4 * 1024 * 1024 + 3);
  // The size reply passes (it has no payload); each range stops after its
  // first 1000 bytes.
  await downloadPastFault({
    bytes,
    faulty: 1,
    fault: () => ({ kind: "stall", after: 24 + 1000 }),
    chunks: "4",
  });
});

Deno.test("a size server that never sends the digest list is passed over for the next one", async () => {
  const bytes = randomBytes(4 * 1024 * 1024 + 3);
  const run = await downloadPastFault({
    bytes,
    faulty: 0,
    fault: (i) => i === 1 ? { kind: "silent" } : undefined,
    chunks: "4",
  });
  assert.doesNotMatch(run.stderr, /without verification/);
});

Deno.test("a size server that trickles the digest list is overtaken by the next server", async () => {
  const bytes = randomBytes(4 * 1024 * 1024 + 3);
  // Connections: the size, then the digest list: its header at once, then
  // one digest every 2 s.
  const run = await downloadPastFault({
    bytes,
    faulty: 0,
    fault: (i) =>
      i === 1 ? { kind: "trickle", after: 24, bytesPerSecond: 16 } : undefined,
    chunks: "4",
  });
  assert.doesNotMatch(run.stderr, /without verification/);
  assert.match(
    run.stderr,
    /^warning: the digest list is too slow at \d+ of 65 digests: 127\.0\.0\.1:\d+: [0-2] digests? in 2 s; asking 127\.0\.0\.1:\d+ for the rest$/m,
  );
});

/** Where a digest list of 64 digests ends, after its reply header. */
const LIST_CUT_AT = 24 + 64 * 32;

Deno.test("a digest list cut after 64 digests is continued by the next server at once", async () => {
  // 8 chunks of 4 MiB: 32 KiB blocks, 128 digests.
  const bytes = randomBytes(4 * 1024 * 1024);
  const run = await downloadPastFault({
    bytes,
    faulty: 0,
    fault: (i) => i === 1 ? { kind: "cut", after: LIST_CUT_AT } : undefined,
    chunks: "8",
    withinS: 5,
  });
  assert.doesNotMatch(run.stderr, /without verification/);
  assert.match(
    run.stderr,
    /^warning: the digest list stopped at 64 of 128 digests: 127\.0\.0\.1:\d+: the server closed the connection during the transfer, after 2048 of 4096 bytes; asking 127\.0\.0\.1:\d+ for the rest$/m,
  );
});

Deno.test("a digest list that stops after 64 digests is continued by the next server within seconds", async () => {
  const bytes = randomBytes(4 * 1024 * 1024);
  const run = await downloadPastFault({
    bytes,
    faulty: 0,
    fault: (i) => i === 1 ? { kind: "stall", after: LIST_CUT_AT } : undefined,
    chunks: "8",
  });
  assert.doesNotMatch(run.stderr, /without verification/);
  assert.match(
    run.stderr,
    /^warning: the digest list is too slow at 64 of 128 digests: 127\.0\.0\.1:\d+: \d+ digests in 2 s; asking 127\.0\.0\.1:\d+ for the rest$/m,
  );
});

Deno.test("a chunk whose last 100000 bytes trickle at 1 byte/s is taken over by a free server", async () => {
  // Two chunks of 2 MiB; every connection to the proxy trickles once 100000
  // bytes of the first chunk are left (the size reply and the digest list
  // are shorter).
  const bytes = randomBytes(4 * 1024 * 1024);
  await using env = await setup(bytes, 2);
  await using proxy = faulty(env, 0, () => ({
    kind: "trickle",
    after: 24 + 2 * 1024 * 1024 - 100_000,
    bytesPerSecond: 1,
  }));
  // The other server sends at 16 MiB/s, so its chunk ends after the first
  // one's tail began to trickle, however the client schedules the two
  // connections (at full speed it could end first and split the first
  // chunk before its tail was reached).
  await using paced = faulty(env, 1, () => ({
    kind: "trickle",
    bytesPerSecond: 16 * 1024 * 1024,
  }));
  const run = await download(env.work, [proxy.port, paced.port], [
    "2",
    "f.bin",
  ]);
  await assertWell(run, { work: env.work, bytes });
  assert.match(
    run.stderr,
    /^warning: chunk 0 \(bytes 0-2097151\) stopped at byte \d+: 127\.0\.0\.1:\d+: too slow \(\d+ B\/s\); a free server took over bytes \d+-2097151$/m,
  );
});

Deno.test("servers found silent are not given chunks again while a good server is free", async () => {
  const bytes = randomBytes(4 * 1024 * 1024 + 17);
  await using env = await setup(bytes);
  const silent = Array.from({ length: 5 }, () => silentServer());
  try {
    const run = await download(
      env.work,
      [...silent.map((s) => s.port), env.servers[0]!.port],
      ["36", "f.bin"],
    );
    assert.equal(run.code, 0, run.stderr);
    assert.ok(sameBytes(await Deno.readFile(`${env.work}/f.bin`), bytes));
    // The size, then one range each.
    for (const s of silent) {
      assert.ok(s.accepted <= 2, `${s.accepted} connections\n${run.stderr}`);
    }
    // Never an empty range in a warning.
    for (const [, start, end] of run.stderr.matchAll(/bytes (\d+)-(\d+)/g)) {
      assert.ok(Number(end) >= Number(start), run.stderr);
    }
  } finally {
    await Promise.all(silent.map((s) => s[Symbol.asyncDispose]()));
  }
});

Deno.test("a lone server that never sends the digest list lets the download go on unchecked once its reply deadline passes", async () => {
  const bytes = randomBytes(1024 * 1024 + 3);
  await using env = await setup(bytes);
  await using proxy = faulty(
    env,
    0,
    (i) => i === 1 ? { kind: "silent" } : undefined,
  );
  const run = await download(env.work, [proxy.port], [
    "4",
    "f.bin",
    "--reply-timeout",
    "3",
  ]);
  await assertWell(run, { work: env.work, bytes });
  assert.match(
    run.stderr,
    /^warning: downloading without verification: no server sent block digests: 127\.0\.0\.1:\d+: Timed out after 3 s without progress while waiting for the reply$/m,
  );
});
