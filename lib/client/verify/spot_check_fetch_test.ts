import assert from "node:assert/strict";
import { pattern } from "../../../tests/_support/digest_oracle.ts";
import { FakeSource } from "../../../tests/_support/fake_source.ts";
import { MirrorsDisagreeError } from "../download_errors.ts";
import { ServerSlot } from "../server_slot.ts";
import { describeSpotCheck, spotCheck } from "./spot_check_fetch.ts";
import { SPOT_WINDOW_BYTES, spotWindows } from "./spot_checks.ts";

const SIZE = 3 * 1024 * 1024 + 5;
const FILE = pattern(SIZE);
const SEED = 7;

/** A copy of FILE with one byte changed at `at`. */
function spoiled(at: number): Uint8Array {
  const copy = FILE.slice();
  copy[at]! ^= 0xff;
  return copy;
}

/** Runs the spot checks over fake sources; the exclusions made. */
function check(
  sources: FakeSource[],
  answered = sources.map(() => true),
) {
  const slots = sources.map((source, i) => {
    const slot = new ServerSlot(i, source);
    slot.answeredSize = answered[i]!;
    return slot;
  });
  const excluded: string[] = [];
  const run = spotCheck({
    name: "f.bin",
    slots,
    size: SIZE,
    seed: SEED,
    graceMs: 300,
    exclude: (index, reason) => {
      if (slots[index]!.exclude(reason)) {
        excluded.push(`${sources[index]!.label}: ${reason}`);
      }
    },
  });
  return { run, excluded, slots };
}

Deno.test("sources that hold the same file pass the spot checks, each asked for every window", async () => {
  const sources = ["a", "b", "c"].map((l) => new FakeSource(l, FILE));
  const { run, excluded } = await check(sources);
  const result = await run;
  const windows = spotWindows(SIZE, SEED);
  assert.deepEqual(result, { agreed: 3, windows });
  assert.deepEqual(excluded, []);
  for (const source of sources) assert.deepEqual(source.fetched, windows);
  assert.equal(
    describeSpotCheck(result, "mirrors"),
    "spot checks of 4 windows of 64.0 KiB across 3 mirrors agree",
  );
});

Deno.test("a source whose copy differs in a spot-checked window is outvoted and left out", async () => {
  const last = SIZE - 1;
  const sources = [
    new FakeSource("a", FILE),
    new FakeSource("b", spoiled(last)),
    new FakeSource("c", FILE),
  ];
  const { run, excluded } = await check(sources);
  assert.equal((await run).agreed, 2);
  assert.deepEqual(excluded, [
    `b: its copy differs from that of 2 other sources in a spot check (bytes ${
      SIZE - SPOT_WINDOW_BYTES
    }-${last})`,
  ]);
});

Deno.test("two sources that disagree stop the download, naming both", async () => {
  const sources = [new FakeSource("a", FILE), new FakeSource("b", spoiled(0))];
  const { run } = await check(sources);
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof MirrorsDisagreeError);
    assert.deepEqual(error.groups, [["a"], ["b"]]);
    assert.equal(
      error.message,
      'The mirrors hold different files named "f.bin", and no majority agrees on one (their bytes in 4 spot-checked windows differ):\n  file 1: a\n  file 2: b',
    );
    return true;
  });
});

Deno.test("a source whose windows cannot be fetched is left out, and the others still vote", async () => {
  const sources = [
    new FakeSource("a", FILE),
    new FakeSource("b", FILE, { fail: new Error("503 Service Unavailable") }),
    new FakeSource("c", FILE),
  ];
  const { run, excluded } = await check(sources);
  assert.equal((await run).agreed, 2);
  assert.deepEqual(excluded, [
    "b: its spot-check windows could not be fetched: 503 Service Unavailable",
  ]);
});

Deno.test("a source that did not report the size in time is still compared", async () => {
  const sources = ["a", "b", "c"].map((l) => new FakeSource(l, FILE));
  sources[1]!.copy = spoiled(0);
  const { run, excluded } = await check(sources, [true, false, true]);
  assert.equal((await run).agreed, 2);
  assert.equal(sources[1]!.fetched.length, 4);
  assert.deepEqual(excluded, [
    "b: its copy differs from that of 2 other sources in a spot check (bytes 0-65535)",
  ]);
});

Deno.test("a source that did not report the size and is silent in the spot checks is left out after a grace", async () => {
  const sources = ["a", "b", "c"].map((l) => new FakeSource(l, FILE));
  sources[2]!.behaviour = { stall: true };
  const { run, excluded } = await check(sources, [true, true, false]);
  const started = performance.now();
  assert.equal((await run).agreed, 2);
  assert.ok(performance.now() - started < 5000);
  assert.deepEqual(excluded, [
    "c: it did not send its spot-check windows within 0.3 s of the first source that did",
  ]);
});

Deno.test("a source that reported the size and then is silent or trickles in the spot checks is left out after a grace", async () => {
  for (const behaviour of [{ stall: true }, { bytesPerTick: 1, tickMs: 50 }]) {
    const sources = ["a", "b", "c"].map((l) => new FakeSource(l, FILE));
    sources[0]!.behaviour = behaviour;
    const { run, excluded } = await check(sources);
    const started = performance.now();
    assert.equal((await run).agreed, 2);
    assert.ok(performance.now() - started < 5000);
    assert.deepEqual(excluded, [
      "a: it did not send its spot-check windows within 0.3 s of the first source that did",
    ]);
  }
});

Deno.test("with one source left to compare, a slow one is not waited for nor left out", async () => {
  const sources = ["a", "b"].map((l) => new FakeSource(l, FILE));
  sources[0]!.behaviour = { fail: new Error("404 Not Found") };
  sources[1]!.behaviour = { stall: true };
  const { run, excluded } = await check(sources);
  assert.deepEqual(await run, { agreed: 1, windows: [] });
  assert.deepEqual(excluded, [
    "a: its spot-check windows could not be fetched: 404 Not Found",
  ]);
});

Deno.test("two lines of the same mirror vote once: with one other mirror there is no majority", async () => {
  const url = new URL("http://127.0.0.1:1/f.bin");
  const twice = [
    new FakeSource("a", spoiled(0)),
    new FakeSource("b", spoiled(0)),
  ];
  const sources = [...twice, new FakeSource("c", FILE)];
  for (const source of twice) Object.assign(source, { url });
  const { run } = await check(sources);
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof MirrorsDisagreeError);
    assert.deepEqual(error.groups, [["a", "b"], ["c"]]);
    return true;
  });
  // Alone, they are one place: nothing to compare.
  const { run: alone } = await check(twice);
  assert.deepEqual(await alone, { agreed: 1, windows: [] });
});

Deno.test("a single source has nobody to compare with: nothing is fetched", async () => {
  const source = new FakeSource("a", FILE);
  const { run } = await check([source]);
  const result = await run;
  assert.deepEqual(result, { agreed: 1, windows: [] });
  assert.deepEqual(source.fetched, []);
  assert.equal(describeSpotCheck(result, "mirrors"), undefined);
});
