/**
 * The digest list the client checks blocks against, as it arrives. A server
 * that has not cached a file's list computes it while it sends it, from the
 * start of the file, so the ranges the list already covers can be fetched
 * and checked while the rest is still on its way.
 *
 * @module
 */

import { equalBytes } from "../../wire/byte_arrays.ts";
import { DIGEST_BYTES } from "../../wire/protocol.ts";

/** A list of block digests that fills from its start. */
export class ReferenceDigests {
  /** How many blocks the file has. */
  readonly blockCount: number;
  #list: Uint8Array<ArrayBuffer>;
  #bytes = 0;
  #givenUp = false;
  /** How far each source's own list reached, in bytes. */
  #reach = new Map<number, number>();
  #stopped: { reason: unknown } | undefined;
  #waiters: {
    block: number;
    resolve: () => void;
    reject: (reason: unknown) => void;
  }[] = [];

  /**
   * Creates an empty list.
   *
   * @param blockCount How many blocks the file has.
   * @throws {RangeError} If it is not a whole number.
   */
  constructor(blockCount: number) {
    if (!Number.isSafeInteger(blockCount) || blockCount < 0) {
      throw new RangeError(`Not a number of blocks: ${blockCount}`);
    }
    this.blockCount = blockCount;
    this.#list = new Uint8Array(blockCount * DIGEST_BYTES);
  }

  /**
   * A list that arrived whole.
   *
   * @param list The digests, concatenated in block order.
   * @returns The list, complete.
   */
  static whole(list: Uint8Array): ReferenceDigests {
    const reference = new ReferenceDigests(list.length / DIGEST_BYTES);
    reference.add(0, list);
    return reference;
  }

  /** How many blocks, from the first, have their digest. */
  get covered(): number {
    return Math.floor(this.#bytes / DIGEST_BYTES);
  }

  /** The whole list, once every digest arrived. */
  get complete(): Uint8Array<ArrayBuffer> | undefined {
    return this.#bytes === this.#list.length ? this.#list : undefined;
  }

  /**
   * The first digests of the list, once they arrived.
   *
   * @param blocks How many, from the first.
   * @returns Them, concatenated, or `undefined` if not all arrived yet.
   */
  prefix(blocks: number): Uint8Array<ArrayBuffer> | undefined {
    if (blocks > this.covered) return undefined;
    return this.#list.subarray(0, blocks * DIGEST_BYTES);
  }

  /** Whether no more digests will come: the list is whole, or no server
   * could send the rest. */
  get ended(): boolean {
    return this.#givenUp || this.complete !== undefined;
  }

  /**
   * Takes the next bytes of a server's list. A server asked after another
   * one failed sends its list from the start again: the part that overlaps
   * the bytes already taken must equal them.
   *
   * @param at Where `bytes` start in the server's list; at most the
   * number of bytes taken so far, so the list stays contiguous.
   * @param bytes The server's list from `at` on.
   * @param source Which server sent them, for {@linkcode listedBy}.
   * @returns `false` if they differ from the bytes already taken (the
   * server has another version of the file); nothing is taken then.
   * @throws {RangeError} If `at` leaves a gap or the bytes run past the
   * end of the list.
   */
  add(at: number, bytes: Uint8Array, source?: number): boolean {
    if (at > this.#bytes || at + bytes.length > this.#list.length) {
      throw new RangeError(
        `Digest bytes ${at}+${bytes.length} do not follow the ${this.#bytes} of ${this.#list.length} taken`,
      );
    }
    const overlap = Math.min(bytes.length, this.#bytes - at);
    if (
      !equalBytes(
        bytes.subarray(0, overlap),
        this.#list.subarray(at, at + overlap),
      )
    ) {
      return false;
    }
    if (source !== undefined) {
      this.#reach.set(
        source,
        Math.max(this.#reach.get(source) ?? 0, at + bytes.length),
      );
    }
    if (bytes.length > overlap) {
      this.#list.set(bytes.subarray(overlap), this.#bytes);
      this.#bytes += bytes.length - overlap;
      this.#wake();
    }
    return true;
  }

  /**
   * Whether a server sent the digest of a block itself: a copy of its own
   * that fails that digest says its list is stale, not that its copy
   * differs from the list's.
   *
   * @param source The server, as given to {@linkcode add}.
   * @param block The block's number.
   * @returns `true` if its list reached the block.
   */
  listedBy(source: number, block: number): boolean {
    return (this.#reach.get(source) ?? 0) >= (block + 1) * DIGEST_BYTES;
  }

  /** No server can send the rest: blocks not covered stay unchecked. */
  giveUp(): void {
    this.#givenUp = true;
    this.#wake();
  }

  /**
   * The download stopped before the list was whole: waits for blocks not
   * covered end with `reason`, now and later, so none of them passes.
   *
   * @param reason Why it stopped.
   */
  stop(reason: unknown): void {
    this.#stopped ??= { reason };
    this.#wake();
  }

  /**
   * The digest of a block, if it arrived.
   *
   * @param block The block's number.
   * @returns Its digest, or `undefined` if it is not covered yet.
   */
  digestOf(block: number): Uint8Array | undefined {
    if (block >= this.covered) return undefined;
    return this.#list.subarray(
      block * DIGEST_BYTES,
      (block + 1) * DIGEST_BYTES,
    );
  }

  /**
   * Waits until a block's digest arrived, or until none will.
   *
   * @param block The block's number.
   * @returns Once {@linkcode digestOf} has the block or
   * {@linkcode ended} is true.
   * @throws With the reason given to {@linkcode stop}, if it was called
   * before the block was covered.
   */
  whenCovered(block: number): Promise<void> {
    if (block < this.covered || this.ended) return Promise.resolve();
    if (this.#stopped) return Promise.reject(this.#stopped.reason);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters.push({ block, resolve, reject });
    return promise;
  }

  #wake(): void {
    const covered = this.covered;
    const ended = this.ended;
    this.#waiters = this.#waiters.filter(({ block, resolve, reject }) => {
      if (block < covered || ended) resolve();
      else if (this.#stopped) reject(this.#stopped.reason);
      else return true;
      return false;
    });
  }
}
