import assert from "node:assert/strict";
import { replayTerminal } from "../../../tests/_support/harness.ts";
import {
  MIB,
  progressOf,
  SERVERS,
  tasksOf,
} from "../../../tests/_support/progress_fixtures.ts";
import { ProgressDisplay } from "./terminal.ts";

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
