/**
 * SHA-256 as both programs use it: of some bytes at once, streaming, block
 * by block (the one block loop: the server's digest lists and the client's
 * checks both run it), and in hex.
 *
 * `node:crypto` is loaded only when first needed: the client hashes its
 * blocks on a worker thread, and importing it on the main thread would cost
 * every start about 15 ms and 5 MiB. The server, which hashes on its own
 * thread, hands {@linkcode BlockDigester} its own hash factory.
 *
 * @module
 */

import type { Hash } from "node:crypto";
import { DIGEST_BYTES } from "./protocol.ts";

/**
 * Bytes in lower-case hex, two digits a byte.
 *
 * @param bytes The bytes.
 * @returns Their hex text, such as `"00ff"`.
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * SHA-256 of some bytes (with Web Crypto, which needs no import).
 *
 * @param bytes The bytes; not backed by a `SharedArrayBuffer`.
 * @returns The digest.
 */
export async function sha256(
  bytes: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

let nodeCrypto: Promise<typeof import("node:crypto")> | undefined;

/**
 * A new streaming SHA-256 hash, for bytes that arrive in parts.
 *
 * @returns The hash, from `node:crypto` (imported on the first call).
 */
export async function createSha256(): Promise<Hash> {
  nodeCrypto ??= import("node:crypto");
  return (await nodeCrypto).createHash("sha256");
}

/**
 * Digests consecutive blocks of one size fed in pieces of any size: a block
 * may span pieces, and a piece may hold many blocks.
 */
export class BlockDigester {
  #blockSize: number;
  #newHash: () => Hash;
  /** The block in progress, begun by an earlier piece. */
  #hash: Hash | undefined;
  #inBlock = 0;

  /**
   * Creates a digester at the start of a block.
   *
   * @param options The block size, and what makes a new SHA-256 hash (such
   * as `() => createHash("sha256")` of `node:crypto`).
   */
  constructor(options: { blockSize: number; newHash: () => Hash }) {
    this.#blockSize = options.blockSize;
    this.#newHash = options.newHash;
  }

  /**
   * Feeds the next bytes.
   *
   * @param bytes The bytes that follow those fed so far.
   * @returns The digests of the blocks these bytes complete, concatenated;
   * empty if none.
   */
  update(bytes: Uint8Array): Uint8Array {
    const count = Math.floor((this.#inBlock + bytes.length) / this.#blockSize);
    const digests = new Uint8Array(count * DIGEST_BYTES);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const take = this.#blockSize - this.#inBlock;
      const hash = this.#hash ?? this.#newHash();
      hash.update(bytes.subarray(at, at + take));
      digests.set(hash.digest(), i * DIGEST_BYTES);
      this.#hash = undefined;
      this.#inBlock = 0;
      at += take;
    }
    if (at < bytes.length) {
      (this.#hash ??= this.#newHash()).update(bytes.subarray(at));
      this.#inBlock += bytes.length - at;
    }
    return digests;
  }

  /**
   * Ends the bytes: the block in progress is the last, shorter one.
   *
   * @returns Its digest, or nothing if the bytes ended on a block boundary.
   */
  end(): Uint8Array {
    const hash = this.#hash;
    this.#hash = undefined;
    this.#inBlock = 0;
    return hash === undefined
      ? new Uint8Array(0)
      : new Uint8Array(hash.digest());
  }
}

/**
 * Digests consecutive blocks held in memory, on this thread.
 *
 * @param bytes The blocks; the last may be shorter.
 * @param blockSize The block size.
 * @returns Their SHA-256 digests, concatenated.
 */
export async function digestEachBlock(
  bytes: Uint8Array,
  blockSize: number,
): Promise<Uint8Array> {
  nodeCrypto ??= import("node:crypto");
  const { createHash } = await nodeCrypto;
  const digester = new BlockDigester({
    blockSize,
    newHash: () => createHash("sha256"),
  });
  const whole = digester.update(bytes);
  const last = digester.end();
  if (last.length === 0) return whole;
  const digests = new Uint8Array(whole.length + last.length);
  digests.set(whole);
  digests.set(last, whole.length);
  return digests;
}
