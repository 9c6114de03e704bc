import assert from "node:assert/strict";
import { ProtocolError, Status } from "../wire/protocol.ts";
import { encodeResponse, readRequest } from "../wire/frame_codec.ts";
import { writeAll } from "../wire/exact_io.ts";
import { FakeServer } from "../../tests/_support/fake_server.ts";
import { fetchRange, requestBlockDigests } from "./protocol_client.ts";
import { ConnectionLostError, DEFAULT_TIMEOUTS } from "./request_exchange.ts";

/** A server that reads one request and answers OK with this header (and
 * the payload bytes given, if any). */
function answering(
  header: { fileSize: number; payloadLength: number },
  payload?: Uint8Array,
): FakeServer {
  return new FakeServer(async (conn) => {
    await readRequest(conn);
    await writeAll(
      conn,
      encodeResponse({ status: Status.OK, message: "", ...header }),
    );
    if (payload !== undefined) await writeAll(conn, payload);
  });
}

Deno.test("a server that closes the connection during a transfer is said to have done so, after how many bytes", async () => {
  await using server = answering(
    { fileSize: 100, payloadLength: 100 },
    new Uint8Array(10),
  );
  const port = server.port;
  await assert.rejects(
    fetchRange(
      { server: { hostname: "127.0.0.1", port }, timeouts: DEFAULT_TIMEOUTS },
      {
        name: "f.bin",
        offset: 0,
        length: 100,
        fileSize: 100,
        onData: () => Promise.resolve(),
      },
    ),
    (error: unknown) => {
      assert.ok(error instanceof ConnectionLostError, String(error));
      assert.equal(
        error.message,
        "the server closed the connection during the transfer, after 10 of 100 bytes",
      );
      return true;
    },
  );
});

Deno.test("a digest list for a file too large for any list is refused in words, not as undefined bytes", async () => {
  const size = 2 ** 52;
  await using server = answering({ fileSize: size, payloadLength: 32 });
  await assert.rejects(
    requestBlockDigests(
      {
        server: { hostname: "127.0.0.1", port: server.port },
        timeouts: DEFAULT_TIMEOUTS,
      },
      { name: "f.bin", fileSize: size },
      2 ** 30,
      { onDigests: () => {} },
    ),
    (error: unknown) => {
      assert.ok(error instanceof ProtocolError, String(error));
      assert.equal(
        error.message,
        `A file of ${size} bytes has no digest list in blocks of 1073741824 bytes: it would pass the protocol's limit of 67108864 bytes`,
      );
      return true;
    },
  );
});
