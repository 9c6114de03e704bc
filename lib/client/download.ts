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

import type { ServerSlot } from "./server_slot.ts";
import { learnSize, openSlots, slotExcluder } from "./server_slots.ts";
import { beginListing, openOutput, planBlocks } from "./download_setup.ts";
import { unfinishedError } from "./download_outcome.ts";
import { IncompleteDownloadError } from "./download_errors.ts";
import type { KeptBytes } from "./verify/kept_bytes.ts";
import { retryPolicy } from "./retry_policy.ts";
import { IntervalSet } from "./plan/interval_set.ts";
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
import type { Timeouts } from "./request_exchange.ts";
import { entryLabel, type ServerEntry } from "./server_entry.ts";
import { type FileIdentity, sideFilePaths } from "./output/side_files.ts";
import type { DownloadEvent } from "./download_events.ts";
import {
  keptCandidates,
  rangesToFetchAgain,
  readState,
  startKeptCheck,
} from "./resume.ts";
import { Checkpoints, firstSave, snapshotOf } from "./checkpoint.ts";
import { commitDownload } from "./commit.ts";
import { type DownloadProgress, Passes, runPasses } from "./download_passes.ts";
import {
  checkWithoutList,
  currentValidators,
  type MirrorChecks,
} from "./mirror_checks.ts";
import { compareValidators } from "./verify/mirror_identity.ts";
import { crossCheckSent, type SentBytesChecks } from "./sent_bytes_checks.ts";
import type { Interval } from "./plan/interval_set.ts";

export type { DownloadEvent, DownloadProgress, RangeEvent, TaskProgress };

/** What a download needs. */
export interface DownloadOptions {
  /** The servers and mirrors, in list order. */
  servers: ServerEntry[];
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
  /** Requests at once to each mirror on the web (1 to 16); default 1. A
   * server of `server.ts` is sent one at a time. */
  connectionsPerMirror?: number | undefined;
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
  /** Where the spot checks' random offsets come from, when there is no
   * digest list. Default: random. */
  spotSeed?: number | undefined;
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
  /** Servers left out because their copy differs, as messages name
   * them. */
  excluded: string[];
  /** Servers left out because they could not serve the file (refused,
   * not found, ignored `Range`, too slow in the spot checks), as messages
   * name them. */
  unusable?: string[];
  /** What vouched for the bytes kept from an earlier run: the block
   * digests, the mirrors' validators (no digest list), or nothing. */
  resumedCheck?: ResumedCheck;
  /** What the cross-checks after the transfer did, when they ran (no
   * digest list to check the blocks). */
  crossChecks?: SentBytesChecks;
}

/** What vouched for the bytes kept from an earlier run. */
export type ResumedCheck = "digests" | "validators" | "none";
/**
 * Downloads a file from several servers at once.
 *
 * @param options What to download, from where, to where.
 * @returns What was done.
 * @throws {CannotTransferError} If no server reported the file's size.
 * @throws {IncompleteDownloadError} If some range could not be fetched or
 * the signal stopped the download; the temporary file and its state stay.
 * @throws {ChecksumMismatchError} If `sha256` was given (or the mirrors
 * sent one) and does not match.
 * @throws {MirrorsDisagreeError} If there is no digest list and no majority
 * of the sources agrees on the file; nothing is written.
 * @throws {OutputError} If the output cannot be written.
 * @throws {UnreadableStateError} If the saved state was written by a newer
 * version; it is left as it is, and no server is asked.
 * @throws {OutputExistsError} If a file took the output's name meanwhile
 * and `replace` is not set; the complete file stays as the partial one.
 */
export async function download(
  options: DownloadOptions,
): Promise<DownloadResult> {
  const { onEvent } = options;
  const servers = options.servers.map((entry) =>
    entryLabel(entry, options.name)
  );
  const { partial: partialPath, state: statePath } = sideFilePaths(
    options.outputPath,
  );
  // Read first: a state that must be left alone ends the download before
  // any server is asked.
  const saved = await readState(statePath, onEvent);
  const slots = openSlots(options);
  const { size, serverIndex: first } = await learnSize(slots, {
    ...options,
    servers,
  });
  const { sameFile, verify, blockSize } = planBlocks({
    ...options,
    saved,
    size,
  });
  const exclude = slotExcluder(slots, servers, onEvent);
  const abort = new AbortController();
  // A server that has not cached the list computes it as it sends it:
  // ranges start as soon as the list covers them, on the other servers.
  // Without a digest list, the warning waits to say what was checked
  // instead.
  const held: Extract<DownloadEvent, { type: "unverified" }>[] = [];
  const listing = await beginListing(
    verify,
    {
      slots,
      onEvent: (event) =>
        event.type === "unverified" && event.from === 0
          ? held.push(event)
          : onEvent?.(event),
      first,
      size,
      blockSize,
      exclude,
    },
    abort,
    options.signal,
  );
  const { reference } = listing;
  const mirrored = options.servers.map((entry) => entry.kind === "mirror");
  let checks: MirrorChecks | undefined;
  try {
    checks = verify && reference === undefined && mirrored.includes(true)
      ? await checkWithoutList({
        name: options.name,
        slots,
        mirrors: mirrored,
        size,
        sha256: options.sha256,
        seed: options.spotSeed,
        signal: abort.signal,
        exclude,
      })
      : undefined;
  } catch (error) {
    await listing.end();
    // Stopped during the checks: nothing of this run is written yet; a
    // partial file of an earlier run stays as it was.
    if (options.signal?.aborted) {
      throw new IncompleteDownloadError({
        missing: [],
        partialPath,
        interrupted: true,
        kept: options.partialFound !== null,
      });
    }
    throw error;
  }
  for (const event of held) {
    onEvent?.(
      checks === undefined ? event : { ...event, checked: checks.checked },
    );
  }
  // Without a list, kept bytes stand only if the mirrors' validators say
  // the file is the one they are of.
  const validated = checks === undefined
    ? undefined
    : compareValidators(saved?.mirrors, currentValidators(slots));
  const candidates = keptCandidates({
    saved,
    sameFile,
    verify,
    listed: reference !== undefined,
    validated,
    blockSize,
    size,
    name: options.name,
    onEvent,
  });
  const { output, resumed, hasher } = await openOutput({
    outputPath: options.outputPath,
    partialPath,
    size,
    resume: candidates.length > 0,
    found: options.partialFound,
    reference,
    onEvent,
    onFailure: listing.end,
  });
  const { kept, keptHasher, trusted } = startKeptCheck({
    partialPath,
    candidates: resumed ? candidates : [],
    reference,
    verify,
    hasher,
    blockSize,
    size,
    saved,
    signal: abort.signal,
    onEvent,
    trust: validated?.verdict === "same",
  });
  // The missing bytes are fetched while the kept ones are checked; the
  // kept blocks that fail are fetched in a second pass.
  const ranges = planRanges(size, options.numChunks, {
    blockSize,
    done: resumed ? candidates : [],
  });
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
    exclude: (slot: ServerSlot, reason: string, otherVersion?: boolean) =>
      exclude(slot.index, reason, otherVersion),
    listingOn: listing.listingOn,
    abort,
    onEvent,
  };
  const passes = new Passes(new RangeTasks(taskOptions, ranges), {
    trusted,
    kept,
    slots,
  });
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
        mirrors: currentValidators(slots),
      }),
    sync: () => output.sync(),
    intervalMs: options.checkpointMs,
  });
  try {
    await firstSave(checkpoints, { output, resumed, partialPath, statePath });
    const run = { options, passes, kept, checkpoints, abort, slots, first };
    const againRanges = await fetchAll({
      ...run,
      size,
      blockSize,
      partialPath,
      secondPass: (againRanges) => new RangeTasks(taskOptions, againRanges),
    });
    // Without a digest list, the bytes each source sent are cross-checked
    // with the others before the file is committed.
    let crossChecks: SentBytesChecks | undefined;
    if (checks !== undefined) {
      crossChecks = await crossCheckSent({
        name: options.name,
        slots,
        size,
        seed: options.spotSeed ??
          crypto.getRandomValues(new Uint32Array(1))[0]!,
        partialPath,
        signal: abort.signal,
        exclude,
        withdraw: (bytes) => passes.withdraw(bytes),
        refetch: async (bytes) => {
          againRanges.push(
            ...await fetchAgain({
              ...run,
              bytes,
              size,
              blockSize,
              partialPath,
              newPass: (ranges) => new RangeTasks(taskOptions, ranges),
            }),
          );
        },
        save: () => checkpoints.save(),
      }).catch(async (error) => {
        // Stopped during the checks: what was fetched stays for later.
        if (!options.signal?.aborted) throw error;
        await checkpoints.save();
        throw new IncompleteDownloadError({
          missing: [],
          partialPath,
          interrupted: true,
        });
      });
    }
    await commitDownload({
      options: {
        ...options,
        sha256: options.sha256 ?? checks?.fileDigest?.sha256,
      },
      sha256From: options.sha256 === undefined
        ? checks?.fileDigest?.from
        : undefined,
      keepStateOnMismatch: options.sha256 === undefined &&
        checks?.fileDigest?.alone,
      output,
      checkpoints,
      statePath,
      partialPath,
    });
    return {
      size,
      ranges: [...ranges, ...againRanges],
      chunks: planChunks(size, options.numChunks, blockSize).length,
      bytesPerServer: passes.bytesPerServer(),
      failovers: passes.all.reduce((sum, p) => sum + p.failovers, 0),
      retryRounds: passes.all.reduce((sum, p) => sum + p.retryRounds, 0),
      resumedBytes: new IntervalSet(trusted).size + (kept?.passedBytes ?? 0),
      refetchedBytes: kept?.failedBytes ?? 0,
      excluded: servers.filter((_, i) =>
        slots[i]!.excluded && slots[i]!.excludedAsOtherVersion
      ),
      unusable: servers.filter((_, i) =>
        slots[i]!.excluded && !slots[i]!.excludedAsOtherVersion
      ),
      resumedCheck: !verify
        ? "none"
        : reference !== undefined
        ? "digests"
        : validated?.verdict === "same"
        ? "validators"
        : "none",
      crossChecks,
    };
  } finally {
    await checkpoints.settle();
    checkpoints[Symbol.dispose]();
    output.close();
    for (const pass of passes.all) pass[Symbol.dispose]();
    hasher?.[Symbol.dispose]();
    keptHasher?.[Symbol.dispose]();
    await listing.end();
  }
}

/**
 * Fetches bytes again from the sources not left out, in a pass of their
 * own after the others (whose kept connections are let go first).
 *
 * @returns The ranges of the pass.
 * @throws {IncompleteDownloadError} If bytes are missing (the state is
 * saved first), or what the pass failed with.
 */
async function fetchAgain(run: {
  options: DownloadOptions;
  passes: Passes;
  checkpoints: Checkpoints;
  slots: readonly ServerSlot[];
  first: number;
  bytes: Interval[];
  size: number;
  blockSize: number;
  partialPath: string;
  newPass: (ranges: ByteRange[]) => RangeTasks;
}): Promise<ByteRange[]> {
  const { options, passes, checkpoints, size } = run;
  // Numbered after the ranges so far; each in the user's chunk it lies in.
  const firstIndex = passes.all.reduce((n, p) => n + p.progress().length, 0);
  const ranges = rangesToFetchAgain({
    bytes: run.bytes,
    size,
    numChunks: options.numChunks,
    blockSize: run.blockSize,
    firstIndex,
  });
  passes.all.at(-1)![Symbol.dispose]();
  const pass = run.newPass(ranges);
  passes.add(pass);
  try {
    await pass.run();
  } catch (error) {
    await checkpoints.save().catch(() => {});
    throw error;
  }
  const missing = pass.missing();
  if (missing.length > 0) await stopUnfinished({ ...run, missing });
  return ranges;
}

/**
 * Saves progress and throws the error of a download with bytes missing.
 *
 * @throws {IncompleteDownloadError} Always (a {@linkcode FileChangedError}
 * when the file changed on the servers).
 */
async function stopUnfinished(run: {
  options: DownloadOptions;
  checkpoints: Checkpoints;
  slots: readonly ServerSlot[];
  first: number;
  partialPath: string;
  missing: ByteRange[];
}): Promise<never> {
  await run.checkpoints.save();
  throw unfinishedError({
    slots: run.slots,
    first: run.first,
    missing: run.missing,
    partialPath: run.partialPath,
    interrupted: run.options.signal?.aborted ?? false,
  });
}

/**
 * Runs the passes of range tasks to their end, the checkpoints saving
 * progress meanwhile, and throws unless every byte is present.
 *
 * @returns The ranges of the second pass, if one ran.
 * @throws {IncompleteDownloadError} If bytes are missing (a
 * {@linkcode FileChangedError} when the file changed on the servers), or
 * what a pass failed with.
 */
async function fetchAll(run: {
  options: DownloadOptions;
  passes: Passes;
  kept: KeptBytes | undefined;
  checkpoints: Checkpoints;
  abort: AbortController;
  slots: readonly ServerSlot[];
  first: number;
  size: number;
  blockSize: number;
  partialPath: string;
  secondPass: (ranges: ByteRange[]) => RangeTasks;
}): Promise<ByteRange[]> {
  const { options, passes, kept, checkpoints, size, blockSize } = run;
  let againRanges: ByteRange[] = [];
  checkpoints.start();
  // What the user asked for: the ranges of this run, and of a second
  // pass, are numbered by the chunk they lie in.
  const chunks = planChunks(size, options.numChunks, blockSize);
  options.onStart?.(() => passes.progress(size, chunks));
  const failed = await runPasses({
    passes,
    kept,
    abort: run.abort,
    onEvent: options.onEvent,
    secondPass: (firstIndex) => {
      againRanges = rangesToFetchAgain({
        bytes: [...kept!.failed(), ...kept!.unchecked()],
        size,
        numChunks: options.numChunks,
        blockSize,
        firstIndex,
      });
      return run.secondPass(againRanges);
    },
  });
  await checkpoints.settle();
  if (failed) {
    await checkpoints.save().catch(() => {});
    throw failed.error;
  }
  const missing = passes.all.flatMap((pass) => pass.missing());
  if (missing.length > 0 || passes.present(false).size < size) {
    await stopUnfinished({ ...run, missing });
  }
  return againRanges;
}
