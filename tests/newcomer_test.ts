/**
 * What a new user meets first: the tasks run from their own folder, the
 * messages for a bad command line, a server list that cannot be used, and a
 * file no server can give; each checked word for word with its exit code.
 */

import assert from "node:assert/strict";
import {
  CLIENT_SCRIPT,
  closedPort,
  collect,
  randomBytes,
  runClient,
  sameBytes,
  serverInfo,
  ServerProcess,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";
import { namesIn } from "./_support/file_system.ts";
import { replyingServer, silentServer } from "./_support/fake_server.ts";

const PROJECT_CONFIG = new URL("../deno.json", import.meta.url).pathname;
const HINT = "Run with --help for usage.";

/** The lines a run printed on standard error. */
function lines(stderr: string): string[] {
  return stderr.trimEnd().split("\n");
}

Deno.test("every bad numchunks names what it received and the range 1 to 10000, exit code 2", async (t) => {
  await using work = await tempDir();
  await Deno.writeTextFile(`${work.path}/servers.txt`, "127.0.0.1 30001\n");
  const bad = ["-1", "0", "1.5", "abc", "99999999999999999999", "10001", ""];
  for (const chunks of bad) {
    await t.step(JSON.stringify(chunks), async () => {
      const run = await runClient({
        cwd: work.path,
        args: ["servers.txt", chunks, "f.bin"],
      });
      assert.equal(run.code, 2, run.stderr);
      assert.deepEqual(lines(run.stderr), [
        `error: numchunks must be a whole number from 1 to 10000: received ${
          JSON.stringify(chunks)
        }`,
        HINT,
      ]);
    });
  }
  await t.step(
    "a negative value of an option is that option's value",
    async () => {
      const run = await runClient({
        cwd: work.path,
        args: ["--retries", "-1", "servers.txt", "4", "f.bin"],
      });
      assert.equal(run.code, 2, run.stderr);
      assert.deepEqual(lines(run.stderr), [
        'error: --retries takes a whole number from 0 to 999: received "-1"',
        HINT,
      ]);
    },
  );
});

Deno.test("an unknown option is named in one line with its quotes closed, and --help is suggested", async () => {
  await using work = await tempDir();
  const run = await runClient({
    cwd: work.path,
    args: ["-x", "servers.txt", "4", "f.bin"],
  });
  assert.equal(run.code, 2, run.stderr);
  assert.deepEqual(lines(run.stderr), [
    'error: Unknown option "-x" (a name that starts with "-" goes after "--")',
    HINT,
  ]);
});

Deno.test("errors that are not about the command line's form do not suggest --help", async (t) => {
  await using work = await tempDir();
  const dir = work.path;
  await Deno.writeTextFile(`${dir}/servers.txt`, "127.0.0.1 30001\n");
  await Deno.writeTextFile(`${dir}/bad.txt`, "127.0.0.1:30002\n");
  await Deno.writeTextFile(`${dir}/exists.bin`, "keep me");
  await Deno.mkdir(`${dir}/folder.txt`);
  const cases: [string, string[], string, string?][] = [
    [
      "the output exists",
      ["servers.txt", "4", "exists.bin"],
      'error: "exists.bin" exists already: remove it, or pass --force to replace it',
    ],
    [
      "the output's folder is missing",
      ["-o", "nowhere/", "servers.txt", "4", "f.bin"],
      'error: Cannot write into "nowhere/": no such folder',
    ],
    [
      "the server list is missing",
      ["nope.txt", "4", "f.bin"],
      'error: Cannot read server list "nope.txt": no such file',
    ],
    [
      "the server list is a folder",
      ["folder.txt", "4", "f.bin"],
      'error: Cannot read server list "folder.txt": it is a folder',
    ],
    [
      "the server list is malformed",
      ["bad.txt", "4", "f.bin"],
      'error: Cannot parse server list: line 1 is not "host port" or a URL: received "127.0.0.1:30002" (in "bad.txt")',
    ],
    [
      "the file name has no base name",
      ["servers.txt", "4", "dir/"],
      'error: Cannot name the output after "dir/": it has no file name part',
    ],
    [
      "no file name is typed",
      ["servers.txt", "4"],
      "enter filename: error: No file name given",
      "\n",
    ],
    [
      "standard input ends before a file name",
      ["servers.txt", "4"],
      "enter filename: \nerror: No file name given",
      "",
    ],
  ];
  for (const [what, args, message, stdin] of cases) {
    await t.step(what, async () => {
      const run = await runClient({
        cwd: dir,
        args,
        ...(stdin === undefined ? {} : { stdin }),
      });
      assert.equal(run.code, 2, run.stderr);
      assert.deepEqual(lines(run.stderr), message.split("\n"));
    });
  }
  await t.step("another download to the same output is running", async () => {
    using lock = await Deno.open(`${dir}/f.bin.part.lock`, {
      create: true,
      write: true,
    });
    await lock.lock(true);
    const run = await runClient({
      cwd: dir,
      args: ["servers.txt", "4", "f.bin"],
    });
    assert.equal(run.code, 2, run.stderr);
    assert.deepEqual(lines(run.stderr), [
      'error: Another download to "f.bin", or to one of its side files, is running (it holds "f.bin.part.lock"): wait for it to end, or name another output with -o',
    ]);
  });
  await t.step("a permission the sandbox refuses", async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-net",
        "--allow-read",
        CLIENT_SCRIPT,
        "servers.txt",
        "4",
        "f.bin",
      ],
      cwd: dir,
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.deepEqual(lines(stderr), [
      'error: no write access to "f.bin.part": run with --allow-write (or deno task client)',
    ]);
  });
});

Deno.test("Cannot transfer this file names the file and says why for each server", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  await Deno.mkdir(`${served.path}/folder`);
  await using server = await ServerProcess.start(served.path);
  await using http = replyingServer(
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
  );
  await using silent = silentServer();
  const refused = closedPort();

  await t.step("one server: one line", async () => {
    await Deno.writeTextFile(
      `${work.path}/one.txt`,
      serverInfo([server.port]),
    );
    const run = await runClient({
      cwd: work.path,
      args: ["one.txt", "4", "missing.txt"],
    });
    assert.equal(run.code, 3, run.stderr);
    assert.deepEqual(lines(run.stderr), [
      `Cannot transfer this file "missing.txt": 127.0.0.1:${server.port}: not found`,
    ]);
  });

  const ports = [server.port, refused, http.port, silent.port];
  await Deno.writeTextFile(`${work.path}/all.txt`, serverInfo(ports));
  const expected = (name: string, why: string) => [
    `Cannot transfer this file ${name}: no server reported its size`,
    `  127.0.0.1:${server.port}: ${why}`,
    `  127.0.0.1:${refused}: connection refused`,
    `  127.0.0.1:${http.port}: wrong protocol: its reply does not start with "MSFD" (it speaks another protocol)`,
    `  127.0.0.1:${silent.port}: timed out after 1 s without progress while waiting for the reply`,
  ];
  for (const quiet of [false, true]) {
    await t.step(
      `several servers: a list${quiet ? ", with --quiet" : ""}`,
      async () => {
        const run = await runClient({
          cwd: work.path,
          args: [
            ...(quiet ? ["--quiet"] : []),
            "--reply-timeout",
            "1",
            "all.txt",
            "4",
            "missing.txt",
          ],
        });
        assert.equal(run.code, 3, run.stderr);
        assert.deepEqual(
          lines(run.stderr),
          expected('"missing.txt"', "not found"),
        );
      },
    );
  }
  await t.step("a name the server refuses, escaped", async () => {
    await Deno.rename(`${served.path}/folder`, `${served.path}/fold\ter`);
    const run = await runClient({
      cwd: work.path,
      args: ["--reply-timeout", "1", "all.txt", "4", "fold\ter"],
    });
    assert.equal(run.code, 3, run.stderr);
    assert.deepEqual(
      lines(run.stderr),
      expected(
        '"fold\\ter"',
        'refused: Not a regular file: "fold\\ter"',
      ),
    );
  });
  assert.deepEqual(await namesIn(work.path), ["all.txt", "one.txt"]);
});

/** The environment of the tests' own process, without `INIT_CWD`: a task
 * run from a test must learn its folder as one run from a shell does. */
function shellEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return env;
}

Deno.test("deno task server and deno task client work in the folder they are run from", async () => {
  await using top = await tempDir();
  const files = `${top.path}/files`;
  const downloads = `${top.path}/downloads`;
  await Deno.mkdir(files);
  await Deno.mkdir(downloads);
  const bytes = randomBytes(100_001);
  await Deno.writeFile(`${files}/big.iso`, bytes);

  // No --root: the server serves the folder the task was run from.
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "--config",
      PROJECT_CONFIG,
      "server",
      "--host",
      "127.0.0.1",
      "0",
    ],
    cwd: files,
    clearEnv: true,
    env: shellEnv(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const serverLog = collect(server.stderr);
  const reader = server.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  try {
    let startLine = "";
    while (!startLine.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      startLine += value;
    }
    const match = /^Serving "(.*)" on 127\.0\.0\.1:(\d+)\n/.exec(startLine);
    if (match === null) {
      assert.fail(`no start line: ${startLine}`);
    }
    assert.equal(match[1], await Deno.realPath(files));
    const port = Number(match[2]);

    await writeServerList(top.path, [port]);
    const client = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "--config",
        PROJECT_CONFIG,
        "client",
        "../servers.txt",
        "4",
        "big.iso",
      ],
      cwd: downloads,
      clearEnv: true,
      env: shellEnv(),
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(client.stderr);
    assert.equal(client.code, 0, stderr);
    assert.ok(sameBytes(await Deno.readFile(`${downloads}/big.iso`), bytes));
  } finally {
    server.kill("SIGTERM");
    await reader.cancel();
    await server.status;
    await serverLog;
  }
});

Deno.test("a server list ending its lines in CR alone is read line by line", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  await Deno.writeTextFile(`${served.path}/f.bin`, "hello");
  await using server = await ServerProcess.start(served.path);
  await Deno.writeTextFile(
    `${work.path}/good.txt`,
    `# servers\r127.0.0.1 ${server.port}\r`,
  );
  const good = await runClient({
    cwd: work.path,
    args: ["good.txt", "2", "f.bin"],
  });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(await Deno.readTextFile(`${work.path}/f.bin`), "hello");

  await Deno.writeTextFile(
    `${work.path}/bad.txt`,
    `127.0.0.1 ${server.port}\r127.0.0.1 x\r`,
  );
  const bad = await runClient({
    cwd: work.path,
    args: ["bad.txt", "2", "g.bin"],
  });
  assert.equal(bad.code, 2, bad.stderr);
  assert.deepEqual(lines(bad.stderr), [
    'error: Cannot parse server list: line 2: Port must be an integer from 1 to 65535: received "x" (in "bad.txt")',
  ]);
});

Deno.test("control characters in a server list are shown escaped", async () => {
  await using work = await tempDir();
  await Deno.writeTextFile(`${work.path}/nul.txt`, "127.0.0.1 300\u00001\n");
  const run = await runClient({
    cwd: work.path,
    args: ["nul.txt", "2", "f.bin"],
  });
  assert.equal(run.code, 2, run.stderr);
  assert.deepEqual(lines(run.stderr), [
    'error: Cannot parse server list: line 1: Port must be an integer from 1 to 65535: received "300\\u00001" (in "nul.txt")',
  ]);
});

Deno.test("the server list is read from standard input as - or /dev/stdin", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(5000);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(served.path);
  for (const path of ["-", "/dev/stdin"]) {
    await t.step(`${path} with a file name`, async () => {
      const run = await runClient({
        cwd: work.path,
        args: ["--force", path, "3", "f.bin"],
        stdin: serverInfo([server.port]),
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
    });
    await t.step(`${path} without a file name`, async () => {
      const run = await runClient({
        cwd: work.path,
        args: [path, "3"],
        stdin: serverInfo([server.port]),
      });
      assert.equal(run.code, 2, run.stderr);
      assert.deepEqual(lines(run.stderr), [
        "error: No file name given: standard input holds the server list, so the file name goes on the command line",
        HINT,
      ]);
    });
  }
  await t.step(
    "a malformed list is said to come from standard input",
    async () => {
      const run = await runClient({
        cwd: work.path,
        args: ["-", "3", "g.bin"],
        stdin: "localhost\n",
      });
      assert.equal(run.code, 2, run.stderr);
      assert.deepEqual(lines(run.stderr), [
        'error: Cannot parse server list: line 1 is not "host port" or a URL: received "localhost" (in standard input)',
      ]);
    },
  );
});

Deno.test("--version names the protocol version of both programs", async () => {
  await using work = await tempDir();
  const client = await runClient({ cwd: work.path, args: ["--version"] });
  assert.equal(client.code, 0, client.stderr);
  assert.equal(client.stdout, "client.ts 0.1.0, protocol 2\n");
  const server = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      new URL("../server.ts", import.meta.url).pathname,
      "--version",
    ],
    stdin: "null",
  }).output();
  assert.equal(server.code, 0);
  assert.equal(
    new TextDecoder().decode(server.stdout),
    "server.ts 0.1.0, protocol 2\n",
  );
});
