import { concatBytes } from "./byte_arrays.ts";
import assert from "node:assert/strict";
import {
  chooseBlockSize,
  digestBlocks,
  DigestCache,
  digestRange,
  IntegrityError,
  MAX_CHOSEN_BLOCK_BYTES,
  RangeVerifier,
  sha256,
} from "./block_digests.ts";
import { DIGEST_BYTES, hashListLength } from "./protocol.ts";
import { planRanges } from "./range_planner.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "block_digests_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Bytes that differ from block to block, so a swapped block is caught. */
function pattern(length: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + (i >>> 8)) % 251);
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The digest list computed the obvious way, one block at a time. */
function expectedDigests(bytes: Uint8Array, blockSize: number): Uint8Array {
  const parts = [];
  for (let start = 0; start < bytes.length; start += blockSize) {
    parts.push(sha256(bytes.subarray(start, start + blockSize)));
  }
  return concatBytes(parts);
}

async function collect(
  batches: AsyncIterable<Uint8Array>,
): Promise<Uint8Array[]> {
  const all = [];
  for await (const batch of batches) all.push(batch);
  return all;
}

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

Deno.test("sha256 matches the known test vectors", () => {
  assert.equal(
    toHex(sha256(new TextEncoder().encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    toHex(sha256(new Uint8Array())),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.equal(sha256(new Uint8Array([1])).length, DIGEST_BYTES);
});

Deno.test("digestBlocks gives the SHA-256 of every block of a file", async () => {
  const cases = [
    { size: 1, blockSize: 1 },
    { size: 7, blockSize: 2 },
    { size: 5, blockSize: 8 },
    { size: 64, blockSize: 16 },
    { size: 1000, blockSize: 7 },
    { size: 1024 * 1024 + 3, blockSize: 64 * 1024 },
    { size: 1000, blockSize: 1 },
    { size: 3 * 1024 * 1024 + 1, blockSize: 1024 * 1024 },
  ];
  await withTempDir(async (dir) => {
    for (const { size, blockSize } of cases) {
      const where = `size ${size}, block ${blockSize}`;
      const bytes = pattern(size);
      const path = `${dir}/file_${size}_${blockSize}`;
      await Deno.writeFile(path, bytes);
      using file = await Deno.open(path);
      // The digests start at byte 0 wherever the file position is.
      await file.seek(3, Deno.SeekMode.Start);
      const batches = await collect(digestBlocks(file, size, blockSize));
      for (const batch of batches) {
        assert.ok(batch.length > 0, where);
        assert.equal(batch.length % DIGEST_BYTES, 0, where);
      }
      assert.deepEqual(
        concatBytes(batches),
        expectedDigests(bytes, blockSize),
        where,
      );
    }
  });
});

Deno.test("digestBlocks yields large lists in several batches", async () => {
  await withTempDir(async (dir) => {
    const size = 1024 * 1024 + 3;
    const blockSize = 64 * 1024;
    const bytes = pattern(size);
    await Deno.writeFile(`${dir}/big`, bytes);
    using file = await Deno.open(`${dir}/big`);
    const batches = await collect(digestBlocks(file, size, blockSize));
    assert.ok(batches.length > 1, `${batches.length} batches`);
    assert.equal(
      batches.reduce((sum, b) => sum + b.length, 0),
      Math.ceil(size / blockSize) * DIGEST_BYTES,
    );
    assert.deepEqual(concatBytes(batches), expectedDigests(bytes, blockSize));
  });
});

Deno.test("digestBlocks of an empty file yields nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/empty`, new Uint8Array());
    using file = await Deno.open(`${dir}/empty`);
    assert.deepEqual(await collect(digestBlocks(file, 0, 16)), []);
  });
});

Deno.test("digestBlocks reads only the size given of a longer file", async () => {
  await withTempDir(async (dir) => {
    const bytes = pattern(100);
    await Deno.writeFile(`${dir}/longer`, bytes);
    using file = await Deno.open(`${dir}/longer`);
    const batches = await collect(digestBlocks(file, 50, 16));
    assert.deepEqual(
      concatBytes(batches),
      expectedDigests(bytes.slice(0, 50), 16),
    );
  });
});

Deno.test("digestBlocks throws UnexpectedEof when the file is shorter than the size", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/short`, pattern(10));
    using file = await Deno.open(`${dir}/short`);
    for (const blockSize of [1, 4, 16]) {
      await assert.rejects(
        collect(digestBlocks(file, 20, blockSize)),
        (error: unknown) => {
          assert.ok(error instanceof Deno.errors.UnexpectedEof);
          assert.equal(
            error.message,
            "The file ended at byte 10, expected 20",
          );
          return true;
        },
      );
    }
  });
});

Deno.test("digestRange gives the SHA-256 of a byte range", async () => {
  await withTempDir(async (dir) => {
    const bytes = pattern(600 * 1024);
    await Deno.writeFile(`${dir}/file`, bytes);
    using file = await Deno.open(`${dir}/file`);
    const cases = [
      [0, bytes.length],
      [0, 1],
      [17, 1000],
      [bytes.length - 1, 1],
      [5, 300 * 1024],
      [100, 0],
      [bytes.length, 0],
    ] as const;
    for (const [offset, length] of cases) {
      assert.deepEqual(
        await digestRange(file, offset, length),
        sha256(bytes.subarray(offset, offset + length)),
        `offset ${offset}, length ${length}`,
      );
    }
  });
});

Deno.test("digestRange throws UnexpectedEof when the file ends first", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/short`, pattern(10));
    using file = await Deno.open(`${dir}/short`);
    await assert.rejects(digestRange(file, 4, 10), (error: unknown) => {
      assert.ok(error instanceof Deno.errors.UnexpectedEof);
      assert.equal(error.message, "The file ended at byte 10");
      return true;
    });
    await assert.rejects(digestRange(file, 20, 1), Deno.errors.UnexpectedEof);
  });
});

Deno.test("a digest cache returns what was stored under a key", () => {
  const cache = new DigestCache();
  assert.equal(cache.get("a"), undefined);
  const list = new Uint8Array([1, 2, 3]);
  cache.set("a", list);
  assert.equal(cache.get("a"), list);
  const replacement = new Uint8Array([4]);
  cache.set("a", replacement);
  assert.equal(cache.get("a"), replacement);
  assert.equal(cache.get("b"), undefined);
});

Deno.test("a full digest cache drops the oldest list", () => {
  const cache = new DigestCache(2);
  const lists = [0, 1, 2, 3].map((i) => new Uint8Array([i]));
  cache.set("a", lists[0]!);
  cache.set("b", lists[1]!);
  cache.set("c", lists[2]!);
  assert.equal(cache.get("a"), undefined);
  assert.equal(cache.get("b"), lists[1]);
  assert.equal(cache.get("c"), lists[2]);
  // Storing "b" again makes it the newest, so "c" goes next.
  cache.set("b", lists[1]!);
  cache.set("d", lists[3]!);
  assert.equal(cache.get("c"), undefined);
  assert.equal(cache.get("b"), lists[1]);
  assert.equal(cache.get("d"), lists[3]);
});

Deno.test("a digest cache key changes with the file's size, time and block size", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/file`;
    await Deno.writeFile(path, pattern(100));
    await Deno.utime(path, 1_000_000, 1_000_000);
    const before = await Deno.stat(path);
    const key = DigestCache.key(before, 64);
    assert.equal(DigestCache.key(await Deno.stat(path), 64), key);
    assert.notEqual(DigestCache.key(before, 128), key);
    assert.notEqual(DigestCache.key({ ...before, size: 101 }, 64), key);
    assert.notEqual(
      DigestCache.key({ ...before, mtime: new Date(2_000_000_000) }, 64),
      key,
    );

    // The file rewritten in place, same size, later time.
    await Deno.writeFile(path, pattern(100).reverse());
    await Deno.utime(path, 1_000_001, 1_000_001);
    assert.notEqual(DigestCache.key(await Deno.stat(path), 64), key);
    // The file grown.
    await Deno.writeFile(path, pattern(1), { append: true });
    await Deno.utime(path, 1_000_000, 1_000_000);
    assert.notEqual(DigestCache.key(await Deno.stat(path), 64), key);
  });
});

/** A file's bytes, its digest list and a verifier for a range of it. */
function verifierFor(options: {
  bytes: Uint8Array;
  blockSize: number;
  start?: number;
}): RangeVerifier {
  return new RangeVerifier({
    digests: expectedDigests(options.bytes, options.blockSize),
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

    // After a rewind the correct bytes of the block are accepted.
    verifier.rewind();
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
  // No rewind: the error already put the verifier back.
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

Deno.test("a range verifier rewound mid-block takes the block from its start", async () => {
  const bytes = pattern(300);
  const verifier = verifierFor({ bytes, blockSize: 64 });
  await verifier.update(bytes.subarray(0, 100));
  assert.equal(verifier.verifiedTo, 64);
  // The connection broke at 100; the next one resends from 64.
  verifier.rewind();
  await verifier.update(bytes.subarray(64, 300));
  assert.equal(verifier.verifiedTo, 300);
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
