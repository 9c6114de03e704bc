import assert from "node:assert/strict";
import { DEFAULT_TIMEOUTS, ServerReplyError } from "./request_exchange.ts";
import { findFileSize, SIZE_GRACE_MS } from "./size_lookup.ts";
import { CannotTransferError } from "./download_errors.ts";
import type { DownloadEvent } from "./download_events.ts";

const SERVERS = [1, 2, 3].map((port) => ({ hostname: "127.0.0.1", port }));

/** Answers by port: a size, an error, or a delay before either. */
function answers(
  table: Record<number, { size?: number; error?: Error; delayMs?: number }>,
) {
  return (options: { server: { port: number }; signal?: AbortSignal }) => {
    const answer = table[options.server.port]!;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (answer.error !== undefined) reject(answer.error);
        else resolve(answer.size!);
      }, answer.delayMs ?? 0);
      options.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("given up", "AbortError"));
      }, { once: true });
    });
  };
}

Deno.test("the first server in list order that reports a size is taken, and those before it are told of", async () => {
  const events: DownloadEvent[] = [];
  const found = await findFileSize({
    servers: SERVERS,
    name: "a.bin",
    timeouts: DEFAULT_TIMEOUTS,
    onEvent: (event) => events.push(event),
    askSize: answers({
      1: { error: new Error("boom") },
      2: { size: 100, delayMs: 20 },
      3: { size: 100 },
    }),
  });
  assert.deepEqual(found, {
    size: 100,
    serverIndex: 1,
    responsive: [false, true, true],
  });
  assert.deepEqual(events.map((e) => e.type), ["size-failed", "size"]);
});

Deno.test("a server before the first to answer is given up after the grace", async () => {
  const started = performance.now();
  const found = await findFileSize({
    servers: SERVERS,
    name: "a.bin",
    timeouts: DEFAULT_TIMEOUTS,
    askSize: answers({
      1: { size: 5, delayMs: 60_000 },
      2: { size: 7 },
      3: { size: 7 },
    }),
  });
  assert.equal(found.serverIndex, 1);
  assert.ok(performance.now() - started >= SIZE_GRACE_MS - 50);
});

Deno.test("no size from any server is a CannotTransferError naming each", async () => {
  await assert.rejects(
    findFileSize({
      servers: SERVERS.slice(0, 2),
      name: "a.bin",
      timeouts: DEFAULT_TIMEOUTS,
      askSize: answers({
        1: { error: new ServerReplyError("not found") },
        2: { error: new Error("boom") },
      }),
    }),
    (error) => {
      assert.ok(error instanceof CannotTransferError);
      assert.equal(error.reasons.length, 2);
      assert.match(error.reasons[1]!, /^127\.0\.0\.1:2: boom$/);
      return true;
    },
  );
});
