import assert from "node:assert/strict";
import { digestsOf, pattern } from "../../tests/_support/digest_oracle.ts";
import { FakeSource } from "../../tests/_support/fake_source.ts";
import { planRanges } from "./plan/range_planner.ts";
import { type RangeEvent, RangeTasks } from "./range_tasks.ts";
import { retryPolicy } from "./retry_policy.ts";
import { ServerSlot } from "./server_slot.ts";
import { ReferenceDigests } from "./verify/reference_digests.ts";

const BLOCK = 64 * 1024;

/** The first event of a type that matches; fails the test if none does. */
function eventOf<T extends RangeEvent["type"]>(
  events: RangeEvent[],
  type: T,
  matches: (event: Extract<RangeEvent, { type: T }>) => boolean = () => true,
): Extract<RangeEvent, { type: T }> {
  const found = events.find((e): e is Extract<RangeEvent, { type: T }> =>
    e.type === type && matches(e as Extract<RangeEvent, { type: T }>)
  );
  if (found === undefined) throw new Error(`No ${type} event`);
  return found;
}

/** Runs range tasks over fake sources into memory; what came of it. */
async function download(
  file: Uint8Array,
  sources: FakeSource[],
  options: {
    chunks?: number;
    checks?: boolean;
    stuckMs?: number;
    connections?: number;
    /** Each write waits this long before it copies the bytes. */
    writeMs?: number;
    /** The digest list, when it is to arrive while the tasks run. */
    list?: ReferenceDigests;
    /** Told once the tasks run, with them. */
    whileRunning?: (tasks: RangeTasks) => Promise<void>;
    /** The sources that refused the size request, by index. */
    refusedSize?: number[];
  } = {},
) {
  const slots = sources.map((source, i) => {
    const slot = new ServerSlot(i, source, options.connections);
    slot.refusedSize = options.refusedSize?.includes(i) ?? false;
    slot.answeredSize = !slot.refusedSize;
    return slot;
  });
  const received = new Uint8Array(file.length);
  const events: RangeEvent[] = [];
  const excluded: string[] = [];
  /** Where each write ran: on the receiving thread, or not. */
  const onThisThread = new Set<boolean>();
  const ranges = planRanges(file.length, options.chunks ?? sources.length, {
    blockSize: BLOCK,
  });
  const planned = structuredClone(ranges);
  const tasks = new RangeTasks({
    slots,
    size: file.length,
    blockSize: BLOCK,
    retry: retryPolicy({ baseDelayMs: 1 }),
    reference: options.list ??
      (options.checks
        ? ReferenceDigests.whole(digestsOf(file, BLOCK))
        : undefined),
    hasher: undefined,
    output: {
      writeAt: async (offset, bytes, write) => {
        onThisThread.add(write?.onThisThread ?? false);
        if (options.writeMs !== undefined) {
          await new Promise((resolve) => setTimeout(resolve, options.writeMs));
        }
        received.set(bytes, offset);
      },
    },
    exclude: (slot, reason) => {
      if (slot.exclude(reason)) {
        excluded.push(`${slot.source.label}: ${reason}`);
      }
    },
    listingOn: () => undefined,
    abort: new AbortController(),
    onEvent: (event) => events.push(event),
    stuckMs: options.stuckMs,
  }, ranges);
  using _ = tasks;
  await Promise.all([tasks.run(), options.whileRunning?.(tasks)]);
  assert.deepEqual(ranges, planned, "the planned ranges stay as planned");
  return { received, events, excluded, tasks, slots, onThisThread };
}

Deno.test("a range whose source fails moves on to the next source", async () => {
  const file = pattern(512 * 1024);
  const { received, events, tasks, slots } = await download(file, [
    new FakeSource("a", file, { fail: new Error("connection refused") }),
    new FakeSource("b", file),
  ]);
  assert.deepEqual(received, file);
  assert.ok(tasks.failovers >= 1);
  assert.deepEqual(slots[0]!.bytesSent, 0);
  assert.deepEqual(slots[1]!.bytesSent, file.length);
  const failed = eventOf(events, "range-failed");
  assert.deepEqual(failed.detail, "a: connection refused");
});

Deno.test("a range that failed on every source is asked again in a retry round", async () => {
  const file = pattern(256 * 1024);
  const { received, events, tasks } = await download(file, [
    new FakeSource("a", file, { failTimes: 1 }),
    new FakeSource("b", file, { failTimes: 1 }),
  ], { chunks: 1 });
  assert.deepEqual(received, file);
  assert.deepEqual(tasks.retryRounds, 1);
  const round = eventOf(events, "retry-round");
  assert.deepEqual([round.round, round.delayMs], [1, 1]);
});

Deno.test("a source cut off midway is resumed by the next at the byte reached", async () => {
  const file = pattern(512 * 1024);
  const a = new FakeSource("a", file, { cutAfter: 100_000 });
  const b = new FakeSource("b", file);
  const { received, events } = await download(file, [a, b], { chunks: 1 });
  assert.deepEqual(received, file);
  const failed = eventOf(events, "range-failed");
  assert.deepEqual(failed.position, 100_000);
  assert.deepEqual(b.fetched[0]?.offset, 100_000);
});

Deno.test("a fast source splits a slow source's range and fetches its tail", async () => {
  const file = pattern(2 * 1024 * 1024);
  const slow = new FakeSource("slow", file, {
    bytesPerTick: 16 * 1024,
    tickMs: 5,
  });
  const fast = new FakeSource("fast", file);
  const { received, events, slots } = await download(file, [slow, fast]);
  assert.deepEqual(received, file);
  const stolen = events.filter((e) => e.type === "stolen");
  assert.ok(stolen.length >= 1, "a tail was stolen");
  assert.ok(
    slots[1]!.bytesSent > file.length / 2,
    `the fast source sent ${slots[1]!.bytesSent} bytes`,
  );
  assert.deepEqual(slots[0]!.bytesSent + slots[1]!.bytesSent, file.length);
});

Deno.test("bytes damaged on the way are fetched again and their source kept", async () => {
  const file = pattern(512 * 1024);
  const a = new FakeSource("a", file, { damageOnce: [70_000] });
  const b = new FakeSource("b", file);
  const { received, excluded, events, slots } = await download(file, [a, b], {
    chunks: 1,
    checks: true,
  });
  assert.deepEqual(received, file);
  assert.deepEqual(excluded, []);
  assert.deepEqual(
    a.rangeDigests,
    1,
    "the source was asked its block's digest",
  );
  assert.ok(!slots[0]!.excluded);
  const failed = eventOf(events, "range-failed");
  assert.deepEqual(failed.position, BLOCK, "resumed at the bad block");
});

Deno.test("a source whose copy differs is left out for good", async () => {
  const file = pattern(512 * 1024);
  const other = file.slice();
  other[200_000]! ^= 1;
  const { received, excluded, slots } = await download(file, [
    new FakeSource("a", other),
    new FakeSource("b", file),
  ], { chunks: 1, checks: true });
  assert.deepEqual(received, file);
  assert.deepEqual(excluded, [
    "a: its copy differs from the first server's in bytes 196608-262143",
  ]);
  assert.ok(slots[0]!.excluded);
});

Deno.test("a task stuck on a silent source is taken over whole by a free one", async () => {
  const file = pattern(1024 * 1024);
  const silent = new FakeSource("silent", file, { stall: true });
  const { received, events, slots } = await download(file, [
    silent,
    new FakeSource("good", file),
  ], { stuckMs: 50, checks: true });
  assert.deepEqual(received, file);
  assert.deepEqual(slots[1]!.bytesSent, file.length);
  const takenOver = eventOf(
    events,
    "range-failed",
    (e) => e.detail.includes("took over"),
  );
  assert.match(
    takenOver.detail,
    /^silent: nothing received for 0.05 s; a free server took over bytes /,
  );
  assert.ok(slots[0]!.stuck);
});

/** A fake source that counts the ranges it sends at once. */
class CountingSource extends FakeSource {
  inFlight = 0;
  mostAtOnce = 0;

  override async fetch(
    request: Parameters<FakeSource["fetch"]>[0],
  ): Promise<void> {
    this.inFlight++;
    this.mostAtOnce = Math.max(this.mostAtOnce, this.inFlight);
    try {
      await super.fetch(request);
    } finally {
      this.inFlight--;
    }
  }
}

Deno.test("a source with four connections is sent four ranges at once, each checked into its own buffers", async () => {
  const file = pattern(1024 * 1024);
  const source = new CountingSource("m", file, {
    bytesPerTick: 32 * 1024,
    tickMs: 2,
  });
  const { received, slots } = await download(file, [source], {
    chunks: 4,
    checks: true,
    connections: 4,
    // A buffer shared by two connections would be read into while its
    // bytes wait for their write.
    writeMs: 3,
  });
  assert.deepEqual(received, file);
  assert.equal(source.mostAtOnce, 4);
  assert.equal(slots[0]!.bytesSent, file.length);
});

Deno.test("a source with one connection is sent one range at a time", async () => {
  const file = pattern(512 * 1024);
  const source = new CountingSource("m", file, {
    bytesPerTick: 64 * 1024,
    tickMs: 1,
  });
  const { received } = await download(file, [source], { chunks: 4 });
  assert.deepEqual(received, file);
  assert.equal(source.mostAtOnce, 1);
});

/** Waits until every planned range was fetched whole (not yet checked). */
async function allFetched(tasks: RangeTasks, size: number) {
  const deadline = performance.now() + 10_000;
  while (tasks.receivedBytes < size) {
    assert.ok(
      performance.now() < deadline,
      `${tasks.receivedBytes} of ${size} bytes fetched while the list waits`,
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("ranges are fetched before the digest list covers them, and kept only once their digests match", async () => {
  const file = pattern(1024 * 1024);
  const list = new ReferenceDigests(file.length / BLOCK);
  const sources = [new FakeSource("a", file), new FakeSource("b", file)];
  const { received, excluded } = await download(file, sources, {
    list,
    whileRunning: async (tasks) => {
      await allFetched(tasks, file.length);
      // Every byte is in, and none counts as kept: no digest came yet.
      assert.deepEqual(tasks.kept().map(([s, e]) => e - s), [0, 0]);
      const digests = digestsOf(file, BLOCK);
      list.add(0, digests.subarray(0, digests.length / 2));
      await new Promise((resolve) => setTimeout(resolve, 0));
      assert.deepEqual(tasks.kept(), [[0, file.length / 2], [
        file.length / 2,
        file.length / 2,
      ]]);
      list.add(digests.length / 2, digests.subarray(digests.length / 2));
    },
  });
  assert.deepEqual(received, file);
  assert.deepEqual(excluded, []);
});

Deno.test("a block that fails when its digest arrives is judged, and fetched again from the other source", async () => {
  const file = pattern(1024 * 1024);
  const other = file.slice();
  other[700_000]! ^= 1;
  const list = new ReferenceDigests(file.length / BLOCK);
  const sources = [new FakeSource("a", file), new FakeSource("b", other)];
  const { received, excluded, events } = await download(file, sources, {
    list,
    whileRunning: async (tasks) => {
      await allFetched(tasks, file.length);
      list.add(0, digestsOf(file, BLOCK));
    },
  });
  assert.deepEqual(received, file);
  assert.equal(excluded.length, 1);
  assert.match(excluded[0]!, /^b: /);
  const failed = eventOf(events, "range-failed");
  assert.equal(failed.position, Math.floor(700_000 / BLOCK) * BLOCK);
});

Deno.test("bytes whose digests never come pass unchecked once the list is given up; a stopped list keeps none", async () => {
  const file = pattern(512 * 1024);
  for (const end of ["give up", "stop"] as const) {
    const list = new ReferenceDigests(file.length / BLOCK);
    const sources = [new FakeSource("a", file)];
    let kept: number[] = [];
    await download(file, sources, {
      list,
      whileRunning: async (tasks) => {
        await allFetched(tasks, file.length);
        list.add(0, digestsOf(file, BLOCK).subarray(0, 2 * 32));
        if (end === "give up") list.giveUp();
        else list.stop(new Error("stopped"));
        await new Promise((resolve) => setTimeout(resolve, 0));
        kept = tasks.kept().map(([s, e]) => e - s);
      },
    });
    assert.deepEqual(kept, [end === "give up" ? file.length : 2 * BLOCK], end);
  }
});

Deno.test("many small ranges from sources of unequal speeds end with few steals, and timers keep running meanwhile", async () => {
  // 200 ranges of one block from 20 sources: free servers steal the last
  // ranges whole while others wait for their servers.
  const file = pattern(200 * BLOCK);
  const sources = Array.from(
    { length: 20 },
    (_, i) =>
      new FakeSource(`s${i}`, file, {
        bytesPerTick: (i % 4 + 1) * 4 * 1024,
        tickMs: 1,
      }),
  );
  let last = performance.now();
  let longestGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
  }, 5);
  try {
    const { received, events } = await download(file, sources, {
      chunks: 200,
    });
    assert.deepEqual(received, file);
    const stolen = events.filter((e) => e.type === "stolen").length;
    assert.ok(stolen < 400, `${stolen} steals for 200 ranges`);
  } finally {
    clearInterval(ticker);
  }
  assert.ok(longestGap < 1000, `timers waited ${longestGap} ms`);
});

Deno.test("pieces are written on the receiving thread only when no source's bytes arrive in the background", async () => {
  const file = pattern(512 * 1024);
  const own = await download(file, [
    new FakeSource("a", file),
    new FakeSource("b", file),
  ]);
  assert.deepEqual(own.received, file);
  assert.deepEqual([...own.onThisThread], [true]);
  const background = new FakeSource("m", file);
  background.receivesInBackground = true;
  const mixed = await download(file, [new FakeSource("a", file), background]);
  assert.deepEqual(mixed.received, file);
  assert.deepEqual([...mixed.onThisThread], [false]);
});

Deno.test("a server that refused the size request starts no range, and is asked only when the others fail", async () => {
  const file = pattern(512 * 1024);
  const refused = new FakeSource("refused", file);
  const good = new FakeSource("good", file);
  const { received, events } = await download(file, [refused, good], {
    chunks: 4,
    refusedSize: [0],
  });
  assert.deepEqual(received, file);
  assert.deepEqual(refused.fetched, []);
  assert.equal(events.filter((e) => e.type === "range-failed").length, 0);
  // With the others failing, it is asked after all.
  const failing = new FakeSource("failing", file, {
    fail: new Error("connection reset"),
  });
  const second = await download(file, [new FakeSource("r", file), failing], {
    chunks: 2,
    refusedSize: [0],
  });
  assert.deepEqual(second.received, file);
});
