import assert from "node:assert/strict";
import { Mutex, Semaphore } from "./mutex.ts";

Deno.test("a mutex runs work one at a time, in the order it was asked for", async () => {
  const mutex = new Mutex();
  const events: string[] = [];
  const work = (name: string, ms: number) => async () => {
    events.push(`${name} starts`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    events.push(`${name} ends`);
    return name;
  };
  const results = await Promise.all([
    mutex.runExclusive(work("a", 20)),
    mutex.runExclusive(work("b", 0)),
    mutex.runExclusive(() => "c"),
  ]);
  assert.deepEqual(results, ["a", "b", "c"]);
  assert.deepEqual(events, ["a starts", "a ends", "b starts", "b ends"]);
});

Deno.test("a mutex is locked while work runs or waits, and free once it ends", async () => {
  const mutex = new Mutex();
  assert.equal(mutex.isLocked(), false);
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  const first = mutex.runExclusive(() => gate);
  const second = mutex.runExclusive(() => "second");
  assert.equal(mutex.isLocked(), true);
  open();
  await first;
  assert.equal(await second, "second");
  await Promise.resolve();
  assert.equal(mutex.isLocked(), false);
});

Deno.test("a mutex whose work fails passes on the failure and lets the next run", async () => {
  const mutex = new Mutex();
  const failed = mutex.runExclusive(() => {
    throw new Error("the work failed");
  });
  const next = mutex.runExclusive(() => Promise.resolve(7));
  await assert.rejects(failed, /the work failed/);
  assert.equal(await next, 7);
  await Promise.resolve();
  assert.equal(mutex.isLocked(), false);
});

Deno.test("a semaphore runs up to its permits at once, the others in the order asked", async () => {
  const semaphore = new Semaphore(2);
  const events: string[] = [];
  const gates = new Map<string, PromiseWithResolvers<void>>();
  const work = (name: string) => async () => {
    events.push(`${name} starts`);
    const gate = Promise.withResolvers<void>();
    gates.set(name, gate);
    await gate.promise;
    events.push(`${name} ends`);
  };
  const runs = ["a", "b", "c", "d"].map((name) =>
    semaphore.runExclusive(work(name))
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(events, ["a starts", "b starts"]);
  assert.equal(semaphore.isLocked(), true);
  gates.get("b")!.resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(events, ["a starts", "b starts", "b ends", "c starts"]);
  gates.get("a")!.resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
  gates.get("c")!.resolve();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(semaphore.isLocked(), false);
  gates.get("d")!.resolve();
  await Promise.all(runs);
  assert.equal(semaphore.isLocked(), false);
  assert.throws(() => new Semaphore(0), RangeError);
});
