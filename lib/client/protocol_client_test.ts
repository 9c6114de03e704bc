import assert from "node:assert/strict";
import { encodeResponse, readRequest, Status } from "../wire/protocol.ts";
import {
  ConnectionLostError,
  DEFAULT_TIMEOUTS,
  describeFailure,
  fetchRange,
  requestSize,
} from "./protocol_client.ts";

const SERVER = { hostname: "127.0.0.1", port: 1 };

Deno.test("a failure is described in words, never as the system's socket error", () => {
  const cases: [unknown, string][] = [
    [
      new Deno.errors.ConnectionRefused("Connection refused (os error 111)"),
      "connection refused",
    ],
    [
      new Deno.errors.ConnectionReset(
        "Connection reset by peer (os error 104)",
      ),
      "the server closed the connection",
    ],
    [
      new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
      "the server closed the connection",
    ],
    [
      new Deno.errors.BadResource("Bad resource ID"),
      "the request was given up",
    ],
    [
      new Deno.errors.Interrupted("operation canceled"),
      "the request was given up",
    ],
    [
      new DOMException("The signal has been aborted", "AbortError"),
      "the request was given up",
    ],
  ];
  for (const [error, reason] of cases) {
    assert.equal(describeFailure(SERVER, error), `127.0.0.1:1: ${reason}`);
  }
});

/** A server on 127.0.0.1 that reads one request and then does `answer`. */
async function withServer(
  answer: (conn: Deno.TcpConn) => Promise<void>,
  use: (port: number) => Promise<void>,
): Promise<void> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    using conn = await listener.accept();
    await readRequest(conn);
    await answer(conn);
  })();
  try {
    await use(listener.addr.port);
  } finally {
    await served;
  }
}

Deno.test("a server that closes the connection before replying is said to have done so", async () => {
  await withServer(async () => {}, async (port) => {
    await assert.rejects(
      requestSize(
        { server: { hostname: "127.0.0.1", port }, timeouts: DEFAULT_TIMEOUTS },
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
});

Deno.test("a server that closes the connection during a transfer is said to have done so, after how many bytes", async () => {
  await withServer(async (conn) => {
    await conn.write(
      encodeResponse({
        status: Status.OK,
        message: "",
        fileSize: 100,
        payloadLength: 100,
      }),
    );
    await conn.write(new Uint8Array(10));
  }, async (port) => {
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
});
