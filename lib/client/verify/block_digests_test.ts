import assert from "node:assert/strict";
import {
  digestsOf,
  pattern,
  toHex,
} from "../../../tests/_support/digest_oracle.ts";
import {
  chooseBlockSize,
  IntegrityError,
  isUsableBlockSize,
  MAX_CHOSEN_BLOCK_BYTES,
  RangeVerifier,
} from "./block_digests.ts";
import { digestEachBlock, sha256 } from "../../wire/sha256.ts";
import { DIGEST_BYTES, hashListLength } from "../../wire/protocol.ts";
import { planRanges } from "../plan/range_planner.ts";
import { ReferenceDigests } from "./reference_digests.ts";

Deno.test("chooseBlockSize picks a power of two within bounds up to 512 GiB", () => {
  const sizes = [0, 1, 15, 16, 100, 4096, 1_000_003, 2 ** 38 + 3, 2 ** 39];
  for (const size of sizes) {
    for (const numChunks of [1, 2, 3, 7, 16, 100]) {
      const blockSize = chooseBlockSize(size, numChunks);
      const where = `size ${size}, ${numChunks} chunks: ${blockSize}`;
      assert.ok(Number.isSafeInteger(blockSize), where);
      assert.ok(blockSize >= 1, where);
      assert.ok(blockSize <= MAX_CHOSEN_BLOCK_BYTES, where);
      assert.equal(blockSize & (blockSize - 1), 0, where);
    }
  }
  assert.equal(chooseBlockSize(0, 4), 1);
  assert.equal(chooseBlockSize(100, 4), 1);
  assert.equal(chooseBlockSize(16 * 4 * 1024, 4), 1024);
  assert.equal(chooseBlockSize(16 * 4 * 1024 - 1, 4), 512);
  assert.equal(chooseBlockSize(2 ** 38, 4), MAX_CHOSEN_BLOCK_BYTES);
});

Deno.test("chooseBlockSize picks larger blocks past 512 GiB so the digest list fits", () => {
  const cases = [
    [2 ** 39 + 1, 2 * MAX_CHOSEN_BLOCK_BYTES],
    [2 ** 40, 2 * MAX_CHOSEN_BLOCK_BYTES],
    [2 ** 40 + 1, 4 * MAX_CHOSEN_BLOCK_BYTES],
    [2 ** 50, 2 ** 29],
    [2 ** 51, 2 ** 30],
  ];
  for (const [size, expected] of cases) {
    for (const numChunks of [1, 4, 16]) {
      const blockSize = chooseBlockSize(size!, numChunks);
      const where = `size ${size}, ${numChunks} chunks`;
      assert.equal(blockSize, expected, where);
      assert.notEqual(hashListLength(size!, blockSize), undefined, where);
      assert.equal(hashListLength(size!, blockSize / 2), undefined, where);
    }
  }
});

Deno.test("chooseBlockSize gives every range at least 16 blocks when it can", () => {
  const sizes = [16, 100, 1000, 4097, 65_537, 1_000_003, 10 * 2 ** 20 + 7];
  for (const size of sizes) {
    for (const numChunks of [1, 2, 3, 4, 5, 8, 16]) {
      if (size < 16 * numChunks) continue;
      const blockSize = chooseBlockSize(size, numChunks);
      const where = `size ${size}, ${numChunks} chunks, block ${blockSize}`;
      const ranges = planRanges(size, numChunks, { blockSize });
      assert.equal(ranges.length, numChunks, where);
      for (const range of ranges) {
        const blocks = Math.ceil((range.end - range.start) / blockSize);
        assert.ok(blocks >= 16, `${where}: ${JSON.stringify(range)}`);
      }
      // It is the largest such power of two, unless capped.
      if (blockSize < MAX_CHOSEN_BLOCK_BYTES) {
        assert.ok(Math.floor(size / numChunks / 16) < 2 * blockSize, where);
      }
    }
  }
});

Deno.test("sha256 matches the known test vectors", async () => {
  assert.equal(
    toHex(await sha256(new TextEncoder().encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    toHex(await sha256(new Uint8Array())),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal((await sha256(new Uint8Array([1]))).length, DIGEST_BYTES);
});

Deno.test("digestEachBlock gives the SHA-256 of every block, the last one short", async () => {
  const bytes = pattern(1000);
  for (const blockSize of [1, 7, 64, 1000, 4096]) {
    assert.deepEqual(
      await digestEachBlock(bytes, blockSize),
      digestsOf(bytes, blockSize),
      `block size ${blockSize}`,
    );
  }
});

/** A file's bytes, its digest list and a verifier for a range of it. */
function verifierFor(options: {
  bytes: Uint8Array;
  blockSize: number;
  start?: number;
}): RangeVerifier {
  return new RangeVerifier({
    reference: ReferenceDigests.whole(
      digestsOf(options.bytes, options.blockSize),
    ),
    blockSize: options.blockSize,
    fileSize: options.bytes.length,
    start: options.start ?? 0,
  });
}

/** Where the verified prefix should be once bytes up to `position` came. */
function verifiedAt(position: number, blockSize: number, size: number) {
  return position === size
    ? size
    : Math.floor(position / blockSize) * blockSize;
}

Deno.test("a range verifier accepts correct bytes one at a time", async () => {
  const bytes = pattern(100);
  const verifier = verifierFor({ bytes, blockSize: 16 });
  assert.equal(verifier.verifiedTo, 0);
  for (let i = 0; i < bytes.length; i++) {
    await verifier.update(bytes.subarray(i, i + 1));
    assert.equal(verifier.verifiedTo, verifiedAt(i + 1, 16, 100), `byte ${i}`);
  }
  assert.equal(verifier.verifiedTo, 100);
});

Deno.test("a range verifier accepts correct bytes in pieces across blocks", async () => {
  const bytes = pattern(1000);
  for (const blockSize of [1, 7, 64, 999, 1000, 4096]) {
    for (const pieceSize of [1, 3, 63, 64, 65, 200, 1000]) {
      const verifier = verifierFor({ bytes, blockSize });
      for (let at = 0; at < bytes.length; at += pieceSize) {
        const end = Math.min(at + pieceSize, bytes.length);
        await verifier.update(bytes.subarray(at, end));
        assert.equal(
          verifier.verifiedTo,
          verifiedAt(end, blockSize, bytes.length),
          `block ${blockSize}, piece ${pieceSize}, at ${at}`,
        );
      }
    }
  }
  // Irregular pieces, and empty ones.
  const verifier = verifierFor({ bytes, blockSize: 64 });
  let at = 0;
  for (const length of [0, 5, 59, 0, 1, 127, 300, 8, 500]) {
    await verifier.update(bytes.subarray(at, at + length));
    at += length;
    assert.equal(verifier.verifiedTo, verifiedAt(at, 64, 1000), `at ${at}`);
  }
  assert.equal(verifier.verifiedTo, 1000);
});

Deno.test("a range verifier rejects a flipped byte with its block", async () => {
  const bytes = pattern(1000);
  for (
    const { flip, start, end } of [
      { flip: 200, start: 192, end: 256 },
      { flip: 192, start: 192, end: 256 },
      { flip: 255, start: 192, end: 256 },
      { flip: 0, start: 0, end: 64 },
      { flip: 999, start: 960, end: 1000 },
    ]
  ) {
    const bad = bytes.slice();
    bad[flip]! ^= 0x01;
    const verifier = verifierFor({ bytes, blockSize: 64 });
    await verifier.update(bad.subarray(0, start));
    assert.equal(verifier.verifiedTo, start);
    // The piece that completes the block reaches past it.
    await assert.rejects(
      () => verifier.update(bad.subarray(start, Math.min(end + 10, 1000))),
      (error: unknown) => {
        assert.ok(error instanceof IntegrityError);
        assert.equal(error.name, "IntegrityError");
        assert.equal(error.start, start);
        assert.equal(error.end, end);
        assert.equal(
          error.message,
          `Bytes ${start}-${end - 1} do not match their SHA-256 digest`,
        );
        return true;
      },
      `flipped byte ${flip}`,
    );
    assert.equal(verifier.verifiedTo, start, `flipped byte ${flip}`);

    // The error put the verifier back: the block's correct bytes pass.
    await verifier.update(bytes.subarray(start));
    assert.equal(verifier.verifiedTo, 1000, `flipped byte ${flip}`);
  }
});

Deno.test("after an IntegrityError a range verifier takes the block again from its start", async () => {
  const bytes = pattern(300);
  const bad = bytes.slice();
  bad[130]! ^= 0x80;
  const verifier = verifierFor({ bytes, blockSize: 64 });
  await assert.rejects(() => verifier.update(bad.subarray(0, 200)), {
    name: "IntegrityError",
    start: 128,
    end: 192,
  });
  assert.equal(verifier.verifiedTo, 128);
  // The error already put the verifier back at the block.
  await verifier.update(bytes.subarray(128, 150));
  await verifier.update(bytes.subarray(150));
  assert.equal(verifier.verifiedTo, 300);
});

Deno.test("a range verifier throws only when the bad block is complete", async () => {
  const bytes = pattern(300);
  const bad = bytes.slice();
  bad[70]! ^= 0xff;
  const verifier = verifierFor({ bytes, blockSize: 64 });
  await verifier.update(bad.subarray(0, 100));
  assert.equal(verifier.verifiedTo, 64);
  await assert.rejects(
    () => verifier.update(bad.subarray(100, 128)),
    IntegrityError,
  );
  assert.equal(verifier.verifiedTo, 64);
});

Deno.test("a range verifier can start mid-file at a block boundary", async () => {
  const bytes = pattern(1000);
  for (const start of [64, 320, 960]) {
    const verifier = verifierFor({ bytes, blockSize: 64, start });
    assert.equal(verifier.verifiedTo, start);
    for (let at = start; at < bytes.length; at += 50) {
      const end = Math.min(at + 50, bytes.length);
      await verifier.update(bytes.subarray(at, end));
      assert.equal(verifier.verifiedTo, verifiedAt(end, 64, 1000), `at ${at}`);
    }
  }
  // Bytes of another block at that position are refused.
  const verifier = verifierFor({ bytes, blockSize: 64, start: 320 });
  await assert.rejects(() => verifier.update(bytes.subarray(0, 64)), {
    name: "IntegrityError",
    start: 320,
    end: 384,
  });
  assert.equal(verifier.verifiedTo, 320);
});

/** Whether a promise settled by the time the queued callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(() => done = true, () => done = true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return done;
}

/** A verifier of 64-byte blocks against a list that may still arrive. */
function verifierOn(
  reference: ReferenceDigests,
  fileSize: number,
  start: number,
): RangeVerifier {
  return new RangeVerifier({ reference, blockSize: 64, fileSize, start });
}

Deno.test("a range verifier hashes blocks on arrival and compares each once its digest arrives", async () => {
  const bytes = pattern(640);
  const list = digestsOf(bytes, 64);
  const bad = bytes.slice();
  bad[400]! ^= 1;
  const reference = new ReferenceDigests(10);
  reference.add(0, list.subarray(0, 3 * DIGEST_BYTES));
  const good = verifierOn(reference, 640, 128);
  const damaged = verifierOn(reference, 640, 384);
  // Blocks 2 to 4, and the start of 5: the digests of 3 and 4 are missing.
  // Nothing waits for them: the bytes are taken, and hashed.
  await good.update(bytes.subarray(128, 330));
  await damaged.update(bad.subarray(384, 448));
  assert.equal(good.position, 330);
  assert.equal(good.hashedTo, 320);
  assert.equal(good.verifiedTo, 192);
  assert.equal(damaged.verifiedTo, 384);
  const goodSettled = good.settled();
  const damagedSettled = damaged.settled();
  assert.equal(await settled(goodSettled), false);
  reference.add(3 * DIGEST_BYTES, list.subarray(3 * DIGEST_BYTES, 200));
  await goodSettled;
  assert.equal(good.verifiedTo, 320);
  assert.equal(await settled(damagedSettled), false);
  reference.add(200, list.subarray(200));
  await assert.rejects(damagedSettled, { name: "IntegrityError", start: 384 });
  // Back at the bad block, nothing after it kept.
  assert.equal(damaged.position, 384);
  assert.equal(damaged.hashedTo, 384);
  assert.equal(damaged.verifiedTo, 384);
  await good.update(bytes.subarray(330));
  assert.equal(good.verifiedTo, 640);
});

Deno.test("a range verifier compares the waiting blocks as soon as a later piece finds their digests listed", async () => {
  const bytes = pattern(640);
  const list = digestsOf(bytes, 64);
  const bad = bytes.slice();
  bad[100]! ^= 1;
  const reference = new ReferenceDigests(10);
  const verifier = verifierOn(reference, 640, 0);
  await verifier.update(bad.subarray(0, 256));
  assert.equal(verifier.verifiedTo, 0);
  reference.add(0, list.subarray(0, 4 * DIGEST_BYTES));
  await assert.rejects(
    verifier.update(bad.subarray(256, 320)),
    { name: "IntegrityError", start: 64, end: 128 },
  );
  assert.equal(verifier.verifiedTo, 64);
  assert.equal(verifier.position, 64);
});

Deno.test("a range verifier passes the blocks whose digests will not come", async () => {
  const bytes = pattern(640);
  const bad = bytes.slice();
  bad[10]! ^= 1;
  bad[600]! ^= 1;
  const reference = new ReferenceDigests(10);
  reference.add(0, digestsOf(bytes, 64).subarray(0, 5 * DIGEST_BYTES));
  const verifier = verifierOn(reference, 640, 0);
  await assert.rejects(verifier.update(bad.subarray(0, 64)), IntegrityError);
  await verifier.update(bytes.subarray(0, 320));
  await verifier.update(bad.subarray(320));
  assert.equal(verifier.verifiedTo, 320);
  const rest = verifier.settled();
  assert.equal(await settled(rest), false);
  reference.giveUp();
  await rest;
  assert.equal(verifier.verifiedTo, 640);
});

Deno.test("a block that arrives in parts is compared once its digest arrives", async () => {
  const bytes = pattern(256);
  const bad = bytes.slice();
  bad[100]! ^= 1;
  for (const [given, passes] of [[bytes, true], [bad, false]] as const) {
    const reference = new ReferenceDigests(4);
    reference.add(0, digestsOf(bytes, 64).subarray(0, DIGEST_BYTES));
    const verifier = verifierOn(reference, 256, 64);
    await verifier.update(given.subarray(64, 90));
    await verifier.update(given.subarray(90, 128));
    assert.equal(verifier.hashedTo, 128);
    const rest = verifier.settled();
    assert.equal(await settled(rest), false);
    reference.add(DIGEST_BYTES, digestsOf(bytes, 64).subarray(DIGEST_BYTES));
    if (passes) {
      await rest;
      assert.equal(verifier.verifiedTo, 128);
    } else {
      await assert.rejects(rest, { name: "IntegrityError", start: 64 });
      assert.equal(verifier.verifiedTo, 64);
    }
  }
});

Deno.test("a range verifier whose list stopped keeps none of the blocks still waiting", async () => {
  const bytes = pattern(256);
  const reference = new ReferenceDigests(4);
  reference.add(0, digestsOf(bytes, 64).subarray(0, DIGEST_BYTES));
  const verifier = verifierOn(reference, 256, 0);
  await verifier.update(bytes.subarray(0, 200));
  assert.equal(verifier.verifiedTo, 64);
  const waiting = verifier.settled();
  assert.equal(await settled(waiting), false);
  reference.stop(new Error("stopped"));
  await assert.rejects(waiting, { message: "stopped" });
  assert.equal(verifier.verifiedTo, 64);
  assert.equal(verifier.position, 64);
  assert.equal(verifier.hashedTo, 64);
});

Deno.test("a block size is usable for a file when the servers can list it and the client could pick it", () => {
  const MiB = 1024 * 1024;
  const usable: [number, number][] = [
    [32, 64 * MiB],
    [64 * 1024, 64 * MiB],
    [256 * 1024, 64 * MiB],
    [4096, 70_000],
    [512 * 1024, 2 ** 40],
  ];
  for (const [blockSize, size] of usable) {
    assert.ok(isUsableBlockSize(blockSize, size), `${blockSize} ${size}`);
  }
  const unusable: [number, number][] = [
    // Not a power of two, or 1 (the state of a run without checks).
    [3, 64 * MiB],
    [65_537, 64 * MiB],
    [1, 64 * MiB],
    [0, 64 * MiB],
    [-4, 64 * MiB],
    [2.5, 64 * MiB],
    // Larger than the client picks for the file.
    [512 * 1024, 64 * MiB],
    [8192, 70_000],
    [2 ** 30, 64 * MiB],
    [4 * MiB, 2 ** 40],
    // A list too long for the servers to send.
    [16, 64 * MiB],
    [2, 8 * MiB],
    // A file too small for any block size but 1.
    [2, 31],
  ];
  for (const [blockSize, size] of unusable) {
    assert.ok(!isUsableBlockSize(blockSize, size), `${blockSize} ${size}`);
  }
});

Deno.test("a block without a digest passes unchecked only if no source left out sent it", async () => {
  const bytes = pattern(256);
  const good = { name: "good" };
  const bad = { name: "left out" };
  const reference = new ReferenceDigests(4);
  reference.add(0, digestsOf(bytes, 64).subarray(0, DIGEST_BYTES));
  const verifier = new RangeVerifier({
    reference,
    blockSize: 64,
    fileSize: 256,
    start: 0,
    leftOut: (source) => source === bad,
  });
  await verifier.update(bytes.subarray(0, 100), good);
  // Block 1 is finished by the source left out; blocks 2 and 3 by the good one.
  await verifier.update(bytes.subarray(100, 130), bad);
  await verifier.update(bytes.subarray(130), good);
  reference.giveUp();
  await assert.rejects(verifier.settled(), (error: unknown) => {
    assert.ok(error instanceof IntegrityError);
    assert.equal(error.unlisted, true);
    assert.equal(error.start, 64);
    assert.equal(
      error.message,
      "Bytes 64-127 have no digest, and came from a server left out",
    );
    return true;
  });
  assert.equal(verifier.verifiedTo, 64);
  // Sent again by the good one, it passes unchecked.
  await verifier.update(bytes.subarray(64), good);
  await verifier.settled();
  assert.equal(verifier.verifiedTo, 256);
});
