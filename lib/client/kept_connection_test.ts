import assert from "node:assert/strict";
import { KeptConnection } from "./kept_connection.ts";

/** Two connected ends on 127.0.0.1: the client's and the server's. */
async function connectedPair(
  listener: Deno.TcpListener,
): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const accepted = listener.accept();
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  return [client, await accepted];
}

/** Whether the server's end sees its peer closed. */
async function peerClosed(server: Deno.TcpConn): Promise<boolean> {
  return await server.read(new Uint8Array(1)) === null;
}

Deno.test("a kept connection is given to the next request once", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await connectedPair(listener);
  using _server = server;
  const kept = new KeptConnection();
  assert.equal(kept.take(), undefined);
  kept.keep(client);
  const taken = kept.take();
  assert.equal(taken, client);
  assert.equal(kept.take(), undefined);
  taken?.close();
});

Deno.test("keeping a connection closes the one kept before, and disposing closes the last", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [first, firstServer] = await connectedPair(listener);
  const [second, secondServer] = await connectedPair(listener);
  using _first = firstServer;
  using _second = secondServer;
  {
    using kept = new KeptConnection();
    kept.keep(first);
    kept.keep(second);
    assert.ok(await peerClosed(firstServer));
  }
  assert.ok(await peerClosed(secondServer));
  assert.throws(() => second.close(), Deno.errors.BadResource);
});
