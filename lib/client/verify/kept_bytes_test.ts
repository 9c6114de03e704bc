import assert from "node:assert/strict";
import {
  digestsOf,
  pattern,
  sha256Of,
  toHex,
} from "../../../tests/_support/digest_oracle.ts";
import { withTempDir } from "../../../tests/_support/temp_dir.ts";
import { BlockHasher } from "./block_hasher.ts";
import type { Interval } from "../plan/interval_set.ts";
import {
  KeptBytes,
  type KeptBytesOptions,
  listIdentity,
} from "./kept_bytes.ts";
import { OutputError } from "../output/output_file.ts";
import { DIGEST_BYTES } from "../../wire/protocol.ts";
import { ReferenceDigests } from "./reference_digests.ts";

const BLOCK = 1024;
/** 40 blocks and a short one. */
const FILE = pattern(40 * BLOCK + 100);
const LIST = digestsOf(FILE, BLOCK);
const BLOCKS = LIST.length / DIGEST_BYTES;

/** Runs `fn` with FILE written as a partial file, spoiled by `spoil`. */
async function withPartial(
  spoil: (part: Uint8Array) => void,
  fn: (path: string) => Promise<void>,
): Promise<void> {
  await withTempDir("kept_bytes_test_", async (dir) => {
    const part = FILE.slice();
    spoil(part);
    await Deno.writeFile(`${dir}/f.part`, part);
    await fn(`${dir}/f.part`);
  });
}

function check(
  path: string,
  candidates: Interval[],
  reference: ReferenceDigests,
  extra: Partial<KeptBytesOptions> = {},
): KeptBytes {
  return new KeptBytes({
    path,
    candidates,
    reference,
    blockSize: BLOCK,
    size: FILE.length,
    hashers: [],
    saved: undefined,
    signal: new AbortController().signal,
    ...extra,
  });
}

Deno.test("kept blocks that match the digests pass, and those that do not fail", async () => {
  await withPartial((part) => {
    part[5 * BLOCK + 7]! ^= 1;
    part.fill(0, 30 * BLOCK, 32 * BLOCK);
    part[40 * BLOCK + 99]! ^= 1;
  }, async (path) => {
    for (const count of [0, 1, 3]) {
      const hashers = Array.from({ length: count }, () => new BlockHasher());
      const kept = check(
        path,
        [[0, 10 * BLOCK], [20 * BLOCK, FILE.length]],
        ReferenceDigests.whole(LIST),
        { hashers },
      );
      assert.equal(kept.standingBytes, 30 * BLOCK + 100);
      await kept.run();
      assert.deepEqual(kept.failed(), [
        [5 * BLOCK, 6 * BLOCK],
        [30 * BLOCK, 32 * BLOCK],
        [40 * BLOCK, FILE.length],
      ]);
      assert.deepEqual(kept.passed(), [
        [0, 5 * BLOCK],
        [6 * BLOCK, 10 * BLOCK],
        [20 * BLOCK, 30 * BLOCK],
        [32 * BLOCK, 40 * BLOCK],
      ]);
      assert.deepEqual(kept.standing(), kept.passed());
      assert.equal(kept.passedBytes, 27 * BLOCK);
      assert.equal(kept.failedBytes, 3 * BLOCK + 100);
      assert.equal(kept.changed, false);
      for (const hasher of hashers) hasher[Symbol.dispose]();
    }
  });
});

Deno.test("kept blocks are checked as the digest list arrives, and stand until then", async () => {
  await withPartial((part) => part[25 * BLOCK]! ^= 1, async (path) => {
    const reference = new ReferenceDigests(BLOCKS);
    const kept = check(path, [[0, FILE.length]], reference);
    const running = kept.run();
    reference.add(0, LIST.subarray(0, 10 * DIGEST_BYTES));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(kept.passed(), [[0, 10 * BLOCK]]);
    assert.deepEqual(kept.standing(), [[0, FILE.length]]);
    reference.add(10 * DIGEST_BYTES, LIST.subarray(10 * DIGEST_BYTES));
    await running;
    assert.deepEqual(kept.failed(), [[25 * BLOCK, 26 * BLOCK]]);
    assert.deepEqual(kept.standing(), [
      [0, 25 * BLOCK],
      [26 * BLOCK, FILE.length],
    ]);
  });
});

Deno.test("a stop leaves the kept blocks not checked yet standing", async () => {
  await withPartial(() => {}, async (path) => {
    const reference = new ReferenceDigests(BLOCKS);
    const abort = new AbortController();
    const kept = check(path, [[0, FILE.length]], reference, {
      signal: abort.signal,
    });
    const running = kept.run();
    reference.add(0, LIST.subarray(0, 4 * DIGEST_BYTES));
    await new Promise((resolve) => setTimeout(resolve, 50));
    abort.abort();
    reference.stop(new Error("stopped"));
    await running;
    assert.deepEqual(kept.passed(), [[0, 4 * BLOCK]]);
    assert.deepEqual(kept.failed(), []);
    assert.deepEqual(kept.standing(), [[0, FILE.length]]);
  });
});

Deno.test("kept blocks whose digests will not come stay unchecked and do not count", async () => {
  await withPartial((part) => part[30 * BLOCK]! ^= 1, async (path) => {
    const reference = new ReferenceDigests(BLOCKS);
    reference.add(0, LIST.subarray(0, 20 * DIGEST_BYTES));
    reference.giveUp();
    const kept = check(path, [[10 * BLOCK, FILE.length]], reference);
    await kept.run();
    assert.deepEqual(kept.passed(), [[10 * BLOCK, 20 * BLOCK]]);
    assert.deepEqual(kept.failed(), []);
    assert.deepEqual(kept.unchecked(), [[20 * BLOCK, FILE.length]]);
    assert.equal(kept.uncheckedBytes, 20 * BLOCK + 100);
    assert.deepEqual(kept.standing(), kept.passed());
    assert.equal(kept.standingBytes, 10 * BLOCK);
  });
});

Deno.test("kept blocks are all unchecked when the list ends before its first digest", async () => {
  await withPartial(() => {}, async (path) => {
    const reference = new ReferenceDigests(BLOCKS);
    const kept = check(
      path,
      [[0, 5 * BLOCK], [20 * BLOCK, 30 * BLOCK]],
      reference,
    );
    const running = kept.run();
    reference.giveUp();
    await running;
    assert.deepEqual(kept.passed(), []);
    assert.deepEqual(kept.unchecked(), [[0, 5 * BLOCK], [
      20 * BLOCK,
      30 * BLOCK,
    ]]);
    assert.equal(kept.standingBytes, 0);
  });
});

Deno.test("kept blocks past the end of a partial file that got shorter fail", async () => {
  await withTempDir("kept_bytes_test_", async (dir) => {
    const path = `${dir}/f.part`;
    await Deno.writeFile(path, FILE.subarray(0, 12 * BLOCK + 10));
    const kept = check(
      path,
      [[0, 20 * BLOCK]],
      ReferenceDigests.whole(LIST),
    );
    await kept.run();
    assert.deepEqual(kept.passed(), [[0, 12 * BLOCK]]);
    assert.deepEqual(kept.failed(), [[12 * BLOCK, 20 * BLOCK]]);
  });
});

Deno.test("a partial file that cannot be read is an OutputError", async () => {
  await withTempDir("kept_bytes_test_", async (dir) => {
    const kept = check(
      `${dir}/missing.part`,
      [[0, BLOCK]],
      ReferenceDigests.whole(LIST),
    );
    await assert.rejects(kept.run(), OutputError);
  });
});

Deno.test("the identity of a list's first digests is the SHA-256 of them", async () => {
  const reference = new ReferenceDigests(BLOCKS);
  assert.equal(await listIdentity(reference), undefined);
  reference.add(0, LIST.subarray(0, 7 * DIGEST_BYTES + 3));
  const expected = toHex(sha256Of(LIST.subarray(0, 7 * DIGEST_BYTES)));
  assert.deepEqual(await listIdentity(reference), {
    identity: expected,
    listed: 7,
  });
  assert.deepEqual(await listIdentity(reference, 7), {
    identity: expected,
    listed: 7,
  });
  assert.equal(await listIdentity(reference, 8), undefined);
});

Deno.test("an earlier run's version is undecided until the list covers its digests, then holds", async () => {
  await withPartial(() => {}, async (path) => {
    const reference = new ReferenceDigests(BLOCKS);
    const saved = {
      identity: toHex(sha256Of(LIST.subarray(0, 30 * DIGEST_BYTES))),
      listed: 30,
    };
    let changed = false;
    const kept = check(path, [[0, 10 * BLOCK]], reference, {
      saved,
      onChanged: () => changed = true,
    });
    const running = kept.run();
    reference.add(0, LIST.subarray(0, 20 * DIGEST_BYTES));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(kept.passed(), [[0, 10 * BLOCK]]);
    assert.deepEqual(kept.undecided, saved);
    reference.add(20 * DIGEST_BYTES, LIST.subarray(20 * DIGEST_BYTES));
    await running;
    assert.equal(kept.undecided, undefined);
    assert.equal(kept.changed, false);
    assert.equal(changed, false);
  });
});

Deno.test("a file that changed since the earlier run says so once a kept block fails, and keeps the blocks that still match", async () => {
  // The kept blocks 20 to 30 are of the older version.
  await withPartial(
    (part) => part.fill(7, 20 * BLOCK, 30 * BLOCK),
    async (path) => {
      const reference = new ReferenceDigests(BLOCKS);
      // The first 10 digests are the same in both versions; the 11th not.
      const older = LIST.slice(0, 11 * DIGEST_BYTES);
      older[10 * DIGEST_BYTES]! ^= 1;
      let changed = 0;
      const kept = check(
        path,
        [[0, 5 * BLOCK], [20 * BLOCK, 30 * BLOCK]],
        reference,
        {
          saved: { identity: toHex(sha256Of(older)), listed: 11 },
          onChanged: () => changed++,
        },
      );
      const running = kept.run();
      reference.add(0, LIST.subarray(0, 5 * DIGEST_BYTES));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(kept.passed(), [[0, 5 * BLOCK]]);
      assert.deepEqual(kept.standing(), [[0, 5 * BLOCK], [
        20 * BLOCK,
        30 * BLOCK,
      ]]);
      reference.add(
        5 * DIGEST_BYTES,
        LIST.subarray(5 * DIGEST_BYTES, 11 * DIGEST_BYTES),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The list differs; no kept block failed yet.
      assert.equal(changed, 0);
      assert.equal(kept.changed, false);
      assert.equal(kept.undecided, undefined);
      // What is not checked yet no longer stands: it may be of the other
      // version.
      assert.deepEqual(kept.standing(), [[0, 5 * BLOCK]]);
      reference.add(11 * DIGEST_BYTES, LIST.subarray(11 * DIGEST_BYTES));
      await running;
      assert.equal(changed, 1);
      assert.ok(kept.changed);
      assert.deepEqual(kept.passed(), [[0, 5 * BLOCK]]);
      assert.deepEqual(kept.failed(), [[20 * BLOCK, 30 * BLOCK]]);
    },
  );
});

Deno.test("a list that differs from the earlier run's identity does not say the file changed while the kept blocks match", async () => {
  // As after a state edited by hand: its identity is of other blocks.
  await withPartial(() => {}, async (path) => {
    let changed = 0;
    const kept = check(
      path,
      [[0, 5 * BLOCK], [20 * BLOCK, FILE.length]],
      ReferenceDigests.whole(LIST),
      {
        saved: { identity: "ab".repeat(32), listed: 11 },
        onChanged: () => changed++,
      },
    );
    await kept.run();
    assert.equal(changed, 0);
    assert.equal(kept.changed, false);
    assert.deepEqual(kept.passed(), [[0, 5 * BLOCK], [
      20 * BLOCK,
      FILE.length,
    ]]);
    assert.deepEqual(kept.failed(), []);
  });
});

Deno.test("an earlier run's version stays undecided when no server sends that much of the list", async () => {
  await withPartial(() => {}, async (path) => {
    const reference = new ReferenceDigests(BLOCKS);
    reference.add(0, LIST.subarray(0, 10 * DIGEST_BYTES));
    reference.giveUp();
    const kept = check(path, [[0, 10 * BLOCK]], reference, {
      saved: { identity: "ab".repeat(32), listed: 30 },
    });
    await kept.run();
    assert.equal(kept.changed, false);
    assert.equal(kept.undecided, undefined);
    assert.deepEqual(kept.passed(), [[0, 10 * BLOCK]]);
  });
});
