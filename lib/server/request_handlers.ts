/**
 * The server's answers to the four requests, as values: what header to
 * send, and the payload as pieces produced while they are sent. Refusals
 * are thrown as {@linkcode FileAccessError}s, for an error reply.
 *
 * @module
 */

import { digestBlocks, DigestCache, digestRange } from "./digest_cache.ts";
import { hashListLength, Op, type Request, Status } from "../wire/protocol.ts";
import { FileAccessError, type ServedFile } from "./served_folder.ts";
import { quoteName } from "../wire/quoted_name.ts";

/** Default size of the reads from the file and writes to the socket. */
export const SEND_BUFFER_BYTES = 1024 * 1024;

/** An OK reply: its header's numbers, and its payload. */
export interface Reply {
  /** The file's size, for the header. */
  fileSize: number;
  /** How many payload bytes the header announces. */
  payloadLength: number;
  /**
   * The payload, in pieces. Each piece must be sent before the next is
   * asked for: a piece may be a view of a buffer the next one reuses. A
   * payload that ends before `payloadLength` bytes is a file that shrank.
   */
  payload: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  /** Whether the payload came from the digest cache, for the log. */
  cached: boolean;
}

/** What the replies are made with, besides the request. */
export interface ReplyContext {
  /** The file the request names, open; it must stay open until the
   * payload is sent. */
  served: ServedFile;
  /** Digest lists already computed, shared by all connections. */
  digestCache: DigestCache;
  /**
   * A buffer of {@linkcode SEND_BUFFER_BYTES} for the file's bytes, reused
   * by every reply; without it, each transfer allocates its own.
   */
  sendBuffer?: Uint8Array | undefined;
  /** The largest piece the rate limit lets out at once, if there is one. */
  pieceSize?: number | undefined;
  /** Stops the reading and hashing: the connection is gone. */
  signal: AbortSignal;
}

/**
 * The reply to a request for an open file.
 *
 * @param request The request.
 * @param context The file it names, the cache, the send buffer, the rate
 * limit's piece size and the connection's signal.
 * @returns The reply; its payload is read (or hashed) as it is sent.
 * @throws {FileAccessError} If the request cannot be answered: a range past
 * the end, an unusable block size, a failed seek.
 */
export async function replyTo(
  request: Request,
  context: ReplyContext,
): Promise<Reply> {
  const served = context.served;
  if (request.op === Op.SIZE) {
    return {
      fileSize: served.size,
      payloadLength: 0,
      payload: [],
      cached: false,
    };
  }
  if (request.op === Op.BLOCK_HASHES) {
    return blockHashesReply(request, context);
  }
  const { offset, length } = request;
  if (offset + length > served.size) {
    throw new FileAccessError(
      Status.RANGE,
      `Range ${offset}+${length} is past the end of ${
        quoteName(request.name)
      } (${served.size} bytes)`,
    );
  }
  if (request.op === Op.RANGE_HASH) {
    const digest = await digestRange(served.file, {
      offset,
      length,
      signal: context.signal,
    });
    return {
      fileSize: served.size,
      payloadLength: digest.length,
      payload: [digest],
      cached: false,
    };
  }
  return rangeReply(request, context);
}

function rangeReply(request: Request, context: ReplyContext): Reply {
  const served = context.served;
  const { offset, length } = request;
  try {
    served.file.seekSync(offset, Deno.SeekMode.Start);
  } catch (error) {
    throw new FileAccessError(
      Status.SERVER_ERROR,
      `Cannot seek in ${quoteName(request.name)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const bufferBytes = Math.min(
    SEND_BUFFER_BYTES,
    context.pieceSize ?? Infinity,
    length,
  );
  const buffer = context.sendBuffer?.length === SEND_BUFFER_BYTES
    ? context.sendBuffer.subarray(0, bufferBytes)
    : new Uint8Array(bufferBytes);
  return {
    fileSize: served.size,
    payloadLength: length,
    payload: readPieces(served.file, { buffer, length }),
    cached: false,
  };
}

/**
 * The next `length` bytes of a file, a buffer at a time; fewer if the file
 * shrank since it was opened.
 */
function* readPieces(
  file: Deno.FsFile,
  { buffer, length }: { buffer: Uint8Array; length: number },
): Generator<Uint8Array> {
  let remaining = length;
  while (remaining > 0) {
    // Synchronous: the server is serial, and a read from the page cache is
    // a copy that costs less than the hop to a thread pool and back.
    const n = file.readSync(
      buffer.subarray(0, Math.min(buffer.length, remaining)),
    );
    // The file shrank after the reply's header: the client sees a short
    // transfer and fetches the rest elsewhere.
    if (n === null) return;
    yield buffer.subarray(0, n);
    remaining -= n;
  }
}

function blockHashesReply(request: Request, context: ReplyContext): Reply {
  const served = context.served;
  const blockSize = request.length;
  const listLength = request.offset === 0
    ? hashListLength(served.size, blockSize)
    : undefined;
  if (listLength === undefined) {
    throw new FileAccessError(
      Status.BAD_REQUEST,
      `Cannot list digests of ${
        quoteName(request.name)
      } (${served.size} bytes) in blocks of ${blockSize}: the block size must be a power of two up to 2^30 giving at most 2^21 blocks, and the offset 0`,
    );
  }
  const key = DigestCache.key(served.info, blockSize);
  const cached = context.digestCache.get(key);
  if (cached) {
    return {
      fileSize: served.size,
      payloadLength: cached.length,
      payload: [cached],
      cached: true,
    };
  }
  // Sent as computed, so a large file keeps the connection busy, not idle.
  return {
    fileSize: served.size,
    payloadLength: listLength,
    payload: hashAndCache({ blockSize, key, listLength, context }),
    cached: false,
  };
}

/**
 * The digest list of a file, a batch at a time; once all of it is sent, it
 * goes into the cache if the file stayed as it was.
 */
async function* hashAndCache(
  { blockSize, key, listLength, context }: {
    blockSize: number;
    key: string;
    listLength: number;
    context: ReplyContext;
  },
): AsyncGenerator<Uint8Array> {
  const served = context.served;
  const digests = new Uint8Array(listLength);
  let filled = 0;
  const readFrom = Date.now();
  const batches = digestBlocks(served.file, {
    size: served.size,
    blockSize,
    signal: context.signal,
  });
  for await (const batch of batches) {
    digests.set(batch, filled);
    filled += batch.length;
    yield batch;
  }
  // Not cached if the file changed while it was read, or so shortly before
  // that a change to come could leave the same key.
  if (
    DigestCache.settled(served.info, readFrom) &&
    keyNow(served.file, blockSize) === key
  ) {
    context.digestCache.set(key, digests);
  }
}

/** The cache key of the open file as it is now, if `stat` can tell. */
function keyNow(file: Deno.FsFile, blockSize: number): string | undefined {
  try {
    return DigestCache.key(file.statSync(), blockSize);
  } catch {
    return undefined;
  }
}
