import assert from "node:assert/strict";
import {
  clientOutcome,
  closedPort,
  randomBytes,
  runClient,
  sameBytes,
  serverInfo,
  ServerProcess,
  spawnClient,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";
import { namesIn } from "./_support/file_system.ts";

/** Starts `count` servers, each serving `root`. */
async function startServers(
  root: string,
  count: number,
  extraArgs: string[] = [],
): Promise<ServerProcess[] & AsyncDisposable> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => ServerProcess.start(root, extraArgs)),
  );
  return Object.assign(servers, {
    [Symbol.asyncDispose]: async () => {
      await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
    },
  });
}

Deno.test("client downloads byte-identical files for odd sizes and chunk counts", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const sizes = [0, 1, 7, 4099, 1_048_576 + 13];
  const files = new Map<string, Uint8Array>();
  for (const size of sizes) {
    const bytes = randomBytes(size);
    files.set(`file_${size}.bin`, bytes);
    await Deno.writeFile(`${served.path}/file_${size}.bin`, bytes);
  }
  await using servers = await startServers(served.path, 4);
  await writeServerList(work.path, servers.map((s) => s.port));
  for (const [name, bytes] of files) {
    for (const chunks of [1, 3, 4, 9]) {
      await t.step(`${bytes.length} bytes in ${chunks} chunks`, async () => {
        const run = await runClient({
          cwd: work.path,
          args: ["--force", "servers.txt", String(chunks), name],
        });
        assert.equal(run.code, 0, run.stderr);
        const got = await Deno.readFile(`${work.path}/${name}`);
        assert.ok(sameBytes(got, bytes), `${name} differs`);
        await assert.rejects(Deno.stat(`${work.path}/${name}.part`));
      });
    }
  }
});

Deno.test("a digest list longer than one read arrives whole and checks every block", async () => {
  // 1 MiB in 600 chunks takes blocks of 64 bytes: a list of 16384 digests,
  // 512 KiB, which the client reads in two or more parts.
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(1024 * 1024);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using servers = await startServers(served.path, 2);
  await writeServerList(work.path, servers.map((s) => s.port));
  const run = await runClient({
    cwd: work.path,
    args: ["--json", "servers.txt", "600", "f.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  // A digest out of place would fail its block on every server.
  assert.doesNotMatch(run.stderr, /warning/);
  assert.equal(JSON.parse(run.stdout).verified, true);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
});

Deno.test("servers that are down or lack the file start no chunk: no failover, and one without the file is left out", async () => {
  await using served = await tempDir();
  await using other = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(300_001);
  await Deno.writeFile(`${served.path}/data.bin`, bytes);
  await using withFile = await startServers(served.path, 1);
  await using withoutFile = await startServers(other.path, 1);
  // Down first, then one without the file, then one that has it.
  await writeServerList(work.path, [
    closedPort(),
    withoutFile[0]!.port,
    withFile[0]!.port,
  ]);
  const run = await runClient({
    cwd: work.path,
    args: ["--json", "servers.txt", "6", "data.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/data.bin`), bytes));
  assert.match(run.stderr, /connection refused/);
  assert.match(
    run.stderr,
    /^warning: no size from 127\.0\.0\.1:\d+: not found$/m,
  );
  // Neither starts a chunk: all six come from the one that has the file.
  assert.doesNotMatch(run.stderr, /warning: chunk/);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.failovers, 0);
  assert.deepEqual(summary.unusable, [`127.0.0.1:${withoutFile[0]!.port}`]);
  assert.match(
    run.stderr,
    new RegExp(
      `\\n  left out \\(could not serve the file\\): 127\\.0\\.0\\.1:${
        withoutFile[0]!.port
      }\\n`,
    ),
  );
});

Deno.test("client says Cannot transfer this file when no server has it", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  await using servers = await startServers(served.path, 2);
  const ports = [...servers.map((s) => s.port), closedPort()];
  await writeServerList(work.path, ports);
  const run = await runClient({
    cwd: work.path,
    args: ["servers.txt", "4", "missing.txt"],
  });
  assert.equal(run.code, 3);
  // The message, then each server's reason once, whether quiet or not.
  const expected = [
    'Cannot transfer this file "missing.txt": no server reported its size',
    ...ports.slice(0, 2).map((port) => `  127.0.0.1:${port}: not found`),
    `  127.0.0.1:${ports[2]}: connection refused`,
  ];
  assert.deepEqual(run.stderr.trimEnd().split("\n"), expected);
  assert.deepEqual(await namesIn(work.path), ["servers.txt"]);

  const quiet = await runClient({
    cwd: work.path,
    args: ["--quiet", "servers.txt", "4", "missing.txt"],
  });
  assert.equal(quiet.code, 3);
  assert.deepEqual(quiet.stderr.trimEnd().split("\n"), expected);
});

Deno.test("client says not all chunks are downloaded and keeps the partial file", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(2 * 1024 * 1024);
  await Deno.writeFile(`${served.path}/slow.bin`, bytes);
  // One server, slow enough to be killed halfway through.
  const server = await ServerProcess.start(served.path, ["--rate-limit", "1M"]);
  await using _server = server;
  await writeServerList(work.path, [server.port]);
  const client = spawnClient({
    cwd: work.path,
    args: ["servers.txt", "2", "slow.bin"],
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await server.stop("SIGKILL");
  const { code, stderr } = await clientOutcome(client);
  assert.equal(code, 4, stderr);
  assert.match(stderr, /^not all chunks are downloaded$/m);
  await assert.rejects(Deno.stat(`${work.path}/slow.bin`));
  assert.equal(
    (await Deno.stat(`${work.path}/slow.bin.part`)).size,
    bytes.length,
  );
});

Deno.test("client resumes a range at the byte reached when its server dies", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(3 * 1024 * 1024);
  await Deno.writeFile(`${served.path}/big.bin`, bytes);
  const doomed = await ServerProcess.start(served.path, ["--rate-limit", "1M"]);
  await using _doomed = doomed;
  await using healthy = await startServers(served.path, 1, [
    "--rate-limit",
    "4M",
  ]);
  await writeServerList(work.path, [doomed.port, healthy[0]!.port]);
  const client = spawnClient({
    cwd: work.path,
    args: ["servers.txt", "2", "big.bin"],
  });
  await new Promise((resolve) => setTimeout(resolve, 700));
  await doomed.stop("SIGKILL");
  const { code, stderr } = await clientOutcome(client);
  assert.equal(code, 0, stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/big.bin`), bytes));
  // Chunk 0 (bytes 0 to half) went to the killed server first; the healthy
  // one must have been asked only for what was still missing.
  const log = await healthy[0]!.log();
  // With work stealing the rest of chunk 0 may come in several pieces;
  // together they must tile [resume point, half) without fetching byte 0
  // again.
  const pieces = [...log.matchAll(/RANGE "big.bin" (\d+)\+(\d+)/g)]
    .map((m) => [Number(m[1]), Number(m[1]) + Number(m[2])] as const)
    .filter(([start]) => start < bytes.length / 2)
    .sort((a, b) => a[0] - b[0]);
  assert.ok(pieces.length >= 1, log);
  assert.ok(
    pieces[0]![0] > 0,
    `chunk 0 was fetched again from byte 0:\n${log}`,
  );
  for (let i = 1; i < pieces.length; i++) {
    assert.equal(pieces[i]![0], pieces[i - 1]![1], `overlap or gap:\n${log}`);
  }
  assert.equal(pieces.at(-1)![1], bytes.length / 2);
});

Deno.test("client prompts for the file name on standard input", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(5000);
  await Deno.mkdir(`${served.path}/docs`);
  await Deno.writeFile(`${served.path}/docs/readme.txt`, bytes);
  await using servers = await startServers(served.path, 1);
  await writeServerList(work.path, [servers[0]!.port]);
  const run = await runClient({
    cwd: work.path,
    args: ["servers.txt", "3"],
    stdin: "docs/readme.txt\n",
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /enter filename/);
  // Written under its base name, in the current folder.
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/readme.txt`), bytes));
});

Deno.test("client rejects bad arguments with exit code 2", async (t) => {
  await using work = await tempDir();
  await Deno.writeTextFile(`${work.path}/good.txt`, "127.0.0.1 30001\n");
  await Deno.writeTextFile(
    `${work.path}/bad.txt`,
    "# servers\n127.0.0.1 30001\n\n127.0.0.1:30002\n",
  );
  await Deno.writeTextFile(`${work.path}/exists.bin`, "keep me");
  const cases: [string, string[], RegExp, string?][] = [
    [
      "no arguments",
      [],
      /Expected <server-info> <numchunks> \[filename\]: received none\n/,
    ],
    [
      "one argument",
      ["servers.txt"],
      /Expected <server-info> <numchunks> \[filename\]: received 1 argument\n/,
    ],
    [
      "zero chunks",
      ["good.txt", "0", "x"],
      /numchunks must be a whole number from 1 to 10000: received "0"/,
    ],
    [
      "non-numeric chunks",
      ["good.txt", "four", "x"],
      /numchunks must be a whole number from 1 to 10000: received "four"/,
    ],
    [
      "negative chunks",
      ["good.txt", "-3", "x"],
      /numchunks must be a whole number from 1 to 10000: received "-3"/,
    ],
    [
      "too many chunks",
      ["good.txt", "1000000", "x"],
      /numchunks must be a whole number from 1 to 10000: received "1000000"/,
    ],
    [
      "missing server list",
      ["nope.txt", "4", "x"],
      /Cannot read server list "nope.txt": no such file/,
    ],
    [
      "malformed server list",
      ["bad.txt", "4", "x"],
      /line 4 is not "host port" or a URL: received "127.0.0.1:30002"/,
    ],
    [
      "unknown option",
      ["--bogus", "good.txt", "4", "x"],
      /Unknown option "--bogus"/,
    ],
    [
      "name without a base name",
      ["good.txt", "4", "dir/"],
      /no file name part/,
    ],
    ["output that exists", ["good.txt", "4", "exists.bin"], /exists already/],
    ["empty name on stdin", ["good.txt", "4"], /No file name given/, "\n"],
  ];
  for (const [what, args, message, stdin] of cases) {
    await t.step(what, async () => {
      const run = await runClient({
        cwd: work.path,
        args,
        ...(stdin === undefined ? {} : { stdin }),
      });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
    });
  }
  assert.equal(await Deno.readTextFile(`${work.path}/exists.bin`), "keep me");
});

Deno.test("client uses at most 20 servers and warns about the rest", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(10_000);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using servers = await startServers(served.path, 1);
  const lines = [serverInfo([servers[0]!.port])];
  // Lines that repeat one are dropped: the others name closed ports, each
  // once.
  const closed = new Set<number>([servers[0]!.port]);
  while (closed.size < 25) closed.add(closedPort());
  for (const port of [...closed].slice(1)) lines.push(serverInfo([port]));
  await Deno.writeTextFile(`${work.path}/servers.txt`, lines.join(""));
  const run = await runClient({
    cwd: work.path,
    args: ["servers.txt", "30", "f.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /lists 25 servers; only the first 20 are used/);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
});

Deno.test("several clients at once are all served by one serial server", async () => {
  await using served = await tempDir();
  const bytes = randomBytes(512 * 1024 + 3);
  await Deno.writeFile(`${served.path}/shared.bin`, bytes);
  await using servers = await startServers(served.path, 1);
  const dirs = await Promise.all(Array.from({ length: 6 }, () => tempDir()));
  try {
    for (const dir of dirs) {
      await writeServerList(dir.path, [servers[0]!.port]);
    }
    const runs = await Promise.all(
      dirs.map((dir) =>
        runClient({ cwd: dir.path, args: ["servers.txt", "4", "shared.bin"] })
      ),
    );
    for (const [i, run] of runs.entries()) {
      assert.equal(run.code, 0, run.stderr);
      const got = await Deno.readFile(`${dirs[i]!.path}/shared.bin`);
      assert.ok(sameBytes(got, bytes));
    }
  } finally {
    await Promise.all(dirs.map((dir) => dir[Symbol.asyncDispose]()));
  }
});

Deno.test("a client killed mid-transfer leaves its partial file and the server serves the next one", async () => {
  await using served = await tempDir();
  await using first = await tempDir();
  await using second = await tempDir();
  const bytes = randomBytes(2 * 1024 * 1024);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  const server = await ServerProcess.start(served.path, ["--rate-limit", "1M"]);
  await using _server = server;
  for (const dir of [first.path, second.path]) {
    await writeServerList(dir, [server.port]);
  }
  const doomed = spawnClient({
    cwd: first.path,
    args: ["servers.txt", "2", "f.bin"],
  });
  await new Promise((resolve) => setTimeout(resolve, 600));
  doomed.kill("SIGKILL");
  const killed = await doomed.output();
  assert.equal(killed.signal, "SIGKILL");
  await assert.rejects(Deno.stat(`${first.path}/f.bin`));
  assert.equal(
    (await Deno.stat(`${first.path}/f.bin.part`)).size,
    bytes.length,
  );

  const run = await runClient({
    cwd: second.path,
    args: ["servers.txt", "2", "f.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${second.path}/f.bin`), bytes));
  assert.match(
    await server.log(),
    /RANGE "f.bin" 0\+1048576 sent=\d+ disconnected/,
  );
});

Deno.test("fast servers take over the tail of a slow server's chunk", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(8 * 1024 * 1024);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  const slow = await ServerProcess.start(served.path, ["--rate-limit", "256K"]);
  await using _slow = slow;
  await using fast = await startServers(served.path, 1);
  await writeServerList(work.path, [slow.port, fast[0]!.port]);
  const run = await runClient({
    cwd: work.path,
    args: ["servers.txt", "2", "f.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
  // Alone, the slow server would have sent its whole 4 MiB chunk.
  const sent = [
    ...(await slow.log()).matchAll(/RANGE "f.bin" \d+\+\d+ sent=(\d+)/g),
  ]
    .reduce((sum, m) => sum + Number(m[1]), 0);
  assert.ok(sent < 2 * 1024 * 1024, `the slow server sent ${sent} bytes`);
  const fastLog = await fast[0]!.log();
  assert.ok(
    [...fastLog.matchAll(/RANGE "f.bin" /g)].length >= 2,
    `the fast server fetched no stolen piece:\n${fastLog}`,
  );
});

Deno.test("--json prints a summary whose numbers match the download, and -o picks the place", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(1_234_567);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using servers = await startServers(served.path, 3);
  await writeServerList(work.path, servers.map((s) => s.port));
  await Deno.mkdir(`${work.path}/into`);
  await t.step("into a folder", async () => {
    const run = await runClient({
      cwd: work.path,
      args: ["--json", "-o", "into", "servers.txt", "3", "f.bin"],
    });
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.size, bytes.length);
    assert.equal(summary.path, "into/f.bin");
    assert.equal(summary.chunks, 3);
    assert.equal(summary.servers.length, 3);
    assert.equal(
      summary.servers.reduce(
        (sum: number, s: { bytes: number }) => sum + s.bytes,
        0,
      ),
      bytes.length,
    );
    assert.equal(summary.failovers, 0);
    assert.equal(summary.resumedBytes, 0);
    assert.ok(sameBytes(await Deno.readFile(`${work.path}/into/f.bin`), bytes));
  });
  await t.step("under another name", async () => {
    const run = await runClient({
      cwd: work.path,
      args: ["--output", "renamed.bin", "servers.txt", "2", "f.bin"],
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "");
    assert.ok(
      sameBytes(await Deno.readFile(`${work.path}/renamed.bin`), bytes),
    );
  });
});
