/**
 * Spot checks across mirrors, the pure part: which small windows of the
 * file are compared (the first, the last, and some at seeded random
 * offsets), and the vote that settles which sources hold the file when
 * their answers differ. Fetching the windows is in `spot_check_fetch.ts`.
 *
 * @module
 */

/** The length of a spot-check window: 64 KiB, less for a smaller file. */
export const SPOT_WINDOW_BYTES = 64 * 1024;

/** How many windows at random offsets are compared besides the first and
 * the last, in a file large enough to hold them apart. */
export const SPOT_RANDOM_WINDOWS = 2;

/** A window of the file: `[offset, offset + length)`. */
export interface SpotWindow {
  /** Its first byte. */
  offset: number;
  /** Its length in bytes. */
  length: number;
}

/**
 * The windows compared across sources: the first and the last
 * {@linkcode SPOT_WINDOW_BYTES} of the file, and
 * {@linkcode SPOT_RANDOM_WINDOWS} more at offsets drawn from `seed` between
 * them. A file of at most one window has one window, the whole file; one
 * too small to hold the random windows apart from the first and last has
 * only those two. An empty file has none.
 *
 * @param size The file's size.
 * @param seed Where the random offsets come from: the same seed gives the
 * same windows.
 * @returns The windows, sorted by offset, none twice.
 */
export function spotWindows(size: number, seed: number): SpotWindow[] {
  if (size === 0) return [];
  const length = Math.min(SPOT_WINDOW_BYTES, size);
  const offsets = new Set([0, size - length]);
  // Random windows only where they fit between the first and last.
  const room = size - 3 * length;
  if (room > 0) {
    const random = seededRandom(seed);
    for (let i = 0; i < SPOT_RANDOM_WINDOWS; i++) {
      offsets.add(length + Math.floor(random() * (room + 1)));
    }
  }
  return [...offsets].sort((a, b) => a - b).map((offset) => ({
    offset,
    length,
  }));
}

/**
 * Numbers in [0, 1) from a 32-bit seed (mulberry32).
 *
 * @param seed The seed: the same one gives the same numbers.
 * @returns A function that gives the next number each call.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** How a vote ended. */
export type VoteResult =
  | {
    /** A majority of the voters gave the same answer. */
    agreed: true;
    /** Its answer; `undefined` when nobody voted. */
    answer: string | undefined;
    /** The voters in the majority, by index. */
    majority: number[];
    /** The voters who gave another answer, by index. */
    outvoted: number[];
  }
  | {
    /** No answer was given by more than half of the voters. */
    agreed: false;
    /** The voters grouped by their answer, the largest group first (in
     * order of first voter among equals). */
    groups: number[][];
  };

/**
 * Settles which answer stands when sources answer the same question
 * differently: the one given by more than half of those that answered.
 * Nobody guesses: two sources that disagree (or any tie) have no majority.
 *
 * @param ballots Each source's answer, by index; `undefined` for one that
 * did not answer (it is not counted).
 * @returns The majority's answer with who is in it and who is outvoted,
 * or the groups when there is no majority.
 */
export function tallyVotes(
  ballots: readonly (string | undefined)[],
): VoteResult {
  const groups = new Map<string, number[]>();
  let voters = 0;
  for (const [index, answer] of ballots.entries()) {
    if (answer === undefined) continue;
    voters++;
    const group = groups.get(answer);
    if (group === undefined) groups.set(answer, [index]);
    else group.push(index);
  }
  if (voters === 0) {
    return { agreed: true, answer: undefined, majority: [], outvoted: [] };
  }
  // Stable: equal groups stay in order of their first voter.
  const ranked = [...groups].sort((a, b) => b[1].length - a[1].length);
  const [answer, majority] = ranked[0]!;
  if (2 * majority.length <= voters) {
    return { agreed: false, groups: ranked.map(([, group]) => group) };
  }
  return {
    agreed: true,
    answer,
    majority,
    outvoted: ranked.slice(1).flatMap(([, group]) => group).sort((a, b) =>
      a - b
    ),
  };
}

/**
 * {@linkcode tallyVotes} where sources at the same place (the same mirror
 * listed twice, or two URLs that reach it) vote once: each place's vote is
 * that of its first source in list order that answered. Every source is
 * then judged by its own answer: in the majority if it gave the majority's
 * answer, outvoted if it gave another.
 *
 * @param ballots Each source's answer, by index; `undefined` for one that
 * did not answer.
 * @param places Each source's place, by index.
 * @returns The vote's end, naming every source that answered.
 */
export function tallyPlaces(
  ballots: readonly (string | undefined)[],
  places: readonly string[],
): VoteResult {
  const voted = new Set<string>();
  const votes = ballots.map((answer, i) => {
    if (answer === undefined || voted.has(places[i]!)) return undefined;
    voted.add(places[i]!);
    return answer;
  });
  const vote = tallyVotes(votes);
  const answered = [...ballots.keys()].filter((i) => ballots[i] !== undefined);
  if (vote.agreed) {
    return {
      ...vote,
      majority: answered.filter((i) => ballots[i] === vote.answer),
      outvoted: answered.filter((i) => ballots[i] !== vote.answer),
    };
  }
  // Each group with the sources that gave its answer, in its order.
  return {
    agreed: false,
    groups: vote.groups.map((group) =>
      answered.filter((i) => ballots[i] === ballots[group[0]!])
    ),
  };
}
