import assert from "node:assert/strict";
import { serveConnection, type ServeOptions } from "./connection_loop.ts";
import { DigestCache } from "./digest_cache.ts";
import { ServedFolder } from "./served_folder.ts";
import { readExact, writeAll } from "../wire/exact_io.ts";
import { Op, type Request, type Response, Status } from "../wire/protocol.ts";
import { encodeRequest, readResponse } from "../wire/frame_codec.ts";
import { pattern } from "../../tests/_support/digest_oracle.ts";
import { withTempDir } from "../../tests/_support/temp_dir.ts";

const BYTES = pattern(1000);

/**
 * Serves one connection with the real loop, from a folder holding `f.bin`
 * ({@linkcode BYTES}), to the client `talk` plays; returns the log lines.
 */
async function serveOne(
  talk: (conn: Deno.TcpConn) => Promise<void>,
): Promise<string[]> {
  const lines: string[] = [];
  await withTempDir("connection_loop_test_", async (dir) => {
    await Deno.writeFile(`${dir}/f.bin`, BYTES);
    const options: ServeOptions = {
      folder: await ServedFolder.open(dir),
      requestTimeoutMs: 5_000,
      sendTimeoutMs: 5_000,
      log: (line) => lines.push(line),
      digestCache: new DigestCache(),
    };
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = listener.accept().then((conn) =>
      serveConnection(conn, options)
    );
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.addr.port,
    });
    try {
      await talk(conn);
    } finally {
      // Closed before the loop ends: it waits for the client to close.
      conn.close();
    }
    await served;
  });
  return lines;
}

async function ask(
  conn: Deno.TcpConn,
  request: Request,
): Promise<{ response: Response; payload: Uint8Array }> {
  await writeAll(conn, encodeRequest(request));
  const response = await readResponse(conn);
  const payload = await readExact(conn, new Uint8Array(response.payloadLength));
  return { response, payload };
}

async function assertClosed(conn: Deno.TcpConn): Promise<void> {
  assert.equal(await conn.read(new Uint8Array(1)), null);
}

Deno.test("the loop answers a range request with its bytes, logs it and closes", async () => {
  const lines = await serveOne(async (conn) => {
    const { response, payload } = await ask(conn, {
      op: Op.RANGE,
      name: "f.bin",
      offset: 100,
      length: 250,
    });
    assert.equal(response.status, Status.OK);
    assert.equal(response.fileSize, BYTES.length);
    assert.deepEqual(payload, BYTES.subarray(100, 350));
    await assertClosed(conn);
  });
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^\S+Z 127\.0\.0\.1:\d+ RANGE "f\.bin" 100\+250 sent=250 ok \d+ms$/,
  );
});

Deno.test("the loop answers request after request on a connection kept open", async () => {
  const lines = await serveOne(async (conn) => {
    const size = await ask(conn, {
      op: Op.SIZE,
      name: "f.bin",
      offset: 0,
      length: 0,
      keepOpen: true,
    });
    assert.equal(size.response.fileSize, BYTES.length);
    const range = await ask(conn, {
      op: Op.RANGE,
      name: "f.bin",
      offset: 990,
      length: 10,
      keepOpen: true,
    });
    assert.deepEqual(range.payload, BYTES.subarray(990));
    const last = await ask(conn, {
      op: Op.RANGE,
      name: "f.bin",
      offset: 0,
      length: 1,
    });
    assert.deepEqual(last.payload, BYTES.subarray(0, 1));
    await assertClosed(conn);
  });
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, / SIZE "f\.bin" sent=0 ok \d+ms$/);
  assert.match(lines[1]!, / RANGE "f\.bin" 990\+10 sent=10 ok \d+ms$/);
  assert.match(lines[2]!, / RANGE "f\.bin" 0\+1 sent=1 ok \d+ms$/);
});

Deno.test("the loop closes a connection after an error reply, even one asked to stay open", async () => {
  const lines = await serveOne(async (conn) => {
    const { response } = await ask(conn, {
      op: Op.RANGE,
      name: "f.bin",
      offset: 999,
      length: 2,
      keepOpen: true,
    });
    assert.equal(response.status, Status.RANGE);
    assert.equal(
      response.message,
      'Range 999+2 is past the end of "f.bin" (1000 bytes)',
    );
    await assertClosed(conn);
  });
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    / RANGE "f\.bin" 999\+2 sent=0 range not satisfiable: Range 999\+2 is past the end of "f\.bin" \(1000 bytes\) \d+ms$/,
  );
});

Deno.test("the loop answers a missing file with not found", async () => {
  const lines = await serveOne(async (conn) => {
    const { response } = await ask(conn, {
      op: Op.SIZE,
      name: "nothing",
      offset: 0,
      length: 0,
    });
    assert.equal(response.status, Status.NOT_FOUND);
    await assertClosed(conn);
  });
  assert.match(lines[0]!, / SIZE "nothing" sent=0 not found: /);
});

Deno.test("the loop gives a stranger's bytes no reply and logs a bad request", async () => {
  const lines = await serveOne(async (conn) => {
    await writeAll(conn, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    await assertClosed(conn);
  });
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    / - sent=0 bad request: Not a request of this protocol: the magic bytes do not match \d+ms$/,
  );
});

Deno.test("the loop logs a client that leaves before its request is complete", async () => {
  const lines = await serveOne(async (conn) => {
    await writeAll(
      conn,
      encodeRequest({
        op: Op.SIZE,
        name: "f.bin",
        offset: 0,
        length: 0,
      }).subarray(0, 10),
    );
    await conn.closeWrite();
    await assertClosed(conn);
  });
  assert.match(
    lines[0]!,
    / - sent=0 disconnected: the client closed the connection before its request was complete \d+ms$/,
  );
});
