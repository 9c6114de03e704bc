/**
 * A whole download: learn the size (and block digests), split the missing
 * bytes into ranges, fetch the ranges concurrently with failover and
 * retries, check every block, save progress for a later run, and commit
 * the file only when every range is complete. The steps live in their own
 * modules: `size_lookup.ts`, `verify/digest_list_fetch.ts`, `resume.ts`,
 * `checkpoint.ts`; this one wires them together.
 *
 * @module
 */

import { MsfdSource } from "./msfd_source.ts";
import { ServerSlot } from "./server_slot.ts";
import { retryPolicy } from "./retry_policy.ts";
import { BlockHasher } from "./verify/block_hasher.ts";
import { chooseBlockSize, isUsableBlockSize } from "./verify/block_digests.ts";
import { IntervalSet } from "./plan/interval_set.ts";
import { OutputFile } from "./output/output_file.ts";
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
import { quoteName } from "../wire/quoted_name.ts";
import type { Timeouts } from "./request_exchange.ts";
import { formatAddress, type ServerAddress } from "../wire/address.ts";
import { type FileIdentity, sideFilePaths } from "./output/side_files.ts";
import {
  FileChangedError,
  IncompleteDownloadError,
} from "./download_errors.ts";
import type { DownloadEvent } from "./download_events.ts";
import { findFileSize } from "./size_lookup.ts";
import { type Listing, startListing } from "./verify/digest_list_fetch.ts";
import {
  keptCandidates,
  readState,
  secondPassRanges,
  startKeptCheck,
} from "./resume.ts";
import { Checkpoints, firstSave, snapshotOf } from "./checkpoint.ts";
import { commitDownload } from "./commit.ts";
import { type DownloadProgress, Passes, runPasses } from "./download_passes.ts";

export type { DownloadEvent, DownloadProgress, RangeEvent, TaskProgress };

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
  const listing: Listing = verify
    ? await startListing({
      servers,
      name: options.name,
      timeouts,
      onEvent,
      first,
      size,
      blockSize,
      locks: slots.map((slot) => slot.lock),
      signal: abort.signal,
      isExcluded: (serverIndex) => slots[serverIndex]!.excluded,
      exclude,
    })
    : {
      reference: undefined,
      listed: Promise.resolve(),
      listingOn: () => undefined,
    };
  const { reference, listed } = listing;
  /** Stops what is still running of the list, once the download ends. */
  const endListing = async () => {
    options.signal?.removeEventListener("abort", stop);
    abort.abort();
    await listed;
  };

  let candidates = keptCandidates({
    saved,
    sameFile,
    verify,
    listed: reference !== undefined,
    blockSize,
    size,
    onEvent,
  });
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
  const { kept, keptHasher, trusted } = startKeptCheck({
    partialPath,
    candidates,
    reference,
    verify,
    hasher,
    blockSize,
    size,
    saved,
    signal: abort.signal,
    onEvent,
  });

  // The missing bytes are fetched while the kept ones are checked; the
  // kept blocks that fail are fetched in a second pass.
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
    listingOn: listing.listingOn,
    abort,
    onEvent,
  };
  const tasks = new RangeTasks(taskOptions, ranges);
  const passes = new Passes(tasks, { trusted, kept, slots });
  const checkpoints = new Checkpoints({
    statePath,
    snapshot: () =>
      snapshotOf({
        name: options.name,
        size,
        blockSize,
        done: passes.present(true).intervals,
        reference,
        kept,
      }),
    sync: () => output.sync(),
    intervalMs: options.checkpointMs,
  });
  let againRanges: ByteRange[] = [];
  try {
    await firstSave(checkpoints, { output, resumed, partialPath, statePath });
    checkpoints.start();
    options.onStart?.(() => passes.progress(size, chunks));
    const failed = await runPasses({
      passes,
      kept,
      abort,
      onEvent,
      secondPass: (firstIndex) => {
        againRanges = secondPassRanges({
          kept: kept!,
          size,
          numChunks: options.numChunks,
          blockSize,
          firstIndex,
        });
        return new RangeTasks(taskOptions, againRanges);
      },
    });
    await checkpoints.settle();
    if (failed) {
      await checkpoints.save().catch(() => {});
      throw failed.error;
    }
    const missing = passes.all.flatMap((pass) => pass.missing());
    if (missing.length > 0 || passes.present(false).size < size) {
      await checkpoints.save();
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
      throw new IncompleteDownloadError({
        missing,
        partialPath,
        interrupted: options.signal?.aborted ?? false,
      });
    }
    await commitDownload({
      options,
      output,
      checkpoints,
      statePath,
      partialPath,
    });
    return {
      size,
      ranges: [...ranges, ...againRanges],
      chunks: chunks.length,
      bytesPerServer: passes.bytesPerServer(),
      failovers: passes.all.reduce((sum, p) => sum + p.failovers, 0),
      retryRounds: passes.all.reduce((sum, p) => sum + p.retryRounds, 0),
      resumedBytes: new IntervalSet(trusted).size + (kept?.passedBytes ?? 0),
      refetchedBytes: kept?.failedBytes ?? 0,
      excluded: servers.filter((_, i) => slots[i]!.excluded),
    };
  } finally {
    await checkpoints.settle();
    checkpoints[Symbol.dispose]();
    output.close();
    for (const pass of passes.all) pass[Symbol.dispose]();
    hasher?.[Symbol.dispose]();
    keptHasher?.[Symbol.dispose]();
    await endListing();
  }
}
