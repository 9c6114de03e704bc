import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  BlockDigester,
  createSha256,
  digestEachBlock,
  sha256,
  toHex,
} from "./sha256.ts";
import {
  digestsOf,
  pattern,
  sha256Of,
} from "../../tests/_support/digest_oracle.ts";

Deno.test("toHex gives two lower-case digits a byte", () => {
  assert.equal(toHex(new Uint8Array([0, 1, 15, 16, 171, 255])), "00010f10abff");
  assert.equal(toHex(new Uint8Array(0)), "");
});

Deno.test("sha256 and createSha256 give the SHA-256 of the bytes", async () => {
  const bytes = pattern(1000);
  assert.deepEqual(await sha256(bytes), sha256Of(bytes));
  const hash = await createSha256();
  hash.update(bytes.subarray(0, 300)).update(bytes.subarray(300));
  assert.deepEqual(new Uint8Array(hash.digest()), sha256Of(bytes));
  assert.equal(
    toHex(await sha256(new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("a block digester gives each block's digest, whatever the pieces it is fed", () => {
  const bytes = pattern(1000);
  for (const blockSize of [1, 16, 64, 1000, 4096]) {
    for (const pieceSize of [1, 7, 64, 333, 1000]) {
      const digester = new BlockDigester({
        blockSize,
        newHash: () => createHash("sha256"),
      });
      const parts: number[] = [];
      for (let at = 0; at < bytes.length; at += pieceSize) {
        parts.push(...digester.update(bytes.subarray(at, at + pieceSize)));
      }
      parts.push(...digester.end());
      assert.deepEqual(
        new Uint8Array(parts),
        digestsOf(bytes, blockSize),
        `blocks of ${blockSize}, pieces of ${pieceSize}`,
      );
    }
  }
});

Deno.test("a block digester ended on a block boundary gives no extra digest", () => {
  const digester = new BlockDigester({
    blockSize: 16,
    newHash: () => createHash("sha256"),
  });
  assert.equal(digester.update(pattern(32)).length, 64);
  assert.equal(digester.end().length, 0);
});

Deno.test("digestEachBlock digests blocks in memory, the last one short", async () => {
  for (const length of [0, 1, 100, 128, 1000]) {
    const bytes = pattern(length);
    assert.deepEqual(await digestEachBlock(bytes, 64), digestsOf(bytes, 64));
  }
});
