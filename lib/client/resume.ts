/**
 * Resuming a download: the state an earlier run saved, which of the bytes
 * it kept are taken as candidates, their check against the digest list,
 * and the second pass that fetches those that fail it.
 *
 * @module
 */

import { quoteName } from "../wire/quoted_name.ts";
import type { DownloadEventSink } from "./download_events.ts";
import {
  type DownloadState,
  loadState,
  UnreadableStateError,
} from "./output/download_state.ts";
import { OutputError } from "./output/output_file.ts";
import { type Interval, IntervalSet } from "./plan/interval_set.ts";
import { type ByteRange, planRanges } from "./plan/range_planner.ts";
import { BlockHasher } from "./verify/block_hasher.ts";
import { KeptBytes } from "./verify/kept_bytes.ts";
import type { ReferenceDigests } from "./verify/reference_digests.ts";
import type { ValidatorVerdict } from "./verify/mirror_identity.ts";

/**
 * Reads the saved state, if any. One that is not a valid state is not
 * used (it says why in a "restarted" event), unless a newer version wrote
 * it: that one is left alone.
 *
 * @param path The state file.
 * @param onEvent Told when the state cannot be used.
 * @returns The state, or `undefined` if there is none to use.
 * @throws {UnreadableStateError} If a newer version wrote the state.
 * @throws {OutputError} If the state cannot be read (a folder, no
 * permission).
 */
export async function readState(
  path: string,
  onEvent: DownloadEventSink | undefined,
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

/**
 * Shrinks intervals to whole blocks, so every kept block can be checked.
 *
 * @param done The intervals, in any order, perhaps overlapping.
 * @param blockSize The block size.
 * @param size The file's size: an interval that ends there keeps its last,
 * short block.
 * @returns The whole blocks within them, sorted and merged.
 */
export function alignDone(
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

/** What {@linkcode keptCandidates} decides from. */
export interface CandidateOptions {
  /** The saved state, if any. */
  saved: DownloadState | undefined;
  /** Whether the state is of this file: its name and size. */
  sameFile: boolean;
  /** Whether blocks are checked. */
  verify: boolean;
  /** Whether a digest list is coming to check the kept bytes against. */
  listed: boolean;
  /** Without a list: whether the mirrors' validators say the file is the
   * one the kept bytes are of. Kept bytes are taken without a list only
   * when they say `same`. */
  validated?: ValidatorVerdict | undefined;
  /** The block size of this run. */
  blockSize: number;
  /** The file's size. */
  size: number;
  /** The file's name, as asked of the servers. */
  name?: string | undefined;
  /** Told why the kept bytes are not used, if they are not. */
  onEvent?: DownloadEventSink | undefined;
}

/**
 * The bytes an earlier run kept that this one takes as candidates. The
 * state is a hint: with checks on, they count once they match the digest
 * list.
 *
 * @param options The state and what this run knows.
 * @returns The candidates, in whole blocks; none if the state is of
 * another file, or its bytes cannot be checked (no digest list, and the
 * mirrors' validators do not say the file is unchanged).
 */
export function keptCandidates(options: CandidateOptions): Interval[] {
  const { saved, onEvent } = options;
  if (saved === undefined || saved.done.length === 0) return [];
  if (!options.sameFile) {
    onEvent?.({
      type: "restarted",
      reason: saved.size !== options.size && saved.name === options.name
        ? `the file is ${options.size} bytes on the servers now, the partial download is of ${saved.size}`
        : "the partial download is of another file",
    });
    return [];
  }
  if (options.verify && !options.listed) {
    const validated = options.validated;
    if (validated?.verdict === "same") {
      return alignDone(saved.done, options.blockSize, options.size);
    }
    if (validated?.verdict === "changed") {
      onEvent?.({
        type: "restarted",
        reason:
          `the file changed on the mirrors since the partial download (${validated.reason})`,
      });
      return [];
    }
    // Checks are on: no byte goes into the file unchecked unless the
    // user is told, as they are of the bytes fetched without digests.
    onEvent?.({
      type: "restarted",
      reason:
        "the bytes kept from before cannot be checked: no server sent block digests",
    });
    return [];
  }
  return alignDone(saved.done, options.blockSize, options.size);
}

/** What {@linkcode startKeptCheck} needs. */
export interface KeptCheckOptions {
  /** The partial file. */
  partialPath: string;
  /** The kept bytes found in it (see {@linkcode keptCandidates}). */
  candidates: Interval[];
  /** The digest list, if blocks are checked and one is coming. */
  reference: ReferenceDigests | undefined;
  /** Whether blocks are checked. */
  verify: boolean;
  /** The thread the received bytes are hashed on, if any. */
  hasher: BlockHasher | undefined;
  /** The block size. */
  blockSize: number;
  /** The file's size. */
  size: number;
  /** The saved state. */
  saved: DownloadState | undefined;
  /** Stops the check. */
  signal: AbortSignal;
  /** Told what is resumed, and when the file changed since. */
  onEvent?: DownloadEventSink | undefined;
  /** Without checks against a list: take the candidates as they are (the
   * mirrors' validators say the file is unchanged). Without `verify` they
   * are taken as they are anyway. */
  trust?: boolean | undefined;
}

/** The kept bytes, as this run takes them. */
export interface KeptSetup {
  /** Their check against the digest list, if they are checked. */
  kept: KeptBytes | undefined;
  /** A hashing thread of their own, if one could be started. */
  keptHasher: BlockHasher | undefined;
  /** Those trusted as they are: all of them without checks, or when the
   * mirrors' validators vouch for them. */
  trusted: Interval[];
}

/**
 * Sets up the kept bytes: without checks they are trusted as they are;
 * with checks, a {@linkcode KeptBytes} checks them (not started yet), on a
 * hashing thread of its own besides the shared one, so both cores work
 * while little arrives. Tells the user how many bytes are resumed.
 *
 * @param options The candidates, the list, the hashers.
 * @returns The check, its thread, and the trusted bytes.
 */
export function startKeptCheck(options: KeptCheckOptions): KeptSetup {
  const { candidates, reference, hasher, saved, onEvent } = options;
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
      path: options.partialPath,
      candidates,
      reference,
      blockSize: options.blockSize,
      size: options.size,
      hashers: [hasher, keptHasher].filter((h) => h !== undefined),
      saved: saved?.identity != null && saved.blockSize === options.blockSize
        ? { identity: saved.identity, listed: saved.listed }
        : undefined,
      signal: options.signal,
      onChanged: () =>
        onEvent?.({
          type: "restarted",
          reason: "the file changed on the servers since the partial download",
        }),
    })
    : undefined;
  const candidateBytes = new IntervalSet(candidates).size;
  if (candidateBytes > 0) {
    onEvent?.({
      type: "resumed",
      bytes: candidateBytes,
      checking: kept !== undefined,
    });
  }
  return {
    kept,
    keptHasher,
    trusted: !options.verify || (options.trust && kept === undefined)
      ? candidates
      : [],
  };
}

/**
 * The ranges of a later pass: bytes to fetch again (kept bytes that failed
 * their check or could not be checked, or those of a source outvoted),
 * split as the user's chunks split the file.
 *
 * @param options The bytes, the file, and `firstIndex`: the number of the
 * earlier passes' ranges, stolen tails included, after which these are
 * numbered.
 * @returns The ranges, each in the user's chunk it lies in.
 */
export function rangesToFetchAgain(options: {
  bytes: readonly Interval[];
  size: number;
  numChunks: number;
  blockSize: number;
  firstIndex: number;
}): ByteRange[] {
  const { size } = options;
  return planRanges(size, options.numChunks, {
    blockSize: options.blockSize,
    done: new IntervalSet(options.bytes).gaps(size),
  }).map((range) => ({ ...range, index: options.firstIndex + range.index }));
}
