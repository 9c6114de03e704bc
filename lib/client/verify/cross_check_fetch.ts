/**
 * Cross-checks after the bulk of a download that has no block digest list,
 * the fetching part: a few windows of the bytes each source sent (see
 * `cross_checks.ts`) are read back from the partial file and asked of
 * sources at other places, and each window is settled by a vote. A source
 * is never asked for a window of its own bytes.
 *
 * @module
 */

import { sha256, toHex } from "../../wire/sha256.ts";
import type { Interval } from "../plan/interval_set.ts";
import type { ServerSlot } from "../server_slot.ts";
import { placeOf } from "../source_place.ts";
import {
  answerersFor,
  crossCheckWindows,
  judgeWindow,
} from "./cross_checks.ts";
import { SPOT_CHECK_GRACE_MS, windowDigests } from "./spot_check_fetch.ts";
import type { SpotWindow } from "./spot_checks.ts";

/** Once a source answered all the windows it was asked for, how long the
 * others still have (or as long as that source took, if longer): as for
 * the spot checks, a silent source costs about this. */
export const CROSS_CHECK_GRACE_MS: number = SPOT_CHECK_GRACE_MS;

/** How long a round of cross-checks may take at most, whoever answers:
 * windows not answered by then are not counted. */
export const CROSS_CHECK_LIMIT_MS = 15_000;

/** What {@linkcode crossCheck} needs. */
export interface CrossCheckOptions {
  /** The servers and mirrors, in list order; those not left out are
   * checked and asked. */
  slots: readonly Pick<ServerSlot, "index" | "source" | "lock" | "excluded">[];
  /** The bytes of each source to check, by index: what it sent. */
  sent: readonly (readonly Interval[])[];
  /** The file's size. */
  size: number;
  /** Where the windows' offsets come from. */
  seed: number;
  /** Reads the bytes written of a window back from the partial file. */
  readWritten: (window: SpotWindow) => Promise<Uint8Array<ArrayBuffer>>;
  /** Stops the checks. */
  signal?: AbortSignal | undefined;
  /** Default {@linkcode CROSS_CHECK_GRACE_MS}. */
  graceMs?: number | undefined;
  /** Default {@linkcode CROSS_CHECK_LIMIT_MS}. */
  limitMs?: number | undefined;
}

/** A source outvoted on a cross-checked window. */
export interface OutvotedSource {
  /** The source, by index. */
  index: number;
  /** The window. */
  window: SpotWindow;
  /** How many places are in the majority. */
  places: number;
  /** Whether it sent the window's bytes (rather than answered for
   * another's). */
  sender: boolean;
}

/** What the cross-checks found. */
export interface CrossCheckResult {
  /** Windows settled by at least one other place's answer. */
  compared: number;
  /** Windows nobody else answered: not checked. */
  unanswered: number;
  /** The sources outvoted, each once, with the first window it was
   * outvoted on. */
  outvoted: OutvotedSource[];
  /** Windows where no answer had a majority: who sent the bytes, and the
   * sources grouped by their answer, the sender's group first. */
  unsettled: { sender: number; window: SpotWindow; groups: number[][] }[];
}

/** One window of a source's bytes, and the answers for it. */
interface Check {
  sender: number;
  window: SpotWindow;
  /** By source index; the sender's is the digest of what it sent. */
  ballots: (string | undefined)[];
  /** The sources asked for it so far. */
  asked: number[];
}

/**
 * Cross-checks the bytes each source sent: picks windows in them, reads
 * them back from the partial file, and asks
 * `CROSS_CHECK_ANSWERERS` other places for each (all the
 * sources asked at once, each its windows one after the other). A window
 * nobody answered, or whose answers do not settle it, is asked of every
 * other place not asked yet. Once one source answered all it was asked,
 * the others have {@linkcode CROSS_CHECK_GRACE_MS} more; what they did not
 * answer is not counted. Nobody is left out here: the caller decides.
 *
 * @param options The sources, what each sent, and how to read it back.
 * @returns The windows compared, and who was outvoted or left unsettled.
 */
export async function crossCheck(
  options: CrossCheckOptions,
): Promise<CrossCheckResult> {
  const { slots } = options;
  const places = slots.map((slot) =>
    slot.excluded ? undefined : placeOf(slot.source)
  );
  const checks: Check[] = [];
  for (const slot of slots) {
    if (slot.excluded) continue;
    const windows = crossCheckWindows(
      options.sent[slot.index] ?? [],
      (options.seed ^ Math.imul(slot.index + 1, 0x9e3779b1)) >>> 0,
    );
    for (const window of windows) {
      const ballots: (string | undefined)[] = slots.map(() => undefined);
      ballots[slot.index] = toHex(
        await sha256(await options.readWritten(window)),
      );
      checks.push({ sender: slot.index, window, ballots, asked: [] });
    }
  }
  const placeNames = slots.map((slot, i) => places[i] ?? slot.source.label);
  const judge = (check: Check) =>
    judgeWindow(check.ballots, check.sender, placeNames);
  await askAll(
    checks.map((check) => [check, answerersFor(check.sender, places)]),
    options,
  );
  const again = checks.filter((check) => {
    const { verdict } = judge(check);
    return verdict === "unanswered" || verdict === "unsettled";
  });
  await askAll(
    again.map((check) => [
      check,
      answerersFor(check.sender, places, {
        count: slots.length,
        skip: check.asked,
      }),
    ]),
    options,
  );
  const result: CrossCheckResult = {
    compared: 0,
    unanswered: 0,
    outvoted: [],
    unsettled: [],
  };
  const outvote = (index: number, found: Omit<OutvotedSource, "index">) => {
    if (!result.outvoted.some((o) => o.index === index)) {
      result.outvoted.push({ index, ...found });
    }
  };
  for (const check of checks) {
    const verdict = judge(check);
    const { window, sender } = check;
    switch (verdict.verdict) {
      case "unanswered":
        result.unanswered++;
        break;
      case "unsettled":
        result.unsettled.push({ sender, window, groups: verdict.groups });
        break;
      default:
        result.compared++;
        for (const index of verdict.outvoted) {
          outvote(index, {
            window,
            places: verdict.places,
            sender: index === sender,
          });
        }
    }
  }
  return result;
}

/**
 * Asks each source for the windows given it, all sources at once, each
 * under its lock; stops waiting as {@linkcode crossCheck} says. The
 * answers go into the checks' ballots.
 */
async function askAll(
  work: [Check, number[]][],
  options: CrossCheckOptions,
): Promise<void> {
  const bySource = new Map<number, Check[]>();
  for (const [check, answerers] of work) {
    for (const index of answerers) {
      check.asked.push(index);
      bySource.set(index, [...bySource.get(index) ?? [], check]);
    }
  }
  if (bySource.size === 0) return;
  const graceMs = options.graceMs ?? CROSS_CHECK_GRACE_MS;
  const started = performance.now();
  const cut = new AbortController();
  const limit = setTimeout(
    () => cut.abort(),
    options.limitMs ?? CROSS_CHECK_LIMIT_MS,
  );
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const signal = AbortSignal.any(
    [cut.signal, options.signal].filter((s) => s !== undefined),
  );
  try {
    await Promise.all(
      [...bySource].map(async ([index, checks]) => {
        const slot = options.slots[index]!;
        try {
          await slot.lock.runExclusive(async () => {
            for (const check of checks) {
              const [digest] = await windowDigests(slot.source, {
                windows: [check.window],
                size: options.size,
                signal,
              });
              check.ballots[index] = digest;
            }
          });
          deadline ??= setTimeout(
            () => cut.abort(),
            Math.max(graceMs, performance.now() - started),
          );
        } catch {
          // Not answered: its vote is not counted.
          options.signal?.throwIfAborted();
        }
      }),
    );
  } finally {
    clearTimeout(limit);
    clearTimeout(deadline);
  }
}
