import assert from "node:assert/strict";
import {
  digestsOf,
  pattern,
  sha256Of,
} from "../../tests/_support/digest_oracle.ts";
import { concatBytes } from "../wire/byte_arrays.ts";
import {
  digestBlocks,
  DigestCache,
  digestRange,
  SETTLE_MS,
} from "./digest_cache.ts";
import { DIGEST_BYTES } from "../wire/protocol.ts";
import { withTempDir } from "../../tests/_support/temp_dir.ts";

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
    // Blocks larger than the server's reads.
    { size: 5 * 1024 * 1024 + 3, blockSize: 4 * 1024 * 1024 },
  ];
  await withTempDir("file_digests_test_", async (dir) => {
    for (const { size, blockSize } of cases) {
      const where = `size ${size}, block ${blockSize}`;
      const bytes = pattern(size);
      const path = `${dir}/file_${size}_${blockSize}`;
      await Deno.writeFile(path, bytes);
      using file = await Deno.open(path);
      // The digests start at byte 0 wherever the file position is.
      await file.seek(3, Deno.SeekMode.Start);
      const batches = await Array.fromAsync(
        digestBlocks(file, { size, blockSize }),
      );
      for (const batch of batches) {
        assert.ok(batch.length > 0, where);
        assert.equal(batch.length % DIGEST_BYTES, 0, where);
      }
      assert.deepEqual(
        concatBytes(batches),
        digestsOf(bytes, blockSize),
        where,
      );
    }
  });
});

Deno.test("digestBlocks yields large lists in several batches", async () => {
  await withTempDir("file_digests_test_", async (dir) => {
    const size = 1024 * 1024 + 3;
    const blockSize = 64 * 1024;
    const bytes = pattern(size);
    await Deno.writeFile(`${dir}/big`, bytes);
    using file = await Deno.open(`${dir}/big`);
    const batches = await Array.fromAsync(
      digestBlocks(file, { size, blockSize }),
    );
    assert.ok(batches.length > 1, `${batches.length} batches`);
    assert.equal(
      batches.reduce((sum, b) => sum + b.length, 0),
      Math.ceil(size / blockSize) * DIGEST_BYTES,
    );
    assert.deepEqual(concatBytes(batches), digestsOf(bytes, blockSize));
  });
});

Deno.test("digestBlocks of an empty file yields nothing", async () => {
  await withTempDir("file_digests_test_", async (dir) => {
    await Deno.writeFile(`${dir}/empty`, new Uint8Array());
    using file = await Deno.open(`${dir}/empty`);
    assert.deepEqual(
      await Array.fromAsync(digestBlocks(file, { size: 0, blockSize: 16 })),
      [],
    );
  });
});

Deno.test("digestBlocks reads only the size given of a longer file", async () => {
  await withTempDir("file_digests_test_", async (dir) => {
    const bytes = pattern(100);
    await Deno.writeFile(`${dir}/longer`, bytes);
    using file = await Deno.open(`${dir}/longer`);
    const batches = await Array.fromAsync(
      digestBlocks(file, { size: 50, blockSize: 16 }),
    );
    assert.deepEqual(
      concatBytes(batches),
      digestsOf(bytes.slice(0, 50), 16),
    );
  });
});

Deno.test("digestBlocks throws UnexpectedEof when the file is shorter than the size", async () => {
  await withTempDir("file_digests_test_", async (dir) => {
    await Deno.writeFile(`${dir}/short`, pattern(10));
    using file = await Deno.open(`${dir}/short`);
    for (const blockSize of [1, 4, 16]) {
      await assert.rejects(
        Array.fromAsync(digestBlocks(file, { size: 20, blockSize })),
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
  await withTempDir("file_digests_test_", async (dir) => {
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
        await digestRange(file, { offset, length }),
        sha256Of(bytes.subarray(offset, offset + length)),
        `offset ${offset}, length ${length}`,
      );
    }
  });
});

Deno.test("digestRange throws UnexpectedEof when the file ends first", async () => {
  await withTempDir("file_digests_test_", async (dir) => {
    await Deno.writeFile(`${dir}/short`, pattern(10));
    using file = await Deno.open(`${dir}/short`);
    await assert.rejects(
      digestRange(file, { offset: 4, length: 10 }),
      (error: unknown) => {
        assert.ok(error instanceof Deno.errors.UnexpectedEof);
        assert.equal(error.message, "The file ended at byte 10");
        return true;
      },
    );
    await assert.rejects(
      digestRange(file, { offset: 20, length: 1 }),
      Deno.errors.UnexpectedEof,
    );
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
  await withTempDir("file_digests_test_", async (dir) => {
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

Deno.test("a digest cache key changes when a file is rewritten with its size and modification time kept", async () => {
  await withTempDir("file_digests_test_", async (dir) => {
    const path = `${dir}/file`;
    await Deno.writeFile(path, pattern(100));
    await Deno.utime(path, 1_000_000, 1_000_000);
    const before = await Deno.stat(path);
    const key = DigestCache.key(before, 64);
    // Deno gives change times in whole seconds.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Rewritten in place, then its time set back as `touch -d` does.
    await Deno.writeFile(path, pattern(100).reverse());
    await Deno.utime(path, 1_000_000, 1_000_000);
    const after = await Deno.stat(path);
    assert.equal(after.ino, before.ino);
    assert.equal(after.size, before.size);
    assert.equal(after.mtime?.getTime(), before.mtime?.getTime());
    assert.notEqual(DigestCache.key(after, 64), key);
  });
});

Deno.test("a list is cached only once the file's last change is well past", () => {
  const changed = new Date(1_000_000_000);
  const info = { ctime: changed, mtime: new Date(0) } as Deno.FileInfo;
  assert.equal(DigestCache.settled(info, changed.getTime()), false);
  assert.equal(DigestCache.settled(info, changed.getTime() + 1000), false);
  assert.equal(DigestCache.settled(info, changed.getTime() + SETTLE_MS), true);
  // Without a change time, the modification time counts.
  assert.equal(
    DigestCache.settled(
      { ctime: null, mtime: changed } as Deno.FileInfo,
      changed.getTime() + SETTLE_MS,
    ),
    true,
  );
});

Deno.test("digestBlocks and digestRange stop reading once their signal is aborted", async () => {
  await withTempDir("file_digests_test_", async (dir) => {
    const size = 4 * 1024 * 1024;
    await Deno.writeFile(`${dir}/f`, pattern(size));
    using file = await Deno.open(`${dir}/f`);
    const stop = new AbortController();
    const reason = new Deno.errors.Interrupted("gone");
    const batches: Uint8Array[] = [];
    await assert.rejects(async () => {
      for await (
        const batch of digestBlocks(file, {
          size,
          blockSize: 1024,
          signal: stop.signal,
        })
      ) {
        batches.push(batch);
        stop.abort(reason);
      }
    }, (error) => error === reason);
    // One read of 1 MiB, none after the abort.
    assert.equal(batches.length, 1);
    await assert.rejects(
      digestRange(file, { offset: 0, length: size, signal: stop.signal }),
      (error) => error === reason,
    );
  });
});
