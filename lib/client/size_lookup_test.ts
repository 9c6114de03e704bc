import assert from "node:assert/strict";
import { DEFAULT_TIMEOUTS, ServerReplyError } from "./request_exchange.ts";
import { MsfdSource } from "./msfd_source.ts";
import { findFileSize, settleSize, SIZE_GRACE_MS } from "./size_lookup.ts";
import {
  CannotTransferError,
  MirrorsDisagreeError,
} from "./download_errors.ts";
import type { DownloadEvent } from "./download_events.ts";

type Answer = { size?: number; error?: Error; delayMs?: number };

/** An msfd source whose size answer is scripted: a size, an error, or a
 * delay before either; it is told of each signal as the real one is. */
class ScriptedSource extends MsfdSource {
  #answer: Answer;
  constructor(port: number, answer: Answer) {
    super({
      server: { hostname: "127.0.0.1", port },
      name: "a.bin",
      timeouts: DEFAULT_TIMEOUTS,
    });
    this.#answer = answer;
  }
  override size(signal?: AbortSignal): Promise<number> {
    const answer = this.#answer;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (answer.error !== undefined) reject(answer.error);
        else resolve(answer.size!);
      }, answer.delayMs ?? 0);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("given up", "AbortError"));
      }, { once: true });
    });
  }
}

/** The servers and their scripted sources, by port. */
function answers(table: Record<number, Answer>) {
  const ports = Object.keys(table).map(Number);
  return {
    servers: ports.map((port) => `127.0.0.1:${port}`),
    sources: ports.map((port) => new ScriptedSource(port, table[port]!)),
  };
}

Deno.test("the first server in list order that reports a size is taken, and those before it are told of", async () => {
  const events: DownloadEvent[] = [];
  const boom = new Error("boom");
  const found = await findFileSize({
    name: "a.bin",
    onEvent: (event) => events.push(event),
    ...answers({
      1: { error: boom },
      2: { size: 100, delayMs: 20 },
      3: { size: 100 },
    }),
  });
  assert.deepEqual(found, {
    size: 100,
    serverIndex: 1,
    responsive: [false, true, true],
    sizes: [undefined, 100, 100],
    refusals: [boom, undefined, undefined],
  });
  assert.deepEqual(events.map((e) => e.type), ["size-failed", "size"]);
});

Deno.test("a server before the first to answer is given up after the grace", async () => {
  const started = performance.now();
  const found = await findFileSize({
    name: "a.bin",
    ...answers({
      1: { size: 5, delayMs: 60_000 },
      2: { size: 7 },
      3: { size: 7 },
    }),
  });
  assert.equal(found.serverIndex, 1);
  assert.ok(performance.now() - started >= SIZE_GRACE_MS - 50);
  // Given up is not a refusal: it may only have been busy.
  assert.deepEqual(found.refusals, [undefined, undefined, undefined]);
});

Deno.test("no size from any server is a CannotTransferError naming each", async () => {
  await assert.rejects(
    findFileSize({
      name: "a.bin",
      ...answers({
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

Deno.test("the size most servers report is taken, not the first in list order", async () => {
  const started = performance.now();
  const found = await findFileSize({
    name: "a.bin",
    ...answers({ 1: { size: 5 }, 2: { size: 7 }, 3: { size: 7 } }),
  });
  assert.deepEqual(found, {
    size: 7,
    serverIndex: 1,
    responsive: [false, true, true],
    refusals: [undefined, undefined, undefined],
    sizes: [5, 7, 7],
  });
  // All answered at once: no grace waited for.
  assert.ok(performance.now() - started < SIZE_GRACE_MS / 2);
});

Deno.test("a server listed after the first to answer is waited for up to the grace, and counts", async () => {
  const found = await findFileSize({
    name: "a.bin",
    ...answers({
      1: { size: 5 },
      2: { size: 7, delayMs: 100 },
      3: { size: 7, delayMs: 200 },
      4: { size: 5, delayMs: 60_000 },
    }),
  });
  assert.equal(found.size, 7);
  assert.deepEqual(found.sizes, [5, 7, 7, undefined]);
});

Deno.test("sources at the same place count once in the size vote", async () => {
  await assert.rejects(
    findFileSize({
      name: "a.bin",
      canList: [false, false, false],
      placeOf: (i) => ["L", "L", "G"][i]!,
      ...answers({ 1: { size: 5 }, 2: { size: 5 }, 3: { size: 7 } }),
    }),
    (error) => {
      assert.ok(error instanceof MirrorsDisagreeError);
      assert.match(error.message, /the sizes they report \(5 bytes, 7 bytes\)/);
      assert.deepEqual(error.groups, [
        ["127.0.0.1:1", "127.0.0.1:2"],
        ["127.0.0.1:3"],
      ]);
      return true;
    },
  );
});

Deno.test("among sizes reported as often, the one a server with a digest list reported is taken", () => {
  const mirror = (size: number, place: string) => ({
    size,
    place,
    canList: false,
  });
  assert.deepEqual(
    settleSize([mirror(5, "a"), { size: 7, place: "b", canList: true }]),
    { size: 7, serverIndex: 1 },
  );
  assert.deepEqual(
    settleSize([
      mirror(5, "a"),
      { size: 7, place: "b", canList: true },
      { size: 5, place: "c", canList: true },
    ]),
    { size: 5, serverIndex: 2 },
  );
  assert.deepEqual(
    settleSize([mirror(5, "a"), undefined, mirror(7, "b")]),
    { tied: [[0], [2]] },
  );
  assert.deepEqual(
    settleSize([mirror(5, "a"), mirror(7, "b"), mirror(7, "c")]),
    { size: 7, serverIndex: 1 },
  );
});
