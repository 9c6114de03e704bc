import assert from "node:assert/strict";
import { FakeSource } from "../../tests/_support/fake_source.ts";
import {
  FileChangedError,
  IncompleteDownloadError,
} from "./download_errors.ts";
import { unfinishedError } from "./download_outcome.ts";
import { IGNORES_RANGES } from "./http_replies.ts";
import { ServerSlot } from "./server_slot.ts";

const MISSING = [{ index: 0, chunk: 0, start: 0, end: 10 }];

function slots(count: number) {
  return Array.from(
    { length: count },
    (_, i) => new ServerSlot(i, new FakeSource(`s${i}`, new Uint8Array(10))),
  );
}

/** The error of a download of {@linkcode MISSING} left unfinished. */
function outcome(
  all: ServerSlot[],
  { first, interrupted = false }: { first: number; interrupted?: boolean },
) {
  return unfinishedError({
    slots: all,
    first,
    missing: MISSING,
    partialPath: "a.part",
    interrupted,
  });
}

/** How the file changed, as the outcome says; fails if it did not. */
function changedHow(all: ServerSlot[], first: number): string {
  const error = outcome(all, { first });
  assert.ok(error instanceof FileChangedError);
  return error.how;
}

Deno.test("with the server settled on left out, the file changed on the servers", () => {
  const all = slots(2);
  all[1]!.exclude("its file is 5 bytes now");
  assert.equal(changedHow(all, 1), "s1: its file is 5 bytes now");
});

Deno.test("with every server left out, the message says the others have another version too", () => {
  const all = slots(2);
  all[0]!.exclude("another size");
  all[1]!.exclude("other blocks");
  assert.equal(
    changedHow(all, 0),
    "s0: another size; every other server has another version too",
  );
});

Deno.test("others left out because they cannot serve the file are not said to have another version", () => {
  const all = slots(2);
  all[0]!.exclude("another size");
  all[1]!.exclude("not found (404 Not Found)", false);
  assert.equal(changedHow(all, 0), "s0: another size");
});

Deno.test("a lone server left out is not said to have others", () => {
  const all = slots(1);
  all[0]!.exclude("another size");
  assert.equal(changedHow(all, 0), "s0: another size");
});

Deno.test("a download stopped, or with its server still in, is incomplete", () => {
  const all = slots(2);
  const kept = outcome(all, { first: 0 });
  assert.ok(!(kept instanceof FileChangedError));
  assert.ok(kept instanceof IncompleteDownloadError);
  assert.equal(kept.interrupted, false);
  all[0]!.exclude("another size");
  const stopped = outcome(all, { first: 0, interrupted: true });
  assert.ok(!(stopped instanceof FileChangedError));
  assert.equal(stopped.interrupted, true);
  assert.equal(stopped.partialPath, "a.part");
});

Deno.test("with every server left out for good and the download not stopped, no server is left: for ranges ignored, or other reasons", () => {
  /** Slots left out, each serving the file only whole or not. */
  const leftOut = (wholeOnly: boolean[]) => {
    const all = slots(wholeOnly.length);
    all.forEach((slot, i) => {
      (slot.source as FakeSource).servesWholeFileOnly = wholeOnly[i]!;
      slot.exclude(wholeOnly[i] ? IGNORES_RANGES : "refused (403)", false);
    });
    return all;
  };
  const reasonOf = (wholeOnly: boolean[], interrupted = false) => {
    const error = outcome(leftOut(wholeOnly), { first: 0, interrupted });
    assert.ok(!(error instanceof FileChangedError));
    return error.noServerLeft;
  };
  assert.equal(reasonOf([true, true]), "ranges");
  assert.equal(reasonOf([true, false]), "other");
  assert.equal(reasonOf([true], true), undefined);
  const one = slots(2);
  (one[0]!.source as FakeSource).servesWholeFileOnly = true;
  one[0]!.exclude(IGNORES_RANGES, false);
  assert.equal(outcome(one, { first: 1 }).noServerLeft, undefined);
});
