/**
 * The digests the tests expect, computed the obvious way with `node:crypto`,
 * apart from the code under test, and the bytes they hash. Internal to the
 * tests. Its block loop is written apart from `lib/wire/sha256.ts` on
 * purpose: it is the oracle the library's loop is checked against. Hex, not
 * under test, is the library's.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DIGEST_BYTES } from "../../lib/wire/protocol.ts";

/** Bytes that differ from block to block, so a swapped block is caught. */
export function pattern(length: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + (i >>> 8)) % 251);
}

/** SHA-256 of some bytes. */
export function sha256Of(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** The digest list of `bytes`, one block at a time; the last may be short. */
export function digestsOf(bytes: Uint8Array, blockSize: number): Uint8Array {
  const count = Math.ceil(bytes.length / blockSize);
  const digests = new Uint8Array(count * DIGEST_BYTES);
  for (let i = 0; i < count; i++) {
    const block = bytes.subarray(i * blockSize, (i + 1) * blockSize);
    digests.set(sha256Of(block), i * DIGEST_BYTES);
  }
  return digests;
}

export { toHex } from "../../lib/wire/sha256.ts";
