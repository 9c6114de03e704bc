import assert from "node:assert/strict";
import { readExact, writeAll } from "../../lib/wire/exact_io.ts";
import { Op, Status } from "../../lib/wire/protocol.ts";
import { encodeRequest, readResponse } from "../../lib/wire/frame_codec.ts";
import {
  answeringServer,
  replyingServer,
  silentServer,
} from "./fake_server.ts";

Deno.test("a silent server holds its connections open without a byte until disposed", async () => {
  const server = silentServer();
  using conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const read = conn.read(new Uint8Array(1));
  const quiet = await Promise.race([
    read.then(() => "read"),
    new Promise((resolve) => setTimeout(() => resolve("quiet"), 200)),
  ]);
  assert.equal(quiet, "quiet");
  assert.equal(server.accepted, 1);
  await server[Symbol.asyncDispose]();
  assert.equal(await read, null);
});

Deno.test("a replying server sends its text to each connection, then closes it", async () => {
  await using server = replyingServer("hello");
  for (let i = 0; i < 2; i++) {
    using conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    assert.equal(
      new TextDecoder().decode(await readExact(conn, new Uint8Array(5))),
      "hello",
    );
    assert.equal(await conn.read(new Uint8Array(1)), null);
  }
  assert.equal(server.accepted, 2);
});

Deno.test("an answering server replies to a request as told, and refuses with no payload", async () => {
  const payload = new TextEncoder().encode("abc");
  await using server = answeringServer((request) =>
    request.op === Op.RANGE
      ? { fileSize: 10, payload }
      : { status: Status.NOT_FOUND, fileSize: 10 }
  );
  const ask = async (op: Op) => {
    using conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    await writeAll(
      conn,
      encodeRequest({ op, name: "f.bin", offset: 0, length: 3 }),
    );
    const response = await readResponse(conn);
    const body = await readExact(
      conn,
      new Uint8Array(response.payloadLength),
    );
    return { ...response, body };
  };
  const range = await ask(Op.RANGE);
  assert.equal(range.status, Status.OK);
  assert.equal(range.fileSize, 10);
  assert.deepEqual(range.body, payload);
  const size = await ask(Op.SIZE);
  assert.equal(size.status, Status.NOT_FOUND);
  assert.equal(size.payloadLength, 0);
});
