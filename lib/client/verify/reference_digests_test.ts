import assert from "node:assert/strict";
import { digestsOf, pattern } from "../../../tests/_support/digest_oracle.ts";
import { DIGEST_BYTES } from "../../wire/protocol.ts";
import { ReferenceDigests } from "./reference_digests.ts";

const BLOCK = 64;
const LIST = digestsOf(pattern(10 * BLOCK), BLOCK);

/** Whether a promise settled by the time the queued callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

Deno.test("a reference list covers the blocks whose digests arrived whole", () => {
  const reference = new ReferenceDigests(10);
  assert.equal(reference.covered, 0);
  assert.equal(reference.digestOf(0), undefined);
  assert.ok(reference.add(0, LIST.subarray(0, 2 * DIGEST_BYTES + 5)));
  assert.equal(reference.covered, 2);
  assert.deepEqual(reference.digestOf(1), LIST.subarray(32, 64));
  assert.equal(reference.digestOf(2), undefined);
  assert.equal(reference.complete, undefined);
  assert.equal(reference.ended, false);
  assert.ok(reference.add(2 * DIGEST_BYTES + 5, LIST.subarray(69)));
  assert.equal(reference.covered, 10);
  assert.deepEqual(reference.complete, LIST);
  assert.ok(reference.ended);
});

Deno.test("waiting for a block ends when its digest arrives, not before", async () => {
  const reference = new ReferenceDigests(10);
  const third = reference.whenCovered(2);
  const first = reference.whenCovered(0);
  reference.add(0, LIST.subarray(0, 2 * DIGEST_BYTES));
  assert.ok(await settled(first));
  assert.equal(await settled(third), false);
  reference.add(2 * DIGEST_BYTES, LIST.subarray(64, 3 * DIGEST_BYTES - 1));
  assert.equal(await settled(third), false);
  reference.add(3 * DIGEST_BYTES - 1, LIST.subarray(95, 96));
  assert.ok(await settled(third));
  assert.ok(await settled(reference.whenCovered(1)));
});

Deno.test("giving up ends every wait and leaves the missing blocks without a digest", async () => {
  const reference = new ReferenceDigests(10);
  reference.add(0, LIST.subarray(0, 3 * DIGEST_BYTES));
  const waiting = reference.whenCovered(7);
  assert.equal(await settled(waiting), false);
  reference.giveUp();
  assert.ok(await settled(waiting));
  assert.ok(reference.ended);
  assert.equal(reference.complete, undefined);
  assert.equal(reference.digestOf(7), undefined);
  assert.deepEqual(reference.digestOf(2), LIST.subarray(64, 96));
  assert.ok(await settled(reference.whenCovered(9)));
});

Deno.test("a second server's list is taken on where the first stopped if it agrees", () => {
  const reference = new ReferenceDigests(10);
  reference.add(0, LIST.subarray(0, 100));
  // The second server sends from the start again.
  assert.ok(reference.add(0, LIST.subarray(0, 40)));
  assert.equal(reference.covered, 3);
  assert.ok(reference.add(40, LIST.subarray(40, 200)));
  assert.equal(reference.covered, 6);
  assert.ok(reference.add(200, LIST.subarray(200)));
  assert.deepEqual(reference.complete, LIST);
});

Deno.test("a second server's list that differs from the bytes taken is refused", () => {
  const reference = new ReferenceDigests(10);
  reference.add(0, LIST.subarray(0, 100));
  const other = LIST.slice();
  other[70]! ^= 1;
  assert.equal(reference.add(0, other.subarray(0, 150)), false);
  assert.equal(reference.covered, 3);
  assert.deepEqual(reference.digestOf(2), LIST.subarray(64, 96));
  // Past the bytes taken, nothing can be compared: the caller refuses the
  // server once, at the first difference.
  assert.ok(reference.add(0, LIST.subarray(0, 150)));
  assert.equal(reference.covered, 4);
});

Deno.test("digest bytes that leave a gap or run past the list are refused", () => {
  const reference = new ReferenceDigests(2);
  assert.throws(() => reference.add(1, LIST.subarray(0, 4)), RangeError);
  assert.throws(() => reference.add(0, LIST.subarray(0, 65)), RangeError);
  assert.equal(reference.covered, 0);
});

Deno.test("an empty file's list is complete from the start", async () => {
  const reference = new ReferenceDigests(0);
  assert.deepEqual(reference.complete, new Uint8Array(0));
  assert.ok(reference.ended);
  assert.ok(await settled(reference.whenCovered(0)));
});

Deno.test("stopping ends every wait for a block not covered with the reason, now and later", async () => {
  const reference = new ReferenceDigests(10);
  reference.add(0, LIST.subarray(0, 2 * DIGEST_BYTES));
  const waiting = reference.whenCovered(5);
  const reason = new Error("stopped");
  reference.stop(reason);
  await assert.rejects(waiting, (error) => error === reason);
  await assert.rejects(reference.whenCovered(4), (error) => error === reason);
  await reference.whenCovered(1);
  assert.equal(reference.ended, false);
});

Deno.test("a reference list knows which server listed which block", () => {
  const list = new ReferenceDigests(3);
  const digests = new Uint8Array(3 * DIGEST_BYTES).map((_, i) => i);
  assert.ok(list.add(0, digests.subarray(0, DIGEST_BYTES), 0));
  // The next server sends its list from the start again.
  assert.ok(list.add(0, digests, 1));
  assert.ok(list.listedBy(0, 0));
  assert.ok(!list.listedBy(0, 1));
  assert.ok(list.listedBy(1, 0) && list.listedBy(1, 2));
  assert.ok(!list.listedBy(2, 0));
});

Deno.test("a reference list gives the first digests once they arrived", () => {
  const reference = new ReferenceDigests(10);
  assert.deepEqual(reference.prefix(0), new Uint8Array(0));
  assert.equal(reference.prefix(1), undefined);
  reference.add(0, LIST.subarray(0, 3 * DIGEST_BYTES + 7));
  assert.deepEqual(reference.prefix(3), LIST.subarray(0, 3 * DIGEST_BYTES));
  assert.equal(reference.prefix(4), undefined);
});
