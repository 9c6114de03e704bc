/**
 * Cross-checks after the bulk of a download that has no block digest list,
 * the pure part: which windows of the bytes a source sent are compared with
 * other sources (a few, at seeded random offsets within what it sent, so a
 * source cannot tell them from other requests, and never asked of it),
 * who is asked, and how each window's vote ends. The spot checks before
 * the bulk use fixed, recognisable windows; these are what a source that
 * answers those truthfully and lies on the rest is caught by. Fetching the
 * windows is in `cross_check_fetch.ts`.
 *
 * @module
 */

import { formatByteSize } from "../../cli/byte_size.ts";
import type { Interval } from "../plan/interval_set.ts";
import {
  seededRandom,
  SPOT_WINDOW_BYTES,
  type SpotWindow,
  tallyPlaces,
} from "./spot_checks.ts";

/** How many windows of the bytes each source sent are cross-checked. */
export const CROSS_CHECK_WINDOWS = 4;

/** Cross-check windows start on multiples of this where they can: whole
 * pages of the mirrors' files. */
export const WINDOW_ALIGN = 4096;

/** The length of a cross-check window: 64 KiB, less where the bytes a
 * source sent in one stretch are fewer. */
export const CROSS_CHECK_WINDOW_BYTES: number = SPOT_WINDOW_BYTES;

/** How many other places are asked for each window at first; more are
 * asked only when these do not settle it. */
export const CROSS_CHECK_ANSWERERS = 2;

/**
 * The windows of a source's bytes that are cross-checked: `count` windows
 * at offsets drawn from `seed`, each within one stretch of the bytes the
 * source sent ({@linkcode CROSS_CHECK_WINDOW_BYTES} long, or the whole
 * stretch if shorter). Every offset where a window fits is as likely,
 * whatever stretch it lies in.
 *
 * @param sent The bytes the source sent: sorted, disjoint intervals.
 * @param seed Where the offsets come from: the same seed gives the same
 * windows.
 * @param options How many windows, and how long. Default
 * {@linkcode CROSS_CHECK_WINDOWS} of {@linkcode CROSS_CHECK_WINDOW_BYTES}.
 * @returns The windows, sorted by offset, none twice; none when it sent
 * nothing.
 */
export function crossCheckWindows(
  sent: readonly Interval[],
  seed: number,
  options: { count?: number; length?: number } = {},
): SpotWindow[] {
  const count = options.count ?? CROSS_CHECK_WINDOWS;
  const length = options.length ?? CROSS_CHECK_WINDOW_BYTES;
  // Where a window may start in each stretch: on a multiple of
  // WINDOW_ALIGN where one fits, else at its start. A window that ends
  // inside a page keeps a mirror's last segment waiting for the client's
  // delayed ACK: 40 ms a window from nginx on 127.0.0.1, against 3 ms.
  const stretches = sent.filter(([start, end]) => end > start).map(
    ([start, end]) => {
      const first = Math.ceil(start / WINDOW_ALIGN) * WINDOW_ALIGN;
      const last = end - length;
      return last >= first
        ? {
          start: first,
          step: WINDOW_ALIGN,
          length,
          starts: Math.floor((last - first) / WINDOW_ALIGN) + 1,
        }
        : { start, step: 1, length: Math.min(length, end - start), starts: 1 };
    },
  );
  const total = stretches.reduce((sum, s) => sum + s.starts, 0);
  if (total === 0) return [];
  const random = seededRandom(seed);
  const windows = new Map<number, SpotWindow>();
  for (let i = 0; i < count; i++) {
    let at = Math.floor(random() * total);
    const stretch = stretches.find((s) => {
      if (at < s.starts) return true;
      at -= s.starts;
      return false;
    })!;
    const offset = stretch.start + at * stretch.step;
    windows.set(offset, { offset, length: stretch.length });
  }
  return [...windows.values()].sort((a, b) => a.offset - b.offset);
}

/**
 * Who is asked for a window of a source's bytes: sources at other places
 * than the sender's, one per place, taken in list order after the sender
 * (wrapping round), so the work spreads over the sources.
 *
 * @param sender The source that sent the window's bytes, by index.
 * @param places Each source's place (see `placeOf`); `undefined` for one
 * left out.
 * @param options `count`: how many to ask, default
 * {@linkcode CROSS_CHECK_ANSWERERS}; `skip`: sources asked already, not
 * asked again, and their places not twice.
 * @returns The sources to ask, by index.
 */
export function answerersFor(
  sender: number,
  places: readonly (string | undefined)[],
  options: { count?: number; skip?: readonly number[] } = {},
): number[] {
  const count = options.count ?? CROSS_CHECK_ANSWERERS;
  const skip = new Set(options.skip ?? []);
  const taken = new Set([places[sender], ...[...skip].map((i) => places[i])]);
  const chosen: number[] = [];
  for (let k = 1; k < places.length && chosen.length < count; k++) {
    const i = (sender + k) % places.length;
    const place = places[i];
    if (place === undefined || taken.has(place) || skip.has(i)) continue;
    taken.add(place);
    chosen.push(i);
  }
  return chosen;
}

/** How a cross-checked window's vote ended. */
export type WindowVerdict =
  | {
    /** Nobody else answered: the window is not checked. */
    verdict: "unanswered";
  }
  | {
    /** A majority of places agrees with the bytes the sender sent. */
    verdict: "stands";
    /** The sources that answered otherwise, by index. */
    outvoted: number[];
    /** How many places agree, the sender's included. */
    places: number;
  }
  | {
    /** A majority of places disagrees with the bytes the sender sent. */
    verdict: "outvoted";
    /** The sources outvoted, the sender first, by index. */
    outvoted: number[];
    /** How many places are in the majority. */
    places: number;
  }
  | {
    /** No answer has more than half of the places. */
    verdict: "unsettled";
    /** The sources grouped by their answer, the sender's group first. */
    groups: number[][];
  };

/**
 * Settles a cross-checked window: the bytes the sender sent (as written)
 * are its vote, the other sources' answers theirs; sources at the same
 * place vote once (see `tallyPlaces`).
 *
 * @param ballots Each source's answer for the window (its digest), by
 * index; `undefined` for one not asked or that did not answer. The
 * sender's is the digest of the bytes it sent.
 * @param sender The source that sent the window's bytes, by index.
 * @param places Each source's place.
 * @returns The verdict.
 */
export function judgeWindow(
  ballots: readonly (string | undefined)[],
  sender: number,
  places: readonly string[],
): WindowVerdict {
  const others = ballots.filter((answer, i) =>
    i !== sender && answer !== undefined
  );
  if (others.length === 0) return { verdict: "unanswered" };
  const vote = tallyPlaces(ballots, places);
  if (!vote.agreed) {
    const groups = [
      ...vote.groups.filter((group) => group.includes(sender)),
      ...vote.groups.filter((group) => !group.includes(sender)),
    ];
    return { verdict: "unsettled", groups };
  }
  const count = new Set(vote.majority.map((i) => places[i])).size;
  if (vote.majority.includes(sender)) {
    return { verdict: "stands", outvoted: vote.outvoted, places: count };
  }
  return {
    verdict: "outvoted",
    outvoted: [sender, ...vote.outvoted.filter((i) => i !== sender)],
    places: count,
  };
}

/**
 * Says what the cross-checks compare, for the warning that blocks are not
 * checked one by one.
 *
 * @param kind What a source is called: `mirror`, or `source` when servers
 * are among them.
 * @returns Such as `4 windows of 64.0 KiB of the bytes each mirror sent
 * are compared with other mirrors`.
 */
export function describeCrossCheck(kind: string): string {
  return `${CROSS_CHECK_WINDOWS} windows of ${
    formatByteSize(CROSS_CHECK_WINDOW_BYTES)
  } of the bytes each ${kind} sent are compared with other ${kind}s`;
}
