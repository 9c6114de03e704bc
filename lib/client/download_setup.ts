/**
 * The set-up of a download once the size is known: the block size (the
 * saved one when the partial download is of the same file), the digest
 * list started, and the output opened with its hashing thread. Each undoes
 * what it started when it fails.
 *
 * @module
 */

import type { DownloadEventSink } from "./download_events.ts";
import type { DownloadState } from "./output/download_state.ts";
import { OutputFile } from "./output/output_file.ts";
import type { FileIdentity } from "./output/side_files.ts";
import { BlockHasher } from "./verify/block_hasher.ts";
import { chooseBlockSize, isUsableBlockSize } from "./verify/block_digests.ts";
import {
  type DigestListFetchOptions,
  type Listing,
  startListing,
} from "./verify/digest_list_fetch.ts";
import type { ReferenceDigests } from "./verify/reference_digests.ts";
import { quoteName } from "../wire/quoted_name.ts";

/** How the blocks of a download are checked. */
export interface BlockPlan {
  /** Whether the saved state is of this file (same name and size). */
  sameFile: boolean;
  /** Whether blocks are checked against a digest list. */
  verify: boolean;
  /** The block size: 1 without checks. */
  blockSize: number;
}

/**
 * Chooses how blocks are checked: not at all for an empty file or when
 * checks are off; else in the saved run's block size when the state is of
 * the same file and its block size is usable, or in one chosen for the
 * size and chunk count.
 *
 * @param options The saved state, the file's name and size, the chunk
 * count and whether checks are asked for.
 * @returns Whether the state is of this file, whether blocks are checked,
 * and the block size.
 */
export function planBlocks(options: {
  saved: DownloadState | undefined;
  name: string;
  size: number;
  numChunks: number;
  verify?: boolean | undefined;
}): BlockPlan {
  const { saved, size } = options;
  const sameFile = saved !== undefined && saved.name === options.name &&
    saved.size === size;
  const verify = (options.verify ?? true) && size > 0;
  const blockSize = !verify
    ? 1
    : sameFile && isUsableBlockSize(saved.blockSize, size)
    ? saved.blockSize
    : chooseBlockSize(size, options.numChunks);
  return { sameFile, verify, blockSize };
}

/** The digest list under way, and how to stop it. */
export interface ListingRun extends Listing {
  /** Stops what is still running of the list and waits for it; the
   * download's signal no longer stops the download. */
  end: () => Promise<void>;
}

/**
 * Starts the digest list when blocks are checked (see
 * {@linkcode startListing}), and ties the download's signal to `abort`.
 *
 * @param verify Whether blocks are checked.
 * @param options What the list needs; `signal` is `abort`'s.
 * @param abort Stops the download's work: aborted by the download's
 * signal, and by `end`.
 * @param userSignal The download's signal.
 * @returns The list (none without checks) and `end`.
 */
export async function beginListing(
  verify: boolean,
  options: Omit<
    DigestListFetchOptions,
    "reference" | "onReply" | "onServer" | "signal"
  >,
  abort: AbortController,
  userSignal: AbortSignal | undefined,
): Promise<ListingRun> {
  const stop = () => abort.abort(userSignal?.reason);
  userSignal?.addEventListener("abort", stop, { once: true });
  const listing: Listing = verify
    ? await startListing({ ...options, signal: abort.signal })
    : {
      reference: undefined,
      listed: Promise.resolve(),
      listingOn: () => undefined,
    };
  return {
    ...listing,
    end: async () => {
      userSignal?.removeEventListener("abort", stop);
      abort.abort();
      await listing.listed;
    },
  };
}

/** The output opened, and the thread its blocks are hashed on. */
export interface OpenedOutput {
  /** The partial file, of the file's size. */
  output: OutputFile;
  /** Whether the partial file found was kept. */
  resumed: boolean;
  /** The hashing thread, when blocks are checked. */
  hasher: BlockHasher | undefined;
}

/**
 * Opens the output (see {@linkcode OutputFile.open}), tells when kept
 * bytes were expected but the partial file is not there to keep, and
 * starts the hashing thread when a digest list is coming. On failure the
 * output is closed and `onFailure` runs before the error is thrown.
 *
 * @param options The output's path and partial file, the size, whether
 * kept bytes are expected, the partial file found, the list, the event
 * sink, and what to undo on failure.
 * @returns The output, whether it resumed, and the hasher.
 * @throws {OutputError} If the output cannot be opened.
 */
export async function openOutput(options: {
  outputPath: string;
  partialPath: string;
  size: number;
  resume: boolean;
  found: FileIdentity | null | undefined;
  reference: ReferenceDigests | undefined;
  onEvent: DownloadEventSink | undefined;
  onFailure: () => Promise<void>;
}): Promise<OpenedOutput> {
  const { size, onEvent } = options;
  let opened: Awaited<ReturnType<typeof OutputFile.open>>;
  try {
    opened = await OutputFile.open(options.outputPath, size, {
      resume: options.resume,
      found: options.found,
    });
  } catch (error) {
    await options.onFailure();
    throw error;
  }
  const { output, resumed } = opened;
  if (!resumed && options.resume) {
    onEvent?.({
      type: "restarted",
      reason: `the partial file ${
        quoteName(options.partialPath)
      } is missing or not ${size} bytes long`,
    });
  }
  // Blocks are hashed on a worker thread while this one receives.
  try {
    const hasher = options.reference === undefined
      ? undefined
      : new BlockHasher();
    return { output, resumed, hasher };
  } catch (error) {
    output.close();
    await options.onFailure();
    throw error;
  }
}
