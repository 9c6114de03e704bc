/**
 * A whole download: learn the size (and block digests), split the missing
 * bytes into ranges, fetch the ranges concurrently with failover and
 * retries, check every block, save progress for a later run, and commit
 * the file only when every range is complete.
 *
 * @module
 */

import { Mutex } from "async-mutex";
import { BlockHasher } from "./block_hasher.ts";
import {
  chooseBlockSize,
  IntegrityError,
  RangeVerifier,
  sha256,
} from "./block_digests.ts";
import {
  type DownloadState,
  loadState,
  removeState,
  saveState,
  STATE_SUFFIX,
} from "./download_state.ts";
import { findCause } from "./error_cause.ts";
import { type Interval, IntervalSet } from "./interval_set.ts";
import { OutputError, OutputFile, PARTIAL_SUFFIX } from "./output_file.ts";
import { type ByteRange, planRanges } from "./range_planner.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import { ReferenceDigests } from "./reference_digests.ts";
import { minPieceFor, planSteal } from "./work_stealing.ts";
import {
  describeFailure,
  fetchRange,
  KeptConnection,
  OtherVersionError,
  requestBlockDigests,
  requestRangeDigest,
  requestSize,
  type Timeouts,
} from "./server_connection.ts";
import type { ServerAddress } from "./server_list.ts";

/** No server could report the file's size. */
export class CannotTransferError extends Error {
  /** One line per server: why it could not. */
  readonly reasons: string[];

  /**
   * Creates the error.
   *
   * @param reasons One line per server: why it could not.
   */
  constructor(reasons: string[]) {
    super("Cannot transfer this file");
    this.name = "CannotTransferError";
    this.reasons = reasons;
  }
}

/** Some ranges could not be fetched from any server, or it was interrupted. */
export class IncompleteDownloadError extends Error {
  /** The ranges that are not complete. */
  readonly missing: ByteRange[];
  /** The temporary file holding what was fetched. */
  readonly partialPath: string;
  /** Whether the download was stopped by its signal rather than failures. */
  readonly interrupted: boolean;

  /**
   * Creates the error.
   *
   * @param missing The ranges that are not complete.
   * @param partialPath The temporary file holding what was fetched.
   * @param interrupted Whether the download was stopped by its signal.
   */
  constructor(missing: ByteRange[], partialPath: string, interrupted: boolean) {
    super("not all chunks are downloaded");
    this.name = "IncompleteDownloadError";
    this.missing = missing;
    this.partialPath = partialPath;
    this.interrupted = interrupted;
  }
}

/** The finished file does not have the SHA-256 digest it was expected to. */
export class ChecksumMismatchError extends Error {
  /** The digest the file has. */
  readonly actual: string;
  /** The temporary file holding it. */
  readonly partialPath: string;

  /**
   * Creates the error.
   *
   * @param expected The digest asked for.
   * @param actual The digest the file has.
   * @param partialPath The temporary file holding it.
   */
  constructor(expected: string, actual: string, partialPath: string) {
    super(
      `The downloaded file's SHA-256 is ${actual}, expected ${expected}`,
    );
    this.name = "ChecksumMismatchError";
    this.actual = actual;
    this.partialPath = partialPath;
  }
}

/** Something worth telling the user while a download runs. */
export type DownloadEvent =
  | { type: "size-failed"; detail: string }
  | { type: "size"; server: ServerAddress; size: number }
  | {
    type: "unverified";
    /** The first byte left unchecked: 0, or where the digests ended. */
    from: number;
    detail: string;
  }
  | { type: "resumed"; bytes: number }
  | { type: "restarted"; reason: string }
  | {
    type: "range-failed";
    range: ByteRange;
    /** First byte not yet received; the next server resumes there. */
    position: number;
    detail: string;
  }
  | { type: "server-excluded"; server: ServerAddress; reason: string }
  | { type: "retry-round"; range: ByteRange; round: number; delayMs: number }
  | {
    type: "stolen";
    /** The range that gave up its tail (its `end` is already moved). */
    from: ByteRange;
    /** The new range: the tail. */
    range: ByteRange;
  }
  | { type: "range-done"; range: ByteRange; server: ServerAddress };

/** What a download needs. */
export interface DownloadOptions {
  /** The servers, in list order. */
  servers: ServerAddress[];
  /** The name to ask the servers for. */
  name: string;
  /** How many ranges to split the file into. */
  numChunks: number;
  /** Where the complete file goes. */
  outputPath: string;
  /** Deadlines for each request. */
  timeouts: Timeouts;
  /** Rounds over all servers after the first one, per range. Default 3. */
  retries?: number;
  /** Delay before the first retry round; it doubles each round. Default 500. */
  retryDelayMs?: number;
  /** Check every block against the first server's digests. Default true. */
  verify?: boolean;
  /** Expected SHA-256 of the whole file, lower-case hex. */
  sha256?: string | undefined;
  /** How often progress is saved for a later run, in ms. Default 1000. */
  checkpointMs?: number;
  /** Stops the download; progress is saved. */
  signal?: AbortSignal | undefined;
  /** Receives progress and failures; optional. */
  onEvent?: (event: DownloadEvent) => void;
  /**
   * Called once, when the ranges are planned, with a function that tells
   * where the download is; a progress display calls it as often as it
   * redraws.
   */
  onStart?: (progress: () => DownloadProgress) => void;
}

/** Where one range's fetch is. */
export interface TaskProgress {
  /** The range's number; stolen tails get numbers after the planned ones. */
  index: number;
  /** First byte of the range. */
  start: number;
  /** End of the range (exclusive); it moves down when a tail is stolen. */
  end: number;
  /** End of the bytes received so far (some may still be on their way to the file). */
  position: number;
  /** Index of the server it fetches from or waits for, if any. */
  server: number | undefined;
  /** Whether bytes are on their way now (not waiting for a server). */
  active: boolean;
  /** How many times it moved on to another server. */
  failovers: number;
}

/** Where a running download is. */
export interface DownloadProgress {
  /** The file's size. */
  size: number;
  /** Bytes kept from an earlier run. */
  resumedBytes: number;
  /** Bytes present: those kept from an earlier run and those received. */
  doneBytes: number;
  /** Bytes received from each server, in list order. */
  bytesPerServer: readonly number[];
  /** One entry per range, stolen tails included. */
  tasks: TaskProgress[];
}

/** What a finished download did. */
export interface DownloadResult {
  /** The file's size. */
  size: number;
  /** The ranges fetched in this run. */
  ranges: ByteRange[];
  /** Bytes received from each server, in list order. */
  bytesPerServer: number[];
  /** How many times a range moved on to another server. */
  failovers: number;
  /** How many retry rounds ranges needed. */
  retryRounds: number;
  /** Bytes kept from an earlier run. */
  resumedBytes: number;
  /** Servers left out because their copy differs. */
  excluded: ServerAddress[];
}

/**
 * Asks the servers, in list order, for the size of a file and returns the
 * first answer.
 *
 * @param options The servers, the name, deadlines and event sink.
 * @returns The size and the index of the server that reported it.
 * @throws {CannotTransferError} If no server reported a size.
 */
export async function findFileSize(
  options: Pick<DownloadOptions, "servers" | "name" | "timeouts" | "onEvent">,
): Promise<{ size: number; serverIndex: number }> {
  const reasons: string[] = [];
  for (const [serverIndex, server] of options.servers.entries()) {
    try {
      const size = await requestSize(
        { server, timeouts: options.timeouts },
        options.name,
      );
      options.onEvent?.({ type: "size", server, size });
      return { size, serverIndex };
    } catch (error) {
      const detail = describeFailure(server, error);
      reasons.push(detail);
      options.onEvent?.({ type: "size-failed", detail });
    }
  }
  throw new CannotTransferError(reasons);
}

/**
 * Fills the reference digest list: asks the size server first, then the
 * others in list order after it. A server that has not cached the list
 * computes it while it sends it, so the list fills from its start while
 * ranges are fetched. After a server fails midway, the next one's list must
 * agree with the digests already taken. Each server is asked under its
 * lock, so no range queues behind the list on it. Never rejects: when no
 * server sends the rest, the list gives up and says so in an event.
 */
async function fetchReference(
  options: DownloadOptions,
  request: {
    first: number;
    size: number;
    blockSize: number;
    reference: ReferenceDigests;
    locks: readonly Mutex[];
    signal: AbortSignal;
    /** Called when a server accepted the request. */
    onReply: () => void;
    /** Servers left out: their copy differs. */
    excluded: readonly boolean[];
    /** Leaves out a server whose copy differs. */
    exclude: (serverIndex: number, reason: string) => void;
    /** Told which server the list is asked of, under its lock, if any. */
    onServer: (serverIndex: number | undefined) => void;
  },
): Promise<void> {
  const { servers } = options;
  const { reference, signal } = request;
  const reasons: string[] = [];
  for (let k = 0; k < servers.length && !signal.aborted; k++) {
    const serverIndex = (request.first + k) % servers.length;
    const server = servers[serverIndex]!;
    if (request.excluded[serverIndex]) continue;
    try {
      await request.locks[serverIndex]!.runExclusive(async () => {
        request.onServer(serverIndex);
        try {
          await requestBlockDigests(
            { server, timeouts: options.timeouts, signal },
            { name: options.name, fileSize: request.size },
            request.blockSize,
            {
              onReply: request.onReply,
              onDigests: (at, bytes) => {
                if (!reference.add(at, bytes)) {
                  throw new OtherVersionError(
                    "its digest list differs from the one received before",
                  );
                }
              },
            },
          );
        } finally {
          request.onServer(undefined);
        }
      });
      return;
    } catch (error) {
      reasons.push(describeFailure(server, error));
      // Its ranges would not match the digests taken either.
      if (error instanceof OtherVersionError && !signal.aborted) {
        request.exclude(serverIndex, error.message);
      }
    }
  }
  if (signal.aborted) {
    reference.stop(signal.reason);
    return;
  }
  reference.giveUp();
  const from = reference.covered * request.blockSize;
  options.onEvent?.({
    type: "unverified",
    from,
    detail: `no server sent ${
      from === 0 ? "block digests" : "the rest of the block digests"
    }: ${reasons.join("; ")}`,
  });
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Shrinks intervals to whole blocks, so every kept block was verified. */
function alignDone(
  done: readonly Interval[],
  blockSize: number,
  size: number,
): Interval[] {
  return done.flatMap(([start, end]) => {
    const s = Math.ceil(start / blockSize) * blockSize;
    const e = end === size ? end : Math.floor(end / blockSize) * blockSize;
    return e > s ? [[s, e] as const] : [];
  });
}

/** One range being fetched: where it is, and what of it is checked. */
interface Task {
  /** Its range; `end` moves down when another task steals the tail. */
  range: ByteRange;
  /** Next byte to receive. */
  position: number;
  /** Bytes received past `position`: in the piece being filled, or being
   * written. */
  received: number;
  verifier: RangeVerifier | undefined;
  /** Servers that sent bytes of the block being checked. */
  blockSources: Set<number>;
  /** Whether a connection is fetching for it now. */
  active: boolean;
  /** The checks of the pieces received, chained: each starts when the one
   * before has passed. Settles when the last has. */
  checking: Promise<void> | undefined;
  /** Why a check failed, once one has: the transfer stops. */
  checkFailure: unknown;
  /** The server it fetches from or last fetched from. */
  server: number | undefined;
  /** How many times it moved on to another server. */
  failovers: number;
  /** The server whose turn it waits for, if it waits for one. */
  waitingFor: number | undefined;
  /** Whether it waits for the digest list to cover its next bytes. */
  waitingForList: boolean;
  /** When the current or last connection started and ended, and what it
   * brought. */
  attemptStart: number;
  attemptEnd: number;
  attemptBytes: number;
}

/** A task's receive rate over its current or last connection, bytes/s. */
function rateOf(task: Task, now: number): number {
  if (!task.active) {
    const seconds = (task.attemptEnd - task.attemptStart) / 1000;
    return seconds > 0 ? task.attemptBytes / seconds : 0;
  }
  // Too early to tell while the first bytes are on their way.
  const seconds = (now - task.attemptStart) / 1000;
  return seconds > 0.05 ? task.attemptBytes / seconds : 0;
}

/** Memory for receive buffers, shared by the servers' connections (more
 * with over 8 servers: see {@linkcode MIN_PIECE_BYTES}). */
const RECEIVE_MEMORY_BYTES = 16 * 1024 * 1024;
/** While the digest list arrives, a range waits until it covers this much
 * past the range's position before asking for more. */
const LISTED_AHEAD_BYTES = 4 * 1024 * 1024;
/** Receive buffers per connection: one is read into while one is checked. */
const BUFFERS_PER_CONNECTION = 2;
/** The smallest piece the memory share allows: below it each byte costs
 * more in writes, worker messages and wake-ups (with 20 servers, 384 KiB
 * pieces made the download 5 % slower than 1 MiB ones). So the buffers of
 * 20 servers take 40 MiB. */
const MIN_PIECE_BYTES = 1024 * 1024;

/**
 * The piece size for a transfer: whole blocks, within the memory for
 * buffers, from 1 MiB to 4 MiB (larger pieces mean fewer system calls),
 * and a quarter of the transfer at most, so checking a piece overlaps with
 * receiving the next one.
 */
function pieceSizeFor(
  blockSize: number,
  servers: number,
  length: number,
): number {
  const target = Math.min(
    Math.max(
      RECEIVE_MEMORY_BYTES / (BUFFERS_PER_CONNECTION * servers),
      MIN_PIECE_BYTES,
    ),
    4 * 1024 * 1024,
    Math.max(length / 4, 64 * 1024),
  );
  return blockSize * Math.max(1, Math.floor(target / blockSize));
}

/** End of the bytes a task has received, written or not: where progress
 * stands and where a thief may split. */
function reached(task: Task): number {
  return Math.min(task.position + task.received, task.range.end);
}

/** End of the bytes of a task that are safe to keep. */
function keptTo(task: Task): number {
  return task.verifier?.verifiedTo ?? task.position;
}

/** Waits `ms`, or less when the signal aborts or `wake` settles. */
function delay(
  ms: number,
  signal: AbortSignal,
  wake?: Promise<void>,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    wake?.then(done);
  });
}

/**
 * Downloads a file from several servers at once.
 *
 * @param options What to download, from where, to where.
 * @returns What was done.
 * @throws {CannotTransferError} If no server reported the file's size.
 * @throws {IncompleteDownloadError} If some range could not be fetched or
 * the signal stopped the download; the temporary file and its state stay.
 * @throws {ChecksumMismatchError} If `sha256` was given and does not match.
 * @throws {OutputError} If the output cannot be written.
 */
export async function download(
  options: DownloadOptions,
): Promise<DownloadResult> {
  const { servers, timeouts, onEvent } = options;
  const retries = options.retries ?? 3;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const { size, serverIndex: first } = await findFileSize(options);
  const partialPath = options.outputPath + PARTIAL_SUFFIX;
  const statePath = partialPath + STATE_SUFFIX;

  const saved = await loadState(statePath);
  const sameFile = saved !== undefined && saved.name === options.name &&
    saved.size === size;
  const verify = (options.verify ?? true) && size > 0;
  const blockSize = !verify
    ? 1
    : sameFile && saved.blockSize > 1
    ? saved.blockSize
    : chooseBlockSize(size, options.numChunks);
  // A server that has not cached the list computes it as it sends it:
  // ranges start as soon as the list covers them, on the other servers.
  const serverLocks = servers.map(() => new Mutex());
  // Servers left out for good: their copy differs from the first one's.
  const excluded = servers.map(() => false);
  const exclude = (serverIndex: number, reason: string) => {
    if (excluded[serverIndex]) return;
    excluded[serverIndex] = true;
    onEvent?.({
      type: "server-excluded",
      server: servers[serverIndex]!,
      reason,
    });
  };
  const abort = new AbortController();
  const stop = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", stop, { once: true });
  let reference = verify
    ? new ReferenceDigests(Math.ceil(size / blockSize))
    : undefined;
  // The version's identity, a digest of the whole list: `undefined` until
  // the list is whole, `null` without one.
  let identity: string | null | undefined = reference ? undefined : null;
  let listed: Promise<void> = Promise.resolve();
  // The server whose lock the list holds, if any.
  let listingOn: number | undefined;
  if (reference !== undefined) {
    const list = reference;
    const replied = Promise.withResolvers<void>();
    listed = fetchReference(options, {
      first,
      size,
      blockSize,
      reference: list,
      locks: serverLocks,
      signal: abort.signal,
      onReply: replied.resolve,
      excluded,
      exclude,
      onServer: (serverIndex) => listingOn = serverIndex,
    }).then(async () => {
      const whole = list.complete;
      if (whole !== undefined) identity = toHex(await sha256(whole));
      // Given up: unverified from some block on. Otherwise stopped: the
      // version stays unknown.
      else if (list.ended) identity = null;
    });
    await Promise.race([replied.promise, listed]);
    // No server accepted the request: the download goes on unverified.
    if (list.ended && list.covered === 0) {
      reference = undefined;
    }
  }
  /** Stops what is still running of the list, once the download ends. */
  const endListing = async () => {
    options.signal?.removeEventListener("abort", stop);
    abort.abort();
    await listed;
  };

  let done: Interval[] = [];
  if (saved !== undefined) {
    // Whether the saved bytes are of this version needs the whole list.
    if (sameFile && saved.done.length > 0) {
      await listed;
      // Stopped meanwhile: the saved state stays as it is.
      if (identity === undefined) {
        await endListing();
        throw new IncompleteDownloadError(
          planRanges(size, options.numChunks, {
            blockSize,
            done: alignDone(saved.done, blockSize, size),
          }),
          partialPath,
          options.signal?.aborted ?? false,
        );
      }
    }
    const sameVersion = sameFile &&
      (saved.identity === null || identity === null ||
        saved.identity === identity);
    if (sameVersion) {
      done = alignDone(saved.done, blockSize, size);
    } else {
      onEvent?.({
        type: "restarted",
        reason: sameFile
          ? "the file changed on the servers since the partial download"
          : "the partial download is of another file",
      });
    }
  }
  let opened: Awaited<ReturnType<typeof OutputFile.open>>;
  try {
    opened = await OutputFile.open(options.outputPath, size, done.length > 0);
  } catch (error) {
    await endListing();
    throw error;
  }
  const { output, resumed } = opened;
  // Blocks are hashed on a worker thread while this one receives.
  let hasher: BlockHasher | undefined;
  try {
    hasher = reference === undefined ? undefined : new BlockHasher();
  } catch (error) {
    output.close();
    await endListing();
    throw error;
  }
  if (!resumed) done = [];
  const resumedBytes = new IntervalSet(done).size;
  if (resumedBytes > 0) onEvent?.({ type: "resumed", bytes: resumedBytes });

  const newTask = (range: ByteRange): Task => ({
    range,
    position: range.start,
    received: 0,
    verifier: reference === undefined ? undefined : new RangeVerifier({
      reference,
      blockSize,
      fileSize: size,
      start: range.start,
      hasher,
    }),
    blockSources: new Set(),
    active: false,
    checking: undefined,
    checkFailure: undefined,
    server: undefined,
    failovers: 0,
    waitingFor: undefined,
    waitingForList: false,
    attemptStart: 0,
    attemptEnd: 0,
    attemptBytes: 0,
  });
  const ranges = planRanges(size, options.numChunks, { blockSize, done });
  const tasks: Task[] = ranges.map(newTask);
  const snapshot = (): DownloadState => {
    // Until the list is whole, the bytes cannot be tied to a version: a
    // later run starts over.
    if (identity === undefined) {
      return { name: options.name, size, blockSize, identity: null, done: [] };
    }
    const complete = new IntervalSet(done);
    for (const task of tasks) complete.add(task.range.start, keptTo(task));
    return {
      name: options.name,
      size,
      blockSize,
      identity,
      done: complete.intervals,
    };
  };
  let checkpointing: Promise<void> | undefined;
  const checkpoint = () => {
    checkpointing ??= (async () => {
      const state = snapshot();
      await output.sync();
      await saveState(statePath, state);
    })().finally(() => checkpointing = undefined);
    return checkpointing;
  };

  // Saved before any byte arrives, so even a disk that fills up at once
  // leaves a state beside the partial file.
  try {
    await checkpoint();
  } catch (error) {
    output.close();
    hasher?.[Symbol.dispose]();
    await endListing();
    throw new OutputError(
      `Cannot save the download state "${statePath}": ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }

  // A connection per server, kept open from one range to the next; each is
  // used under its server's lock.
  const keptConnections = servers.map(() => new KeptConnection());
  const timer = setInterval(() => {
    checkpoint().catch(() => {
      // A failed checkpoint is retried at the next tick; the write path
      // reports a full disk on its own.
    });
  }, options.checkpointMs ?? 1000);
  try {
    // A server serves one client at a time, so a second connection to it
    // would only wait in its queue: each server gets one range at a time.
    const bytesPerServer = servers.map(() => 0);
    const receiveBuffers = servers.map(() =>
      new ReceiveBuffers(BUFFERS_PER_CONNECTION)
    );
    const failed = servers.map(() => false);
    let failovers = 0;
    let retryRounds = 0;

    /** Servers for a range: its own first, then the others in list order;
     * those that failed in this run after those that did not. */
    const serverOrder = (first: number): number[] => {
      const rotated = servers.map((_, k) => (first + k) % servers.length)
        .filter((s) => !excluded[s]);
      return [
        ...rotated.filter((s) => !failed[s]),
        ...rotated.filter((s) => failed[s]),
      ];
    };

    const attempt = async (task: Task, serverIndex: number) => {
      const server = servers[serverIndex]!;
      const request = {
        server,
        timeouts,
        signal: abort.signal,
        kept: keptConnections[serverIndex],
      };
      const { range } = task;
      task.server = serverIndex;
      try {
        let failure: unknown;
        let first = true;
        let leftOut = false;
        // While the digest list arrives, a request asks only for bytes it
        // covers, and the next one follows as it grows: a piece past them
        // would wait for its check, holding the connection and the server's
        // lock, which the list may need. Once it is whole, one request.
        while (failure === undefined && task.position < range.end) {
          task.waitingFor = serverIndex;
          const until = await listedEnd(task);
          await serverLocks[serverIndex]!.runExclusive(async () => {
            task.waitingFor = undefined;
            // Its digest list differed while this task waited.
            leftOut = excluded[serverIndex]!;
            // The tail may have been stolen while this task waited.
            const end = Math.min(range.end, until);
            if (leftOut || task.position >= end) return;
            task.active = true;
            if (first) {
              task.attemptStart = performance.now();
              task.attemptBytes = 0;
              first = false;
            } else {
              // The rate counts the time spent fetching, not waiting for
              // the list.
              task.attemptStart += performance.now() - task.attemptEnd;
            }
            try {
              await fetchRange(request, {
                name: options.name,
                offset: task.position,
                length: end - task.position,
                fileSize: size,
                onData: (piece) => receive(task, serverIndex, piece),
                onRead: (bytes) => task.received += bytes,
                // A thief may move the end down while this runs.
                end: () => Math.min(task.range.end, until),
                pieceBytes: pieceSizeFor(
                  blockSize,
                  servers.length,
                  end - task.position,
                ),
                // One connection per server at a time: its buffers serve
                // every range it sends, and stay held while pieces of an
                // earlier range are checked.
                buffers: receiveBuffers[serverIndex],
              });
            } catch (error) {
              failure = error;
            } finally {
              task.received = 0;
              task.active = false;
              task.attemptEnd = performance.now();
            }
          });
          // The last pieces may still be under their checks; the server
          // already sends the next range meanwhile. A bad block outranks
          // the error that ended the transfer.
          try {
            await task.checking;
          } catch (error) {
            if (findCause(failure, OutputError) === undefined) failure = error;
          } finally {
            task.checking = undefined;
            task.checkFailure = undefined;
          }
          if (leftOut) return false;
        }
        if (failure !== undefined) throw failure;
        return task.position >= range.end;
      } catch (caught) {
        task.waitingFor = undefined;
        // A deadline that passed while a piece was handed over reports a
        // timeout; what the piece's write or check found comes first.
        const error = findCause(caught, OutputError) ??
          findCause(caught, IntegrityError) ?? caught;
        if (error instanceof OutputError) {
          abort.abort(error);
          throw error;
        }
        // Bytes written but not given to the verifier (their piece came
        // after a failed check) are fetched again: the next byte to fetch is
        // the next one the verifier expects.
        if (task.verifier) task.position = task.verifier.position;
        if (abort.signal.aborted) return false;
        failed[serverIndex] = true;
        if (error instanceof OtherVersionError) {
          exclude(serverIndex, error.message);
        }
        if (error instanceof IntegrityError) {
          const sources = task.blockSources;
          task.blockSources = new Set();
          for (const source of sources) {
            await judgeCorruption(error, source);
          }
        }
        onEvent?.({
          type: "range-failed",
          range,
          position: task.position,
          detail: describeFailure(server, error),
        });
        return false;
      }
    };

    /** How far a task may ask for now: to the end of its range, or while
     * the digest list arrives, to the end of what it covers, once that is
     * {@linkcode LISTED_AHEAD_BYTES} past the task's position (or its end). */
    const listedEnd = async (task: Task): Promise<number> => {
      if (reference === undefined) return task.range.end;
      const wanted = Math.min(
        task.range.end,
        task.position + LISTED_AHEAD_BYTES,
      );
      task.waitingForList = true;
      try {
        await reference.whenCovered(Math.ceil(wanted / blockSize) - 1);
      } finally {
        task.waitingForList = false;
      }
      return reference.ended
        ? task.range.end
        : Math.min(task.range.end, reference.covered * blockSize);
    };

    /** Writes received bytes and starts their check; `false` once the
     * range is full. The check of a piece runs while the next one arrives. */
    const receive = async (
      task: Task,
      serverIndex: number,
      received: Uint8Array,
    ): Promise<boolean> => {
      // Only up to the range's end: a thief may have moved it down.
      const piece = received.subarray(0, task.range.end - task.position);
      if (piece.length > 0) {
        await output.writeAt(task.position, piece);
        task.position += piece.length;
        task.attemptBytes += piece.length;
        bytesPerServer[serverIndex]! += piece.length;
      }
      task.received -= received.length;
      // A failed check ends the transfer: what follows the bad block is
      // fetched again.
      if (task.checkFailure !== undefined) throw task.checkFailure;
      const { verifier } = task;
      if (verifier && piece.length > 0) {
        const previous = task.checking;
        const checking = (async () => {
          await previous;
          task.blockSources.add(serverIndex);
          await checkPiece(task, verifier, serverIndex, piece);
        })();
        checking.catch((error) => task.checkFailure ??= error);
        task.checking = checking;
        // The piece's buffer is read into again once its check is done.
        receiveBuffers[serverIndex]!.hold(checking);
      }
      return task.position < task.range.end;
    };

    const checkPiece = async (
      task: Task,
      verifier: RangeVerifier,
      serverIndex: number,
      piece: Uint8Array,
    ): Promise<void> => {
      const before = verifier.verifiedTo;
      await verifier.update(piece);
      if (verifier.verifiedTo > before) {
        task.blockSources = new Set([serverIndex]);
      }
    };

    /** A block failed its check: a server whose own copy differs is left
     * out for good; otherwise the bytes were damaged on the way. */
    const judgeCorruption = async (
      error: IntegrityError,
      serverIndex: number,
    ) => {
      const block = error.start / blockSize;
      // Compared already, so it arrived.
      const expected = reference!.digestOf(block)!;
      const request = {
        server: servers[serverIndex]!,
        timeouts,
        signal: abort.signal,
        kept: keptConnections[serverIndex],
      };
      try {
        const theirs = await serverLocks[serverIndex]!.runExclusive(() =>
          requestRangeDigest(
            request,
            { name: options.name, fileSize: size },
            error.start,
            error.end - error.start,
          )
        );
        if (toHex(theirs) !== toHex(expected)) {
          exclude(
            serverIndex,
            `its copy differs from the first server's in bytes ${error.start}-${
              error.end - 1
            }`,
          );
        }
      } catch (caught) {
        if (caught instanceof OtherVersionError) {
          exclude(serverIndex, caught.message);
        }
        // Otherwise no verdict; the server already counts as failed.
      }
    };

    /** Fetches a task's range; returns the server that finished it. */
    const fetchTask = async (
      task: Task,
      firstServer: number,
    ): Promise<number | undefined> => {
      const { range } = task;
      let attempts = 0;
      for (let round = 0; round <= retries; round++) {
        if (abort.signal.aborted) return undefined;
        if (round > 0) {
          const wait = Math.min(retryDelayMs * 2 ** (round - 1), 8000);
          retryRounds++;
          onEvent?.({ type: "retry-round", range, round, delayMs: wait });
          await delay(wait, abort.signal);
        }
        const order = serverOrder(firstServer);
        if (order.length === 0) return undefined;
        for (const serverIndex of order) {
          if (abort.signal.aborted) return undefined;
          // Left out meanwhile, by another range's findings.
          if (excluded[serverIndex]) continue;
          if (attempts++ > 0) {
            failovers++;
            task.failovers++;
          }
          if (await attempt(task, serverIndex)) {
            onEvent?.({
              type: "range-done",
              range,
              server: servers[serverIndex]!,
            });
            return serverIndex;
          }
        }
      }
      return undefined;
    };

    /** Runs a task, then keeps stealing the tail of the task expected to
     * finish last, on the server that just proved free. */
    const minPiece = minPieceFor(blockSize);
    // Settles whenever a task ends, so waiting thieves look again at once.
    let taskEnded = Promise.withResolvers<void>();
    const endTask = () => {
      taskEnded.resolve();
      taskEnded = Promise.withResolvers<void>();
    };
    const runTask = async (task: Task): Promise<void> => {
      try {
        await stealWhileUseful(task);
      } finally {
        endTask();
      }
    };

    const stealWhileUseful = async (task: Task): Promise<void> => {
      let current = task;
      let server = await fetchTask(
        current,
        current.range.index % servers.length,
      );
      endTask();
      while (server !== undefined && !abort.signal.aborted) {
        const now = performance.now();
        const thief = server;
        // The thief's server is busy with ranges queued on it: they are its
        // work now. Busy with the digest list, it looks again later.
        const busy = serverLocks[thief]!.isLocked();
        if (busy && listingOn !== thief) return;
        const unfinished = tasks.filter((t) =>
          reached(t) < t.range.end && t.waitingFor !== thief
        );
        // Never taking a task that waits for the thief's own server (it would
        // only queue behind it), for a server about to be free (it is
        // starting), or for the digest list (the thief would wait as long).
        // Thieves that took each other's waiting tasks whole would otherwise
        // pass them back and forth.
        const open = busy ? [] : unfinished.filter((t) =>
          !t.waitingForList &&
          (t.waitingFor === undefined || serverLocks[t.waitingFor]!.isLocked())
        );
        const steal = planSteal(
          open.map((t) => ({
            position: reached(t),
            end: t.range.end,
            rate: rateOf(t, now),
            active: t.active,
          })),
          {
            blockSize,
            minPieceBytes: minPiece,
            thiefRate: rateOf(current, now),
          },
        );
        if (steal === undefined) {
          // Nothing worth taking now; a victim whose rate is not known yet,
          // or that waits for the list, may be worth it in a moment.
          const worthWaiting = unfinished.some((t) =>
            t.range.end - reached(t) > minPiece
          );
          if (!worthWaiting) return;
          await delay(100, abort.signal, taskEnded.promise);
          continue;
        }
        const victim = open[steal.victim]!;
        current = newTask({
          index: tasks.length,
          start: steal.splitAt,
          end: victim.range.end,
        });
        victim.range.end = steal.splitAt;
        tasks.push(current);
        onEvent?.({ type: "stolen", from: victim.range, range: current.range });
        server = await fetchTask(current, server);
        endTask();
      }
    };

    options.onStart?.(() => ({
      size,
      resumedBytes,
      doneBytes: resumedBytes +
        tasks.reduce((sum, t) => sum + reached(t) - t.range.start, 0),
      bytesPerServer,
      tasks: tasks.map((t) => ({
        index: t.range.index,
        start: t.range.start,
        end: t.range.end,
        position: reached(t),
        server: t.waitingFor ?? t.server,
        active: t.active,
        failovers: t.failovers,
      })),
    }));
    const settled = await Promise.allSettled(tasks.map(runTask));
    clearInterval(timer);
    await checkpointing;
    const failure = settled.find((s) => s.status === "rejected");
    if (failure) {
      await checkpoint().catch(() => {});
      throw failure.reason;
    }
    const missing = tasks.filter((task) => keptTo(task) < task.range.end)
      .map((task) => task.range);
    if (missing.length > 0) {
      await checkpoint();
      throw new IncompleteDownloadError(
        missing,
        partialPath,
        options.signal?.aborted ?? false,
      );
    }
    if (options.sha256 !== undefined) {
      const actual = await output.sha256();
      if (actual !== options.sha256.toLowerCase()) {
        await removeState(statePath);
        throw new ChecksumMismatchError(options.sha256, actual, partialPath);
      }
    }
    await output.commit();
    await removeState(statePath);
    return {
      size,
      ranges,
      bytesPerServer,
      failovers,
      retryRounds,
      resumedBytes,
      excluded: servers.filter((_, i) => excluded[i]),
    };
  } finally {
    clearInterval(timer);
    await checkpointing?.catch(() => {});
    output.close();
    for (const kept of keptConnections) kept[Symbol.dispose]();
    hasher?.[Symbol.dispose]();
    await endListing();
  }
}
