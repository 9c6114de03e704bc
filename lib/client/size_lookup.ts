/**
 * The first step of a download: ask every server for the file's size at
 * once, and settle on the size most of them report.
 *
 * @module
 */

import { notCapableIn } from "../cli/permission_error.ts";
import { TimeoutError } from "../wire/watchdog.ts";
import {
  CannotTransferError,
  MirrorsDisagreeError,
} from "./download_errors.ts";
import type { DownloadEventSink } from "./download_events.ts";
import type { Source } from "./source.ts";

/** Once a server reported the size, how long the others still have to
 * answer: the size most of them report is taken, but one that accepts and
 * never answers delays the download by this at most. */
export const SIZE_GRACE_MS = 1000;

/** What {@linkcode findFileSize} needs. */
export interface SizeLookupOptions {
  /** The servers, in list order, as the events name them. */
  servers: readonly string[];
  /** Each server's source, in list order: the size is asked of them. */
  sources: readonly Pick<Source, "size" | "describeSizeFailure">[];
  /** The file's name, for the error when no server reports a size. */
  name: string;
  /** Told of each server before the chosen one that failed, and of the
   * size found. */
  onEvent?: DownloadEventSink | undefined;
  /** Which sources can send a block digest list (a server of `server.ts`),
   * by index: among sizes reported by as many places, theirs is taken.
   * Default: none. */
  canList?: readonly boolean[] | undefined;
  /** Where a source's answers come from once it answered (a mirror's URL
   * after its redirects), by index: sources at the same place count once.
   * Default: each source is a place of its own. */
  placeOf?: ((index: number) => string) | undefined;
}

/** What {@linkcode findFileSize} found. */
export interface SizeFound {
  /** The file's size. */
  size: number;
  /** The index of the server that reported it. */
  serverIndex: number;
  /** Which servers reported the same size by then, by index. */
  responsive: boolean[];
  /** The size each server reported by then, by index; `undefined` for
   * those that did not. */
  sizes: (number | undefined)[];
  /** Why each server that answered without a size did so (it refused the
   * connection, or has no such file), by index; `undefined` for those
   * that reported a size, ran out of time, or were given up. */
  refusals: unknown[];
}

/** The size a server reported, or why it did not. */
type SizeAnswer = { size: number } | { error: unknown };

/**
 * Asks every server for the size of a file at once, and takes the size
 * most of them report (see {@linkcode settleSize}). Once one reported a
 * size, the others get {@linkcode SIZE_GRACE_MS} more; those that have not
 * answered by then are given up. When every server answers at once,
 * nothing is waited for.
 *
 * @param options The servers, their sources, the name and event sink.
 * @returns The size, the index of the server that reported it, and which
 * servers reported the same size by then.
 * @throws {CannotTransferError} If no server reported a size.
 * @throws {MirrorsDisagreeError} If mirrors report different sizes, as
 * many places each, and no server of `server.ts` is among them.
 */
export async function findFileSize(
  options: SizeLookupOptions,
): Promise<SizeFound> {
  const { servers, sources, name } = options;
  const answers: (SizeAnswer | undefined)[] = sources.map(() => undefined);
  const givenUp = sources.map(() => false);
  const giveUp = new AbortController();
  let changed = Promise.withResolvers<void>();
  const asked = sources.map((source, i) =>
    source.size(giveUp.signal).then(
      (size) => ({ size }),
      (error) => ({ error }),
    ).then((answer: SizeAnswer) => {
      // Given up, unless a deadline of its own passed first.
      givenUp[i] = "error" in answer && giveUp.signal.aborted &&
        !(answer.error instanceof TimeoutError);
      answers[i] = givenUp[i]
        ? {
          error: new Error(
            `no answer within ${
              SIZE_GRACE_MS / 1000
            } s of the first server that answered`,
          ),
        }
        : answer;
      changed.resolve();
    })
  );
  let grace: ReturnType<typeof setTimeout> | undefined;
  let graceOver = false;
  try {
    // Until every server answered, or the grace after the first size ran
    // out.
    while (answers.includes(undefined) && !graceOver) {
      const first = answers.findIndex((a) => a !== undefined && "size" in a);
      if (first >= 0 && grace === undefined) {
        grace = setTimeout(() => {
          graceOver = true;
          changed.resolve();
        }, SIZE_GRACE_MS);
      }
      await changed.promise;
      changed = Promise.withResolvers<void>();
    }
  } finally {
    clearTimeout(grace);
    giveUp.abort();
    await Promise.all(asked);
  }
  throwSandboxRefusal(answers);
  if (!answers.some((a) => a !== undefined && "size" in a)) {
    throw new CannotTransferError(
      name,
      sources.map((source, i) =>
        source.describeSizeFailure((answers[i] as { error: unknown }).error)
      ),
    );
  }
  const settled = settleSize(
    answers.map((answer, i) =>
      answer !== undefined && "size" in answer
        ? {
          size: answer.size,
          place: options.placeOf?.(i) ?? `#${i}`,
          canList: options.canList?.[i] ?? false,
        }
        : undefined
    ),
  );
  if ("tied" in settled) {
    throw new MirrorsDisagreeError({
      name,
      compared: `the sizes they report (${
        settled.tied.map((group) => `${answersSize(answers, group[0]!)} bytes`)
          .join(", ")
      })`,
      groups: settled.tied.map((group) => group.map((i) => servers[i]!)),
    });
  }
  const chosen = settled.serverIndex;
  const reasons = sources.flatMap((source, i) => {
    const answer = answers[i]!;
    if (i >= chosen) return [];
    return "error" in answer ? [source.describeSizeFailure(answer.error)] : [];
  });
  for (const detail of reasons) {
    options.onEvent?.({ type: "size-failed", detail });
  }
  const size = settled.size;
  options.onEvent?.({ type: "size", server: servers[chosen]!, size });
  const responsive = answers.map((a) =>
    a !== undefined && "size" in a && a.size === size
  );
  const sizes = answers.map((a) =>
    a !== undefined && "size" in a ? a.size : undefined
  );
  const refusals = answers.map((a, i) =>
    a !== undefined && "error" in a && !givenUp[i] &&
      !(a.error instanceof TimeoutError)
      ? a.error
      : undefined
  );
  return { size, serverIndex: chosen, responsive, sizes, refusals };
}

function answersSize(
  answers: readonly (SizeAnswer | undefined)[],
  index: number,
): number {
  return (answers[index] as { size: number }).size;
}

/** A size one source reported, for {@linkcode settleSize}. */
export interface SizeBallot {
  /** The size. */
  size: number;
  /** Where the answer came from: sources at the same place count once. */
  place: string;
  /** Whether the source can send a block digest list. */
  canList: boolean;
}

/** The size settled on, or the sizes tied with no server among them. */
export type SizeVerdict =
  | {
    /** The size. */
    size: number;
    /** The source that reported it: the first that can send a digest
     * list, else the first in list order. */
    serverIndex: number;
  }
  | {
    /** The sources grouped by the size they reported, for sizes reported
     * by as many places each. */
    tied: number[][];
  };

/**
 * Settles the file's size from what the sources reported: the size most
 * places report. Among sizes reported by as many places, the one a source
 * that can send a digest list reported (the first such in list order);
 * when none of them can, there is no telling which is right.
 *
 * @param ballots Each source's size, by index; `undefined` for one that
 * reported none.
 * @returns The size and the source that reported it, or the tied groups.
 * @throws {RangeError} If no source reported a size.
 */
export function settleSize(
  ballots: readonly (SizeBallot | undefined)[],
): SizeVerdict {
  const groups = new Map<number, { members: number[]; places: Set<string> }>();
  for (const [index, ballot] of ballots.entries()) {
    if (ballot === undefined) continue;
    let group = groups.get(ballot.size);
    if (group === undefined) {
      group = { members: [], places: new Set() };
      groups.set(ballot.size, group);
    }
    group.members.push(index);
    group.places.add(ballot.place);
  }
  if (groups.size === 0) throw new RangeError("No source reported a size");
  const most = Math.max(...[...groups.values()].map((g) => g.places.size));
  const top = [...groups].filter(([, g]) => g.places.size === most);
  const lister = (members: number[]) =>
    members.find((i) => ballots[i]!.canList);
  const withList = top.filter(([, g]) => lister(g.members) !== undefined);
  if (top.length > 1 && withList.length === 0) {
    return { tied: top.map(([, g]) => g.members) };
  }
  // Among the tied sizes a server reported, list order decides.
  const [size, group] = top.length === 1
    ? top[0]!
    : withList.sort((a, b) =>
      lister(a[1].members)! - lister(b[1].members)!
    )[0]!;
  return {
    size,
    serverIndex: lister(group.members) ?? group.members[0]!,
  };
}

/** Throws a refusal of Deno's sandbox a server met (a mirror redirects to
 * a host `--allow-net` does not allow): no other server grants what the
 * user did not, so the download ends with the flag to add. */
function throwSandboxRefusal(
  answers: readonly (SizeAnswer | undefined)[],
): void {
  for (const answer of answers) {
    if (answer !== undefined && "error" in answer) {
      if (notCapableIn(answer.error) !== undefined) throw answer.error;
    }
  }
}
