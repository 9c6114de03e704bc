import assert from "node:assert/strict";
import { Status } from "../wire/protocol.ts";
import { encodeResponse, readRequest } from "../wire/frame_codec.ts";
import { writeAll } from "../wire/exact_io.ts";
import { FakeServer } from "../../tests/_support/fake_server.ts";
import { describeFailure } from "./failure_reasons.ts";
import { requestSize } from "./protocol_client.ts";
import {
  ConnectionLostError,
  DEFAULT_TIMEOUTS,
  exchange,
  ServerReplyError,
} from "./request_exchange.ts";

const SERVER = { hostname: "127.0.0.1", port: 1 };

Deno.test("a server that closes the connection before replying is said to have done so", async () => {
  await using server = new FakeServer(async (conn) => {
    await readRequest(conn);
  });
  await assert.rejects(
    requestSize(
      {
        server: { hostname: "127.0.0.1", port: server.port },
        timeouts: DEFAULT_TIMEOUTS,
      },
      "f.bin",
    ),
    (error: unknown) => {
      assert.ok(error instanceof ConnectionLostError, String(error));
      assert.equal(
        describeFailure(SERVER, error),
        "127.0.0.1:1: the server closed the connection before replying",
      );
      return true;
    },
  );
});

Deno.test("a reply with an error status is thrown with its status and its message made visible", async () => {
  await using server = new FakeServer(async (conn) => {
    await readRequest(conn);
    await writeAll(
      conn,
      encodeResponse({
        status: Status.NOT_FOUND,
        message: "no \x1b[2Jf.bin",
        fileSize: 0,
        payloadLength: 0,
      }),
    );
  });
  let bodyRan = false;
  await assert.rejects(
    exchange(
      {
        server: { hostname: "127.0.0.1", port: server.port },
        timeouts: DEFAULT_TIMEOUTS,
      },
      { op: 1, name: "f.bin", offset: 0, length: 0 },
      () => {
        bodyRan = true;
        return Promise.resolve();
      },
    ),
    (error: unknown) => {
      assert.ok(error instanceof ServerReplyError, String(error));
      assert.equal(error.status, Status.NOT_FOUND);
      assert.ok(!error.message.includes("\x1b"), error.message);
      assert.equal(error.message, "not found: no \\u001b[2Jf.bin");
      return true;
    },
  );
  assert.equal(bodyRan, false);
});
