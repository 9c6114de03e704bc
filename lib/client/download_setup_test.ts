import assert from "node:assert/strict";
import { planBlocks } from "./download_setup.ts";
import type { DownloadState } from "./output/download_state.ts";
import { chooseBlockSize } from "./verify/block_digests.ts";

const SIZE = 64 * 1024 * 1024;

function saved(fields: Partial<DownloadState>): DownloadState {
  return {
    name: "a.bin",
    size: SIZE,
    blockSize: 4096,
    done: [],
    ...fields,
  } as unknown as DownloadState;
}

Deno.test("without checks, or for an empty file, blocks are single bytes and unchecked", () => {
  assert.deepEqual(
    planBlocks({
      saved: undefined,
      name: "a.bin",
      size: SIZE,
      numChunks: 4,
      verify: false,
    }),
    { sameFile: false, verify: false, blockSize: 1 },
  );
  assert.deepEqual(
    planBlocks({ saved: undefined, name: "a.bin", size: 0, numChunks: 4 }),
    { sameFile: false, verify: false, blockSize: 1 },
  );
});

Deno.test("a saved run of the same file keeps its block size; another file's does not", () => {
  const same = planBlocks({
    saved: saved({}),
    name: "a.bin",
    size: SIZE,
    numChunks: 4,
  });
  assert.deepEqual(same, {
    sameFile: true,
    verify: true,
    blockSize: 4096,
  });
  const other = planBlocks({
    saved: saved({ name: "b.bin" }),
    name: "a.bin",
    size: SIZE,
    numChunks: 4,
  });
  assert.deepEqual(other, {
    sameFile: false,
    verify: true,
    blockSize: chooseBlockSize(SIZE, 4),
  });
});
