/**
 * A whole download: learn the size (and block digests), split the missing
 * bytes into ranges, fetch the ranges concurrently with failover and
 * retries, check every block, save progress for a later run, and commit
 * the file only when every range is complete.
 *
 * @module
 */

import { BlockHasher } from "./verify/block_hasher.ts";
import { chooseBlockSize, isUsableBlockSize } from "./verify/block_digests.ts";
import {
  type DownloadState,
  loadState,
  removeState,
  StateWriter,
  UnreadableStateError,
} from "./output/download_state.ts";
import { type Interval, IntervalSet } from "./plan/interval_set.ts";
import { KeptBytes, listIdentity } from "./verify/kept_bytes.ts";
import {
  OutputError,
  OutputExistsError,
  OutputFile,
} from "./output/output_file.ts";
import {
  type ByteRange,
  planChunks,
  planRanges,
} from "./plan/range_planner.ts";
import {
  type RangeEvent,
  RangeTasks,
  type TaskProgress,
} from "./range_tasks.ts";
import { ReferenceDigests } from "./verify/reference_digests.ts";
import { MsfdSource } from "./msfd_source.ts";
import { type ServerLock, ServerSlot } from "./server_slot.ts";
import { retryPolicy } from "./retry_policy.ts";
import { quoteName } from "../wire/quoted_name.ts";
import { DIGEST_BYTES } from "../wire/protocol.ts";
import {
  describeFailure,
  OtherVersionError,
  requestBlockDigests,
  requestSize,
  sizeFailureReason,
  type Timeouts,
} from "./protocol_client.ts";
import { formatAddress, type ServerAddress } from "../wire/address.ts";
import { type FileIdentity, sideFilePaths } from "./output/side_files.ts";
import { TimeoutError } from "../wire/watchdog.ts";

export type { RangeEvent, TaskProgress };

/** No server could report the file's size. */
export class CannotTransferError extends Error {
  /** One line per server: `host:port: why it could not`. */
  readonly reasons: string[];

  /**
   * Creates the error. Its message starts with the words `Cannot transfer
   * this file`, names the file, and says why each server could not: on the
   * same line for one server, else one indented line each below.
   *
   * @param name The file asked for.
   * @param reasons One line per server: `host:port: why it could not`.
   */
  constructor(name: string, reasons: string[]) {
    super(
      reasons.length === 1
        ? `Cannot transfer this file ${quoteName(name)}: ${reasons[0]}`
        : `Cannot transfer this file ${
          quoteName(name)
        }: no server reported its size\n${
          reasons.map((reason) => `  ${reason}`).join("\n")
        }`,
    );
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

/**
 * Some ranges could not be fetched because the file changed on the servers
 * since the download started: the server that reported its size now has
 * another version (another size, or blocks that no longer match the digest
 * list). What was fetched of the first version stays as the partial file.
 */
export class FileChangedError extends IncompleteDownloadError {
  /** How the file changed: the server, and what it reports now. */
  readonly how: string;

  /**
   * Creates the error.
   *
   * @param options The ranges not complete, the temporary file, and how
   * the file changed.
   */
  constructor(
    options: { missing: ByteRange[]; partialPath: string; how: string },
  ) {
    super(options.missing, options.partialPath, false);
    this.name = "FileChangedError";
    this.how = options.how;
    this.message =
      `not all chunks are downloaded: the file changed on the servers since the download started (${options.how})`;
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
  | {
    type: "resumed";
    /** Bytes kept from an earlier run. */
    bytes: number;
    /** Whether they are checked against the digests before they count;
     * otherwise (without verification) they are trusted. */
    checking: boolean;
  }
  | {
    type: "kept-mismatch";
    /** Bytes kept from an earlier run that failed their check: they are
     * fetched again. */
    bytes: number;
  }
  | {
    type: "kept-unchecked";
    /** Bytes kept from an earlier run that cannot be checked (no server
     * sent their digests): with checks on they do not count, and are
     * fetched again. */
    bytes: number;
  }
  | { type: "restarted"; reason: string }
  | {
    type: "list-moved";
    /** Which server failed or is too slow for the digest list, and which
     * one is asked next. */
    detail: string;
  }
  | { type: "server-excluded"; server: ServerAddress; reason: string }
  | RangeEvent;

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
  /** Replace a file that has the output's name. Default false: the
   * download then ends in an {@linkcode OutputExistsError} instead. */
  replace?: boolean;
  /** The partial file the checks before the download found, `null` if
   * none: no other file at its name is written into. Without it, whatever
   * has the name is taken as this download's. */
  partialFound?: FileIdentity | null;
  /** Deadlines for each request. */
  timeouts: Timeouts;
  /** Rounds over all servers after the first one, per range. Default: see
   * `RetryPolicy.rounds`. */
  retries?: number;
  /** Delay before the first retry round; it doubles each round. Default:
   * see `RetryPolicy.baseDelayMs`. */
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

/** Where a running download is. */
export interface DownloadProgress {
  /** The file's size. */
  size: number;
  /** Bytes kept from an earlier run that did not fail their check (so
   * far). */
  resumedBytes: number;
  /** Bytes present: those kept from an earlier run and those received. */
  doneBytes: number;
  /** Bytes received from each server, in list order. */
  bytesPerServer: readonly number[];
  /** One entry per range, stolen tails included; each names the user's
   * chunk it lies in. */
  tasks: TaskProgress[];
  /** The user's chunks (see {@linkcode planChunks}): what the display
   * shows, each the sum of its ranges. */
  chunks: readonly ByteRange[];
  /** The bytes kept from an earlier run that did not fail their check
   * (so far), in order. */
  resumed: readonly Interval[];
}

/** What a finished download did. */
export interface DownloadResult {
  /** The file's size. */
  size: number;
  /** The ranges fetched in this run. */
  ranges: ByteRange[];
  /** How many chunks the user's `numChunks` made of the file (fewer for a
   * file of fewer blocks). */
  chunks: number;
  /** Bytes received from each server, in list order. */
  bytesPerServer: number[];
  /** How many times a range moved on to another server. */
  failovers: number;
  /** How many retry rounds ranges needed. */
  retryRounds: number;
  /** Bytes kept from an earlier run that count: those that passed their
   * check, or all of them without verification. */
  resumedBytes: number;
  /** Bytes kept from an earlier run that failed their check (or belonged
   * to a version of the file that changed since) and were fetched again. */
  refetchedBytes: number;
  /** Servers left out because their copy differs. */
  excluded: ServerAddress[];
}

/** Once a server reported the size, how long the servers listed before
 * it still have to answer: list order decides among those that answer, but
 * one that accepts and never answers delays the download by this at most. */
export const SIZE_GRACE_MS = 1000;

/** The size a server reported, or why it did not. */
type SizeAnswer = { size: number } | { error: unknown };

/**
 * Asks every server for the size of a file at once, and takes the answer
 * of the first server in list order that reports one. Servers listed
 * before the first to answer get {@linkcode SIZE_GRACE_MS} more; those
 * that have not answered by then are given up.
 *
 * @param options The servers, the name, deadlines and event sink.
 * @returns The size, the index of the server that reported it, and which
 * servers reported the same size by then.
 * @throws {CannotTransferError} If no server reported a size.
 */
export async function findFileSize(
  options: Pick<DownloadOptions, "servers" | "name" | "timeouts" | "onEvent">,
): Promise<{ size: number; serverIndex: number; responsive: boolean[] }> {
  const { servers, timeouts, name } = options;
  const answers: (SizeAnswer | undefined)[] = servers.map(() => undefined);
  const giveUp = new AbortController();
  let changed = Promise.withResolvers<void>();
  const asked = servers.map((server, i) =>
    requestSize({ server, timeouts, signal: giveUp.signal }, name).then(
      (size) => ({ size }),
      (error) => ({ error }),
    ).then((answer: SizeAnswer) => {
      // Given up, unless a deadline of its own passed first.
      answers[i] = "error" in answer && giveUp.signal.aborted &&
          !(answer.error instanceof TimeoutError)
        ? {
          error: new Error(
            `no answer within ${
              SIZE_GRACE_MS / 1000
            } s of the first server that answered`,
          ),
        }
        : answer;
      changed.resolve();
    })
  );
  let graceOver = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  let chosen: number | undefined;
  try {
    while (true) {
      // The first server in list order that answered, unless one before
      // it may still answer.
      const first = answers.findIndex((a) => a !== undefined && "size" in a);
      const pending = answers.findIndex((a) => a === undefined);
      if (first >= 0 && (pending < 0 || pending > first || graceOver)) {
        chosen = first;
        break;
      }
      if (first < 0 && pending < 0) break;
      if (first >= 0 && grace === undefined) {
        grace = setTimeout(() => {
          graceOver = true;
          changed.resolve();
        }, SIZE_GRACE_MS);
      }
      await changed.promise;
      changed = Promise.withResolvers<void>();
    }
  } finally {
    clearTimeout(grace);
    giveUp.abort();
    await Promise.all(asked);
  }
  const reasons = servers.flatMap((server, i) => {
    const answer = answers[i]!;
    if (chosen !== undefined && i >= chosen) return [];
    return "error" in answer
      ? [`${formatAddress(server)}: ${sizeFailureReason(answer.error)}`]
      : [];
  });
  if (chosen === undefined) throw new CannotTransferError(name, reasons);
  for (const detail of reasons) {
    options.onEvent?.({ type: "size-failed", detail });
  }
  const size = (answers[chosen] as { size: number }).size;
  options.onEvent?.({ type: "size", server: servers[chosen]!, size });
  const responsive = answers.map((a) =>
    a !== undefined && "size" in a && a.size === size
  );
  return { size, serverIndex: chosen, responsive };
}

/** A digest list request unanswered for this long gets a second one, to
 * the next server: the first to answer sends the list, the other request
 * is given up. A list that arrives too slowly over this long gets one too
 * (see {@linkcode MIN_LIST_BYTES_PER_S}). */
export const LIST_GRACE_MS = 2000;

/** A digest list that covers less of the file than this per second (over
 * {@linkcode LIST_GRACE_MS}) is too slow: the next server is asked for it
 * as well. A server that computes the list as it sends it reads and hashes
 * far faster than this; one that trickles it would hold every range. */
export const MIN_LIST_BYTES_PER_S = 8 * 1024 * 1024;

/**
 * Fills the reference digest list: asks the size server first, then the
 * others in list order after it. A server that has not cached the list
 * computes it while it sends it, so the list fills from its start while
 * ranges are fetched. After a server fails midway, the next one is asked
 * at once; its list must agree with the digests already taken. A server
 * that has not answered within {@linkcode LIST_GRACE_MS} is not waited for
 * alone: the next one is asked as well, and the first to answer is kept.
 * One whose list arrives too slowly (less than
 * {@linkcode MIN_LIST_BYTES_PER_S} of the file over {@linkcode
 * LIST_GRACE_MS}) gets the next one asked as well: the one asked later is
 * kept once it passes it. Each server is asked under its lock, so no range
 * queues behind the list on it. Never rejects: when no server sends the
 * rest, the list gives up and says so in an event.
 */
async function fetchReference(
  options: DownloadOptions,
  request: {
    first: number;
    size: number;
    blockSize: number;
    reference: ReferenceDigests;
    locks: readonly ServerLock[];
    signal: AbortSignal;
    /** Called when a server accepted the request. */
    onReply: () => void;
    /** The servers: those left out are not asked (their copy differs). */
    slots: readonly ServerSlot[];
    /** Leaves out a server whose copy differs. */
    exclude: (serverIndex: number, reason: string) => void;
    /** Told which server the list is asked of, under its lock, if any. */
    onServer: (serverIndex: number | undefined) => void;
  },
): Promise<void> {
  const { servers } = options;
  const { reference, signal } = request;
  const reasons: string[] = [];
  /** The requests under way, by server: whether each was answered, when
   * it was asked, and how far its list reached. */
  const running = new Map<
    number,
    { cancel: AbortController; replied: boolean; order: number; reach: number }
  >();
  let changed = Promise.withResolvers<void>();
  let next = 0;
  let launchedAt = 0;
  let finished = false;
  /** Why the list moves on to the next server, if it does. */
  let failure: string | undefined;
  /** Where the list stood when the current look at its pace began. */
  let windowAt = 0;
  let windowCovered = 0;
  const startWindow = () => {
    windowAt = performance.now();
    windowCovered = reference.covered;
  };
  const cancelOthers = (serverIndex: number) => {
    for (const [other, entry] of running) {
      if (other !== serverIndex) entry.cancel.abort();
    }
  };
  const digests = (count: number) =>
    `${count} of ${reference.blockCount} digests`;
  const ask = async (serverIndex: number) => {
    const server = servers[serverIndex]!;
    const entry = {
      cancel: new AbortController(),
      replied: false,
      order: next,
      reach: 0,
    };
    running.set(serverIndex, entry);
    try {
      await request.locks[serverIndex]!.runExclusive(async () => {
        entry.cancel.signal.throwIfAborted();
        request.onServer(serverIndex);
        try {
          await requestBlockDigests(
            {
              server,
              timeouts: options.timeouts,
              signal: AbortSignal.any([signal, entry.cancel.signal]),
            },
            { name: options.name, fileSize: request.size },
            request.blockSize,
            {
              onReply: () => {
                // Another server answered first: it sends the list.
                entry.cancel.signal.throwIfAborted();
                entry.replied = true;
                // Those that have not answered are given up; one that
                // answered and is slow goes on until this one passes it.
                for (const other of running.values()) {
                  if (!other.replied) other.cancel.abort();
                }
                startWindow();
                request.onReply();
              },
              onDigests: (at, bytes) => {
                const covered = reference.covered;
                if (!reference.add(at, bytes, serverIndex)) {
                  throw new OtherVersionError(
                    "its digest list differs from the one received before",
                  );
                }
                entry.reach = at + bytes.length;
                // Ahead of all: those asked before it were overtaken.
                if (reference.covered > covered) {
                  for (const other of running.values()) {
                    if (other.order < entry.order) other.cancel.abort();
                  }
                }
              },
            },
          );
        } finally {
          request.onServer(undefined);
        }
      });
      finished = true;
      cancelOthers(serverIndex);
    } catch (error) {
      // Given up for another server's answer: no failure of its own.
      if (!entry.cancel.signal.aborted || signal.aborted) {
        reasons.push(describeFailure(server, error));
        if (entry.replied) {
          failure = `the digest list stopped at ${
            digests(Math.floor(entry.reach / DIGEST_BYTES))
          }: ${describeFailure(server, error)}`;
        }
        // Its ranges would not match the digests taken either.
        if (error instanceof OtherVersionError && !signal.aborted) {
          request.exclude(serverIndex, error.message);
        }
      }
    } finally {
      running.delete(serverIndex);
      changed.resolve();
    }
  };
  /** Asks the next server, if any is left; `why` says why, if it is
   * asked because another failed or is too slow. */
  const launch = (why?: string): boolean => {
    for (; next < servers.length; next++) {
      const serverIndex = (request.first + next) % servers.length;
      if (request.slots[serverIndex]!.excluded) continue;
      if (why !== undefined) {
        options.onEvent?.({
          type: "list-moved",
          detail: `${why}; asking ${formatAddress(servers[serverIndex]!)} for ${
            reference.covered > 0 ? "the rest" : "it"
          }`,
        });
      }
      ask(serverIndex);
      next++;
      launchedAt = performance.now();
      return true;
    }
    return false;
  };
  /** Digests the list should gain over a look at its pace. */
  const wanted = Math.ceil(
    MIN_LIST_BYTES_PER_S * (LIST_GRACE_MS / 1000) / request.blockSize,
  );
  /** Whether a server is left to ask. */
  let more = true;
  while (!finished && !signal.aborted) {
    const now = performance.now();
    if (running.size === 0) {
      if (!launch(failure)) break;
      failure = undefined;
      continue;
    }
    const answered = [...running].filter(([, entry]) => entry.replied);
    let wakeAt = Infinity;
    if (!more) {
      // Nobody left to ask: wait for those asked.
    } else if (answered.length === 0) {
      if (now - launchedAt >= LIST_GRACE_MS) {
        more = launch();
        continue;
      }
      wakeAt = launchedAt + LIST_GRACE_MS;
    } else if (now - windowAt >= LIST_GRACE_MS) {
      const gained = reference.covered - windowCovered;
      if (gained < Math.min(wanted, reference.blockCount - windowCovered)) {
        // The one ahead holds the list back.
        const [slow] = answered.reduce((a, b) =>
          b[1].reach > a[1].reach ? b : a
        );
        more = launch(
          `the digest list is too slow at ${digests(reference.covered)}: ${
            formatAddress(servers[slow]!)
          }: ${gained} digest${gained === 1 ? "" : "s"} in ${
            LIST_GRACE_MS / 1000
          } s`,
        );
      }
      startWindow();
      continue;
    } else {
      wakeAt = windowAt + LIST_GRACE_MS;
    }
    const wake = changed.promise;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = wakeAt === Infinity
        ? undefined
        : setTimeout(done, Math.max(0, wakeAt - now));
      signal.addEventListener("abort", done, { once: true });
      wake.then(done);
    });
    changed = Promise.withResolvers<void>();
  }
  // The others were given up, or stopped with the signal.
  while (running.size > 0) {
    await changed.promise;
    changed = Promise.withResolvers<void>();
  }
  if (finished) return;
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

/** The saved state, if any; a state that cannot be read is an
 * {@linkcode OutputError}. One that is not a valid state is not used (it
 * says why in a "restarted" event), unless a newer version wrote it: that
 * one is left alone, as an {@linkcode UnreadableStateError}. */
async function readState(
  path: string,
  onEvent: DownloadOptions["onEvent"],
): Promise<DownloadState | undefined> {
  try {
    return await loadState(path);
  } catch (error) {
    if (error instanceof UnreadableStateError) {
      if (error.newerFormat !== undefined) throw error;
      onEvent?.({
        type: "restarted",
        reason: `the download state ${
          quoteName(path)
        } cannot be used: ${error.problem}`,
      });
      return undefined;
    }
    if (
      !(error instanceof Deno.errors.IsADirectory ||
        error instanceof Deno.errors.PermissionDenied)
    ) {
      throw error;
    }
    throw new OutputError(
      `Cannot read the download state ${quoteName(path)}: ${error.message}`,
      { cause: error },
    );
  }
}

/** Shrinks intervals to whole blocks, so every kept block can be checked. */
function alignDone(
  done: readonly Interval[],
  blockSize: number,
  size: number,
): Interval[] {
  // Sorted and merged first: a state edited by hand may be neither.
  return new IntervalSet(done).intervals.flatMap(([start, end]) => {
    const s = Math.ceil(start / blockSize) * blockSize;
    const e = end === size ? end : Math.floor(end / blockSize) * blockSize;
    return e > s ? [[s, e] as const] : [];
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
 * @throws {UnreadableStateError} If the saved state was written by a newer
 * version; it is left as it is, and no server is asked.
 * @throws {OutputExistsError} If a file took the output's name meanwhile
 * and `replace` is not set; the complete file stays as the partial one.
 */
export async function download(
  options: DownloadOptions,
): Promise<DownloadResult> {
  const { servers, timeouts, onEvent } = options;
  const { partial: partialPath, state: statePath } = sideFilePaths(
    options.outputPath,
  );
  // Read first: a state that must be left alone ends the download before
  // any server is asked.
  const saved = await readState(statePath, onEvent);
  const { size, serverIndex: first, responsive } = await findFileSize(
    options,
  );

  const sameFile = saved !== undefined && saved.name === options.name &&
    saved.size === size;
  const verify = (options.verify ?? true) && size > 0;
  const blockSize = !verify
    ? 1
    : sameFile && isUsableBlockSize(saved.blockSize, size)
    ? saved.blockSize
    : chooseBlockSize(size, options.numChunks);
  // A server that has not cached the list computes it as it sends it:
  // ranges start as soon as the list covers them, on the other servers.
  const slots = servers.map((server, i) => {
    const slot = new ServerSlot(
      i,
      new MsfdSource({ server, name: options.name, timeouts }),
    );
    slot.answeredSize = responsive[i]!;
    return slot;
  });
  // A server left out for good: its copy differs from the first one's.
  const exclude = (serverIndex: number, reason: string) => {
    if (!slots[serverIndex]!.exclude(reason)) return;
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
      locks: slots.map((slot) => slot.lock),
      signal: abort.signal,
      onReply: replied.resolve,
      slots,
      exclude,
      onServer: (serverIndex) => listingOn = serverIndex,
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

  // The bytes an earlier run kept. The state is a hint: with checks on,
  // they count once they match the digest list (see KeptBytes below).
  let candidates: Interval[] = [];
  if (saved !== undefined && saved.done.length > 0) {
    if (!sameFile) {
      onEvent?.({
        type: "restarted",
        reason: "the partial download is of another file",
      });
    } else if (verify && reference === undefined) {
      // Checks are on: no byte goes into the file unchecked unless the
      // user is told, as they are of the bytes fetched without digests.
      onEvent?.({
        type: "restarted",
        reason:
          "the bytes kept from before cannot be checked: no server sent block digests",
      });
    } else {
      candidates = alignDone(saved.done, blockSize, size);
    }
  }
  let opened: Awaited<ReturnType<typeof OutputFile.open>>;
  try {
    opened = await OutputFile.open(options.outputPath, size, {
      resume: candidates.length > 0,
      found: options.partialFound,
    });
  } catch (error) {
    await endListing();
    throw error;
  }
  const { output, resumed } = opened;
  if (!resumed && candidates.length > 0) {
    onEvent?.({
      type: "restarted",
      reason: `the partial file ${
        quoteName(partialPath)
      } is missing or not ${size} bytes long`,
    });
  }
  // Blocks are hashed on a worker thread while this one receives.
  let hasher: BlockHasher | undefined;
  try {
    hasher = reference === undefined ? undefined : new BlockHasher();
  } catch (error) {
    output.close();
    await endListing();
    throw error;
  }
  if (!resumed) candidates = [];
  // The kept bytes are hashed on a thread of their own as well as on the
  // one the received bytes share: both cores work while little arrives.
  let keptHasher: BlockHasher | undefined;
  try {
    keptHasher = hasher !== undefined && candidates.length > 0
      ? new BlockHasher()
      : undefined;
  } catch {
    // The shared thread does it all.
  }
  const kept = reference !== undefined && candidates.length > 0
    ? new KeptBytes({
      path: partialPath,
      candidates,
      reference,
      blockSize,
      size,
      hashers: [hasher, keptHasher].filter((h) => h !== undefined),
      saved: saved?.identity != null && saved.blockSize === blockSize
        ? { identity: saved.identity, listed: saved.listed }
        : undefined,
      signal: abort.signal,
      onChanged: () =>
        onEvent?.({
          type: "restarted",
          reason: "the file changed on the servers since the partial download",
        }),
    })
    : undefined;
  // Without checks, kept bytes are trusted as they are; with checks, only
  // those that pass count.
  const trusted = verify ? [] : candidates;
  const trustedIntervals = new IntervalSet(trusted).intervals;
  const trustedBytes = new IntervalSet(trusted).size;
  const candidateBytes = new IntervalSet(candidates).size;
  if (candidateBytes > 0) {
    onEvent?.({
      type: "resumed",
      bytes: candidateBytes,
      checking: kept !== undefined,
    });
  }

  // The missing bytes are fetched while the kept ones are checked; the
  // kept blocks that fail are fetched in a second pass, `again`.
  const ranges = planRanges(size, options.numChunks, {
    blockSize,
    done: candidates,
  });
  // What the user asked for: the ranges of this run, and of a second
  // pass, are numbered by the chunk they lie in.
  const chunks = planChunks(size, options.numChunks, blockSize);
  const taskOptions = {
    slots,
    size,
    blockSize,
    retry: retryPolicy({
      rounds: options.retries,
      baseDelayMs: options.retryDelayMs,
    }),
    reference,
    hasher,
    output,
    exclude: (slot: ServerSlot, reason: string) => exclude(slot.index, reason),
    listingOn: () => listingOn,
    abort,
    onEvent,
  };
  const tasks = new RangeTasks(taskOptions, ranges);
  let again: RangeTasks | undefined;
  let againRanges: ByteRange[] = [];
  const passes = () => again === undefined ? [tasks] : [tasks, again];
  /** The bytes present: trusted, kept and passed, or fetched and checked;
   * with `standing`, the kept ones not checked yet too. */
  const present = (standing: boolean): IntervalSet => {
    const complete = new IntervalSet(trusted);
    const ofKept = kept === undefined
      ? []
      : standing
      ? kept.standing()
      : kept.passed();
    for (const [start, end] of ofKept) complete.add(start, end);
    for (const pass of passes()) {
      for (const [start, end] of pass.kept()) complete.add(start, end);
    }
    return complete;
  };
  const snapshot = async (): Promise<DownloadState> => {
    // The bytes not checked yet stand until they fail: they stay in the
    // state, tied to the earlier run's version until the list decides.
    const done = present(true).intervals;
    const version = reference === undefined
      ? undefined
      : kept?.undecided ?? await listIdentity(reference);
    return {
      name: options.name,
      size,
      blockSize,
      identity: version?.identity ?? null,
      listed: version?.listed ?? 0,
      done,
    };
  };
  const writer = new StateWriter(statePath);
  let checkpointing: Promise<void> | undefined;
  const checkpoint = () => {
    checkpointing ??= (async () => {
      const state = await snapshot();
      await output.sync();
      await writer.save(state);
    })().finally(() => checkpointing = undefined);
    return checkpointing;
  };

  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    // Saved before any byte arrives, so even a disk that fills up at once
    // leaves a state beside the partial file.
    try {
      await checkpoint();
    } catch (error) {
      // A fresh partial file holds nothing yet: without a state it would
      // only be overwritten, so it goes.
      if (!resumed) {
        output.close();
        await Deno.remove(partialPath).catch(() => {});
      }
      throw new OutputError(
        `Cannot save the download state ${quoteName(statePath)}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
    timer = setInterval(() => {
      checkpoint().catch(() => {
        // A failed checkpoint is retried at the next tick; the write path
        // reports a full disk on its own.
      });
    }, options.checkpointMs ?? 1000);
    options.onStart?.(() => {
      const resumedBytes = trustedBytes + (kept?.standingBytes ?? 0);
      const all = passes();
      return {
        size,
        resumedBytes,
        doneBytes: all.reduce((sum, p) => sum + p.receivedBytes, resumedBytes),
        bytesPerServer: slots.map((slot) => slot.bytesSent),
        tasks: all.flatMap((p) => p.progress()),
        chunks,
        resumed: kept === undefined ? trustedIntervals : kept.standing(),
      };
    });
    const checking = kept?.run().catch((error) => {
      abort.abort(error);
      throw error;
    });
    const settled = await Promise.allSettled([tasks.run(), checking]);
    const rejected = settled.find((s) => s.status === "rejected");
    let failed = rejected && { error: rejected.reason };
    if (
      kept !== undefined && (kept.failedBytes > 0 || kept.uncheckedBytes > 0)
    ) {
      if (!kept.changed && kept.failedBytes > 0) {
        onEvent?.({ type: "kept-mismatch", bytes: kept.failedBytes });
      }
      if (kept.uncheckedBytes > 0) {
        onEvent?.({ type: "kept-unchecked", bytes: kept.uncheckedBytes });
      }
      if (failed === undefined && !abort.signal.aborted) {
        // Numbered after the first pass's ranges, stolen tails included;
        // each refetched piece belongs to the user's chunk it lies in.
        const first = tasks.progress().length;
        againRanges = planRanges(size, options.numChunks, {
          blockSize,
          done: new IntervalSet([...kept.failed(), ...kept.unchecked()])
            .gaps(size),
        }).map((range) => ({ ...range, index: first + range.index }));
        // A server serves one connection at a time: the first pass's
        // kept connections would hold the second's off.
        tasks[Symbol.dispose]();
        again = new RangeTasks(taskOptions, againRanges);
        failed = await again.run().then(() => undefined, (error) => ({
          error,
        }));
      }
    }
    clearInterval(timer);
    // A save that fails now is as good as one that failed a tick earlier:
    // the next one (below, or the commit) settles the matter.
    await checkpointing?.catch(() => {});
    if (failed) {
      await checkpoint().catch(() => {});
      throw failed.error;
    }
    const missing = passes().flatMap((pass) => pass.missing());
    if (missing.length > 0 || present(false).size < size) {
      await checkpoint();
      // The server the download settled on has another version now: the
      // file changed on the servers.
      if (slots[first]!.excluded && !(options.signal?.aborted ?? false)) {
        throw new FileChangedError({
          missing,
          partialPath,
          how: `${formatAddress(servers[first]!)}: ${
            slots[first]!.excludedWhy
          }${
            servers.length > 1 && slots.every((slot) => slot.excluded)
              ? "; every other server has another version too"
              : ""
          }`,
        });
      }
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
    try {
      await output.commit({ replace: options.replace ?? false });
    } catch (error) {
      // The complete file stays under its temporary name, its state saying
      // so: the same command with --force finishes it without a transfer.
      if (error instanceof OutputExistsError) {
        await writer.save(await snapshot()).catch(() => {});
      }
      throw error;
    }
    await removeState(statePath);
    const all = passes();
    return {
      size,
      ranges: [...ranges, ...againRanges],
      chunks: chunks.length,
      bytesPerServer: slots.map((slot) => slot.bytesSent),
      failovers: all.reduce((sum, p) => sum + p.failovers, 0),
      retryRounds: all.reduce((sum, p) => sum + p.retryRounds, 0),
      resumedBytes: trustedBytes + (kept?.passedBytes ?? 0),
      refetchedBytes: kept?.failedBytes ?? 0,
      excluded: servers.filter((_, i) => slots[i]!.excluded),
    };
  } finally {
    clearInterval(timer);
    await checkpointing?.catch(() => {});
    writer[Symbol.dispose]();
    output.close();
    for (const pass of passes()) pass[Symbol.dispose]();
    hasher?.[Symbol.dispose]();
    keptHasher?.[Symbol.dispose]();
    await endListing();
  }
}
