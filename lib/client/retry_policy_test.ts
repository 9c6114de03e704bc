import assert from "node:assert/strict";
import {
  DEFAULT_RETRY_POLICY,
  delay,
  retryDelayMs,
  retryPolicy,
} from "./retry_policy.ts";

Deno.test("a retry policy takes the defaults for what is not given", () => {
  assert.deepEqual(retryPolicy(), {
    rounds: 3,
    baseDelayMs: 500,
    maxDelayMs: 8000,
  });
  assert.deepEqual(retryPolicy({ rounds: 0, baseDelayMs: undefined }), {
    ...DEFAULT_RETRY_POLICY,
    rounds: 0,
  });
});

Deno.test("the delay before a retry round doubles each round up to the cap", () => {
  const policy = retryPolicy();
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map((round) => retryDelayMs(policy, round)),
    [0, 500, 1000, 2000, 4000, 8000, 8000],
  );
});

Deno.test("a delay ends early when its signal aborts or its wake settles", async () => {
  const abort = new AbortController();
  const started = performance.now();
  const waiting = delay(60_000, abort.signal);
  abort.abort();
  await waiting;
  await delay(60_000, new AbortController().signal, Promise.resolve());
  assert.ok(performance.now() - started < 1000);
});
