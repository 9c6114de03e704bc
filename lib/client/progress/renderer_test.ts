import assert from "node:assert/strict";
import type { ByteRange } from "../plan/range_planner.ts";
import {
  frameOf,
  MIB,
  progressOf,
  tasksOf,
} from "../../../tests/_support/progress_fixtures.ts";
import {
  chunkViews,
  formatDuration,
  renderProgress,
  type TaskProgress,
} from "./renderer.ts";

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
