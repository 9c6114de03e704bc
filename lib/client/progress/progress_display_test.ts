import assert from "node:assert/strict";
import { replayTerminal } from "../../../tests/_support/harness.ts";
import type {
  DownloadProgress,
  DownloadResult,
  TaskProgress,
} from "../download.ts";
import type { ByteRange } from "../plan/range_planner.ts";
import {
  chunkViews,
  formatDuration,
  formatSummary,
  ProgressDisplay,
  type ProgressFrame,
  RateWindow,
  renderProgress,
  summarizeDownload,
} from "./progress_display.ts";

const SERVERS = [
  "127.0.0.1:30001",
  "127.0.0.1:30002",
  "127.0.0.1:30003",
  "127.0.0.1:30004",
];
const MIB = 1024 * 1024;

/** `count` equal tasks over `size` bytes, each `fraction(i)` done. */
function tasksOf(
  count: number,
  size: number,
  fraction: (i: number) => number,
  extra: (i: number) => Partial<TaskProgress> = () => ({}),
): TaskProgress[] {
  return Array.from({ length: count }, (_, i) => {
    const start = Math.floor(i * size / count);
    const end = Math.floor((i + 1) * size / count);
    const done = fraction(i);
    return {
      index: i,
      chunk: i,
      start,
      end,
      position: start + Math.floor(done * (end - start)),
      server: done > 0 ? i % SERVERS.length : undefined,
      active: done > 0 && done < 1,
      failovers: 0,
      ...extra(i),
    };
  });
}

/** A download whose chunks are the tasks' ranges, unless given. */
function progressOf(
  size: number,
  tasks: TaskProgress[],
  more: { chunks?: ByteRange[]; resumed?: [number, number][] } = {},
): DownloadProgress {
  const resumed = more.resumed ?? [];
  const resumedBytes = resumed.reduce((sum, [s, e]) => sum + e - s, 0);
  return {
    size,
    resumedBytes,
    doneBytes: tasks.reduce(
      (sum, t) => sum + t.position - t.start,
      resumedBytes,
    ),
    bytesPerServer: SERVERS.map(() => 0),
    tasks,
    chunks: more.chunks ??
      tasks.map((t) => ({
        index: t.chunk,
        chunk: t.chunk,
        start: t.start,
        end: t.end,
      })),
    resumed,
  };
}

function frameOf(
  progress: DownloadProgress,
  overrides: Partial<ProgressFrame> = {},
): ProgressFrame {
  return {
    progress,
    servers: SERVERS,
    elapsedMs: 2000,
    bytesPerSecond: 8 * MIB,
    width: 80,
    maxLines: 12,
    ...overrides,
  };
}

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

Deno.test("durations read as seconds, minutes and hours", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(7.4), "7s");
  assert.equal(formatDuration(65), "1m05s");
  assert.equal(formatDuration(3 * 3600 + 120), "3h02m");
  assert.equal(formatDuration(Infinity), "--");
});

Deno.test("a frame of 4 tasks shows the whole download and each task's server, percent and failovers", () => {
  const tasks = tasksOf(
    4,
    48 * MIB,
    (i) => [0.5, 0.25, 1, 0][i]!,
    (i) => i === 1 ? { failovers: 2 } : i === 3 ? { server: 3 } : {},
  );
  const lines = renderProgress(frameOf(progressOf(48 * MIB, tasks)));
  assert.equal(lines.length, 5);
  assert.match(
    lines[0]!,
    /^ 43% \[=+> *\] {2}21\.0 MiB \/ 48\.0 MiB {2}8\.0 MiB\/s {2}ETA 4s {2}2s elapsed$/,
  );
  assert.match(lines[1]!, /^ {2}#0 127\.0\.0\.1:30001 \[=+> *\] {2}50%$/);
  assert.match(lines[2]!, /#1 127\.0\.0\.1:30002 .* 25% {2}2 failovers$/);
  assert.match(lines[3]!, /#2 127\.0\.0\.1:30003 \[=+\] 100% {2}done$/);
  assert.match(lines[4]!, /#3 127\.0\.0\.1:30004 \[ +\] {3}0% {2}waiting$/);
});

Deno.test("rate and ETA show -- while the rate is unknown, and ETA 0s at the end", () => {
  const start = renderProgress(frameOf(
    progressOf(MIB, tasksOf(2, MIB, () => 0)),
    { bytesPerSecond: undefined },
  ));
  assert.match(start[0]!, /^ {2}0% .* --\/s {2}ETA --/);
  const end = renderProgress(
    frameOf(progressOf(MIB, tasksOf(2, MIB, () => 1))),
  );
  assert.match(end[0]!, /^100% \[=+\] .* ETA 0s/);
});

Deno.test("a frame of 200 tasks stays within its lines, with counts, a chunk map and the active tasks", () => {
  // Tasks 0-79 done, 80-83 under way (one failed over), the rest waiting.
  const tasks = tasksOf(
    200,
    48 * MIB,
    (i) => i < 80 ? 1 : i < 84 ? 0.5 : 0,
    (i) => i === 82 ? { failovers: 1 } : {},
  );
  const lines = renderProgress(frameOf(progressOf(48 * MIB, tasks)));
  assert.ok(lines.length <= 12, lines.join("\n"));
  // 82 of 200 tasks' bytes, rounded down.
  assert.match(lines[0]!, /^ 40% /);
  assert.equal(
    lines[1],
    "  200 chunks: 80 done, 4 active, 116 waiting; 1 failover",
  );
  assert.match(lines[2]!, /^ {2}\[#{50,}[0-9]+\.+$/);
  assert.match(lines[3]!, /^ {3}\.+\]$/);
  const cells = lines.slice(4).join("\n");
  for (const index of [80, 81, 82, 83]) {
    assert.match(
      cells,
      new RegExp(`#${index} 127\\.0\\.0\\.1:3000\\d {2}(49|50)%`),
    );
  }
  assert.match(cells, /#82 .* 50% \(1 failover\)/);
  assert.doesNotMatch(cells, /#84 /);
});

Deno.test("active tasks beyond the line budget are counted, not listed", () => {
  const servers = Array.from({ length: 20 }, (_, i) => `10.0.0.${i}:30000`);
  const tasks = tasksOf(
    200,
    MIB,
    (i) => i < 20 ? 0.3 : 0,
    (i) => ({ server: i < 20 ? i : undefined }),
  );
  const lines = renderProgress(
    frameOf(progressOf(MIB, tasks), { servers, maxLines: 6, width: 60 }),
  );
  assert.equal(lines.length, 6);
  assert.match(lines.at(-1)!, /^ {2}\.\.\. and \d+ more active$/);
  const listed = lines.join("\n").match(/#\d+ +10\.0\.0\.\d+:30000/g) ?? [];
  const more = Number(/and (\d+) more/.exec(lines.at(-1)!)![1]);
  assert.equal(listed.length + more, 20);
});

Deno.test("no line of a frame reaches the terminal's last column, at any width", () => {
  const many = tasksOf(200, 48 * MIB, (i) => i < 90 ? 1 : i < 94 ? 0.4 : 0);
  const few = tasksOf(4, 48 * MIB, (i) => i / 4, () => ({ failovers: 12 }));
  for (const tasks of [many, few]) {
    for (let width = 10; width <= 200; width++) {
      const lines = renderProgress(
        frameOf(progressOf(48 * MIB, tasks), { width }),
      );
      for (const line of lines) {
        assert.ok(line.length < width, `${width}: ${JSON.stringify(line)}`);
      }
      assert.ok(lines.length <= 12);
    }
  }
});

Deno.test("a terminal too narrow for the bar keeps the percent and the ETA", () => {
  const lines = renderProgress(
    frameOf(progressOf(MIB, tasksOf(4, MIB, () => 0.5)), { width: 30 }),
  );
  assert.match(lines[0]!, /^ 50% .*ETA 1s$/);
  assert.doesNotMatch(lines[0]!, /\[/);
});

/** The chunks of 4 MiB in 4 of 1 MiB. */
const FOUR_CHUNKS: ByteRange[] = Array.from({ length: 4 }, (_, i) => ({
  index: i,
  chunk: i,
  start: i * MIB,
  end: (i + 1) * MIB,
}));

/** A piece of chunk `chunk`: `[start, end)` reached `position`. */
function piece(
  index: number,
  chunk: number,
  [start, end, position]: [number, number, number],
  extra: Partial<TaskProgress> = {},
): TaskProgress {
  return {
    index,
    chunk,
    start,
    end,
    position,
    server: undefined,
    active: false,
    failovers: 0,
    ...extra,
  };
}

Deno.test("pieces taken over by work stealing are shown as parts of the user's chunks", () => {
  const half = MIB / 2;
  // 4 chunks asked for; chunk 0's tail and chunk 1's tail were taken over
  // by the servers that finished first, and one of them again.
  const tasks = [
    piece(0, 0, [0, half, half], { server: 0 }),
    piece(1, 1, [MIB, MIB + half, MIB + half / 2], {
      server: 1,
      active: true,
      failovers: 1,
    }),
    piece(2, 2, [2 * MIB, 3 * MIB, 3 * MIB], { server: 2 }),
    piece(3, 3, [3 * MIB, 4 * MIB, 4 * MIB], { server: 3 }),
    piece(4, 0, [half, MIB, MIB], { server: 2 }),
    piece(5, 1, [MIB + half, 2 * MIB - half / 2, MIB + half], {
      server: 3,
      active: true,
    }),
    piece(6, 1, [2 * MIB - half / 2, 2 * MIB, 2 * MIB - half / 4], {
      server: 2,
      active: true,
    }),
  ];
  const progress = progressOf(4 * MIB, tasks, { chunks: FOUR_CHUNKS });
  const views = chunkViews(progress);
  assert.deepEqual(views.map((v) => v.doneBytes), [
    MIB,
    half / 2 + half / 4,
    MIB,
    MIB,
  ]);
  assert.deepEqual(views[1]!.servers, [1, 2, 3]);
  assert.equal(views[1]!.failovers, 1);
  const lines = renderProgress(frameOf(progress));
  assert.equal(lines.length, 5, lines.join("\n"));
  // A chunk done names the servers that sent it; one under way, those
  // sending now.
  assert.match(
    lines[1]!,
    /^ {2}#0 127\.0\.0\.1:30001 \+1 \[=+\] 100% {2}done$/,
  );
  assert.match(
    lines[2]!,
    /^ {2}#1 127\.0\.0\.1:30002 \+2 \[=+> *\] {2}37% {2}1 failover$/,
  );
  assert.match(lines[3]!, /^ {2}#2 127\.0\.0\.1:30003 {4}\[=+\] 100% {2}done$/);
  assert.match(lines[4]!, /^ {2}#3 127\.0\.0\.1:30004 {4}\[=+\] 100% {2}done$/);
  assert.doesNotMatch(lines.join("\n"), /#[4-9]/);
});

Deno.test("a resumed run shows every chunk the user asked for, those kept from before too", () => {
  // Chunk 0 was done before, chunk 2 half; chunks 1 and 3 start afresh.
  const tasks = [
    piece(0, 1, [MIB, 2 * MIB, MIB + MIB / 4], { server: 0, active: true }),
    piece(1, 2, [2 * MIB + MIB / 2, 3 * MIB, 3 * MIB], { server: 1 }),
    piece(2, 3, [3 * MIB, 4 * MIB, 3 * MIB], { server: 2 }),
  ];
  const progress = progressOf(4 * MIB, tasks, {
    chunks: FOUR_CHUNKS,
    resumed: [[0, MIB], [2 * MIB, 2 * MIB + MIB / 2]],
  });
  const lines = renderProgress(frameOf(progress));
  assert.equal(lines.length, 5, lines.join("\n"));
  assert.match(lines[0]!, /^ 56% /);
  assert.match(lines[1]!, /^ {2}#0 - +\[=+\] 100% {2}resumed$/);
  assert.match(lines[2]!, /^ {2}#1 127\.0\.0\.1:30001 \[=+> *\] {2}25%$/);
  assert.match(lines[3]!, /^ {2}#2 127\.0\.0\.1:30002 \[=+\] 100% {2}done$/);
  assert.match(
    lines[4]!,
    /^ {2}#3 127\.0\.0\.1:30003 \[ +\] {3}0% {2}waiting$/,
  );
});

Deno.test("many pieces of few chunks are counted as those chunks in the compact display", () => {
  // 40 chunks; each split into 3 pieces by work stealing.
  const size = 40 * MIB;
  const chunks = Array.from({ length: 40 }, (_, i) => ({
    index: i,
    chunk: i,
    start: i * MIB,
    end: (i + 1) * MIB,
  }));
  const third = MIB / 4;
  const tasks = chunks.flatMap((c) =>
    [0, 1, 2].map((k) => {
      const start = c.start + k * third;
      const end = k === 2 ? c.end : start + third;
      const done = c.chunk < 10 || (c.chunk === 10 && k < 2);
      return piece(c.chunk * 3 + k, c.chunk, [start, end, done ? end : start], {
        server: c.chunk % 4,
        active: c.chunk === 10 && k === 2,
      });
    })
  );
  const lines = renderProgress(
    frameOf(progressOf(size, tasks, { chunks })),
  );
  assert.equal(
    lines[1],
    "  40 chunks: 10 done, 1 active, 29 waiting; 0 failovers",
  );
  assert.match(lines.join("\n"), /#10 127\.0\.0\.1:30003 {2}50%/);
});

const RESULT: DownloadResult = {
  size: 10 * MIB,
  ranges: [
    { index: 0, chunk: 0, start: 0, end: 5 * MIB },
    { index: 1, chunk: 1, start: 5 * MIB, end: 10 * MIB },
  ],
  chunks: 2,
  bytesPerServer: [6 * MIB, 0, 0, 2 * MIB],
  failovers: 1,
  retryRounds: 2,
  resumedBytes: 2 * MIB,
  refetchedBytes: MIB,
  excluded: [{ hostname: "127.0.0.1", port: 30003 }],
};

Deno.test("the summary counts the bytes fetched in this run for its rate", () => {
  const summary = summarizeDownload({
    file: "dir/f.bin",
    path: "f.bin",
    result: RESULT,
    servers: SERVERS,
    excluded: ["127.0.0.1:30003"],
    seconds: 2.00049,
    verified: true,
  });
  assert.deepEqual(summary, {
    file: "dir/f.bin",
    path: "f.bin",
    size: 10 * MIB,
    seconds: 2,
    bytesPerSecond: 4 * MIB,
    chunks: 2,
    servers: SERVERS.map((server, i) => ({
      server,
      bytes: RESULT.bytesPerServer[i],
    })),
    failovers: 1,
    retryRounds: 2,
    resumedBytes: 2 * MIB,
    fetchedBytes: 8 * MIB,
    refetchedBytes: MIB,
    excluded: ["127.0.0.1:30003"],
    verified: true,
  });
});

Deno.test("the summary for people names the servers that sent bytes, what was resumed or left out, and the path", () => {
  const summary = summarizeDownload({
    file: "f.bin",
    path: "f.bin",
    result: RESULT,
    servers: SERVERS,
    excluded: ["127.0.0.1:30003"],
    seconds: 2,
    verified: true,
  });
  assert.deepEqual(formatSummary(summary, "/home/me/f.bin"), [
    'Downloaded "f.bin": 10.0 MiB (10485760 bytes) in 2.00 s: 2.0 MiB resumed from before, 8.0 MiB fetched at 4.0 MiB/s',
    "  127.0.0.1:30001  sent 6.0 MiB (6291456 bytes)",
    "  127.0.0.1:30004  sent 2.0 MiB (2097152 bytes)",
    "  2 chunks from 2 of 4 servers; 1 failover, 2 retry rounds",
    "  2.0 MiB (2097152 bytes) resumed from before, checked against the digests",
    "  1.0 MiB (1048576 bytes) kept from before did not match their digests and were fetched again",
    "  left out (their copy differs): 127.0.0.1:30003",
    'Saved as "/home/me/f.bin"',
  ]);
});

Deno.test("the summary of a plain download has no resumed or left-out line", () => {
  const lines = formatSummary(
    summarizeDownload({
      file: "f.bin",
      path: "f.bin",
      result: {
        ...RESULT,
        bytesPerServer: [600, 0, 0, 0],
        size: 600,
        resumedBytes: 0,
        refetchedBytes: 0,
        excluded: [],
        failovers: 0,
        retryRounds: 0,
      },
      servers: SERVERS,
      excluded: [],
      seconds: 0.5,
      verified: false,
    }),
    "/tmp/f.bin",
  );
  assert.deepEqual(lines, [
    'Downloaded "f.bin": 600 bytes in 0.50 s, 1.2 KiB/s',
    "  127.0.0.1:30001  sent 600 bytes",
    "  2 chunks from 1 of 4 servers; 0 failovers, 0 retry rounds; blocks not verified",
    'Saved as "/tmp/f.bin"',
  ]);
});

Deno.test("the summary says kept bytes were not checked when blocks were not verified", () => {
  const lines = formatSummary(
    summarizeDownload({
      file: "f.bin",
      path: "f.bin",
      result: { ...RESULT, refetchedBytes: 0, excluded: [] },
      servers: SERVERS,
      excluded: [],
      seconds: 2,
      verified: false,
    }),
    "/tmp/f.bin",
  );
  assert.ok(
    lines.includes(
      "  2.0 MiB (2097152 bytes) resumed from before, not checked",
    ),
    lines.join("\n"),
  );
  assert.ok(!lines.some((line) => /fetched again/.test(line)));
});

/** A display writing to a string, with a clock the test moves. */
function fakeDisplay() {
  let written = "";
  let now = 0;
  const display = new ProgressDisplay({
    servers: SERVERS,
    write: (text) => written += text,
    consoleSize: () => ({ columns: 72, rows: 0 }),
    now: () => now,
    startedAt: 0,
    intervalMs: 60_000,
  });
  return {
    display,
    get written() {
      return written;
    },
    advance(ms: number) {
      now += ms;
    },
  };
}

Deno.test("the display redraws in place and prints lines above itself", () => {
  let done = 0;
  const progress = () =>
    progressOf(4 * MIB, tasksOf(4, 4 * MIB, () => done, () => ({ server: 0 })));
  const fake = fakeDisplay();
  fake.display.start(progress);
  try {
    assert.ok(fake.written.startsWith("\x1b[?25l"), "the cursor is hidden");
    assert.deepEqual(replayTerminal(fake.written, 72).lines.length, 5);
    for (done of [0.1, 0.3, 0.5, 0.7]) {
      fake.advance(200);
      fake.display.redraw();
    }
    fake.display.println("warning: something happened");
    fake.advance(200);
    fake.display.redraw();
    const screen = replayTerminal(fake.written, 72);
    assert.equal(screen.lines[0], "warning: something happened");
    assert.match(
      screen.lines[1]!,
      /^ 69% \[=+> *\] {2}2\.8 MiB \/ 4\.0 MiB {2}2\.8 MiB\/s {2}ETA 1s/,
    );
    assert.equal(screen.lines.length, 6, screen.lines.join("\n"));
    assert.equal(screen.cursorVisible, false);
    assert.ok(screen.widestWhileHidden < 72);
  } finally {
    fake.display.stop();
  }
  const screen = replayTerminal(fake.written, 72);
  assert.deepEqual(screen.lines, ["warning: something happened"]);
  assert.equal(screen.cursorVisible, true);
});

Deno.test("a stopped display writes nothing more, and lines go out plainly", () => {
  const progress = () => progressOf(MIB, tasksOf(2, MIB, () => 0.5));
  const fake = fakeDisplay();
  fake.display.println("before the start");
  fake.display.start(progress);
  fake.display.stop();
  const length = fake.written.length;
  fake.display.redraw();
  fake.display.stop();
  fake.display.start(progress);
  assert.equal(fake.written.length, length);
  fake.display.println("after the end");
  assert.deepEqual(replayTerminal(fake.written).lines, [
    "before the start",
    "after the end",
  ]);
});

Deno.test("a display never started leaves the terminal untouched", () => {
  const fake = fakeDisplay();
  fake.display[Symbol.dispose]();
  assert.equal(fake.written, "");
});
