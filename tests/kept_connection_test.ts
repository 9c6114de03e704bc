/**
 * Connections kept open between the ranges of one server, against real
 * server processes.
 */

import assert from "node:assert/strict";
import { concatBytes } from "../lib/wire/byte_arrays.ts";
import { readExact, writeAll } from "../lib/wire/exact_io.ts";
import {
  HEADER_LENGTH,
  KEEP_OPEN_VERSION,
  Status,
  VERSION,
} from "../lib/wire/protocol.ts";
import { encodeResponse } from "../lib/wire/frame_codec.ts";
import { DEFAULT_TIMEOUTS } from "../lib/client/request_exchange.ts";
import { KeptConnection } from "../lib/client/kept_connection.ts";
import { fetchRange } from "../lib/client/protocol_client.ts";
import {
  randomBytes,
  runClient,
  sameBytes,
  ServerProcess,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";

/** Fetches a range of "f.bin" from a server on 127.0.0.1 through `kept`. */
async function fetchBytes(
  port: number,
  kept: KeptConnection,
  fileSize: number,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  await fetchRange(
    {
      server: { hostname: "127.0.0.1", port },
      timeouts: DEFAULT_TIMEOUTS,
      kept,
    },
    {
      name: "f.bin",
      offset,
      length,
      fileSize,
      onData: (piece) => {
        pieces.push(piece.slice());
        return Promise.resolve();
      },
    },
  );
  return concatBytes(pieces);
}

/** The client ports of the server's RANGE log lines, in order. */
function rangePeers(log: string): string[] {
  return [...log.matchAll(/ (\S+) RANGE "/g)].map((match) => match[1]!);
}

Deno.test("a client fetches every chunk a server sends over one connection", async () => {
  await using root = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(2 * 1024 * 1024);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  await writeServerList(work.path, [server.port]);
  const run = await runClient({
    cwd: work.path,
    args: ["servers.txt", "8", "f.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
  const peers = rangePeers(await server.log());
  assert.equal(peers.length, 8);
  assert.equal(new Set(peers).size, 1, `peers: ${peers.join(", ")}`);
});

Deno.test("a kept connection the server has closed is replaced by a new one", async () => {
  await using root = await tempDir();
  const bytes = randomBytes(100_000);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  using kept = new KeptConnection();
  const fetch = async (offset: number, length: number) => {
    assert.deepEqual(
      await fetchBytes(server.port, kept, bytes.length, offset, length),
      bytes.subarray(offset, offset + length),
    );
  };
  await fetch(0, 50_000);
  await fetch(50_000, 25_000);
  // The server drops a kept connection left idle for about a second.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await fetch(75_000, 25_000);
  const peers = rangePeers(await server.log());
  assert.equal(peers.length, 3);
  assert.equal(peers[0], peers[1]);
  assert.notEqual(peers[1], peers[2]);
});

Deno.test("a client does not hold a server from others for its whole download", async () => {
  await using root = await tempDir();
  await using first = await tempDir();
  await using second = await tempDir();
  const bytes = randomBytes(6 * 1024 * 1024);
  const small = randomBytes(100_000);
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await Deno.writeFile(`${root.path}/small.bin`, small);
  // 1 MiB/s: the first client's six ranges take about 6 s in all.
  await using server = await ServerProcess.start(root.path, [
    "--rate-limit",
    "1M",
  ]);
  for (const work of [first, second]) {
    await writeServerList(work.path, [server.port]);
  }
  const long = runClient({
    cwd: first.path,
    args: ["servers.txt", "6", "f.bin"],
  });
  await new Promise((resolve) => setTimeout(resolve, 1200));
  // Served within its reply timeout, between the first client's ranges.
  const short = await runClient({
    cwd: second.path,
    args: [
      "--reply-timeout",
      "4.5",
      "--no-verify",
      "servers.txt",
      "1",
      "small.bin",
    ],
  });
  assert.equal(short.code, 0, short.stderr);
  const run = await long;
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${first.path}/f.bin`), bytes));
  assert.ok(sameBytes(await Deno.readFile(`${second.path}/small.bin`), small));
});

Deno.test("a server of protocol version 1 is asked again in version 1", async () => {
  const bytes = randomBytes(10_000);
  // A server that speaks only version 1, as before kept connections.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const versions: number[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      try {
        const header = await readExact(conn, new Uint8Array(HEADER_LENGTH));
        const view = new DataView(header.buffer);
        versions.push(header[4]!);
        await readExact(conn, new Uint8Array(view.getUint16(6)));
        const offset = Number(view.getBigUint64(8));
        const length = Number(view.getBigUint64(16));
        if (header[4] !== VERSION) {
          await writeAll(
            conn,
            encodeResponse({
              status: Status.BAD_REQUEST,
              message: `Unsupported protocol version: received ${
                header[4]
              }, expected 1`,
              fileSize: 0,
              payloadLength: 0,
            }),
          );
        } else {
          await writeAll(
            conn,
            encodeResponse({
              status: Status.OK,
              message: "",
              fileSize: bytes.length,
              payloadLength: length,
            }),
          );
          await writeAll(conn, bytes.subarray(offset, offset + length));
        }
      } finally {
        conn.close();
      }
      if (versions.length === 3) return;
    }
  })();
  using kept = new KeptConnection();
  for (const [offset, length] of [[0, 6000], [6000, 4000]] as const) {
    assert.deepEqual(
      await fetchBytes(
        listener.addr.port,
        kept,
        bytes.length,
        offset,
        length,
      ),
      bytes.subarray(offset, offset + length),
    );
  }
  await serving;
  assert.ok(kept.refused);
  // Version 2 once, refused; then version 1 only.
  assert.deepEqual(versions, [KEEP_OPEN_VERSION, VERSION, VERSION]);
});
