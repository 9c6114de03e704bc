import assert from "node:assert/strict";
import {
  decideSteal,
  isHopeless,
  minPieceFor,
  planSteal,
  type StealCandidate,
  type StealView,
} from "./work_stealing.ts";

const MiB = 1024 * 1024;
const options = {
  blockSize: 64 * 1024,
  minPieceBytes: MiB,
  thiefRate: 40 * MiB,
};

Deno.test("planSteal takes the tail of the task expected to finish last", () => {
  const tasks: StealView[] = [
    { position: 0, end: 64 * MiB, rate: 40 * MiB, active: true }, // 1.6 s
    { position: 10 * MiB, end: 64 * MiB, rate: 4 * MiB, active: true }, // 13.5 s
    { position: 0, end: 8 * MiB, rate: 40 * MiB, active: true }, // 0.2 s
  ];
  const steal = planSteal(tasks, options);
  assert.equal(steal?.victim, 1);
});

Deno.test("planSteal splits so both parts are expected to finish together", () => {
  const task = { position: 0, end: 44 * MiB, rate: 4 * MiB, active: true };
  const steal = planSteal([task], options)!;
  // The victim keeps 4/44 of the bytes, rounded up to a block.
  assert.equal(steal.splitAt, 4 * MiB);
  const victimSeconds = (steal.splitAt - task.position) / task.rate;
  const thiefSeconds = (task.end - steal.splitAt) / options.thiefRate;
  assert.ok(Math.abs(victimSeconds - thiefSeconds) < 0.01);
});

Deno.test("planSteal splits on block boundaries", () => {
  for (const position of [0, 1, 65_535, 65_537, 3 * MiB + 17]) {
    const steal = planSteal(
      [{ position, end: 50 * MiB + 5, rate: 7_777_777, active: true }],
      options,
    )!;
    assert.equal(steal.splitAt % options.blockSize, 0);
    assert.ok(steal.splitAt >= position);
  }
});

Deno.test("planSteal takes all of a task that waits for a server and half of one with no rate yet", () => {
  const waiting = planSteal(
    [{ position: 2 * MiB, end: 10 * MiB, rate: 0, active: false }],
    options,
  )!;
  assert.equal(waiting.splitAt, 2 * MiB);
  const starting = planSteal(
    [{ position: 2 * MiB, end: 10 * MiB, rate: 0, active: true }],
    options,
  )!;
  assert.equal(starting.splitAt, 6 * MiB);
});

Deno.test("planSteal leaves pieces smaller than the minimum alone", () => {
  assert.equal(
    planSteal(
      [{ position: 0, end: MiB - 1, rate: 40 * MiB, active: true }],
      options,
    ),
    undefined,
  );
  // A fast victim would keep nearly everything: the thief's share is too small.
  assert.equal(
    planSteal(
      [{ position: 0, end: 3 * MiB, rate: 400 * MiB, active: true }],
      options,
    ),
    undefined,
  );
  assert.equal(planSteal([], options), undefined);
});

Deno.test("planSteal takes all of a waiting or stuck task however little is left, from where its checked bytes end", () => {
  // Queued behind a busy server: it would only wait.
  assert.deepEqual(
    planSteal(
      [{ position: 0, end: MiB - 1, rate: 0, active: false }],
      options,
    ),
    { victim: 0, splitAt: 0 },
  );
  // Connected, but its server sends nothing: its unchecked bytes go too.
  const stuck = {
    position: 3 * MiB + 100,
    end: 3 * MiB + 200_000,
    rate: 2 * MiB,
    active: true,
    stuck: true,
    kept: 3 * MiB,
  };
  assert.deepEqual(
    planSteal([{ ...stuck, stuck: false, end: 8 * MiB }, stuck], options),
    { victim: 1, splitAt: 3 * MiB },
  );
  // Nothing left past its checked bytes: nothing to take.
  assert.equal(
    planSteal([{ ...stuck, end: 3 * MiB, position: 3 * MiB }], options),
    undefined,
  );
});

Deno.test("minPieceFor is a block and at least 128 KiB", () => {
  assert.equal(minPieceFor(1), 128 * 1024);
  assert.equal(minPieceFor(1024 * 1024), MiB);
});

Deno.test("stealing repeatedly never overlaps and covers the range exactly", () => {
  // Simulate thieves cutting one range down: the pieces tile the range.
  let victim = { position: 0, end: 100 * MiB + 3, rate: 3 * MiB, active: true };
  const pieces: [number, number][] = [];
  for (let i = 0; i < 50; i++) {
    const steal = planSteal([victim], options);
    if (!steal) break;
    pieces.push([steal.splitAt, victim.end]);
    victim = {
      ...victim,
      end: steal.splitAt,
      position: victim.position + MiB / 4,
    };
    victim.position = Math.min(victim.position, victim.end);
  }
  pieces.push([0, victim.end]);
  pieces.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [start, end] of pieces) {
    assert.equal(start, at);
    assert.ok(end > start);
    at = end;
  }
  assert.equal(at, 100 * MiB + 3);
});

/** A task fetching at 4 MiB/s with 8 MiB left. */
function slowTask(overrides: Partial<StealCandidate> = {}): StealCandidate {
  return {
    position: 0,
    end: 8 * MiB,
    rate: 4 * MiB,
    active: true,
    waitingFor: undefined,
    ...overrides,
  };
}

const thief = { server: 0, rate: 40 * MiB };
const stealOptions = { blockSize: 64 * 1024, minPieceBytes: MiB };
/** Servers of which only those given are taken. */
const taken = (busy: number[], listingOn?: number) => ({
  isBusy: (server: number) => busy.includes(server),
  listingOn,
});

Deno.test("decideSteal takes the tail of a running task, naming it by its index", () => {
  const done = slowTask({ position: 8 * MiB });
  const decision = decideSteal(
    [done, slowTask()],
    thief,
    taken([]),
    stealOptions,
  );
  assert.deepEqual(decision, {
    action: "steal",
    victim: 1,
    splitAt: 768 * 1024,
    takeOver: false,
  });
});

Deno.test("decideSteal takes all of a task queued behind a busy server, none of one about to start", () => {
  const queued = slowTask({ active: false, waitingFor: 2 });
  assert.deepEqual(
    decideSteal([queued], thief, taken([2]), stealOptions),
    { action: "steal", victim: 0, splitAt: 0, takeOver: false },
  );
  // Server 2 is free: the task gets it in a moment. Taking it whole would
  // leave it to another thief to take back, and so on without end.
  assert.deepEqual(
    decideSteal([queued], thief, taken([]), stealOptions),
    { action: "wait" },
  );
});

Deno.test("decideSteal never takes a task that waits for the thief's own server", () => {
  const mine = slowTask({ active: false, waitingFor: thief.server });
  assert.deepEqual(
    decideSteal([mine], thief, taken([]), stealOptions),
    { action: "stop" },
  );
});

Deno.test("decideSteal stops a thief whose server has ranges queued, and keeps one the digest list holds waiting", () => {
  const running = slowTask();
  assert.deepEqual(
    decideSteal([running], thief, taken([thief.server]), stealOptions),
    { action: "stop" },
  );
  assert.deepEqual(
    decideSteal(
      [running],
      thief,
      taken([thief.server], thief.server),
      stealOptions,
    ),
    { action: "wait" },
  );
});

Deno.test("decideSteal waits while a task with less than a minimum piece left runs, and stops once every task is done", () => {
  for (const left of [MiB / 2, MiB]) {
    const nearlyDone = slowTask({ position: 8 * MiB - left });
    // Its server may go quiet: the thief would take it over then.
    assert.deepEqual(
      decideSteal([nearlyDone], thief, taken([1]), stealOptions),
      { action: "wait" },
    );
  }
  const done = slowTask({ position: 8 * MiB });
  assert.deepEqual(decideSteal([done], thief, taken([]), stealOptions), {
    action: "stop",
  });
  assert.deepEqual(decideSteal([], thief, taken([]), stealOptions), {
    action: "stop",
  });
});

Deno.test("decideSteal takes over a task stuck on a silent server, and says to give up its request", () => {
  const stuck = slowTask({
    position: MiB / 2,
    end: MiB,
    rate: 0,
    stuck: true,
    kept: 0,
  });
  assert.deepEqual(
    decideSteal([stuck], thief, taken([1]), stealOptions),
    { action: "steal", victim: 0, splitAt: 0, takeOver: true },
  );
});

Deno.test("decideSteal gives a server without a range of its own only the tasks that wait or are stuck", () => {
  const standBy = { server: 3, rate: 0, wholeOnly: true };
  assert.deepEqual(
    decideSteal([slowTask()], standBy, taken([1]), stealOptions),
    { action: "wait" },
  );
  assert.deepEqual(
    decideSteal(
      [slowTask(), slowTask({ stuck: true, kept: 0 })],
      standBy,
      taken([1, 2]),
      stealOptions,
    ),
    { action: "steal", victim: 1, splitAt: 0, takeOver: true },
  );
  assert.deepEqual(
    decideSteal(
      [slowTask({ active: false, waitingFor: 2 })],
      standBy,
      taken([2]),
      stealOptions,
    ),
    { action: "steal", victim: 0, splitAt: 0, takeOver: false },
  );
});

Deno.test("isHopeless judges a tail by its recent rate against 2 s and four times a free server's time", () => {
  const tail = { position: 0, end: 100_000 };
  // 1 byte/s: 100000 s.
  assert.equal(isHopeless({ ...tail, recentRate: 1 }, 10 * MiB), true);
  // 40 KiB/s: 2.4 s, against 0.01 s for the thief.
  assert.equal(isHopeless({ ...tail, recentRate: 40_000 }, 10 * MiB), true);
  // 100 KiB/s: 1 s, under 2 s.
  assert.equal(isHopeless({ ...tail, recentRate: 100_000 }, 10 * MiB), false);
  // 10 KB/s: 10 s, but a thief at 20 KB/s would need 5 s: not 4 times less.
  assert.equal(isHopeless({ ...tail, recentRate: 10_000 }, 20_000), false);
  assert.equal(isHopeless({ ...tail, recentRate: 10_000 }, 50_000), true);
  // Unknown rates, or nothing received lately (that is stuck): never.
  assert.equal(isHopeless({ ...tail, recentRate: undefined }, MiB), false);
  assert.equal(isHopeless({ ...tail, recentRate: 0 }, MiB), false);
  assert.equal(isHopeless({ ...tail, recentRate: 1 }, 0), false);
  // Nothing left.
  assert.equal(
    isHopeless({ position: 5, end: 5, recentRate: 1 }, MiB),
    false,
  );
});

Deno.test("planSteal takes whole a running tail too small to split when it is hopeless, from where its checked bytes end", () => {
  const trickling: StealView = {
    position: 10 * MiB + 1000,
    end: 10 * MiB + 100_000,
    rate: 20 * MiB,
    recentRate: 1,
    active: true,
    kept: 10 * MiB,
  };
  assert.deepEqual(planSteal([trickling], options), {
    victim: 0,
    splitAt: 10 * MiB,
    hopeless: true,
  });
  // At a fair pace it is left alone.
  assert.equal(
    planSteal([{ ...trickling, recentRate: 20 * MiB }], options),
    undefined,
  );
  // A tail large enough to split is split by the usual rule.
  const large = { ...trickling, end: 40 * MiB };
  const steal = planSteal([large], options)!;
  assert.equal(steal.hopeless, undefined);
  assert.ok(steal.splitAt > large.position);
});

Deno.test("decideSteal gives up the request of a hopeless tail, and says it was too slow", () => {
  const tasks: StealCandidate[] = [
    {
      position: 4 * MiB - 50_000,
      end: 4 * MiB,
      rate: 8 * MiB,
      recentRate: 2,
      active: true,
      kept: 4 * MiB - 64 * 1024,
      waitingFor: undefined,
    },
  ];
  const servers = { isBusy: () => false, listingOn: undefined };
  const opts = { blockSize: 64 * 1024, minPieceBytes: 128 * 1024 };
  assert.deepEqual(
    decideSteal(tasks, { server: 1, rate: 30 * MiB }, servers, opts),
    {
      action: "steal",
      victim: 0,
      splitAt: 4 * MiB - 64 * 1024,
      takeOver: true,
      tooSlow: true,
    },
  );
  // A thief whose rate is not known yet does not judge it: it waits.
  assert.deepEqual(
    decideSteal(tasks, { server: 1, rate: 0 }, servers, opts),
    { action: "wait" },
  );
});
