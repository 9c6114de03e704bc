/**
 * Spot checks across sources, the fetching part: before the bulk of a
 * download that has no block digest list, the same few windows of the file
 * (see `spot_checks.ts`) are fetched from every source that reported the
 * size and compared by SHA-256. A source the others outvote is left out;
 * when no majority agrees, the download stops rather than guess.
 *
 * @module
 */

import { formatByteSize } from "../../cli/byte_size.ts";
import { notCapableIn } from "../../cli/permission_error.ts";
import { sha256, toHex } from "../../wire/sha256.ts";
import { MirrorsDisagreeError } from "../download_errors.ts";
import type { ServerSlot } from "../server_slot.ts";
import { SIZE_GRACE_MS } from "../size_lookup.ts";
import { type SpotWindow, spotWindows, tallyVotes } from "./spot_checks.ts";

/** What {@linkcode spotCheck} needs. */
export interface SpotCheckOptions {
  /** The file's name, for the error when no majority agrees. */
  name: string;
  /** The servers and mirrors, in list order; those not left out are
   * compared. */
  slots: readonly Pick<
    ServerSlot,
    "index" | "source" | "lock" | "excluded" | "answeredSize"
  >[];
  /** The file's size. */
  size: number;
  /** Where the windows' random offsets come from. */
  seed: number;
  /** Stops the checks. */
  signal?: AbortSignal | undefined;
  /** Leaves a source out for the rest of the download, saying why. */
  exclude: (serverIndex: number, reason: string) => void;
}

/** What the spot checks compared. */
export interface SpotCheckResult {
  /** How many sources agreed (those compared and not outvoted). */
  agreed: number;
  /** The windows compared; none when fewer than two sources were
   * there to compare. */
  windows: SpotWindow[];
}

/**
 * Fetches the spot-check windows from every source not left out (each
 * through its own {@linkcode Source.fetch}, one window at a time, under its
 * lock; the sources at once) and compares them. A source whose windows
 * could not be fetched is left out: it would serve bytes nobody compared.
 * Those that did not report the size in time are waited for
 * {@linkcode SIZE_GRACE_MS} past the others at most. A source outvoted by
 * more than half of the others is left out, with the first window that
 * differs.
 *
 * @param options The sources, the file, the seed and how to leave one out.
 * @returns How many sources agreed, and the windows compared.
 * @throws {MirrorsDisagreeError} If the sources compared disagree and no
 * majority of them agrees.
 */
export async function spotCheck(
  options: SpotCheckOptions,
): Promise<SpotCheckResult> {
  const { slots, size, exclude } = options;
  const compared = slots.filter((slot) => !slot.excluded);
  if (compared.length < 2) return { agreed: compared.length, windows: [] };
  const windows = spotWindows(size, options.seed);
  const late = new AbortController();
  const fetches = compared.map(async (slot) => {
    const signal = slot.answeredSize
      ? options.signal
      : AbortSignal.any([late.signal, options.signal].filter((s) => !!s));
    try {
      return await slot.lock.runExclusive(() =>
        windowDigests(slot.source, { windows, size, signal })
      );
    } catch (error) {
      options.signal?.throwIfAborted();
      if (notCapableIn(error) !== undefined) throw error;
      exclude(
        slot.index,
        late.signal.aborted && !slot.answeredSize
          ? `it did not answer the spot checks within ${
            SIZE_GRACE_MS / 1000
          } s of the others`
          : `its spot-check windows could not be fetched: ${reasonOf(error)}`,
      );
      return undefined;
    }
  });
  // Those that did not report the size in time get a little longer.
  await Promise.all(fetches.filter((_, i) => compared[i]!.answeredSize));
  const timer = setTimeout(() => late.abort(), SIZE_GRACE_MS);
  let answers: (string[] | undefined)[];
  try {
    answers = await Promise.all(fetches);
  } finally {
    clearTimeout(timer);
  }
  const vote = tallyVotes(answers.map((digests) => digests?.join(",")));
  if (!vote.agreed) {
    throw new MirrorsDisagreeError({
      name: options.name,
      compared: `their bytes in ${windows.length} spot-checked window${
        windows.length === 1 ? "" : "s"
      }`,
      groups: vote.groups.map((group) =>
        group.map((i) => compared[i]!.source.label)
      ),
    });
  }
  const majority = answers[vote.majority[0]!]!;
  for (const i of vote.outvoted) {
    const at = answers[i]!.findIndex((digest, w) => digest !== majority[w]);
    const { offset, length } = windows[at]!;
    const others = vote.majority.length;
    exclude(
      compared[i]!.index,
      `its copy differs from that of ${others} other source${
        others === 1 ? "" : "s"
      } in a spot check (bytes ${offset}-${offset + length - 1})`,
    );
  }
  return { agreed: vote.majority.length, windows };
}

/**
 * Says what the spot checks compared, for the warning that blocks are not
 * checked one by one.
 *
 * @param result What {@linkcode spotCheck} returned.
 * @param kind What the sources are called: `mirrors`, or `sources` when
 * servers were among them.
 * @returns Such as `spot checks of 4 windows of 64 KiB across 3 mirrors
 * agree`, or `undefined` when fewer than two copies were compared.
 */
export function describeSpotCheck(
  result: SpotCheckResult,
  kind: string,
): string | undefined {
  const { windows, agreed } = result;
  // One copy left agrees with nothing: no check to speak of.
  if (windows.length === 0 || agreed < 2) return undefined;
  return `spot checks of ${windows.length} window${
    windows.length === 1 ? "" : "s"
  } of ${formatByteSize(windows[0]!.length)} across ${agreed} ${kind} agree`;
}

/** The SHA-256 (hex) of each window of a source's copy. */
async function windowDigests(
  source: ServerSlot["source"],
  options: { windows: SpotWindow[]; size: number; signal?: AbortSignal },
): Promise<string[]> {
  const digests: string[] = [];
  for (const { offset, length } of options.windows) {
    const bytes = new Uint8Array(length);
    let at = 0;
    await source.fetch({
      offset,
      length,
      fileSize: options.size,
      signal: options.signal,
      sink: {
        onData: (piece) => {
          bytes.set(piece, at);
          at += piece.length;
          return Promise.resolve();
        },
      },
    });
    if (at !== length) {
      throw new Error(`it sent ${at} of the ${length} bytes asked for`);
    }
    digests.push(toHex(await sha256(bytes)));
  }
  return digests;
}

/** Why a fetch failed, in a few words. */
function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
