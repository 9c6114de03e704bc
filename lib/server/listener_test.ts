import assert from "node:assert/strict";
import { acceptSerially, listen, type Listening } from "./listener.ts";

function closeAll(listening: Listening): void {
  for (const listener of listening.listeners) listener.close();
}

Deno.test("listen on a host gives one socket, described by its address", () => {
  const listening = listen({ host: "127.0.0.1", port: 0 });
  try {
    assert.equal(listening.listeners.length, 1);
    const { port } = listening.listeners[0]!.addr;
    assert.equal(listening.description, `127.0.0.1:${port}`);
  } finally {
    closeAll(listening);
  }
});

Deno.test("listen without a host takes IPv4 connections on all interfaces", async () => {
  const listening = listen({ host: undefined, port: 0 });
  try {
    assert.match(listening.description, /\(all interfaces, /);
    const { port } = listening.listeners[0]!.addr;
    const accepted = Promise.any(
      listening.listeners.map((listener) => listener.accept()),
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    (await accepted).close();
  } finally {
    closeAll(listening);
  }
});

Deno.test("acceptSerially serves one connection at a time until stopped, then closes its sockets", async () => {
  const listening = listen({ host: "127.0.0.1", port: 0 });
  const { port } = listening.listeners[0]!.addr;
  const stop = new AbortController();
  let serving = 0;
  let most = 0;
  const served: number[] = [];
  const loop = acceptSerially(listening, {
    signal: stop.signal,
    warn: (line) => assert.fail(line),
    serve: async (conn) => {
      most = Math.max(most, ++serving);
      const byte = new Uint8Array(1);
      await conn.read(byte);
      served.push(byte[0]!);
      conn.close();
      serving--;
      if (served.length === 3) stop.abort();
    },
  });
  const clients = await Promise.all(
    [1, 2, 3].map(() => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  for (const [i, conn] of clients.entries()) {
    await conn.write(new Uint8Array([i + 1]));
  }
  await loop;
  for (const conn of clients) conn.close();
  assert.equal(most, 1);
  assert.deepEqual(served.toSorted(), [1, 2, 3]);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("acceptSerially returns at once, its sockets closed, when already stopped", async () => {
  const listening = listen({ host: "127.0.0.1", port: 0 });
  const { port } = listening.listeners[0]!.addr;
  await acceptSerially(listening, {
    signal: AbortSignal.abort(),
    warn: (line) => assert.fail(line),
    serve: () => Promise.reject(new Error("Nothing should be served")),
  });
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});
