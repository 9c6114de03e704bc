import assert from "node:assert/strict";
import { pattern } from "../../tests/_support/digest_oracle.ts";
import { FakeSource } from "../../tests/_support/fake_source.ts";
import type { ByteRange } from "./plan/range_planner.ts";
import { stealWhileFree } from "./range_stealing.ts";
import { newTask, type Task } from "./range_task.ts";
import { delay } from "./retry_policy.ts";
import { ServerSlot } from "./server_slot.ts";

const BLOCK = 64 * 1024;

Deno.test("a free server does not take whole a range whose server was just handed to it, before its request begins", async () => {
  const file = pattern(BLOCK);
  const [free, busy] = ["free", "busy"].map((label, i) =>
    new ServerSlot(i, new FakeSource(label, file))
  ) as [ServerSlot, ServerSlot];
  const make = (range: ByteRange) =>
    newTask(range, {
      reference: undefined,
      blockSize: BLOCK,
      size: file.length,
      hasher: undefined,
    });
  const abort = new AbortController();
  /** As the range tasks do: the range waits for its server, then begins,
   * unless its range was taken meanwhile. */
  const fetchTask = async (task: Task, slot: ServerSlot) => {
    task.waitingFor = slot;
    const outcome = await slot.lock.runExclusive(async () => {
      task.waitingFor = undefined;
      if (task.position >= task.range.end) return "nothing-left";
      task.active = true;
      task.heardAt = performance.now();
      await delay(5, abort.signal);
      task.position = task.range.end;
      task.active = false;
      return "fetched";
    });
    return { slot, outcome };
  };
  // The last range waits for its server, busy with another request.
  const released = Promise.withResolvers<void>();
  const other = busy.lock.runExclusive(() => released.promise);
  const last = make({ index: 0, chunk: 0, start: 0, end: BLOCK });
  const tasks: Task[] = [last];
  const lastFetch = fetchTask(last, busy);
  let steals = 0;
  let ended = Promise.withResolvers<void>();
  const context = {
    slots: [free, busy],
    tasks,
    blockSize: BLOCK,
    stuckMs: 10_000,
    listingOn: () => undefined,
    abort,
    onEvent: () => steals++,
    newTask: make,
    fetchTask: async (task: Task, slot: ServerSlot) =>
      (await fetchTask(task, slot)).slot,
    endTask: () => {
      ended.resolve();
      ended = Promise.withResolvers<void>();
    },
    taskEnded: () => ended.promise,
  };
  // The other request ends: the server is handed to the last range, whose
  // request begins a moment later. Meanwhile a server that just finished
  // its own range looks for work.
  released.resolve();
  const finished = make({ index: 1, chunk: 1, start: 0, end: 0 });
  await Promise.all([stealWhileFree(context, free, finished), other]);
  const { outcome } = await lastFetch;
  assert.equal(steals, 0, "the range was taken from its server");
  assert.equal(outcome, "fetched");
  assert.equal(last.position, BLOCK);
});
