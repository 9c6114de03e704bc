import assert from "node:assert/strict";
import { pattern } from "../../tests/_support/digest_oracle.ts";
import { FakeSource } from "../../tests/_support/fake_source.ts";
import { tempDir } from "../../tests/_support/temp_dir.ts";
import { MirrorsDisagreeError } from "./download_errors.ts";
import type { Interval } from "./plan/interval_set.ts";
import { crossCheckSent } from "./sent_bytes_checks.ts";
import { ServerSlot } from "./server_slot.ts";

const MIB = 1024 * 1024;
const SIZE = 3 * MIB;
const FILE = pattern(SIZE);

/** FILE with every byte of `[start, end)` changed. */
function spoiled(start: number, end: number): Uint8Array<ArrayBuffer> {
  const copy = FILE.slice();
  for (let i = start; i < end; i++) copy[i]! ^= 0xff;
  return copy;
}

/** Slots over sources with true copies, each having sent a third. */
function slotsOf(labels: string[]): ServerSlot[] {
  const share = SIZE / labels.length;
  return labels.map((label, i) => {
    const slot = new ServerSlot(i, new FakeSource(label, FILE));
    slot.noteBytes(share, i * share);
    return slot;
  });
}

Deno.test("a source outvoted on bytes it sent is left out, they are withdrawn and fetched again, and what was fetched again is checked in turn", async () => {
  await using work = await tempDir();
  const partialPath = `${work.path}/f.bin.part`;
  await Deno.writeFile(partialPath, spoiled(MIB, 2 * MIB));
  const slots = slotsOf(["a", "b", "c"]);
  const excluded: string[] = [];
  const withdrawn: Interval[][] = [];
  const refetched: Interval[][] = [];
  const done = await crossCheckSent({
    name: "f.bin",
    slots,
    size: SIZE,
    seed: 5,
    partialPath,
    graceMs: 300,
    exclude: (index, reason) => {
      slots[index]!.exclude(reason);
      excluded.push(`${slots[index]!.source.label}: ${reason}`);
    },
    withdraw: (bytes) => withdrawn.push(bytes),
    refetch: async (bytes) => {
      refetched.push(bytes);
      // a fetches them again, truthfully.
      using file = await Deno.open(partialPath, { write: true });
      for (const [start, end] of bytes) {
        await file.seek(start, Deno.SeekMode.Start);
        await file.write(FILE.subarray(start, end));
        slots[0]!.noteBytes(end - start, start);
      }
    },
    save: () => Promise.reject(new Error("not saved when settled")),
  });
  assert.equal(excluded.length, 1);
  assert.match(
    excluded[0]!,
    /^b: the bytes it sent differ from those of 2 other sources in a cross-check after the transfer \(bytes \d+-\d+\); the 1\.0 MiB it sent are fetched again from the others$/,
  );
  assert.deepEqual(withdrawn, [[[MIB, 2 * MIB]]]);
  assert.deepEqual(refetched, [[[MIB, 2 * MIB]]]);
  // 3 sources' windows, then a's refetched bytes (only c left to ask).
  assert.deepEqual(done, {
    compared: 3 * 4 + 4,
    unanswered: 0,
    refetchedBytes: MIB,
  });
  // b was never asked for the bytes it sent.
  const b = slots[1]!.source as FakeSource;
  assert.ok(b.fetched.every(({ offset }) => offset < MIB || offset >= 2 * MIB));
});

Deno.test("two sources that disagree on bytes one sent stop the checks: its bytes are withdrawn and the state saved first", async () => {
  await using work = await tempDir();
  const partialPath = `${work.path}/f.bin.part`;
  const slots = slotsOf(["a", "b"]);
  await Deno.writeFile(partialPath, spoiled(SIZE / 2, SIZE));
  const withdrawn: Interval[][] = [];
  let saves = 0;
  const error = await crossCheckSent({
    name: "f.bin",
    slots,
    size: SIZE,
    seed: 5,
    partialPath,
    graceMs: 300,
    exclude: () => assert.fail("nobody is left out"),
    withdraw: (bytes) => withdrawn.push(bytes),
    refetch: () => assert.fail("nothing is fetched again"),
    save: () => {
      saves++;
      return Promise.resolve();
    },
  }).then(() => undefined, (error) => error);
  assert.ok(error instanceof MirrorsDisagreeError, String(error));
  assert.deepEqual(error.groups, [["b"], ["a"]]);
  assert.deepEqual(error.partial, {
    path: partialPath,
    withdrawnBytes: SIZE / 2,
  });
  assert.deepEqual(withdrawn, [[[SIZE / 2, SIZE]]]);
  assert.equal(saves, 1);
});
