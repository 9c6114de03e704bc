/**
 * SHA-256 of blocks on a worker thread, so the thread that receives and
 * writes them stays free: on two cores this is what lets verification keep
 * up with the network.
 *
 * @module
 */

/** A request to the worker: digest `bytes` in blocks of `blockSize`. */
interface HashRequest {
  /** Matches the reply to the request. */
  id: number;
  /** The blocks; the last may be shorter. */
  bytes: Uint8Array;
  /** The block size. */
  blockSize: number;
}

/** The worker's reply: the blocks' digests, concatenated. */
interface HashReply {
  /** The request's id. */
  id: number;
  /** The blocks' SHA-256 digests, concatenated. */
  digests: Uint8Array;
}

/**
 * The worker's code. It is given as a `data:` URL, so the worker needs no
 * file: no read permission, and nothing to include in a compiled binary.
 * Being a string, it cannot import the block loop of `lib/wire/sha256.ts`
 * (whose `digestEachBlock` is the fallback on this thread), so it holds its
 * own few lines; `block_hasher_test.ts` checks them against
 * `tests/_support/digest_oracle.ts`.
 */
const WORKER_SOURCE = `
import { createHash } from "node:crypto";
self.onmessage = ({ data: { id, bytes, blockSize } }) => {
  const count = Math.ceil(bytes.length / blockSize);
  const digests = new Uint8Array(count * 32);
  for (let i = 0; i < count; i++) {
    const block = bytes.subarray(i * blockSize, (i + 1) * blockSize);
    digests.set(createHash("sha256").update(block).digest(), i * 32);
  }
  self.postMessage({ id, digests });
};
`;

/** Hashes blocks on a worker thread; dispose of it to end the thread. */
export class BlockHasher implements Disposable {
  #worker: Worker;
  #pending = new Map<number, PromiseWithResolvers<Uint8Array>>();
  #nextId = 0;
  #failure: Error | undefined;

  /** Starts the worker thread. */
  constructor() {
    this.#worker = new Worker(
      `data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`,
      { type: "module" },
    );
    this.#worker.onmessage = ({ data }: MessageEvent<HashReply>) => {
      const pending = this.#pending.get(data.id);
      this.#pending.delete(data.id);
      pending?.resolve(data.digests);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`The hashing worker failed: ${event.message}`));
    };
  }

  /**
   * Digests consecutive blocks. Bytes backed by a `SharedArrayBuffer` are
   * read in place, so they must not change until this settles; others are
   * copied.
   *
   * @param bytes The blocks; the last may be shorter.
   * @param blockSize The block size.
   * @returns Their SHA-256 digests, concatenated, 32 bytes each.
   */
  digest(bytes: Uint8Array, blockSize: number): Promise<Uint8Array> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    const pending = Promise.withResolvers<Uint8Array>();
    this.#pending.set(id, pending);
    const shared = bytes.buffer instanceof SharedArrayBuffer;
    const request: HashRequest = {
      id,
      // A view is sent with its whole buffer: copy all but shared ones.
      bytes: shared ? bytes : bytes.slice(),
      blockSize,
    };
    this.#worker.postMessage(request);
    return pending.promise;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  /** Ends the worker; digests still pending are rejected. */
  [Symbol.dispose](): void {
    this.#worker.terminate();
    this.#fail(new Error("The block hasher was closed"));
  }
}
