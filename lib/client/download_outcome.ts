/**
 * How a download that ended with bytes missing is reported: the file
 * changed on the servers (the server the download settled on has another
 * version now), or the download is incomplete (failures, or stopped).
 *
 * @module
 */

import type { ByteRange } from "./plan/range_planner.ts";
import {
  FileChangedError,
  IncompleteDownloadError,
} from "./download_errors.ts";
import type { ServerSlot } from "./server_slot.ts";

/** What {@linkcode unfinishedError} weighs. */
export interface UnfinishedOptions {
  /** The slots, in list order. */
  slots: readonly Pick<
    ServerSlot,
    "source" | "excluded" | "excludedWhy" | "excludedAsOtherVersion"
  >[];
  /** The index of the server the download settled on (it reported the
   * size). */
  first: number;
  /** The ranges that are not complete. */
  missing: ByteRange[];
  /** The temporary file holding what was fetched. */
  partialPath: string;
  /** Whether the download was stopped by its signal. */
  interrupted: boolean;
}

/**
 * The error a download with bytes missing ends in: a
 * {@linkcode FileChangedError} when the server it settled on was left out
 * because its copy is another version now and it was not stopped, else an
 * {@linkcode IncompleteDownloadError}.
 *
 * @param options The slots, the server settled on, what is missing, the
 * partial file and whether the download was stopped.
 * @returns The error to throw.
 */
export function unfinishedError(
  options: UnfinishedOptions,
): FileChangedError | IncompleteDownloadError {
  const { slots, first, missing, partialPath, interrupted } = options;
  const settled = slots[first]!;
  if (settled.excluded && settled.excludedAsOtherVersion && !interrupted) {
    const everyOther = slots.length > 1 &&
        slots.every((slot) => slot.excluded && slot.excludedAsOtherVersion)
      ? "; every other server has another version too"
      : "";
    return new FileChangedError({
      missing,
      partialPath,
      how: `${settled.source.label}: ${settled.excludedWhy}${everyOther}`,
    });
  }
  const noServerLeft = interrupted || !slots.every((slot) => slot.excluded)
    ? undefined
    : slots.every((slot) => slot.source.servesWholeFileOnly)
    ? "ranges"
    : "other";
  return new IncompleteDownloadError({
    missing,
    partialPath,
    interrupted,
    noServerLeft,
  });
}
