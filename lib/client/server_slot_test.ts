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

Deno.test("a server slot's lock admits as many requests at once as it has connections", async () => {
  for (const connections of [1, 3]) {
    const slot = new ServerSlot(
      0,
      new FakeSource("a", new Uint8Array(1)),
      connections,
    );
    let inside = 0;
    let most = 0;
    const gate = Promise.withResolvers<void>();
    const requests = Array.from(
      { length: 5 },
      () =>
        slot.lock.runExclusive(async () => {
          inside++;
          most = Math.max(most, inside);
          await gate.promise;
          inside--;
        }),
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(inside, connections);
    assert.equal(slot.lock.isLocked(), true);
    gate.resolve();
    await Promise.all(requests);
    assert.equal(most, connections);
    assert.equal(slot.lock.isLocked(), false);
  }
  assert.throws(
    () => new ServerSlot(0, new FakeSource("a", new Uint8Array(1)), 0),
    RangeError,
  );
});

Deno.test("each concurrent transfer of a slot takes its own receive buffers, given back for the next", () => {
  const slot = new ServerSlot(0, new FakeSource("a", new Uint8Array(1)), 2);
  const first = slot.takeBuffers();
  const second = slot.takeBuffers();
  assert.notEqual(first, second);
  slot.giveBackBuffers(second);
  assert.equal(slot.takeBuffers(), second);
  slot.giveBackBuffers(first);
  assert.equal(slot.takeBuffers(), first);
});

Deno.test("a server slot records where the bytes it sent lie, merged", () => {
  const slot = new ServerSlot(0, new FakeSource("a", new Uint8Array(1)));
  slot.noteBytes(10, 100);
  slot.noteBytes(5, 110);
  slot.noteBytes(5, 0);
  slot.noteBytes(3);
  assert.deepEqual(slot.sent.intervals, [[0, 5], [100, 115]]);
  assert.equal(slot.bytesSent, 23);
});
