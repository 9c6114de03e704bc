import assert from "node:assert/strict";
import { type Reply, replyTo, SEND_BUFFER_BYTES } from "./request_handlers.ts";
import { DigestCache } from "./digest_cache.ts";
import { FileAccessError, ServedFolder } from "./served_folder.ts";
import { concatBytes } from "../wire/byte_arrays.ts";
import { Op, type Request, Status } from "../wire/protocol.ts";
import { digestsOf, pattern } from "../../tests/_support/digest_oracle.ts";
import { withTempDir } from "../../tests/_support/temp_dir.ts";

const BYTES = pattern(5000);

/** Runs `fn` with a folder holding `f.bin` ({@linkcode BYTES}). */
function withFolder(fn: (folder: ServedFolder) => Promise<void>) {
  return withTempDir("request_handlers_test_", async (dir) => {
    await Deno.writeFile(`${dir}/f.bin`, BYTES);
    await fn(await ServedFolder.open(dir));
  });
}

/** The reply to `request` for `f.bin`, and its payload, sent whole. */
async function answer(
  folder: ServedFolder,
  request: Omit<Request, "name">,
  context: { digestCache?: DigestCache; pieceSize?: number } = {},
): Promise<{ reply: Reply; pieces: Uint8Array[] }> {
  using served = folder.openFile("f.bin");
  const reply = await replyTo({ ...request, name: "f.bin" }, {
    served,
    digestCache: context.digestCache ?? new DigestCache(),
    sendBuffer: new Uint8Array(SEND_BUFFER_BYTES),
    pieceSize: context.pieceSize,
    signal: new AbortController().signal,
  });
  const pieces: Uint8Array[] = [];
  // Copied: a piece may be a view of a buffer the next one reuses.
  for await (const piece of reply.payload) pieces.push(piece.slice());
  return { reply, pieces };
}

Deno.test("a size request is answered with the size and no payload", async () => {
  await withFolder(async (folder) => {
    const { reply, pieces } = await answer(folder, {
      op: Op.SIZE,
      offset: 0,
      length: 0,
    });
    assert.deepEqual(
      { ...reply, payload: pieces },
      { fileSize: 5000, payloadLength: 0, payload: [], cached: false },
    );
  });
});

Deno.test("a range request is answered with its bytes, in pieces no larger than the rate limit's", async () => {
  await withFolder(async (folder) => {
    const { reply, pieces } = await answer(
      folder,
      { op: Op.RANGE, offset: 1000, length: 3000 },
      { pieceSize: 1024 },
    );
    assert.equal(reply.payloadLength, 3000);
    assert.ok(pieces.every((piece) => piece.length <= 1024));
    assert.deepEqual(concatBytes(pieces), BYTES.subarray(1000, 4000));
  });
});

Deno.test("a range past the end of the file is refused as range not satisfiable", async () => {
  await withFolder(async (folder) => {
    for (const op of [Op.RANGE, Op.RANGE_HASH]) {
      await assert.rejects(
        answer(folder, { op, offset: 4000, length: 1001 }),
        (error) =>
          error instanceof FileAccessError && error.status === Status.RANGE &&
          error.message ===
            'Range 4000+1001 is past the end of "f.bin" (5000 bytes)',
      );
    }
  });
});

Deno.test("a range hash request is answered with the range's digest", async () => {
  await withFolder(async (folder) => {
    const { reply, pieces } = await answer(folder, {
      op: Op.RANGE_HASH,
      offset: 10,
      length: 4000,
    });
    assert.equal(reply.payloadLength, 32);
    assert.deepEqual(
      concatBytes(pieces),
      digestsOf(BYTES.subarray(10, 4010), 4000),
    );
  });
});

Deno.test("a block hash list is computed for a file just written, and sent from the cache when it holds one", async () => {
  await withFolder(async (folder) => {
    const digestCache = new DigestCache();
    const request = { op: Op.BLOCK_HASHES, offset: 0, length: 1024 };
    const fresh = await answer(folder, request, { digestCache });
    assert.equal(fresh.reply.cached, false);
    assert.deepEqual(concatBytes(fresh.pieces), digestsOf(BYTES, 1024));
    // The file was written just now: too recent to be cached.
    const again = await answer(folder, request, { digestCache });
    assert.equal(again.reply.cached, false);
    // A list the cache holds for this version of the file is sent as it is.
    using served = folder.openFile("f.bin");
    const listed = new Uint8Array(5 * 32).fill(7);
    digestCache.set(DigestCache.key(served.info, 1024), listed);
    const cached = await answer(folder, request, { digestCache });
    assert.equal(cached.reply.cached, true);
    assert.deepEqual(concatBytes(cached.pieces), listed);
  });
});

Deno.test("a block hash request with an unusable block size or offset is a bad request", async () => {
  await withFolder(async (folder) => {
    for (const [offset, length] of [[0, 1000], [0, 0], [1024, 1024]]) {
      await assert.rejects(
        answer(folder, {
          op: Op.BLOCK_HASHES,
          offset: offset!,
          length: length!,
        }),
        (error) =>
          error instanceof FileAccessError &&
          error.status === Status.BAD_REQUEST &&
          error.message.startsWith('Cannot list digests of "f.bin"'),
      );
    }
  });
});
