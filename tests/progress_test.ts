import assert from "node:assert/strict";
import { digestsOf, sha256Of, toHex } from "./_support/digest_oracle.ts";
import { formatByteSize } from "../lib/cli/byte_size.ts";
import {
  CLIENT_SCRIPT,
  closedPort,
  randomBytes,
  replayTerminal,
  runClient,
  runClientInTerminal,
  sameBytes,
  SERVER_SCRIPT,
  serverInfo,
  ServerProcess,
  spawnClientInTerminal,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";
import { namesIn } from "./_support/file_system.ts";
import { FaultProxy } from "./_support/fault_proxy.ts";

const MIB = 1024 * 1024;
const COLUMNS = 72;
/** The display's line budget (MAX_DISPLAY_LINES in lib/client/progress/terminal.ts). */
const MAX_DISPLAY_LINES = 12;

/**
 * Four servers limited to 2 MiB/s each and a 12 MiB file, so a download
 * takes about 1.5 s: long enough for several redraws.
 */
async function slowSetup() {
  const served = await tempDir();
  const work = await tempDir();
  const bytes = randomBytes(12 * MIB);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  const servers = await Promise.all(
    Array.from(
      { length: 4 },
      () => ServerProcess.start(served.path, ["--quiet", "--rate-limit", "2M"]),
    ),
  );
  await writeServerList(work.path, servers.map((s) => s.port));
  return {
    work: work.path,
    bytes,
    ports: servers.map((s) => s.port),
    async [Symbol.asyncDispose]() {
      await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
      await work[Symbol.asyncDispose]();
      await served[Symbol.asyncDispose]();
    },
  };
}

/** The overall percents the display showed, in order. */
function percentsShown(output: string): number[] {
  // deno-lint-ignore no-control-regex -- terminal output is control codes
  return [...output.matchAll(/\x1b\[2K *(\d+)% /g)].map((m) => Number(m[1]));
}

/** The line counts the display moved up over, one per redraw. */
function redrawHeights(output: string): number[] {
  // deno-lint-ignore no-control-regex -- terminal output is control codes
  return [...output.matchAll(/\r\x1b\[(\d+)A/g)].map((m) => Number(m[1]));
}

/** The lines of the display's frames, as drawn. */
function frameLines(output: string): string[] {
  // deno-lint-ignore no-control-regex -- terminal output is control codes
  return [...output.matchAll(/\x1b\[2K([^\x1b\r\n]*)/g)].map((m) => m[1]!);
}

Deno.test("on a terminal the client redraws its progress in place, prints warnings above it and ends with the summary", async () => {
  await using setup = await slowSetup();
  // Chunk 1 starts at a server that answers the size, then closes every
  // later connection before replying: a warning while the display is up,
  // and a failover to show.
  const [first, ...rest] = setup.ports;
  await using closing = FaultProxy.start({
    upstreamPort: first!,
    fault: (connection) =>
      connection === 0 ? undefined : { kind: "cut", after: 0 },
  });
  const down = closing.port;
  await Deno.writeTextFile(
    `${setup.work}/with-down.txt`,
    serverInfo([first!, down, ...rest]),
  );
  const run = await runClientInTerminal({
    cwd: setup.work,
    args: ["with-down.txt", "4", "f.bin"],
    columns: COLUMNS,
    timeoutMs: 30_000,
  });
  assert.equal(run.code, 0, run.output);
  assert.ok(sameBytes(await Deno.readFile(`${setup.work}/f.bin`), setup.bytes));

  const percents = percentsShown(run.output);
  assert.ok(new Set(percents).size >= 3, `percents shown: ${percents}`);
  assert.deepEqual(percents, percents.toSorted((a, b) => a - b));
  assert.ok(percents.at(-1)! > 50, `percents shown: ${percents}`);
  assert.ok(redrawHeights(run.output).length >= 4, run.output);
  assert.match(run.output, /#1 127\.0\.0\.1:\d+ \[.*\] +\d+% {2}.*1 failover/);
  const drawn = frameLines(run.output);
  assert.ok(drawn.length > 0);
  for (const line of drawn) {
    assert.ok(line.length < COLUMNS, JSON.stringify(line));
  }

  // Wide enough that the warning is one line: the display fits either way.
  const screen = replayTerminal(run.output, 1000);
  assert.equal(screen.cursorVisible, true);
  // The display is gone: what stays is the size line, the warning, intact,
  // and the summary.
  const path = await Deno.realPath(`${setup.work}/f.bin`);
  assert.match(screen.lines[0]!, /^127\.0\.0\.1:\d+ reports 12582912 bytes$/);
  assert.equal(
    screen.lines[1],
    `warning: chunk 1 (bytes 3145728-6291455) stopped at byte 3145728: 127.0.0.1:${down}: the server closed the connection before replying`,
  );
  assert.match(
    screen.lines[2]!,
    /^Downloaded "f\.bin": 12\.0 MiB \(12582912 bytes\) in /,
  );
  assert.doesNotMatch(screen.lines.join("\n"), new RegExp(`:${down} +sent`));
  // Each server that sent bytes had its tasks shown, with their percent.
  const senders = screen.lines.flatMap((line) =>
    /^ {2}(127\.0\.0\.1:\d+) +sent /.exec(line)?.[1] ?? []
  );
  assert.ok(senders.length >= 3, screen.lines.join("\n"));
  for (const server of senders) {
    assert.ok(
      drawn.some((line) =>
        new RegExp(`^ {2}#\\d+ +${server} \\[=*>? *\\] +\\d+%`).test(line)
      ),
      server,
    );
  }
  assert.equal(screen.lines.at(-1), `Saved as ${JSON.stringify(path)}`);
  assert.ok(
    !screen.lines.some((line) => /^ *\d+% |#\d+ 127\./.test(line)),
    screen.lines.join("\n"),
  );
});

Deno.test("on a terminal 200 chunks are shown compactly, within the line budget", async () => {
  await using setup = await slowSetup();
  const run = await runClientInTerminal({
    cwd: setup.work,
    args: ["servers.txt", "200", "f.bin"],
    columns: COLUMNS,
    timeoutMs: 30_000,
  });
  assert.equal(run.code, 0, run.output);
  assert.ok(sameBytes(await Deno.readFile(`${setup.work}/f.bin`), setup.bytes));
  const heights = redrawHeights(run.output);
  assert.ok(heights.length >= 4, run.output);
  assert.ok(
    heights.every((h) => h >= 2 && h <= MAX_DISPLAY_LINES),
    `frame heights: ${heights}`,
  );
  assert.match(run.output, /200 chunks: \d+ done, \d+ active, \d+ waiting/);
  assert.match(run.output, /#\d+ +127\.0\.0\.1:\d+ +\d+%/);
  const screen = replayTerminal(run.output, COLUMNS);
  assert.ok(screen.widestWhileHidden < COLUMNS, `${screen.widestWhileHidden}`);
  assert.equal(screen.cursorVisible, true);
  assert.match(screen.lines.at(-2)!, /^ {2}200 chunks from 4 of 4 servers; /);
});

/** The chunk numbers in the display's per-chunk lines. */
function chunksShown(output: string): Set<number> {
  return new Set(
    frameLines(output).flatMap((line) => /^ {2}#(\d+) /.exec(line)?.[1] ?? [])
      .map(Number),
  );
}

Deno.test("on a terminal 4 chunks asked for stay 4 chunks while fast servers take over a slow one's work", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(12 * MIB);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  // Chunk 0's server sends 512 KiB/s, the others 4 MiB/s: they finish
  // their own chunks first and take over parts of chunk 0.
  const servers = await Promise.all(
    ["512K", "4M", "4M", "4M"].map((rate) =>
      ServerProcess.start(served.path, ["--quiet", "--rate-limit", rate])
    ),
  );
  try {
    await writeServerList(work.path, servers.map((s) => s.port));
    const run = await runClientInTerminal({
      cwd: work.path,
      args: ["servers.txt", "4", "f.bin"],
      columns: COLUMNS,
      timeoutMs: 30_000,
    });
    assert.equal(run.code, 0, run.output);
    assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
    assert.deepEqual([...chunksShown(run.output)].sort(), [0, 1, 2, 3]);
    assert.doesNotMatch(run.output, /\d+ chunks: /);
    const screen = replayTerminal(run.output, 1000);
    assert.ok(
      screen.lines.some((line) =>
        /^ {2}4 chunks from \d of 4 servers; /.test(line)
      ),
      screen.lines.join("\n"),
    );
  } finally {
    await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
  }
});

Deno.test("on a terminal a resumed download shows the chunks of the first run, those kept from before too", async () => {
  await using setup = await slowSetup();
  // 8 chunks of 1.5 MiB; the first run got chunk 0.
  const kept = 3 * MIB / 2;
  const part = new Uint8Array(setup.bytes.length);
  part.set(setup.bytes.subarray(0, kept));
  await Deno.writeFile(`${setup.work}/f.bin.part`, part);
  await Deno.writeTextFile(
    `${setup.work}/f.bin.part.state`,
    JSON.stringify({
      format: "msfd-state-1",
      name: "f.bin",
      size: setup.bytes.length,
      blockSize: 64 * 1024,
      identity: toHex(sha256Of(digestsOf(setup.bytes, 64 * 1024))),
      done: [[0, kept]],
    }) + "\n",
  );
  const run = await runClientInTerminal({
    cwd: setup.work,
    args: ["servers.txt", "8", "f.bin"],
    columns: COLUMNS,
    timeoutMs: 30_000,
  });
  assert.equal(run.code, 0, run.output);
  assert.ok(sameBytes(await Deno.readFile(`${setup.work}/f.bin`), setup.bytes));
  assert.deepEqual(
    [...chunksShown(run.output)].sort(),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.ok(
    frameLines(run.output).some((line) =>
      /^ {2}#0 - +\[=+\] 100% {2}resumed$/.test(line)
    ),
    run.output,
  );
  const screen = replayTerminal(run.output, 1000);
  assert.ok(
    screen.lines.some((line) =>
      /^Downloaded "f\.bin": 12\.0 MiB \(12582912 bytes\) in [\d.]+ s: 1\.5 MiB resumed from before, 10\.5 MiB fetched at [\d.]+ [KM]iB\/s$/
        .test(line)
    ),
    screen.lines.join("\n"),
  );
  assert.ok(
    screen.lines.some((line) =>
      /^ {2}8 chunks from 4 of 4 servers; /.test(line)
    ),
    screen.lines.join("\n"),
  );
});

Deno.test("Ctrl-C on a terminal clears the display and gives the cursor back", async () => {
  await using setup = await slowSetup();
  const child = spawnClientInTerminal({
    cwd: setup.work,
    args: ["servers.txt", "4", "f.bin"],
    columns: COLUMNS,
    keyboard: true,
    timeoutMs: 30_000,
  });
  const keyboard = child.stdin.getWriter();
  let output = "";
  try {
    const decoder = new TextDecoder();
    const reader = child.stdout.getReader();
    let pressed = false;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      output += decoder.decode(value, { stream: true });
      if (!pressed && percentsShown(output).some((p) => p > 0)) {
        await keyboard.write(new TextEncoder().encode("\x03"));
        pressed = true;
      }
    }
  } finally {
    await keyboard.close().catch(() => {});
    await child.stderr.cancel();
  }
  const { code } = await child.status;
  assert.equal(code, 130, output);
  // Wide enough that the message is one line: the display fits either way.
  const screen = replayTerminal(output, 1000);
  assert.equal(screen.cursorVisible, true);
  assert.match(
    screen.lines.at(-1)!,
    /^(\^C)?Interrupted at \d+% \([\d.]+ MiB of 12\.0 MiB\): the partial file is kept as "f\.bin\.part"/,
  );
  assert.ok(
    !screen.lines.some((line) => /^ *\d+% /.test(line)),
    screen.lines.join("\n"),
  );
  await Deno.stat(`${setup.work}/f.bin.part`);
});

Deno.test("with standard error piped the client prints no escape codes", async () => {
  await using setup = await slowSetup();
  const run = await runClient({
    cwd: setup.work,
    args: ["servers.txt", "4", "f.bin"],
    timeoutMs: 30_000,
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(!run.stderr.includes("\x1b["), JSON.stringify(run.stderr));
  assert.doesNotMatch(run.stderr, /\d+% /);
  assert.match(run.stderr, /^Downloaded "f\.bin": /m);
});

Deno.test("--quiet prints nothing on standard error on success", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(3 * MIB + 5);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(served.path, ["--quiet"]);
  await writeServerList(work.path, [server.port, closedPort()]);
  await t.step("piped", async () => {
    const run = await runClient({
      cwd: work.path,
      args: ["--quiet", "-o", "piped.bin", "servers.txt", "3", "f.bin"],
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    assert.equal(run.stdout, "");
    assert.ok(sameBytes(await Deno.readFile(`${work.path}/piped.bin`), bytes));
  });
  await t.step("on a terminal", async () => {
    const run = await runClientInTerminal({
      cwd: work.path,
      args: ["--quiet", "-o", "tty.bin", "servers.txt", "3", "f.bin"],
    });
    assert.equal(run.code, 0, run.output);
    assert.deepEqual(replayTerminal(run.output).lines, []);
    assert.ok(!run.output.includes("\x1b[?25l"), JSON.stringify(run.output));
    assert.ok(sameBytes(await Deno.readFile(`${work.path}/tty.bin`), bytes));
  });
});

Deno.test("the summary names each server that sent bytes and where the file went, as --json counts them", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(2 * MIB + 12_345);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using a = await ServerProcess.start(served.path, ["--quiet"]);
  await using b = await ServerProcess.start(served.path, ["--quiet"]);
  const down = closedPort();
  await writeServerList(work.path, [a.port, down, b.port]);
  await Deno.mkdir(`${work.path}/into`);
  const run = await runClient({
    cwd: work.path,
    args: ["--json", "-o", "into", "servers.txt", "3", "f.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  const json = JSON.parse(run.stdout);
  const path = await Deno.realPath(`${work.path}/into/f.bin`);
  const summary = run.stderr.slice(run.stderr.indexOf("Downloaded"));
  const lines = summary.trimEnd().split("\n");
  assert.equal(
    lines[0],
    `Downloaded "f.bin": 2.0 MiB (${bytes.length} bytes) in ${
      json.seconds.toFixed(2)
    } s, ${formatByteSize(json.bytesPerSecond)}/s`,
  );
  const sent = lines.filter((line) => / sent /.test(line));
  assert.equal(sent.length, 2, summary);
  let total = 0;
  for (const port of [a.port, b.port]) {
    const entry = json.servers.find(
      (s: { server: string }) => s.server === `127.0.0.1:${port}`,
    );
    assert.ok(entry.bytes > 0);
    total += entry.bytes;
    assert.ok(
      sent.some((line) =>
        line.startsWith(`  127.0.0.1:${port}  sent `) &&
        line.endsWith(`(${entry.bytes} bytes)`)
      ),
      summary,
    );
  }
  assert.equal(total, bytes.length);
  assert.doesNotMatch(summary, new RegExp(`:${down} `));
  assert.match(
    summary,
    new RegExp(
      `^ {2}3 chunks from 2 of 3 servers; ${json.failovers} failovers?, 0 retry rounds$`,
      "m",
    ),
  );
  assert.equal(lines.at(-1), `Saved as ${JSON.stringify(path)}`);
  assert.ok(sameBytes(await Deno.readFile(path), bytes));
});

/** Runs `deno run <flags> <script> <args>` in `cwd`, output piped. */
async function runWithFlags(
  cwd: string,
  flags: string[],
  script: string,
  args: string[],
) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return {
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("a permission missing from the sandbox is named with the flag to add", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  await Deno.writeFile(`${served.path}/f.bin`, randomBytes(10_000));
  await using server = await ServerProcess.start(served.path, ["--quiet"]);
  await writeServerList(work.path, [server.port]);
  const args = ["servers.txt", "2", "f.bin"];
  const refusals = [
    {
      missing: "--allow-write",
      flags: ["--allow-net", "--allow-read"],
      stderr:
        'error: no write access to "f.bin.part": run with --allow-write (or deno task client)\n',
    },
    {
      missing: "--allow-read",
      flags: ["--allow-net", "--allow-write"],
      stderr:
        'error: no read access to "servers.txt": run with --allow-read (or deno task client)\n',
    },
    {
      missing: "--allow-net",
      flags: ["--allow-read", "--allow-write"],
      stderr:
        `error: no net access to "127.0.0.1:${server.port}": run with --allow-net (or deno task client)\n`,
    },
  ];
  for (const { missing, flags, stderr } of refusals) {
    await t.step(`client without ${missing}`, async () => {
      const run = await runWithFlags(work.path, flags, CLIENT_SCRIPT, args);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stderr, stderr);
    });
  }
  await t.step("nothing was written", async () => {
    assert.deepEqual(await namesIn(work.path), ["servers.txt"]);
  });
  await t.step("server without --allow-net", async () => {
    const run = await runWithFlags(
      served.path,
      ["--allow-read"],
      SERVER_SCRIPT,
      ["--host", "127.0.0.1", "0"],
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /^error: Cannot start the server: no net access to "127\.0\.0\.1:0": run with --allow-net \(or deno task server\)\n$/,
    );
  });
});
