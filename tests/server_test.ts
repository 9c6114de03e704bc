import assert from "node:assert/strict";
import { readExact, writeAll } from "../lib/wire/exact_io.ts";
import {
  HEADER_LENGTH,
  Op,
  type Request,
  Status,
} from "../lib/wire/protocol.ts";
import { encodeRequest, readResponse } from "../lib/wire/frame_codec.ts";
import { digestsOf } from "./_support/digest_oracle.ts";
import { PieceReader } from "./_support/piece_reader.ts";
import { concatBytes } from "../lib/wire/byte_arrays.ts";
import { quoteName } from "../lib/wire/quoted_name.ts";
import {
  clientOutcome,
  closedPort,
  randomBytes,
  runClient,
  sameBytes,
  SERVER_SCRIPT,
  ServerProcess,
  spawnClient,
  tempDir,
} from "./_support/harness.ts";

/** Connects to 127.0.0.1 (or `hostname`) and sends raw bytes; the caller
 * reads the reply and closes the connection. */
async function connectAndSend(
  port: number,
  bytes: Uint8Array,
  hostname = "127.0.0.1",
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname, port });
  await writeAll(conn, bytes);
  return conn;
}

/** Sends raw bytes and returns everything the server sends back. */
async function exchangeRaw(
  port: number,
  bytes: Uint8Array,
  hostname = "127.0.0.1",
): Promise<Uint8Array> {
  using conn = await connectAndSend(port, bytes, hostname);
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  while (true) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) break;
      throw error;
    }
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  return concatBytes(chunks);
}

/** Sends a request and decodes the reply and its payload. */
async function ask(port: number, request: Request, hostname = "127.0.0.1") {
  const reply = await exchangeRaw(port, encodeRequest(request), hostname);
  const reader = new PieceReader(reply, [Infinity]);
  const response = await readResponse(reader);
  const payload = reply.subarray(reader.consumed);
  return { ...response, payload };
}

/** Asks for a range of "f.bin" and checks the reply carries its bytes. */
async function assertServesRange(
  port: number,
  bytes: Uint8Array,
  offset: number,
  length: number,
): Promise<void> {
  const reply = await ask(port, {
    op: Op.RANGE,
    name: "f.bin",
    offset,
    length,
  });
  assert.equal(reply.status, Status.OK);
  assert.deepEqual(reply.payload, bytes.subarray(offset, offset + length));
}

Deno.test("server answers size and range requests with the file's bytes", async () => {
  await using root = await tempDir();
  const bytes = randomBytes(100_000);
  await Deno.mkdir(`${root.path}/sub`);
  await Deno.writeFile(`${root.path}/sub/data.bin`, bytes);
  await using server = await ServerProcess.start(root.path);

  const size = await ask(server.port, {
    op: Op.SIZE,
    name: "sub/data.bin",
    offset: 0,
    length: 0,
  });
  assert.equal(size.status, Status.OK);
  assert.equal(size.fileSize, 100_000);
  assert.equal(size.payload.length, 0);

  const range = await ask(server.port, {
    op: Op.RANGE,
    name: "sub/data.bin",
    offset: 12_345,
    length: 54_321,
  });
  assert.equal(range.status, Status.OK);
  assert.equal(range.payloadLength, 54_321);
  assert.deepEqual(range.payload, bytes.subarray(12_345, 12_345 + 54_321));

  const past = await ask(server.port, {
    op: Op.RANGE,
    name: "sub/data.bin",
    offset: 99_999,
    length: 2,
  });
  assert.equal(past.status, Status.RANGE);
  assert.match(past.message, /past the end/);

  const log = await server.log();
  assert.match(log, /127\.0\.0\.1:\d+ SIZE "sub\/data.bin" sent=0 ok \d+ms/);
  assert.match(log, /RANGE "sub\/data.bin" 12345\+54321 sent=54321 ok \d+ms/);
});

Deno.test("server refuses names outside the folder and anything but regular files", async (t) => {
  await using outside = await tempDir();
  await using root = await tempDir();
  await Deno.writeTextFile(`${outside.path}/secret.txt`, "secret");
  await Deno.writeTextFile(`${root.path}/ok.txt`, "fine");
  await Deno.mkdir(`${root.path}/folder`);
  await Deno.symlink(`${outside.path}/secret.txt`, `${root.path}/escape`);
  await Deno.symlink(`${root.path}/ok.txt`, `${root.path}/inside`);
  const mkfifo = await new Deno.Command("mkfifo", {
    args: [`${root.path}/pipe`],
  }).output();
  assert.ok(mkfifo.success);
  await using server = await ServerProcess.start(root.path);

  const cases: [string, Status][] = [
    [`../${outside.path.split("/").at(-1)}/secret.txt`, Status.FORBIDDEN],
    [`${outside.path}/secret.txt`, Status.FORBIDDEN],
    ["folder/../../etc/passwd", Status.FORBIDDEN],
    ["escape", Status.FORBIDDEN],
    ["folder", Status.FORBIDDEN],
    ["pipe", Status.FORBIDDEN],
    ["missing.txt", Status.NOT_FOUND],
    ["ok.txt/child", Status.NOT_FOUND],
  ];
  for (const [name, status] of cases) {
    await t.step(`"${name}" gets status ${status}`, async () => {
      const reply = await ask(server.port, {
        op: Op.SIZE,
        name,
        offset: 0,
        length: 0,
      });
      assert.equal(reply.status, status, reply.message);
      assert.ok(reply.message.length > 0);
    });
  }
  await t.step("a symlink that stays inside is served", async () => {
    const reply = await ask(server.port, {
      op: Op.RANGE,
      name: "inside",
      offset: 0,
      length: 4,
    });
    assert.equal(reply.status, Status.OK);
    assert.equal(new TextDecoder().decode(reply.payload), "fine");
  });
  await t.step("a NUL byte in the name is a bad request", async () => {
    const frame = encodeRequest({
      op: Op.SIZE,
      name: "okXtxt",
      offset: 0,
      length: 0,
    });
    frame[HEADER_LENGTH + 2] = 0;
    const reply = await exchangeRaw(server.port, frame);
    assert.equal(reply[5], Status.BAD_REQUEST);
  });
});

Deno.test("a name that leads through a symbolic link loop is refused, not reported missing", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  await Deno.symlink("loop-b", `${served.path}/loop-a`);
  await Deno.symlink("loop-a", `${served.path}/loop-b`);
  await using server = await ServerProcess.start(served.path);
  await Deno.writeTextFile(
    `${work.path}/servers.txt`,
    `127.0.0.1 ${server.port}\n`,
  );
  const run = await runClient({
    cwd: work.path,
    args: ["servers.txt", "2", "loop-a"],
  });
  assert.equal(run.code, 3, run.stderr);
  assert.ok(
    run.stderr.includes(
      `127.0.0.1:${server.port}: refused: Leads through a symbolic link loop: "loop-a"`,
    ),
    run.stderr,
  );
  assert.doesNotMatch(run.stderr, /not found|No such file/);
  assert.match(
    await server.log(),
    /SIZE "loop-a" sent=0 forbidden: Leads through a symbolic link loop: "loop-a" \(/,
  );
});

Deno.test("server survives garbage, wrong versions and vanishing clients", async (t) => {
  await using root = await tempDir();
  const bytes = randomBytes(4 * 1024 * 1024);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);

  await t.step("a stranger's bytes are dropped without a reply", async () => {
    const reply = await exchangeRaw(
      server.port,
      new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"),
    );
    assert.equal(reply.length, 0);
  });
  await t.step(
    "another protocol version gets a bad request reply",
    async () => {
      const frame = encodeRequest({
        op: Op.SIZE,
        name: "f.bin",
        offset: 0,
        length: 0,
      });
      frame[4] = 9;
      const reply = await exchangeRaw(server.port, frame);
      assert.equal(reply[5], Status.BAD_REQUEST);
    },
  );
  await t.step("an unknown operation gets a bad request reply", async () => {
    const frame = encodeRequest({
      op: Op.SIZE,
      name: "f.bin",
      offset: 0,
      length: 0,
    });
    frame[5] = 77;
    const reply = await exchangeRaw(server.port, frame);
    assert.equal(reply[5], Status.BAD_REQUEST);
  });
  await t.step(
    "a truncated request and a client that leaves mid-transfer",
    async () => {
      const frame = encodeRequest({
        op: Op.RANGE,
        name: "f.bin",
        offset: 0,
        length: bytes.length,
      });
      {
        using _conn = await connectAndSend(server.port, frame.subarray(0, 10));
      }
      {
        using conn = await connectAndSend(server.port, frame);
        await readExact(conn, new Uint8Array(1000));
      }
    },
  );
  await t.step("the server still serves a correct range", async () => {
    await assertServesRange(server.port, bytes, 1, 1_000_000);
  });
  const log = await server.log();
  assert.match(log, /bad request: Not a request of this protocol/);
  assert.match(log, /disconnected:/);
});

Deno.test("server releases an idle connection after the request timeout", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/a.txt`, "hello");
  await using server = await ServerProcess.start(root.path, [
    "--request-timeout",
    "0.5",
  ]);
  using idle = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const started = performance.now();
  // Queued behind the idle connection on the serial server.
  const reply = await ask(server.port, {
    op: Op.SIZE,
    name: "a.txt",
    offset: 0,
    length: 0,
  });
  const waited = performance.now() - started;
  assert.equal(reply.fileSize, 5);
  assert.ok(waited >= 400, `answered after ${waited} ms, before the timeout`);
  assert.equal(await idle.read(new Uint8Array(1)), null);
  assert.match(await server.log(), /disconnected: Timed out after 0.5 s/);
});

Deno.test("server stops promptly with exit code 0 on SIGINT and SIGTERM", async (t) => {
  await using root = await tempDir();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    await t.step(signal, async () => {
      await using server = await ServerProcess.start(root.path);
      const started = performance.now();
      const status = await server.stop(signal);
      assert.equal(status.code, 0);
      assert.ok(performance.now() - started < 5000);
    });
  }
  await t.step("mid-transfer", async () => {
    await Deno.writeFile(`${root.path}/slow.bin`, randomBytes(1024 * 1024));
    await using server = await ServerProcess.start(root.path, [
      "--rate-limit",
      "64K",
    ]);
    using conn = await connectAndSend(
      server.port,
      encodeRequest({
        op: Op.RANGE,
        name: "slow.bin",
        offset: 0,
        length: 1024 * 1024,
      }),
    );
    await readExact(conn, new Uint8Array(HEADER_LENGTH + 1000));
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0);
  });
});

Deno.test("a server stopped during a transfer logs it in words, and the client says the server closed the connection", async (t) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    await t.step(signal, async () => {
      await using root = await tempDir();
      await using work = await tempDir();
      const size = 1024 * 1024;
      await Deno.writeFile(`${root.path}/slow.bin`, randomBytes(size));
      // The transfer takes 4 s: the server is stopped in the middle of it.
      const server = await ServerProcess.start(root.path, [
        "--rate-limit",
        "256K",
      ]);
      await using _server = server;
      await Deno.writeTextFile(
        `${work.path}/servers.txt`,
        `127.0.0.1 ${server.port}\n`,
      );
      const client = spawnClient({
        cwd: work.path,
        args: ["--retries", "0", "servers.txt", "1", "slow.bin"],
        timeoutMs: 30_000,
      });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const status = await server.stop(signal);
      assert.equal(status.code, 0);
      const log = await server.log();
      assert.match(
        log,
        /RANGE "slow\.bin" 0\+1048576 sent=\d+ stopped during a transfer to 127\.0\.0\.1:\d+ \d+ms\n/,
      );
      assert.doesNotMatch(log, /Bad resource|os error|Interrupted|canceled/i);
      const { code, stderr } = await clientOutcome(client);
      assert.equal(code, 4, stderr);
      assert.match(
        stderr,
        new RegExp(
          `^warning: chunk 0 \\(bytes 0-1048575\\) stopped at byte \\d+: 127\\.0\\.0\\.1:${server.port}: the server closed the connection during the transfer, after \\d+ of 1048576 bytes$`,
          "m",
        ),
      );
      assert.doesNotMatch(
        stderr,
        /Bad resource|os error|Interrupted|canceled/i,
      );
    });
  }
});

Deno.test("a client that leaves logs in words when it left", async () => {
  await using root = await tempDir();
  await Deno.writeFile(`${root.path}/slow.bin`, randomBytes(1024 * 1024));
  await using server = await ServerProcess.start(root.path, [
    "--rate-limit",
    "256K",
  ]);
  {
    using conn = await connectAndSend(
      server.port,
      encodeRequest({
        op: Op.RANGE,
        name: "slow.bin",
        offset: 0,
        length: 1024 * 1024,
      }),
    );
    await readExact(conn, new Uint8Array(HEADER_LENGTH + 1000));
  }
  {
    using _conn = await connectAndSend(
      server.port,
      new TextEncoder().encode("MSFD"),
    );
  }
  // The server notices on its next write; then it serves the next client.
  const reply = await ask(server.port, {
    op: Op.SIZE,
    name: "slow.bin",
    offset: 0,
    length: 0,
  });
  assert.equal(reply.fileSize, 1024 * 1024);
  const log = await server.log();
  assert.match(
    log,
    /RANGE "slow\.bin" 0\+1048576 sent=\d+ disconnected: the client closed the connection during the transfer \d+ms\n/,
  );
  assert.match(
    log,
    / - sent=0 disconnected: the client closed the connection before its request was complete \d+ms\n/,
  );
  assert.doesNotMatch(log, /Bad resource|os error|Interrupted|canceled/i);
});

Deno.test("server reports startup errors with a message and a non-zero exit", async (t) => {
  await using root = await tempDir();
  const run = async (args: string[]) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-read", SERVER_SCRIPT, ...args],
      cwd: root.path,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: output.code,
      stderr: new TextDecoder().decode(output.stderr),
    };
  };
  await t.step("bad port", async () => {
    const result = await run(["70000"]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /Port must be an integer from 0 to 65535: received "70000"/,
    );
  });
  await t.step("missing port", async () => {
    const result = await run([]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /Expected exactly one argument, the port: received none\n/,
    );
    const two = await run(["30001", "30002"]);
    assert.equal(two.code, 2);
    assert.match(
      two.stderr,
      /Expected exactly one argument, the port: received 2 arguments\n/,
    );
  });
  await t.step("port in use", async () => {
    await using server = await ServerProcess.start(root.path);
    const result = await run(["--host", "127.0.0.1", String(server.port)]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`port ${server.port} on 127.0.0.1 is already in use`),
    );
  });
  await t.step("port in use, default host", async () => {
    await using server = await ServerProcess.start(root.path, [], {
      host: null,
    });
    const result = await run([String(server.port)]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`port ${server.port} on all interfaces is already in use`),
    );
  });
  await t.step("missing folder", async () => {
    const result = await run([
      "--root",
      "no-such-folder",
      "--host",
      "127.0.0.1",
      String(closedPort()),
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /folder "no-such-folder" does not exist/);
  });
});

Deno.test("server listens on IPv4 and IPv6 by default", async () => {
  await using root = await tempDir();
  await Deno.writeTextFile(`${root.path}/a.txt`, "hello");
  await using server = await ServerProcess.start(root.path, [], {
    host: null,
  });
  assert.match(
    server.startLine,
    /^Serving ".*" on \[::\]:\d+.* \(all interfaces, IPv4 and IPv6\)$/,
  );
  for (const hostname of ["127.0.0.1", "::1"]) {
    const reply = await ask(server.port, {
      op: Op.SIZE,
      name: "a.txt",
      offset: 0,
      length: 0,
    }, hostname);
    assert.equal(reply.status, Status.OK, `over ${hostname}`);
    assert.equal(reply.fileSize, 5, `over ${hostname}`);
  }
  const log = await server.log();
  // An IPv4 peer of a dual-stack socket is logged as IPv4, not mapped.
  assert.match(log, / 127\.0\.0\.1:\d+ SIZE/);
  assert.doesNotMatch(log, /::ffff:/);
  assert.match(log, /\[::1\]:\d+ SIZE/);
});

Deno.test("client downloads over ::1 and 127.0.0.1 from IPv6 servers", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(300_001);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using dual = await ServerProcess.start(served.path, [], {
    host: null,
  });
  await using only6 = await ServerProcess.start(served.path, [], {
    host: "::1",
  });
  assert.match(only6.startLine, /on \[::1\]:\d+$/);
  await t.step("server-info with ::1, [::1] and 127.0.0.1", async () => {
    await Deno.writeTextFile(
      `${work.path}/servers.txt`,
      `::1 ${dual.port}\n127.0.0.1 ${dual.port}\n[::1] ${only6.port}\n`,
    );
    const run = await runClient({
      cwd: work.path,
      args: ["servers.txt", "6", "f.bin"],
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
  });
  const dualLog = await dual.log();
  assert.match(dualLog, /\[::1\]:\d+ RANGE "f\.bin"/);
  assert.match(dualLog, /127\.0\.0\.1\]?:\d+ RANGE "f\.bin"/);
  assert.match(await only6.log(), /\[::1\]:\d+ RANGE "f\.bin"/);
});

Deno.test("server runs with --allow-read narrowed to the served folder", async (t) => {
  await using outside = await tempDir();
  await using root = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(200_000);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await Deno.writeTextFile(`${outside.path}/secret.txt`, "secret");
  await Deno.symlink(`${outside.path}/secret.txt`, `${root.path}/escape`);
  await Deno.symlink(outside.path, `${root.path}/out`);
  const variants = [
    {
      name: "--allow-read=<folder> --root <folder>, run elsewhere",
      args: ["--root", root.path],
      options: { allowRead: root.path, cwd: work.path },
    },
    {
      name: "--allow-read=. in the folder",
      args: [],
      options: { allowRead: "." },
    },
  ];
  for (const variant of variants) {
    await t.step(variant.name, async (t) => {
      await using server = await ServerProcess.start(
        root.path,
        variant.args,
        variant.options,
      );
      await t.step("a file in the folder downloads", async () => {
        await Deno.writeTextFile(
          `${work.path}/servers.txt`,
          `127.0.0.1 ${server.port}\n`,
        );
        const run = await runClient({
          cwd: work.path,
          args: ["--force", "servers.txt", "3", "f.bin"],
        });
        assert.equal(run.code, 0, run.stderr);
        assert.ok(
          sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes),
        );
      });
      await t.step("names that lead out get the error reply", async () => {
        for (
          const name of [
            "escape",
            "out/secret.txt",
            `../${outside.path.split("/").at(-1)}/secret.txt`,
          ]
        ) {
          const reply = await ask(server.port, {
            op: Op.SIZE,
            name,
            offset: 0,
            length: 0,
          });
          assert.equal(
            reply.status,
            Status.FORBIDDEN,
            `${name}: ${reply.message}`,
          );
        }
      });
      await t.step("the server still serves", async () => {
        await assertServesRange(server.port, bytes, 10, 100);
      });
      const log = await server.log();
      assert.doesNotMatch(log, /error: |Uncaught|NotCapable/);
    });
  }
});

/** Reads one reply and its payload from an open connection. */
async function readReply(conn: Deno.TcpConn) {
  const response = await readResponse(conn);
  const payload = await readExact(
    conn,
    new Uint8Array(response.payloadLength),
  );
  return { ...response, payload };
}

Deno.test("a connection kept open carries one request after another, then closes after a plain one", async () => {
  await using root = await tempDir();
  const bytes = randomBytes(300_000);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const requests = [
    { op: Op.RANGE, name: "f.bin", offset: 0, length: 100_000 },
    { op: Op.SIZE, name: "f.bin", offset: 0, length: 0 },
    { op: Op.RANGE, name: "f.bin", offset: 200_000, length: 100_000 },
  ];
  for (const request of requests) {
    await writeAll(conn, encodeRequest({ ...request, keepOpen: true }));
    const reply = await readReply(conn);
    assert.equal(reply.status, Status.OK);
    assert.equal(reply.fileSize, bytes.length);
    assert.deepEqual(
      reply.payload,
      request.op === Op.RANGE
        ? bytes.subarray(request.offset, request.offset + request.length)
        : new Uint8Array(0),
    );
  }
  // A plain request is the last: the server closes after its reply.
  await writeAll(
    conn,
    encodeRequest({ op: Op.RANGE, name: "f.bin", offset: 7, length: 3 }),
  );
  assert.deepEqual((await readReply(conn)).payload, bytes.subarray(7, 10));
  assert.equal(await conn.read(new Uint8Array(1)), null);
  const log = await server.log();
  assert.equal(log.match(/ RANGE "f\.bin" /g)?.length, 3, log);
  assert.equal(log.match(/ SIZE "f\.bin" /g)?.length, 1, log);
});

Deno.test("a connection kept open and left idle is closed, and the next client is served", async () => {
  await using root = await tempDir();
  const bytes = randomBytes(1000);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  using idle = await connectAndSend(
    server.port,
    encodeRequest({
      op: Op.SIZE,
      name: "f.bin",
      offset: 0,
      length: 0,
      keepOpen: true,
    }),
  );
  assert.equal((await readReply(idle)).status, Status.OK);
  // The next client waits in the backlog until the idle one is dropped.
  const started = performance.now();
  await assertServesRange(server.port, bytes, 0, 1000);
  const waited = performance.now() - started;
  assert.ok(waited < 3000, `waited ${waited} ms`);
  assert.equal(await idle.read(new Uint8Array(1)), null);
});

Deno.test("a connection kept open that then sends garbage still gets its first reply whole", async () => {
  await using root = await tempDir();
  const bytes = randomBytes(500_000);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  const request = encodeRequest({
    op: Op.RANGE,
    name: "f.bin",
    offset: 0,
    length: bytes.length,
    keepOpen: true,
  });
  // The request and, at once, bytes that are not a request, then nothing:
  // the server answers the first, refuses the rest, and closes.
  const garbage = new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n".repeat(50));
  const reply = await exchangeRaw(
    server.port,
    new Uint8Array([...request, ...garbage]),
  );
  const response = await readResponse({
    read(p: Uint8Array) {
      p.set(reply.subarray(0, HEADER_LENGTH));
      return Promise.resolve(HEADER_LENGTH);
    },
  });
  assert.equal(response.status, Status.OK);
  assert.equal(reply.length, HEADER_LENGTH + bytes.length);
  assert.deepEqual(reply.subarray(HEADER_LENGTH), bytes);
  assert.match(
    await server.log(),
    /bad request: Not a request of this protocol/,
  );
});

Deno.test("a client that keeps sending after its reply holds the server about a second at most", async () => {
  await using root = await tempDir();
  const bytes = randomBytes(1000);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  using chatty = await connectAndSend(
    server.port,
    encodeRequest({ op: Op.SIZE, name: "f.bin", offset: 0, length: 0 }),
  );
  assert.equal((await readResponse(chatty)).status, Status.OK);
  // A byte every 100 ms for 6 s, never closing.
  const trickle = (async () => {
    for (let i = 0; i < 60; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      try {
        await chatty.write(new Uint8Array(1));
      } catch {
        return; // The server closed it.
      }
    }
  })();
  const started = performance.now();
  await assertServesRange(server.port, bytes, 0, 1000);
  const waited = performance.now() - started;
  assert.ok(waited < 3000, `the next client waited ${waited} ms`);
  await trickle;
});

Deno.test("after an error reply the server reads what the client still sends, for a while", async () => {
  await using root = await tempDir();
  await using server = await ServerProcess.start(root.path);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  // A request and two bytes more, which the server does not read for the
  // request: closing with them unread would reset the connection, and a
  // reset can throw away a reply still on its way.
  const request = encodeRequest({
    op: Op.SIZE,
    name: "missing.bin",
    offset: 0,
    length: 0,
  });
  await writeAll(conn, new Uint8Array([...request, 0, 0]));
  const response = await readResponse(conn);
  assert.equal(response.status, Status.NOT_FOUND);
  // The server half-closes, and reads (and drops) what comes: the writes
  // of the next half second all go through, none meets a closed socket.
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    await writeAll(conn, new Uint8Array(1));
  }
});

Deno.test("a name that starts with U+FEFF is served as exactly that name, on both sides", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const marked = randomBytes(70_001);
  const plain = randomBytes(70_001);
  await Deno.writeFile(`${served.path}/\ufeffbom.bin`, marked);
  await Deno.writeFile(`${served.path}/bom.bin`, plain);
  await Deno.writeFile(`${served.path}/one.bin`, plain);
  await using server = await ServerProcess.start(served.path);
  await t.step("the server keeps the mark", async () => {
    const missing = await ask(server.port, {
      op: Op.SIZE,
      name: "\ufeffone.bin",
      offset: 0,
      length: 0,
    });
    assert.equal(missing.status, Status.NOT_FOUND, missing.message);
    const range = await ask(server.port, {
      op: Op.RANGE,
      name: "\ufeffbom.bin",
      offset: 0,
      length: marked.length,
    });
    assert.equal(range.status, Status.OK, range.message);
    assert.ok(sameBytes(range.payload, marked));
  });
  await Deno.writeTextFile(
    `${work.path}/servers.txt`,
    `127.0.0.1 ${server.port}\n`,
  );
  await t.step(
    "the client downloads it, named on the command line",
    async () => {
      const run = await runClient({
        cwd: work.path,
        args: ["--force", "servers.txt", "3", "\ufeffbom.bin"],
      });
      assert.equal(run.code, 0, run.stderr);
      const got = await Deno.readFile(`${work.path}/\ufeffbom.bin`);
      assert.ok(sameBytes(got, marked));
    },
  );
  await t.step("the client downloads it, named on standard input", async () => {
    await Deno.remove(`${work.path}/\ufeffbom.bin`);
    const run = await runClient({
      cwd: work.path,
      args: ["servers.txt", "3"],
      stdin: "\ufeffbom.bin\n",
    });
    assert.equal(run.code, 0, run.stderr);
    const got = await Deno.readFile(`${work.path}/\ufeffbom.bin`);
    assert.ok(sameBytes(got, marked));
    await assert.rejects(Deno.stat(`${work.path}/bom.bin`));
  });
});

Deno.test("a name ending in / names a folder, so a file named so is not found", async () => {
  await using served = await tempDir();
  await Deno.mkdir(`${served.path}/sub`);
  await Deno.writeTextFile(`${served.path}/one.bin`, "one");
  await Deno.writeTextFile(`${served.path}/sub/inner file.txt`, "inner");
  await using server = await ServerProcess.start(served.path);
  for (
    const name of [
      "one.bin/",
      "one.bin/.",
      "one.bin//",
      "./one.bin/",
      "sub/inner file.txt/",
    ]
  ) {
    for (const op of [Op.SIZE, Op.RANGE]) {
      const reply = await ask(server.port, {
        op,
        name,
        offset: 0,
        length: op === Op.RANGE ? 3 : 0,
      });
      assert.equal(reply.status, Status.NOT_FOUND, `${name}: ${reply.message}`);
      assert.equal(reply.message, `No such file: ${JSON.stringify(name)}`);
    }
  }
  const plain = await ask(server.port, {
    op: Op.SIZE,
    name: "sub/inner file.txt",
    offset: 0,
    length: 0,
  });
  assert.equal(plain.fileSize, 5);
});

Deno.test("names are shown quoted and escaped in replies, log lines and client messages", async (t) => {
  await using served = await tempDir();
  await using work = await tempDir();
  const weird = 'we"ird\nname\x1b[31m\u0085.bin';
  const bytes = randomBytes(50_000);
  await Deno.writeFile(`${served.path}/${weird}`, bytes);
  const ghost =
    'ghost"\n2000-01-01T00:00:00.000Z 127.0.0.1:1 SIZE "forged" sent=0 ok 0ms';
  await using server = await ServerProcess.start(served.path);
  await t.step("an error reply's text holds the escaped name", async () => {
    const reply = await ask(server.port, {
      op: Op.SIZE,
      name: ghost,
      offset: 0,
      length: 0,
    });
    assert.equal(reply.status, Status.NOT_FOUND);
    assert.equal(reply.message, `No such file: ${quoteName(ghost)}`);
    assert.equal(JSON.parse(reply.message.slice(14)), ghost);
    const past = await ask(server.port, {
      op: Op.RANGE,
      name: weird,
      offset: 1,
      length: bytes.length,
    });
    assert.equal(past.status, Status.RANGE);
    assert.match(
      past.message,
      /^Range 1\+50000 is past the end of "we\\"ird\\nname\\u001b\[31m\\u0085\.bin"/,
    );
  });
  await Deno.writeTextFile(
    `${work.path}/servers.txt`,
    `127.0.0.1 ${server.port}\n`,
  );
  await t.step("the client shows the names escaped", async () => {
    const saved = await runClient({
      cwd: work.path,
      args: ["servers.txt", "2", weird],
    });
    assert.equal(saved.code, 0, saved.stderr);
    assert.ok(sameBytes(await Deno.readFile(`${work.path}/${weird}`), bytes));
    assert.ok(saved.stderr.includes(`Downloaded ${quoteName(weird)}: `));
    assert.ok(
      saved.stderr.includes(`Saved as ${quoteName(`${work.path}/${weird}`)}`),
    );
    const again = await runClient({
      cwd: work.path,
      args: ["servers.txt", "2", weird],
    });
    assert.equal(again.code, 2);
    assert.ok(again.stderr.includes(`${quoteName(weird)} exists already`));
    const missing = await runClient({
      cwd: work.path,
      args: ["servers.txt", "2", ghost],
    });
    assert.equal(missing.code, 3);
    assert.ok(
      missing.stderr.startsWith(
        `Cannot transfer this file ${quoteName(ghost)}: 127.0.0.1:`,
      ),
      missing.stderr,
    );
    assert.match(missing.stderr, /: not found$/m);
    for (const run of [saved, again, missing]) {
      assert.doesNotMatch(run.stderr, /[\p{Cc}--\n]|^2000-|^ghost/mv);
    }
  });
  const log = await server.log();
  const lines = log.trimEnd().split("\n");
  // One line per request, none forged.
  assert.ok(lines.length >= 5, log);
  assert.ok(!lines.some((line) => line.startsWith("2000-")), log);
  for (const line of lines) {
    assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1:\d+ [A-Z_]+ "/);
    assert.doesNotMatch(line, /\p{Cc}/u);
  }
  assert.ok(
    log.includes(
      `SIZE ${quoteName(ghost)} sent=0 not found: No such file: ${
        quoteName(ghost)
      } (`,
    ),
  );
});

Deno.test("a file rewritten in place with its size and modification time kept gets fresh digests", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const path = `${served.path}/f.bin`;
  const before = randomBytes(300_000);
  const after = randomBytes(300_000);
  await Deno.writeFile(path, before);
  await Deno.utime(path, 1_000_000, 1_000_000);
  // Changed long enough ago for its list to be cached (SETTLE_MS).
  await new Promise((resolve) => setTimeout(resolve, 2_200));
  await using server = await ServerProcess.start(served.path);
  const listOf = async () => {
    const reply = await ask(server.port, {
      op: Op.BLOCK_HASHES,
      name: "f.bin",
      offset: 0,
      length: 4096,
    });
    assert.equal(reply.status, Status.OK, reply.message);
    return reply.payload;
  };
  assert.deepEqual(await listOf(), digestsOf(before, 4096));
  assert.deepEqual(await listOf(), digestsOf(before, 4096));
  // Rewritten in place, then its time set back (`touch -d`).
  const { ino } = await Deno.stat(path);
  await Deno.writeFile(path, after);
  await Deno.utime(path, 1_000_000, 1_000_000);
  assert.equal((await Deno.stat(path)).ino, ino);
  assert.deepEqual(await listOf(), digestsOf(after, 4096));
  await Deno.writeTextFile(
    `${work.path}/servers.txt`,
    `127.0.0.1 ${server.port}\n`,
  );
  const run = await runClient({
    cwd: work.path,
    args: ["servers.txt", "3", "f.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /not using|retry round \d/);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), after));
  const log = await server.log();
  // The unchanged file's list came from the cache.
  assert.equal(
    log.match(/BLOCK_HASHES "f\.bin" 0\+4096 sent=\d+ ok \(cached\)/g)?.length,
    1,
    log,
  );
});

Deno.test("hashing for a connection that is gone stops, so the next client is served at once", async () => {
  await using served = await tempDir();
  // 4 GiB without disk space: a sparse file.
  const size = 4 * 1024 ** 3;
  await Deno.writeFile(`${served.path}/huge.bin`, new Uint8Array());
  await Deno.truncate(`${served.path}/huge.bin`, size);
  await Deno.writeTextFile(`${served.path}/a.txt`, "hello");
  await using server = await ServerProcess.start(served.path, [
    "--send-timeout",
    "1.5",
  ]);
  {
    using conn = await connectAndSend(
      server.port,
      encodeRequest({
        op: Op.RANGE_HASH,
        name: "huge.bin",
        offset: 0,
        length: size,
      }),
    );
    // Hashing 4 GiB outlasts the send timeout: the server drops the client.
    assert.equal(await conn.read(new Uint8Array(1)), null);
  }
  const started = performance.now();
  const reply = await ask(server.port, {
    op: Op.SIZE,
    name: "a.txt",
    offset: 0,
    length: 0,
  });
  const waited = performance.now() - started;
  assert.equal(reply.fileSize, 5);
  assert.ok(waited < 1000, `the next client waited ${Math.round(waited)} ms`);
  assert.match(
    await server.log(),
    /RANGE_HASH "huge\.bin" 0\+4294967296 sent=0 disconnected: Timed out after 1\.5 s/,
  );
});

Deno.test("a request sent before the reply ended on a kept connection past its hold time leaves the reply whole", async () => {
  await using root = await tempDir();
  const bytes = randomBytes(600 * 1024);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  // The reply takes longer than the 2 s hold of a kept connection.
  await using server = await ServerProcess.start(root.path, [
    "--rate-limit",
    "250K",
  ]);
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const request = {
    op: Op.RANGE,
    name: "f.bin",
    offset: 0,
    length: bytes.length,
    keepOpen: true,
  } as const;
  await writeAll(conn, encodeRequest(request));
  // Sent early, against the protocol: the server does not answer it.
  await writeAll(conn, encodeRequest(request));
  const reply = await readResponse(conn);
  assert.equal(reply.status, Status.OK);
  const payload = await readExact(conn, new Uint8Array(bytes.length));
  assert.ok(sameBytes(payload, bytes));
  assert.equal(await conn.read(new Uint8Array(1)), null);
});
