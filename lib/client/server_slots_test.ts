import assert from "node:assert/strict";
import { FakeSource } from "../../tests/_support/fake_source.ts";
import type { DownloadEvent } from "./download_events.ts";
import { DEFAULT_TIMEOUTS } from "./request_exchange.ts";
import { ServerSlot } from "./server_slot.ts";
import { learnSize, openSlots, slotExcluder } from "./server_slots.ts";
import { protocolServer } from "./server_entry.ts";

const ENTRIES = [1, 2].map((port) =>
  protocolServer({ hostname: "127.0.0.1", port })
);
const SERVERS = ["127.0.0.1:1", "127.0.0.1:2"];

Deno.test("a slot is made for each server, in list order, named by its address", () => {
  const slots = openSlots({
    servers: ENTRIES,
    name: "a.bin",
    timeouts: DEFAULT_TIMEOUTS,
  });
  assert.deepEqual(slots.map((slot) => slot.index), [0, 1]);
  assert.deepEqual(
    slots.map((slot) => slot.source.label),
    ["127.0.0.1:1", "127.0.0.1:2"],
  );
  for (const slot of slots) slot[Symbol.dispose]();
});

Deno.test("the slots whose source reported the size settled on are marked as answering it", async () => {
  const slots = [
    new ServerSlot(0, new FakeSource("a", new Uint8Array(10))),
    new ServerSlot(1, new FakeSource("b", new Uint8Array(12))),
  ];
  const found = await learnSize(slots, { servers: SERVERS, name: "a.bin" });
  assert.equal(found.size, 10);
  assert.deepEqual(slots.map((slot) => slot.answeredSize), [true, false]);
});

Deno.test("a server that reported another size is left out, the warning naming it and both sizes", async () => {
  const slots = [
    new ServerSlot(0, new FakeSource("a", new Uint8Array(10))),
    new ServerSlot(1, new FakeSource("b", new Uint8Array(12))),
  ];
  const events: DownloadEvent[] = [];
  await learnSize(slots, {
    servers: SERVERS,
    name: "a.bin",
    onEvent: (event) => events.push(event),
  });
  assert.equal(slots[0]!.excluded, false);
  assert.equal(
    slots[1]!.excludedWhy,
    "its file is 12 bytes, not 10 as 127.0.0.1:1 reported",
  );
  assert.deepEqual(events.filter((e) => e.type === "server-excluded"), [{
    type: "server-excluded",
    server: "127.0.0.1:2",
    reason: "its file is 12 bytes, not 10 as 127.0.0.1:1 reported",
  }]);
});

Deno.test("a server is left out once, and told of once", () => {
  const slots = SERVERS.map((_, i) =>
    new ServerSlot(i, new FakeSource(`s${i}`, new Uint8Array(1)))
  );
  const events: DownloadEvent[] = [];
  const exclude = slotExcluder(slots, SERVERS, (event) => events.push(event));
  exclude(1, "another size");
  exclude(1, "another size again");
  assert.equal(slots[1]!.excludedWhy, "another size");
  assert.equal(slots[0]!.excluded, false);
  assert.deepEqual(events, [{
    type: "server-excluded",
    server: SERVERS[1],
    reason: "another size",
  }]);
});
