/**
 * Spot checks across sources, the fetching part: before the bulk of a
 * download that has no block digest list, the same few windows of the file
 * (see `spot_checks.ts`) are fetched from every source that reported the
 * size and compared by SHA-256. A source the others outvote is left out;
 * when no majority agrees, the download stops rather than guess.
 *
 * @module
 */

import { withoutLabel } from "../failure_reasons.ts";
import { formatByteSize } from "../../cli/byte_size.ts";
import { notCapableIn } from "../../cli/permission_error.ts";
import { sha256, toHex } from "../../wire/sha256.ts";
import { MirrorsDisagreeError } from "../download_errors.ts";
import type { ServerSlot } from "../server_slot.ts";
import { placeOf } from "../source_place.ts";
import { fetchWhole } from "../source.ts";
import { type SpotWindow, spotWindows, tallyPlaces } from "./spot_checks.ts";

/** Once a source sent all its spot-check windows, how long the others
 * still have (or as long as that source took, if longer): one that is
 * silent or trickles is left out after about this, as the bulk of the
 * transfer gives a silent server's range to another after 2 s. */
export const SPOT_CHECK_GRACE_MS = 2000;

/** What {@linkcode spotCheck} needs. */
export interface SpotCheckOptions {
  /** The file's name, for the error when no majority agrees. */
  name: string;
  /** The servers and mirrors, in list order; those not left out are
   * compared. */
  slots: readonly Pick<
    ServerSlot,
    "index" | "source" | "lock" | "excluded"
  >[];
  /** The file's size. */
  size: number;
  /** Where the windows' random offsets come from. */
  seed: number;
  /** Stops the checks. */
  signal?: AbortSignal | undefined;
  /** How long the others have once one sent its windows. Default
   * {@linkcode SPOT_CHECK_GRACE_MS}. */
  graceMs?: number | undefined;
  /** Leaves a source out for the rest of the download, saying why and
   * whether it holds another version of the file (rather than cannot
   * serve it). */
  exclude: (serverIndex: number, reason: string, otherVersion: boolean) => void;
}

/** What the spot checks compared. */
export interface SpotCheckResult {
  /** How many places agreed (sources compared and not outvoted; sources
   * at the same place count once). */
  agreed: number;
  /** The windows compared; none when fewer than two places were there to
   * compare. */
  windows: SpotWindow[];
}

/**
 * Fetches the spot-check windows from every source not left out (each
 * through its own {@linkcode Source.fetch}, one window at a time, under its
 * lock; the sources at once) and compares them. A source whose windows
 * could not be fetched is left out: it would serve bytes nobody compared.
 * Once one source sent all its windows, the others have
 * {@linkcode SPOT_CHECK_GRACE_MS} more (or as long as it took, if longer):
 * one still sending then is left out. When fewer than two places are left
 * to compare, nothing more is fetched. A source outvoted by more than half
 * of the others is left out, with the first window that differs; sources
 * at the same place (see `placeOf`) vote once.
 *
 * @param options The sources, the file, the seed and how to leave one out.
 * @returns How many places agreed, and the windows compared.
 * @throws {MirrorsDisagreeError} If the sources compared disagree and no
 * majority of them agrees.
 */
export async function spotCheck(
  options: SpotCheckOptions,
): Promise<SpotCheckResult> {
  const { slots, size, exclude } = options;
  const compared = slots.filter((slot) => !slot.excluded);
  const places = compared.map((slot) => placeOf(slot.source));
  if (new Set(places).size < 2) {
    return { agreed: new Set(places).size, windows: [] };
  }
  const windows = spotWindows(size, options.seed);
  const graceMs = options.graceMs ?? SPOT_CHECK_GRACE_MS;
  const started = performance.now();
  const cuts = compared.map(() => new AbortController());
  const outcome: ("pending" | "done" | "failed")[] = compared.map(() =>
    "pending"
  );
  let deadline: ReturnType<typeof setTimeout> | undefined;
  let alone = false;
  const settle = (i: number, how: "done" | "failed") => {
    outcome[i] = how;
    const pending = compared.flatMap((_, j) =>
      outcome[j] === "pending" ? [j] : []
    );
    const standing = compared.flatMap((_, j) =>
      outcome[j] === "failed" ? [] : [places[j]!]
    );
    if (pending.length > 0 && new Set(standing).size < 2) {
      // Nobody left to compare with: the rest is not waited for.
      alone = true;
      for (const j of pending) cuts[j]!.abort();
    } else if (how === "done" && deadline === undefined) {
      const wait = Math.max(graceMs, performance.now() - started);
      deadline = setTimeout(() => {
        for (const [j, cut] of cuts.entries()) {
          if (outcome[j] === "pending") cut.abort();
        }
      }, wait);
    }
  };
  const fetches = compared.map(async (slot, i) => {
    const signal = AbortSignal.any(
      [cuts[i]!.signal, options.signal].filter((s) => !!s),
    );
    try {
      const digests = await slot.lock.runExclusive(() =>
        windowDigests(slot.source, { windows, size, signal })
      );
      settle(i, "done");
      return digests;
    } catch (error) {
      options.signal?.throwIfAborted();
      if (notCapableIn(error) !== undefined) throw error;
      if (alone && cuts[i]!.signal.aborted) return undefined;
      settle(i, "failed");
      exclude(
        slot.index,
        cuts[i]!.signal.aborted
          ? `it did not send its spot-check windows within ${
            Math.round(Math.max(graceMs, 0) / 100) / 10
          } s of the first source that did`
          : `its spot-check windows could not be fetched: ${
            reasonOf(slot.source, error)
          }`,
        false,
      );
      return undefined;
    }
  });
  let answers: (string[] | undefined)[];
  try {
    answers = await Promise.all(fetches);
  } finally {
    clearTimeout(deadline);
  }
  if (alone) {
    const left = new Set(places.filter((_, i) => outcome[i] !== "failed"));
    return { agreed: left.size, windows: [] };
  }
  const vote = tallyPlaces(
    answers.map((digests) => digests?.join(",")),
    places,
  );
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
  const others = new Set(vote.majority.map((i) => places[i])).size;
  for (const i of vote.outvoted) {
    const at = answers[i]!.findIndex((digest, w) => digest !== majority[w]);
    const { offset, length } = windows[at]!;
    exclude(
      compared[i]!.index,
      `its copy differs from that of ${others} other source${
        others === 1 ? "" : "s"
      } in a spot check (bytes ${offset}-${offset + length - 1})`,
      true,
    );
  }
  return { agreed: others, windows };
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

/**
 * The SHA-256 (hex) of each window of a source's copy, fetched one after
 * the other.
 *
 * @param source The source.
 * @param options The windows, the file's size and what stops the fetches.
 * @returns The digests, in the windows' order.
 * @throws What the source threw, or an `Error` if it sent fewer bytes than
 * asked for.
 */
export async function windowDigests(
  source: ServerSlot["source"],
  options: { windows: SpotWindow[]; size: number; signal?: AbortSignal },
): Promise<string[]> {
  const digests: string[] = [];
  for (const { offset, length } of options.windows) {
    const bytes = await fetchWhole(source, {
      offset,
      length,
      fileSize: options.size,
      signal: options.signal,
    });
    digests.push(toHex(await sha256(bytes)));
  }
  return digests;
}

/** Why a source's fetch failed, in the source's own few words (a
 * mirror's `connection refused`, not `fetch`'s whole text), without its
 * label: the message names the source already. */
function reasonOf(source: ServerSlot["source"], error: unknown): string {
  return withoutLabel(source.label, source.describeFailure(error));
}
