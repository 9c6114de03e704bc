import assert from "node:assert/strict";
import { RateLimiter } from "./rate_limiter.ts";

/**
 * Simulates a sender that sends `piece` bytes whenever the limiter lets it,
 * from `start` for `duration` ms of simulated time, and returns how many
 * bytes went out in that window.
 */
function simulate(
  limiter: RateLimiter,
  options: {
    start: number;
    duration: number;
    piece: (i: number) => number;
  },
): number {
  const end = options.start + options.duration;
  let now = options.start;
  let sent = 0;
  for (let i = 0;; i++) {
    const bytes = options.piece(i);
    now += limiter.reserve(bytes, now);
    if (now >= end) return sent;
    sent += bytes;
  }
}

function assertWithin(actual: number, expected: number, fraction: number) {
  assert.ok(
    Math.abs(actual - expected) <= expected * fraction,
    `${actual} is not within ${fraction * 100}% of ${expected}`,
  );
}

Deno.test("a continuous sender gets the limit within 2% over a second", () => {
  for (const rate of [1000, 50_000, 1_000_000, 41_943_040]) {
    const limiter = new RateLimiter(rate);
    const sent = simulate(limiter, {
      start: 0,
      duration: 1000,
      piece: () => limiter.pieceSize,
    });
    assertWithin(sent, rate, 0.02);
  }
});

Deno.test("the limit holds for pieces of varying sizes and later seconds", () => {
  const rate = 1_000_000;
  const limiter = new RateLimiter(rate);
  const sizes = [1, 700, 10_000, 4096, 123, 9999];
  const piece = (i: number) => sizes[i % sizes.length]!;
  let start = 12_345.678;
  for (let second = 0; second < 5; second++) {
    assertWithin(
      simulate(limiter, { start, duration: 1000, piece }),
      rate,
      0.02,
    );
    start += 1000;
  }
});

Deno.test("a sender slower than the limit is never delayed", () => {
  const limiter = new RateLimiter(100_000);
  // 100 bytes every 10 ms is 10 kB/s, a tenth of the limit.
  for (let now = 0; now < 1000; now += 10) {
    assert.equal(limiter.reserve(100, now), 0);
  }
});

Deno.test("idle time gives at most about 10 ms of credit", () => {
  // 1000 B/s: one byte per millisecond, so credit in bytes is credit in ms.
  const limiter = new RateLimiter(1000);
  assert.equal(limiter.reserve(1, 0), 0);
  for (const idleUntil of [5_000, 60_000, 3_600_000]) {
    let free = 0;
    while (limiter.reserve(1, idleUntil) === 0) free++;
    assert.ok(free >= 1, "no credit at all after idling");
    assert.ok(free <= 11, `${free} ms of credit after idling`);
  }
});

Deno.test("a burst after idling is followed by waiting at the limit", () => {
  const rate = 100_000;
  const limiter = new RateLimiter(rate);
  const now = 1_000_000;
  // A whole second's worth asked at once must wait about a second, minus
  // at most the 10 ms of credit.
  const delay = limiter.reserve(rate, now);
  assert.ok(delay >= 985 && delay <= 1000, `waited ${delay} ms`);
});

Deno.test("the piece size is 10 ms of output and at least one byte", () => {
  assert.equal(new RateLimiter(41_943_040).pieceSize, 419_430);
  assert.equal(new RateLimiter(1000).pieceSize, 10);
  assert.equal(new RateLimiter(50).pieceSize, 1);
});

Deno.test("a rate limit that is not positive is refused", () => {
  for (const rate of [0, -1, -Infinity, NaN]) {
    assert.throws(() => new RateLimiter(rate), {
      name: "RangeError",
      message: `Rate limit must be positive: received ${rate}`,
    });
  }
});
