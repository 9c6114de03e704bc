/**
 * Connections kept open between the ranges of one server, against real
 * server processes.
 */

import assert from "node:assert/strict";
import {
  DEFAULT_TIMEOUTS,
  fetchRange,
  KeptConnection,
} from "../lib/server_connection.ts";
import {
  randomBytes,
  runClient,
  sameBytes,
  serverInfo,
  ServerProcess,
  tempDir,
} from "./harness.ts";

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
  await Deno.writeTextFile(
    `${work.path}/servers.txt`,
    serverInfo([server.port]),
  );
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
  const request = {
    server: { hostname: "127.0.0.1", port: server.port },
    timeouts: DEFAULT_TIMEOUTS,
    kept,
  };
  const fetch = async (offset: number, length: number) => {
    const got = new Uint8Array(length);
    let at = 0;
    await fetchRange(request, {
      name: "f.bin",
      offset,
      length,
      fileSize: bytes.length,
      onData: (piece) => {
        got.set(piece, at);
        at += piece.length;
        return Promise.resolve();
      },
    });
    assert.deepEqual(got, bytes.subarray(offset, offset + length));
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
