/**
 * After the bulk of a download that has no block digest list, before the
 * file is committed: the bytes each source sent are cross-checked with the
 * others (see `verify/cross_check_fetch.ts`). A source outvoted is left
 * out and everything it sent is fetched again from the others, then
 * cross-checked in turn; when no majority settles a window, the download
 * stops, the partial file kept without the bytes nobody could vouch for.
 *
 * @module
 */

import { formatByteSize } from "../cli/byte_size.ts";
import { MirrorsDisagreeError } from "./download_errors.ts";
import { type Interval, IntervalSet } from "./plan/interval_set.ts";
import type { ServerSlot } from "./server_slot.ts";
import { placeOf } from "./source_place.ts";
import {
  crossCheck,
  type CrossCheckResult,
  type OutvotedSource,
} from "./verify/cross_check_fetch.ts";
import type { SpotWindow } from "./verify/spot_checks.ts";

/** What {@linkcode crossCheckSent} needs. */
export interface SentBytesChecksOptions {
  /** The file's name, for the error when no majority agrees. */
  name: string;
  /** The servers and mirrors; each records what it sent. */
  slots: readonly ServerSlot[];
  /** The file's size. */
  size: number;
  /** Where the windows' offsets come from. */
  seed: number;
  /** The partial file, read back for the bytes sent. */
  partialPath: string;
  /** Stops the checks. */
  signal?: AbortSignal | undefined;
  /** How long the others have once one answered; see `crossCheck`. */
  graceMs?: number | undefined;
  /** Leaves a source out for the rest of the download. */
  exclude: (serverIndex: number, reason: string, otherVersion: boolean) => void;
  /** Takes bytes out of those the download counts as present (and its
   * state as done). */
  withdraw: (bytes: Interval[]) => void;
  /** Fetches bytes again from the sources not left out. */
  refetch: (bytes: Interval[]) => Promise<void>;
  /** Saves the download's state. */
  save: () => Promise<void>;
}

/** What the cross-checks did, over all rounds. */
export interface SentBytesChecks {
  /** Windows compared with at least one other place. */
  compared: number;
  /** Windows nobody else answered. */
  unanswered: number;
  /** Bytes fetched again because their source was outvoted. */
  refetchedBytes: number;
}

/**
 * Cross-checks the bytes every source sent; leaves out the sources
 * outvoted (as holding another version), fetches what they sent again and
 * cross-checks that, until no source is outvoted or fewer than two places
 * are left.
 *
 * @param options The sources, the file, and what to do with what is found.
 * @returns What was compared and fetched again.
 * @throws {MirrorsDisagreeError} If no majority settles a window: the
 * bytes of the sources that sent such windows (or were outvoted) are
 * withdrawn and the state saved first, the partial file kept.
 * @throws What `refetch` or `save` threw.
 */
export async function crossCheckSent(
  options: SentBytesChecksOptions,
): Promise<SentBytesChecks> {
  const { slots } = options;
  const done: SentBytesChecks = {
    compared: 0,
    unanswered: 0,
    refetchedBytes: 0,
  };
  using file = await Deno.open(options.partialPath, { read: true });
  const readWritten = async ({ offset, length }: SpotWindow) => {
    const bytes = new Uint8Array(length);
    await file.seek(offset, Deno.SeekMode.Start);
    for (let at = 0; at < length;) {
      const read = await file.read(bytes.subarray(at));
      if (read === null) throw new Error(`the partial file ends before ${at}`);
      at += read;
    }
    return bytes;
  };
  let toCheck = slots.map((slot) => slot.excluded ? [] : slot.sent.intervals);
  for (let round = 0;; round++) {
    const places = slots.filter((slot) => !slot.excluded).map((slot) =>
      placeOf(slot.source)
    );
    if (new Set(places).size < 2) return done;
    const result = await crossCheck({
      slots,
      sent: toCheck,
      size: options.size,
      seed: (options.seed + round) >>> 0,
      readWritten,
      signal: options.signal,
      graceMs: options.graceMs,
    });
    done.compared += result.compared;
    done.unanswered += result.unanswered;
    if (result.unsettled.length > 0) await stop(options, result);
    const bad = new IntervalSet();
    for (const found of result.outvoted) {
      const slot = slots[found.index]!;
      options.exclude(found.index, reasonFor(found, slot.sent.size), true);
      for (const [start, end] of slot.sent.intervals) bad.add(start, end);
    }
    if (bad.size === 0) return done;
    options.withdraw(bad.intervals);
    const before = slots.map((slot) => slot.sent.intervals);
    await options.refetch(bad.intervals);
    done.refetchedBytes += bad.size;
    // What was fetched again is checked in turn.
    toCheck = slots.map((slot, i) => {
      if (slot.excluded) return [];
      const fresh = new IntervalSet(slot.sent.intervals);
      for (const [start, end] of before[i]!) fresh.remove(start, end);
      return fresh.intervals;
    });
  }
}

/** No majority settles a window: the bytes of whoever is in doubt are
 * withdrawn, the state saved, and the download stops. */
async function stop(
  options: SentBytesChecksOptions,
  result: CrossCheckResult,
): Promise<never> {
  const { slots } = options;
  const doubted = new Set([
    ...result.unsettled.map((u) => u.sender),
    ...result.outvoted.map((o) => o.index),
  ]);
  const bytes = new IntervalSet();
  for (const index of doubted) {
    for (const [start, end] of slots[index]!.sent.intervals) {
      bytes.add(start, end);
    }
  }
  options.withdraw(bytes.intervals);
  await options.save();
  const { window, groups } = result.unsettled[0]!;
  throw new MirrorsDisagreeError({
    name: options.name,
    compared: `their bytes ${window.offset}-${
      window.offset + window.length - 1
    } cross-checked after the transfer`,
    groups: groups.map((group) => group.map((i) => slots[i]!.source.label)),
    partial: { path: options.partialPath, withdrawnBytes: bytes.size },
  });
}

/** Why an outvoted source is left out, naming the bytes. */
function reasonFor(found: OutvotedSource, sentBytes: number): string {
  const { offset, length } = found.window;
  const others = `${found.places} other source${found.places === 1 ? "" : "s"}`;
  const where = `bytes ${offset}-${offset + length - 1}`;
  const again = sentBytes > 0
    ? `; the ${
      formatByteSize(sentBytes)
    } it sent are fetched again from the others`
    : "";
  return found.sender
    ? `the bytes it sent differ from those of ${others} in a cross-check after the transfer (${where})${again}`
    : `its copy differs from that of ${others} in a cross-check after the transfer (${where})${again}`;
}
