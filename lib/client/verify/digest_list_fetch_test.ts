import assert from "node:assert/strict";
import { Mutex } from "async-mutex";
import type { DownloadEvent } from "../download_events.ts";
import { DEFAULT_TIMEOUTS } from "../request_exchange.ts";
import { fetchReference } from "./digest_list_fetch.ts";
import { ReferenceDigests } from "./reference_digests.ts";

const SERVERS = [1, 2, 3].map((port) => ({ hostname: "127.0.0.1", port }));
const BLOCKS = 4;
const LIST = new Uint8Array(BLOCKS * 32).map((_, i) => i);

/** A list request that sends the list up to `cutAt` bytes, then fails. */
function listFrom(cuts: Record<number, number>) {
  const asked: number[] = [];
  const request = (
    options: { server: { port: number } },
    _request: unknown,
    _blockSize: number,
    listener: {
      onReply?: () => void;
      onDigests: (at: number, bytes: Uint8Array) => void;
    },
  ): Promise<void> => {
    const port = options.server.port;
    asked.push(port);
    listener.onReply?.();
    const cut = cuts[port] ?? LIST.length;
    if (cut > 0) listener.onDigests(0, LIST.subarray(0, cut));
    return cut < LIST.length
      ? Promise.reject(new Error("cut"))
      : Promise.resolve();
  };
  return { request, asked };
}

function fetchWith(requestList: ReturnType<typeof listFrom>["request"]) {
  const reference = new ReferenceDigests(BLOCKS);
  const events: DownloadEvent[] = [];
  const done = fetchReference({
    servers: SERVERS,
    name: "a.bin",
    timeouts: DEFAULT_TIMEOUTS,
    onEvent: (event) => events.push(event),
    first: 1,
    size: BLOCKS * 1024,
    blockSize: 1024,
    reference,
    locks: SERVERS.map(() => new Mutex()),
    signal: new AbortController().signal,
    onReply: () => {},
    isExcluded: () => false,
    exclude: () => {},
    onServer: () => {},
    requestList: requestList as never,
  });
  return { reference, events, done };
}

Deno.test("the digest list is asked of the size server first", async () => {
  const { request, asked } = listFrom({});
  const { reference, events, done } = fetchWith(request);
  await done;
  assert.deepEqual(asked, [2]);
  assert.equal(reference.covered, BLOCKS);
  assert.deepEqual(events, []);
});

Deno.test("a list cut midway is continued by the next server in list order", async () => {
  const { request, asked } = listFrom({ 2: 64 });
  const { reference, events, done } = fetchWith(request);
  await done;
  assert.deepEqual(asked, [2, 3]);
  assert.equal(reference.covered, BLOCKS);
  assert.deepEqual(events.map((e) => e.type), ["list-moved"]);
});

Deno.test("when no server sends the rest, the list gives up and says from where", async () => {
  const { request } = listFrom({ 1: 32, 2: 32, 3: 32 });
  const { reference, events, done } = fetchWith(request);
  await done;
  assert.ok(reference.ended);
  const last = events.at(-1);
  assert.equal(last?.type, "unverified");
  assert.equal(last?.type === "unverified" && last.from, 1024);
});
