/**
 * The worker behind {@linkcode BlockHasher}: digests the blocks it is sent.
 *
 * @module
 */

import type { HashReply, HashRequest } from "./block_hasher.ts";
import { digestEachBlock } from "./block_digests.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<HashRequest>) => void) | null;
  postMessage(message: HashReply): void;
};

scope.onmessage = ({ data: { id, bytes, blockSize } }) => {
  scope.postMessage({ id, digests: digestEachBlock(bytes, blockSize) });
};
