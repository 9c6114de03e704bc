import assert from "node:assert/strict";
import { MsfdSource } from "./msfd_source.ts";
import { DEFAULT_TIMEOUTS } from "./request_exchange.ts";

Deno.test("an msfd source names itself by its server's address", () => {
  const source = new MsfdSource({
    server: { hostname: "::1", port: 9000 },
    name: "a.bin",
    timeouts: DEFAULT_TIMEOUTS,
  });
  assert.equal(source.label, "[::1]:9000");
  assert.equal(
    source.describeFailure(new Deno.errors.ConnectionRefused("refused")),
    "[::1]:9000: connection refused",
  );
  source.release();
});

Deno.test("an msfd source asks its server for the size over TCP", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const source = new MsfdSource({
    server: { hostname: "127.0.0.1", port: listener.addr.port },
    name: "a.bin",
    timeouts: { connectMs: 2000, replyMs: 2000, stallMs: 2000 },
  });
  const accepted = listener.accept().then((conn) => conn.close());
  await assert.rejects(source.size(), /closed the connection before replying/);
  await accepted;
});
