import assert from "node:assert/strict";
import type { DownloadEvent } from "../download_events.ts";
import { DEFAULT_TIMEOUTS } from "../request_exchange.ts";
import { MsfdSource } from "../msfd_source.ts";
import { ServerSlot } from "../server_slot.ts";
import { fetchReference, joinReasons } from "./digest_list_fetch.ts";
import { ReferenceDigests } from "./reference_digests.ts";

const SERVERS = [1, 2, 3].map((port) => ({ hostname: "127.0.0.1", port }));
const BLOCKS = 4;
const LIST = new Uint8Array(BLOCKS * 32).map((_, i) => i);

/** Servers that send the list up to `cuts[port]` bytes, then fail; the
 * ports asked, in order. */
function listFrom(cuts: Record<number, number>) {
  const asked: number[] = [];
  const slots = SERVERS.map((server, i) => {
    const source = new MsfdSource({
      server,
      name: "a.bin",
      timeouts: DEFAULT_TIMEOUTS,
    });
    source.blockDigests = (_request, listener) => {
      asked.push(server.port);
      listener.onReply?.();
      const cut = cuts[server.port] ?? LIST.length;
      if (cut > 0) listener.onDigests(0, LIST.subarray(0, cut));
      return cut < LIST.length
        ? Promise.reject(new Error("cut"))
        : Promise.resolve();
    };
    return new ServerSlot(i, source);
  });
  return { slots, asked };
}

function fetchWith(slots: ServerSlot[]) {
  const reference = new ReferenceDigests(BLOCKS);
  const events: DownloadEvent[] = [];
  const done = fetchReference({
    slots,
    onEvent: (event) => events.push(event),
    first: 1,
    size: BLOCKS * 1024,
    blockSize: 1024,
    reference,
    signal: new AbortController().signal,
    onReply: () => {},
    exclude: () => {},
    onServer: () => {},
  });
  return { reference, events, done };
}

Deno.test("the digest list is asked of the size server first", async () => {
  const { slots, asked } = listFrom({});
  const { reference, events, done } = fetchWith(slots);
  await done;
  assert.deepEqual(asked, [2]);
  assert.equal(reference.covered, BLOCKS);
  assert.deepEqual(events, []);
});

Deno.test("a list cut midway is continued by the next server in list order", async () => {
  const { slots, asked } = listFrom({ 2: 64 });
  const { reference, events, done } = fetchWith(slots);
  await done;
  assert.deepEqual(asked, [2, 3]);
  assert.equal(reference.covered, BLOCKS);
  assert.deepEqual(events.map((e) => e.type), ["list-moved"]);
});

Deno.test("when no server sends the rest, the list gives up and says from where", async () => {
  const { slots } = listFrom({ 1: 32, 2: 32, 3: 32 });
  const { reference, events, done } = fetchWith(slots);
  await done;
  assert.ok(reference.ended);
  const last = events.at(-1);
  assert.equal(last?.type, "unverified");
  assert.equal(last?.type === "unverified" && last.from, 1024);
});

Deno.test("servers that sent no list for the same reason are named together, once", () => {
  assert.equal(
    joinReasons([
      { label: "http://a/f", line: "http://a/f: keeps no block digests" },
      { label: "b:1", line: "b:1: connection refused" },
      { label: "http://c/f", line: "http://c/f: keeps no block digests" },
    ]),
    "http://a/f, http://c/f: keeps no block digests; b:1: connection refused",
  );
});
