import assert from "node:assert/strict";
import { TimeoutError, Watchdog } from "./watchdog.ts";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `promise`, failing the test if it takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Not settled within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A watchdog whose expiries are counted and can be awaited. */
function watched() {
  const expired = Promise.withResolvers<number>();
  const state = { calls: 0 };
  const dog = new Watchdog(() => {
    state.calls++;
    expired.resolve(performance.now());
  });
  return { dog, state, expiry: expired.promise };
}

Deno.test("a watchdog expires once when the armed time passes without a kick", async () => {
  const { dog, state, expiry } = watched();
  using _ = dog;
  const armedAt = performance.now();
  dog.arm(20, "reading a response");
  assert.equal(dog.expired, false);
  assert.equal(state.calls, 0);

  const expiredAt = await within(expiry, 5000);
  assert.ok(
    expiredAt - armedAt >= 20,
    `expired after ${expiredAt - armedAt} ms`,
  );
  assert.equal(dog.expired, true);
  await delay(40);
  assert.equal(state.calls, 1);
});

Deno.test("kicks keep a watchdog alive until they stop", async () => {
  const { dog, state, expiry } = watched();
  using _ = dog;
  dog.arm(100, "sending");
  let lastKick = performance.now();
  const kicker = setInterval(() => {
    lastKick = performance.now();
    dog.kick();
  }, 5);
  try {
    // Several times the deadline, with a kick every few milliseconds.
    await delay(250);
    assert.equal(dog.expired, false);
    assert.equal(state.calls, 0);
  } finally {
    clearInterval(kicker);
  }
  const expiredAt = await within(expiry, 5000);
  assert.ok(
    expiredAt - lastKick >= 100,
    "expired less than 100 ms after a kick",
  );
  assert.equal(state.calls, 1);
});

Deno.test("disposing of an armed watchdog clears its timer", async () => {
  // The op sanitizer fails this test if the 10 s timer is left behind.
  let called = false;
  {
    using dog = new Watchdog(() => called = true);
    dog.arm(10_000, "connecting");
  }
  {
    using dog = new Watchdog(() => called = true);
    dog.arm(20, "connecting");
  }
  await delay(60);
  assert.equal(called, false);
});

Deno.test("disposing of a watchdog also clears a timer rescheduled by kicks", async () => {
  let called = false;
  const dog = new Watchdog(() => called = true);
  dog.arm(20, "reading");
  const kicker = setInterval(() => dog.kick(), 5);
  try {
    // Long enough for the first check to find a recent kick and reschedule.
    await delay(70);
  } finally {
    clearInterval(kicker);
    dog[Symbol.dispose]();
  }
  assert.equal(dog.expired, false);
  await delay(60);
  assert.equal(called, false);
});

Deno.test("explain passes errors through until the watchdog expires", async () => {
  const { dog, expiry } = watched();
  using _ = dog;
  dog.arm(20, "reading a response");
  const before = new Deno.errors.BadResource("closed");
  assert.equal(dog.explain(before), before);

  await within(expiry, 5000);
  const cause = new Deno.errors.BadResource("closed");
  const explained = dog.explain(cause);
  assert.ok(explained instanceof TimeoutError);
  assert.equal(explained.name, "TimeoutError");
  assert.equal(
    explained.message,
    "Timed out after 0.02 s without progress while reading a response",
  );
  assert.equal(explained.cause, cause);
});

Deno.test("arming again restarts the deadline with the new description", async () => {
  const { dog, expiry } = watched();
  using _ = dog;
  dog.arm(10_000, "connecting");
  dog.arm(20, "sending a request");
  await within(expiry, 5000);
  assert.match(
    (dog.explain(new Error("x")) as Error).message,
    /after 0\.02 s .* while sending a request$/,
  );
});

Deno.test("arming with 0 disables the deadline", async () => {
  const { dog, state } = watched();
  using _ = dog;
  dog.arm(0, "waiting");
  await delay(40);
  assert.equal(dog.expired, false);

  // Also disables a deadline that was running.
  dog.arm(20, "waiting");
  dog.arm(0, "waiting");
  await delay(60);
  assert.equal(dog.expired, false);
  assert.equal(state.calls, 0);
  const error = new Error("x");
  assert.equal(dog.explain(error), error);
});

Deno.test("an expired watchdog stays expired and is not armed again", async () => {
  const { dog, state, expiry } = watched();
  using _ = dog;
  dog.arm(10, "reading");
  await within(expiry, 5000);
  // Would leave a timer behind (and fail the op sanitizer) if it re-armed.
  dog.arm(10_000, "reading again");
  dog.kick();
  assert.equal(dog.expired, true);
  assert.equal(state.calls, 1);
});

Deno.test("an arm with a shorter time than the one before expires after the shorter time", async () => {
  const { dog, expiry } = watched();
  using _ = dog;
  dog.arm(10_000, "waiting for the reply");
  const armedAt = performance.now();
  dog.arm(20, "receiving data");
  const expiredAt = await within(expiry, 5000);
  assert.ok(expiredAt - armedAt >= 20, `after ${expiredAt - armedAt} ms`);
  assert.match(
    String((dog.explain(new Error("closed")) as Error).message),
    /after 0\.02 s without progress while receiving data/,
  );
});

Deno.test("an arm with a longer time than the one before counts from the later arm", async () => {
  const { dog, state, expiry } = watched();
  using _ = dog;
  dog.arm(20, "waiting for the reply");
  await delay(10);
  const armedAt = performance.now();
  dog.arm(150, "receiving data");
  // Past the first deadline, well before the second.
  await delay(60);
  assert.equal(state.calls, 0);
  const expiredAt = await within(expiry, 5000);
  assert.ok(expiredAt - armedAt >= 150, `after ${expiredAt - armedAt} ms`);
});

Deno.test("an arm with no time after a timed one never expires", async () => {
  const { dog, state } = watched();
  using _ = dog;
  dog.arm(20, "waiting for the reply");
  dog.arm(0, "receiving data");
  await delay(60);
  assert.equal(state.calls, 0);
  assert.equal(dog.expired, false);
});

Deno.test("a deadline longer than a timer can take sets one timer, not one every millisecond", async () => {
  const { dog, state } = watched();
  const original = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers++;
    return original(...args);
  }) as typeof setTimeout;
  try {
    using _ = dog;
    dog.arm(3_000_000_000, "receiving data");
    await new Promise((resolve) => original(resolve, 30));
    assert.equal(timers, 1);
    assert.equal(state.calls, 0);
  } finally {
    globalThis.setTimeout = original;
  }
});
