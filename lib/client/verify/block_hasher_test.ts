import assert from "node:assert/strict";
import { digestsOf, pattern } from "../../../tests/_support/digest_oracle.ts";
import { IntegrityError, RangeVerifier } from "./block_digests.ts";
import { BlockHasher } from "./block_hasher.ts";
import { ReferenceDigests } from "./reference_digests.ts";

function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

Deno.test("a block hasher gives the SHA-256 of every block, the last one short", async () => {
  using hasher = new BlockHasher();
  const bytes = pattern(10_000);
  for (const blockSize of [1000, 4096, 10_000, 16_384]) {
    assert.deepEqual(
      await hasher.digest(bytes, blockSize),
      digestsOf(bytes, blockSize),
      `block size ${blockSize}`,
    );
  }
});

Deno.test("a block hasher reads a view of a shared buffer in place, at its offset", async () => {
  using hasher = new BlockHasher();
  const bytes = shared(pattern(8192));
  const view = bytes.subarray(1000, 5096);
  const [a, b] = await Promise.all([
    hasher.digest(view, 1024),
    hasher.digest(bytes.subarray(0, 2048), 2048),
  ]);
  assert.deepEqual(a, digestsOf(view, 1024));
  assert.deepEqual(b, digestsOf(bytes.subarray(0, 2048), 2048));
});

Deno.test("a closed block hasher rejects what is pending and what comes after", async () => {
  const hasher = new BlockHasher();
  const pending = hasher.digest(pattern(1 << 20), 1 << 16);
  hasher[Symbol.dispose]();
  await assert.rejects(pending, /closed/);
  await assert.rejects(hasher.digest(pattern(10), 10), /closed/);
});

Deno.test("a range verifier with a hasher accepts good blocks and names a bad one", async () => {
  using hasher = new BlockHasher();
  const bytes = pattern(100_000);
  const blockSize = 4096;
  const digests = digestsOf(bytes, blockSize);
  const verifier = () =>
    new RangeVerifier({
      reference: ReferenceDigests.whole(digests),
      blockSize,
      fileSize: bytes.length,
      start: 0,
      hasher,
    });

  // Pieces of whole blocks, pieces that split blocks, and the short end.
  const good = verifier();
  let at = 0;
  for (const length of [8192, 5000, 3192, 40_960, 100, 42_556]) {
    await good.update(shared(bytes.subarray(at, at + length)));
    at += length;
  }
  assert.equal(at, bytes.length);
  assert.equal(good.verifiedTo, bytes.length);

  const bad = bytes.slice();
  bad[50_000]! ^= 0x10;
  const checked = verifier();
  await checked.update(shared(bad.subarray(0, 40_960)));
  await assert.rejects(
    checked.update(shared(bad.subarray(40_960, 65_536))),
    (error: unknown) =>
      error instanceof IntegrityError && error.start === 49_152 &&
      error.end === 53_248,
  );
  assert.equal(checked.verifiedTo, 49_152);
  // The block again, from its start, with the right bytes.
  await checked.update(shared(bytes.subarray(49_152)));
  assert.equal(checked.verifiedTo, bytes.length);
});

Deno.test("a range verifier whose hasher is gone hashes on its own thread", async () => {
  const hasher = new BlockHasher();
  hasher[Symbol.dispose]();
  const bytes = pattern(20_000);
  const verifier = new RangeVerifier({
    reference: ReferenceDigests.whole(digestsOf(bytes, 4096)),
    blockSize: 4096,
    fileSize: bytes.length,
    start: 0,
    hasher,
  });
  await verifier.update(shared(bytes.subarray(0, 12_288)));
  await verifier.update(shared(bytes.subarray(12_288)));
  assert.equal(verifier.verifiedTo, bytes.length);
});
