import assert from "node:assert/strict";
import { RateWindow } from "./rate_window.ts";

Deno.test("the rate window measures bytes per second over its last seconds", () => {
  const rate = new RateWindow({ windowMs: 3000 });
  for (let t = 0; t <= 10_000; t += 200) rate.record(t, t * 1000);
  assert.equal(rate.bytesPerSecond(), 1_000_000);
});

Deno.test("the rate window gives no estimate until its samples span long enough", () => {
  const rate = new RateWindow({ minSpanMs: 500 });
  assert.equal(rate.bytesPerSecond(), undefined);
  rate.record(0, 0);
  rate.record(200, 100_000);
  assert.equal(rate.bytesPerSecond(), undefined);
  rate.record(500, 400_000);
  assert.equal(rate.bytesPerSecond(), 800_000);
});

Deno.test("the rate window forgets what is older than its window", () => {
  const rate = new RateWindow({ windowMs: 2000 });
  // Fast for 10 s, then nothing for 3 s: the old speed no longer counts.
  for (let t = 0; t <= 10_000; t += 200) rate.record(t, t * 10_000);
  for (let t = 10_200; t <= 13_000; t += 200) rate.record(t, 100_000_000);
  assert.equal(rate.bytesPerSecond(), 0);
  // Half the old speed for 2 s: the window shows the new speed alone.
  for (let t = 13_200; t <= 15_000; t += 200) {
    rate.record(t, 100_000_000 + (t - 13_000) * 5_000);
  }
  assert.equal(rate.bytesPerSecond(), 5_000_000);
});

Deno.test("the rate window refuses samples that go back in time", () => {
  const rate = new RateWindow();
  rate.record(1000, 0);
  assert.throws(() => rate.record(999, 10), RangeError);
  assert.throws(() => new RateWindow({ windowMs: 0 }), RangeError);
});
