import assert from "node:assert/strict";
import { ReceiveBuffers } from "./receive_buffers.ts";

Deno.test("receive buffers take turns and keep their memory", async () => {
  const buffers = new ReceiveBuffers();
  const a = await buffers.take(8);
  const b = await buffers.take(8);
  assert.notEqual(a.buffer, b.buffer);
  assert.ok(a.buffer instanceof SharedArrayBuffer);
  assert.equal(a.length, 8);
  assert.equal(await buffers.take(4), a);
  assert.equal(await buffers.take(8), b);
});

Deno.test("a receive buffer too small for the piece is replaced by a larger one", async () => {
  const buffers = new ReceiveBuffers();
  const small = await buffers.take(4);
  await buffers.take(4);
  const large = await buffers.take(16);
  assert.notEqual(large.buffer, small.buffer);
  assert.equal(large.length, 16);
});

Deno.test("a held receive buffer is taken again only once its hold settles", async () => {
  const buffers = new ReceiveBuffers();
  const first = await buffers.take(8);
  const check = Promise.withResolvers<void>();
  buffers.hold(check.promise);
  await buffers.take(8);
  let taken: Uint8Array | undefined;
  const next = buffers.take(8).then((buffer) => taken = buffer);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(taken, undefined, "taken while still held");
  check.resolve();
  await next;
  assert.equal(taken, first);
});

Deno.test("a receive buffer whose hold rejects is free again", async () => {
  const buffers = new ReceiveBuffers();
  const first = await buffers.take(8);
  buffers.hold(Promise.reject(new Error("bad block")));
  await buffers.take(8);
  assert.equal(await buffers.take(8), first);
});

Deno.test("receive buffers refuse fewer than two buffers and a hold before a take", () => {
  assert.throws(() => new ReceiveBuffers(1), RangeError);
  assert.throws(
    () => new ReceiveBuffers().hold(Promise.resolve()),
    /No buffer was taken/,
  );
});
