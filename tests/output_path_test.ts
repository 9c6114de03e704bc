/**
 * The client's output path: one download per output at a time, a final
 * name never taken from another file, output paths and side files that
 * cannot be used refused before any server is asked, and names as long as
 * a server can serve.
 */

import assert from "node:assert/strict";
import {
  clientOutcome,
  randomBytes,
  runClient,
  sameBytes,
  serverInfo,
  ServerProcess,
  spawnClient,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";
import { sideFilePaths } from "../lib/client/output/side_files.ts";
import { ignoresFileModes } from "./_support/temp_dir.ts";
import { Tmpfs } from "./_support/tmpfs.ts";
import { namesIn, waitFor } from "./_support/file_system.ts";

/** A server of `served` slowed to 1 MB/s, listed in `work`'s servers.txt. */
async function slowServerListed(
  served: string,
  work: string,
): Promise<ServerProcess> {
  const server = await ServerProcess.start(served, ["--rate-limit", "1M"]);
  await writeServerList(work, [server.port]);
  return server;
}

/** Starts a client in `work` and waits until `path` appears. */
async function spawnUntil(
  work: string,
  { args, path }: { args: string[]; path: string },
): Promise<Deno.ChildProcess> {
  const client = spawnClient({ cwd: work, args });
  await waitFor(path);
  return client;
}

Deno.test("a second download to the same output is refused at once while the first runs, and the first saves its own file", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  // Two files of one base name, with different bytes.
  const a = randomBytes(2 * 1024 * 1024);
  const b = randomBytes(2 * 1024 * 1024);
  await Deno.mkdir(`${served.path}/a`);
  await Deno.mkdir(`${served.path}/b`);
  await Deno.writeFile(`${served.path}/a/data.bin`, a);
  await Deno.writeFile(`${served.path}/b/data.bin`, b);
  await using server = await slowServerListed(served.path, work.path);
  const first = await spawnUntil(work.path, {
    args: ["servers.txt", "2", "a/data.bin"],
    path: `${work.path}/data.bin.part`,
  });
  for (
    const args of [
      ["servers.txt", "2", "b/data.bin"],
      ["servers.txt", "2", "a/data.bin"],
      ["--force", "servers.txt", "4", "b/data.bin"],
      ["-o", ".", "servers.txt", "2", "b/data.bin"],
      ["-o", `${work.path}/./data.bin`, "servers.txt", "2", "b/data.bin"],
    ]
  ) {
    const second = await runClient({ cwd: work.path, args });
    assert.equal(second.code, 2, second.stderr);
    assert.match(
      second.stderr,
      /^error: Another download to ".*data\.bin", or to one of its side files, is running \(it holds ".*data\.bin\.part\.lock"\): wait for it to end, or name another output with -o$/m,
    );
    // Refused before any server was asked.
    assert.doesNotMatch(second.stderr, /reports|Saved/);
  }
  const done = await clientOutcome(first);
  assert.equal(done.code, 0, done.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/data.bin`), a));
  // Every side file is gone, the lock too.
  assert.deepEqual(await namesIn(work.path), ["data.bin", "servers.txt"]);
  // Only the first client asked the server: one size request.
  const sizes = (await server.log()).match(/SIZE "/g) ?? [];
  assert.equal(sizes.length, 1);
});

Deno.test("a download to another download's partial file or state, and that download, never run at once", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const data = randomBytes(2 * 1024 * 1024);
  const partial = randomBytes(2 * 1024 * 1024);
  await Deno.writeFile(`${served.path}/data.bin`, data);
  await Deno.writeFile(`${served.path}/data.bin.part`, partial);
  await Deno.writeTextFile(`${served.path}/data.bin.part.state`, "{}");
  await using server = await slowServerListed(served.path, work.path);
  // The download to data.bin runs; data.bin.part and data.bin.part.state
  // are its side files.
  const first = await spawnUntil(work.path, {
    args: ["servers.txt", "2", "data.bin"],
    path: `${work.path}/data.bin.part.lock`,
  });
  for (const name of ["data.bin.part", "data.bin.part.state"]) {
    const second = await runClient({
      cwd: work.path,
      args: ["servers.txt", "2", name],
    });
    assert.equal(second.code, 2, second.stderr);
    assert.equal(
      second.stderr,
      `error: Another download that writes "data.bin.part" or the files beside it is running (it holds "data.bin.part.lock"): wait for it to end, or name another output with -o\n`,
    );
  }
  const done = await clientOutcome(first);
  assert.equal(done.code, 0, done.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/data.bin`), data));
  assert.deepEqual(await namesIn(work.path), ["data.bin", "servers.txt"]);
  await Deno.remove(`${work.path}/data.bin`);

  // The other way round: the download to data.bin.part runs first.
  const other = spawnClient({
    cwd: work.path,
    args: ["servers.txt", "2", "data.bin.part"],
  });
  await waitFor(`${work.path}/data.bin.part.part.lock`);
  const second = await runClient({
    cwd: work.path,
    args: ["servers.txt", "2", "data.bin"],
  });
  assert.equal(second.code, 2, second.stderr);
  assert.equal(
    second.stderr,
    `error: Another download to "data.bin", or to one of its side files, is running (it holds "data.bin.part.lock"): wait for it to end, or name another output with -o\n`,
  );
  const saved = await clientOutcome(other);
  assert.equal(saved.code, 0, saved.stderr);
  assert.ok(
    sameBytes(await Deno.readFile(`${work.path}/data.bin.part`), partial),
  );
  assert.deepEqual(await namesIn(work.path), ["data.bin.part", "servers.txt"]);
  // Only the two downloads that ran asked the server.
  assert.equal((await server.log()).match(/SIZE "/g)?.length, 2);
});

Deno.test("a partial file that another program puts in place after the checks is left alone", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  await Deno.writeFile(`${served.path}/data.bin`, randomBytes(100_000));
  await using server = await ServerProcess.start(served.path);
  // Listed first, it accepts and never answers: the client waits a moment
  // for its size after the checks.
  using silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await writeServerList(work.path, [silent.addr.port, server.port]);
  const client = spawnClient({
    cwd: work.path,
    args: ["servers.txt", "2", "data.bin"],
  });
  using _asked = await silent.accept();
  await Deno.writeTextFile(`${work.path}/data.bin.part`, "another program's");
  const run = await clientOutcome(client);
  assert.equal(run.code, 5, run.stderr);
  assert.match(
    run.stderr,
    /^error: "data\.bin\.part" appeared during the download, where the partial download goes: it is left alone; move it away, and run the same command again\nNothing was kept; fix the cause and run the same command again\.\n$/m,
  );
  assert.equal(
    await Deno.readTextFile(`${work.path}/data.bin.part`),
    "another program's",
  );
  assert.deepEqual(await namesIn(work.path), ["data.bin.part", "servers.txt"]);
});

Deno.test("a file that takes the output's name during the download is not replaced, and --force then finishes from the kept bytes", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(2 * 1024 * 1024);
  await Deno.writeFile(`${served.path}/data.bin`, bytes);
  await using _server = await slowServerListed(served.path, work.path);
  const client = await spawnUntil(work.path, {
    args: ["servers.txt", "2", "data.bin"],
    path: `${work.path}/data.bin.part`,
  });
  await Deno.writeTextFile(`${work.path}/data.bin`, "someone else's");
  const run = await clientOutcome(client);
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.stderr,
    /^error: "data\.bin" appeared while the file was downloaded: it is not replaced; the download is kept as "data\.bin\.part": remove "data\.bin", or run the same command with --force to replace it$/m,
  );
  assert.doesNotMatch(run.stderr, /Saved/);
  assert.equal(
    await Deno.readTextFile(`${work.path}/data.bin`),
    "someone else's",
  );
  assert.ok(
    sameBytes(await Deno.readFile(`${work.path}/data.bin.part`), bytes),
  );

  const forced = await runClient({
    cwd: work.path,
    args: ["--force", "servers.txt", "2", "data.bin"],
  });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /^Resuming: 2097152 bytes/m);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/data.bin`), bytes));
  assert.deepEqual(await namesIn(work.path), ["data.bin", "servers.txt"]);
});

Deno.test("output paths that cannot be used are refused with exit code 2 before any server is asked", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(100_000);
  await Deno.writeFile(`${served.path}/data.bin`, bytes);
  await using server = await ServerProcess.start(served.path);
  await writeServerList(work.path, [server.port]);
  await Deno.writeTextFile(`${work.path}/file`, "");
  await Deno.mkdir(`${work.path}/into/data.bin`, { recursive: true });
  const fifo = async (path: string) => {
    const made = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.equal(made.code, 0);
  };
  const cases: {
    what: string;
    args: string[];
    make?: (path: string) => Promise<void>;
    message: string;
  }[] = [
    {
      what: "into a missing folder",
      args: ["-o", "newdir/x.iso"],
      message: `Cannot write into "newdir": no such folder`,
    },
    {
      what: "into a missing folder named with a slash",
      args: ["-o", "newdir/"],
      message: `Cannot write into "newdir/": no such folder`,
    },
    {
      what: "into a file named with a slash",
      args: ["-o", "file/"],
      message: `Cannot write into "file/": it is not a folder`,
    },
    {
      what: "into a file named with a slash and a dot",
      args: ["-o", "file/."],
      message: `Cannot write into "file/.": it is not a folder`,
    },
    {
      what: "under /proc, which Deno opens only with all permissions",
      args: ["-o", "/proc/x"],
      message:
        `Deno opens "/proc/x" only with all permissions (as paths under /proc): run with --allow-all, or use a folder elsewhere`,
    },
    {
      what: "under /sys, which Deno opens only with all permissions",
      args: ["-o", "/sys/x"],
      message:
        `Deno opens "/sys/x" only with all permissions (as paths under /sys): run with --allow-all, or use a folder elsewhere`,
    },
    {
      what: "into a file",
      args: ["-o", "file/x.iso"],
      message:
        `Cannot write to "file/x.iso": part of that path is not a folder`,
    },
    {
      what: "onto a folder, with --force",
      args: ["--force"],
      make: (path) => Deno.mkdir(path),
      message: `"data.bin" is a folder: name another output with -o`,
    },
    {
      what: "onto a folder inside the -o folder, with --force",
      args: ["--force", "-o", "into"],
      message: `"into/data.bin" is a folder: name another output with -o`,
    },
    {
      what: "with a folder as the state",
      args: [],
      make: (path) => Deno.mkdir(`${path}.part.state`),
      message:
        `"data.bin.part.state" is a folder, where the download state goes: move it away, or name another output with -o`,
    },
    {
      what: "with a folder as the state's temporary copy",
      args: [],
      make: (path) => Deno.mkdir(`${path}.part.state.tmp`),
      message:
        `"data.bin.part.state.tmp" is a folder, where the download state's temporary copy goes: move it away, or name another output with -o`,
    },
    {
      what: "with a folder as the partial file",
      args: [],
      make: (path) => Deno.mkdir(`${path}.part`),
      message:
        `"data.bin.part" is a folder, where the partial download goes: move it away, or name another output with -o`,
    },
    {
      what: "with a FIFO as the partial file",
      args: [],
      make: (path) => fifo(`${path}.part`),
      message:
        `"data.bin.part" is a FIFO, where the partial download goes: move it away, or name another output with -o`,
    },
    {
      what: "with a symbolic link as the partial file",
      args: [],
      make: (path) => Deno.symlink("file", `${path}.part`),
      message:
        `"data.bin.part" is a symbolic link, where the partial download goes: move it away, or name another output with -o`,
    },
    {
      what: "with a folder as the lock",
      args: [],
      make: (path) => Deno.mkdir(`${path}.part.lock`),
      message:
        `"data.bin.part.lock" is a folder, where the lock of a running download goes: move it away, or name another output with -o`,
    },
  ];
  for (const { what, args, make, message } of cases) {
    await t.step(what, async () => {
      await make?.(`${work.path}/data.bin`);
      const before = await namesIn(work.path);
      const run = await runClient({
        cwd: work.path,
        args: [...args, "servers.txt", "2", "data.bin"],
        timeoutMs: 20_000,
      });
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr, `error: ${message}\n`);
      // Nothing made, nothing promised.
      assert.deepEqual(await namesIn(work.path), before);
      for (const name of before) {
        if (!["servers.txt", "file", "into"].includes(name)) {
          await Deno.remove(`${work.path}/${name}`, { recursive: true });
        }
      }
    });
  }
  assert.equal(await Deno.readTextFile(`${work.path}/file`), "");
  assert.doesNotMatch(await server.log(), /"data\.bin"/);
});

Deno.test({
  name:
    "a folder the client may not write into is refused with exit code 2 before any server is asked",
  // Root writes into any folder.
  ignore: ignoresFileModes(),
  fn: async () => {
    await using served = await tempDir();
    await using work = await tempDir();
    await Deno.writeFile(`${served.path}/data.bin`, randomBytes(1000));
    await using server = await ServerProcess.start(served.path);
    await writeServerList(work.path, [server.port]);
    await Deno.mkdir(`${work.path}/locked`, { mode: 0o555 });
    const run = await runClient({
      cwd: work.path,
      args: ["-o", "locked", "servers.txt", "2", "data.bin"],
    });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(
      run.stderr,
      `error: Cannot write into "locked": permission denied\n`,
    );
    assert.doesNotMatch(await server.log(), /"data\.bin"/);
    await Deno.chmod(`${work.path}/locked`, 0o755);
  },
});

Deno.test("a read-only folder is refused with exit code 2 before any server is asked", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  await Deno.writeFile(`${served.path}/data.bin`, randomBytes(1000));
  await using server = await ServerProcess.start(served.path);
  await writeServerList(work.path, [server.port]);
  await Deno.mkdir(`${work.path}/ro`);
  // Read-only for root as well, unlike a folder's mode.
  await using tmpfs = await Tmpfs.mount(`${work.path}/ro`, {
    size: "1M",
    readOnly: true,
  });
  if (tmpfs === undefined) {
    console.log("skipped: mounting a read-only tmpfs needs root");
    return;
  }
  for (const output of ["ro", "ro/data.bin"]) {
    const run = await runClient({
      cwd: work.path,
      args: ["-o", output, "servers.txt", "2", "data.bin"],
    });
    assert.equal(run.code, 2, run.stderr);
    assert.equal(
      run.stderr,
      `error: Cannot write into "ro": the file system is read-only\n`,
    );
  }
  assert.doesNotMatch(await server.log(), /"data\.bin"/);
});

Deno.test("a side file with other names is never written through: the state's temporary copy is replaced, the partial file and a lock that is none are refused", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  await using elsewhere = await tempDir();
  const bytes = randomBytes(300_000);
  await Deno.writeFile(`${served.path}/data.bin`, bytes);
  await using server = await ServerProcess.start(served.path);
  await writeServerList(work.path, [server.port]);
  const precious = `${elsewhere.path}/precious.txt`;
  const sides = sideFilePaths(`${work.path}/data.bin`);
  const replaced = [
    ["stateTemporary", "the state's temporary copy"],
    ["state", "the state"],
  ] as const;
  for (const [side, what] of replaced) {
    await t.step(`a hard link as ${what} is replaced`, async () => {
      await Deno.writeTextFile(precious, "precious\n");
      await Deno.link(precious, sides[side]);
      const run = await runClient({
        cwd: work.path,
        args: ["servers.txt", "2", "data.bin"],
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(sameBytes(await Deno.readFile(`${work.path}/data.bin`), bytes));
      assert.equal(await Deno.readTextFile(precious), "precious\n");
      assert.deepEqual(await namesIn(work.path), ["data.bin", "servers.txt"]);
      await Deno.remove(`${work.path}/data.bin`);
    });
  }
  const refused: [string, string, (path: string) => Promise<void>][] = [
    [
      "a hard link as the partial file",
      `"data.bin.part" has other names (hard links), where the partial download goes: move it away, or name another output with -o`,
      (path) => Deno.link(precious, path + ".part"),
    ],
    [
      "a hard link as the lock",
      `"data.bin.part.lock" has other names (hard links), where the lock of a running download goes: move it away, or name another output with -o`,
      (path) => Deno.link(precious, path + ".part.lock"),
    ],
    [
      "a file that is not empty as the lock",
      `"data.bin.part.lock" is a file that is not empty, where the (empty) lock of a running download goes: move it away, or name another output with -o`,
      (path) => Deno.writeTextFile(path + ".part.lock", "mine\n"),
    ],
  ];
  for (const [what, message, make] of refused) {
    await t.step(`${what} is refused`, async () => {
      await Deno.writeTextFile(precious, "precious\n");
      await make(`${work.path}/data.bin`);
      const before = await namesIn(work.path);
      const run = await runClient({
        cwd: work.path,
        args: ["servers.txt", "2", "data.bin"],
      });
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr, `error: ${message}\n`);
      assert.deepEqual(await namesIn(work.path), before);
      assert.equal(await Deno.readTextFile(precious), "precious\n");
      for (const name of before) {
        if (name !== "servers.txt") await Deno.remove(`${work.path}/${name}`);
      }
    });
  }
  assert.equal(
    (await server.log()).match(/SIZE "/g)?.length,
    2,
    "only the two downloads asked the server",
  );
});

Deno.test("a disk without free inodes keeps nothing and promises no resume", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  await Deno.writeFile(`${served.path}/data.bin`, randomBytes(300_000));
  await using server = await ServerProcess.start(served.path);
  await writeServerList(work.path, [server.port]);
  await Deno.mkdir(`${work.path}/disk`);
  // The disk's root folder takes one inode and the lock one: with 2, the
  // partial file cannot be made; with 3, its state cannot.
  for (const [inodes, failing] of [[2, "partial file"], [3, "state"]]) {
    await t.step(
      `${inodes} inodes: the ${failing} cannot be made`,
      async () => {
        await using tmpfs = await Tmpfs.mount(`${work.path}/disk`, {
          size: "8M",
          inodes: inodes as number,
        });
        if (tmpfs === undefined) {
          console.log("skipped: mounting a tmpfs needs root");
          return;
        }
        const run = await runClient({
          cwd: work.path,
          args: ["-o", "disk", "servers.txt", "2", "data.bin"],
        });
        assert.equal(run.code, 5, run.stderr);
        assert.match(run.stderr, /No space left on device/);
        assert.match(
          run.stderr,
          /\nNothing was kept; fix the cause and run the same command again\.\n$/,
        );
        assert.doesNotMatch(run.stderr, /download is kept|resume/);
        assert.deepEqual(await namesIn(`${work.path}/disk`), []);
      },
    );
  }
});

Deno.test("files whose names fill the 255 bytes a file name may have are downloaded and resumed", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const names = [
    "n".repeat(250),
    "n".repeat(251) + ".bin",
    "é".repeat(127) + "x",
    "語".repeat(85),
    "😀".repeat(63) + "abc",
  ];
  const files = new Map(
    names.map((name, i) => [name, randomBytes(50_000 + i)]),
  );
  for (const [name, bytes] of files) {
    await Deno.writeFile(`${served.path}/${name}`, bytes);
  }
  await using server = await ServerProcess.start(served.path);
  await writeServerList(work.path, [server.port]);
  for (const [name, bytes] of files) {
    await t.step(`${new TextEncoder().encode(name).length} bytes`, async () => {
      const run = await runClient({
        cwd: work.path,
        args: ["servers.txt", "3", name],
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(sameBytes(await Deno.readFile(`${work.path}/${name}`), bytes));
      assert.deepEqual(await namesIn(work.path), [name, "servers.txt"].sort());
      await Deno.remove(`${work.path}/${name}`);
    });
  }

  await t.step("resumed after an interruption", async () => {
    const name = "語".repeat(85);
    const bytes = randomBytes(2 * 1024 * 1024);
    await using slowServed = await tempDir();
    await Deno.writeFile(`${slowServed.path}/${name}`, bytes);
    await using slow = await ServerProcess.start(slowServed.path, [
      "--rate-limit",
      "1M",
    ]);
    await Deno.writeTextFile(
      `${work.path}/slow.txt`,
      serverInfo([slow.port]),
    );
    const sides = sideFilePaths(`${work.path}/${name}`);
    const client = spawnClient({
      cwd: work.path,
      args: ["slow.txt", "2", name],
    });
    await waitFor(sides.partial);
    // A state with bytes in it, saved once a second.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    client.kill("SIGINT");
    const stopped = await clientOutcome(client);
    assert.equal(stopped.code, 130, stopped.stderr);
    await Deno.lstat(sides.state);
    const run = await runClient({
      cwd: work.path,
      args: ["slow.txt", "2", name],
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^Resuming: [1-9]\d* bytes/m);
    assert.ok(sameBytes(await Deno.readFile(`${work.path}/${name}`), bytes));
    assert.deepEqual(
      await namesIn(work.path),
      [name, "servers.txt", "slow.txt"].sort(),
    );
  });
});
