import assert from "node:assert/strict";
import { FakeSource } from "../../tests/_support/fake_source.ts";
import { ServerSlot } from "./server_slot.ts";

Deno.test("a server slot is left out once, with the first reason", () => {
  const slot = new ServerSlot(2, new FakeSource("a", new Uint8Array(1)));
  assert.equal(slot.excluded, false);
  assert.equal(slot.exclude("its copy differs"), true);
  assert.equal(slot.exclude("another reason"), false);
  assert.equal(slot.excludedWhy, "its copy differs");
});

Deno.test("a new pass forgets failures and stuck flags but not bytes sent", () => {
  const slot = new ServerSlot(0, new FakeSource("a", new Uint8Array(1)));
  slot.answeredSize = true;
  slot.noteBytes(10);
  slot.failed = true;
  slot.stuck = true;
  slot.beginPass();
  assert.deepEqual(
    [slot.failed, slot.stuck, slot.responsive, slot.bytesSent],
    [false, false, true, 10],
  );
});

Deno.test("bytes from a stuck server clear its stuck flag and count it as answering", () => {
  const slot = new ServerSlot(0, new FakeSource("a", new Uint8Array(1)));
  slot.beginPass();
  slot.stuck = true;
  slot.noteBytes(5);
  assert.deepEqual([slot.stuck, slot.responsive], [false, true]);
});

Deno.test("disposing of a server slot lets go of its source's connection", () => {
  const source = new FakeSource("a", new Uint8Array(1));
  new ServerSlot(0, source)[Symbol.dispose]();
  assert.equal(source.released, 1);
});
