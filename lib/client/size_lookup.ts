/**
 * The first step of a download: ask every server for the file's size at
 * once, and settle on the first in list order that reports one.
 *
 * @module
 */

import { notCapableIn } from "../cli/permission_error.ts";
import { TimeoutError } from "../wire/watchdog.ts";
import { CannotTransferError } from "./download_errors.ts";
import type { DownloadEventSink } from "./download_events.ts";
import type { Source } from "./source.ts";

/** Once a server reported the size, how long the servers listed before
 * it still have to answer: list order decides among those that answer, but
 * one that accepts and never answers delays the download by this at most. */
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
}

/** The size a server reported, or why it did not. */
type SizeAnswer = { size: number } | { error: unknown };

/**
 * Asks every server for the size of a file at once, and takes the answer
 * of the first server in list order that reports one. Servers listed
 * before the first to answer get {@linkcode SIZE_GRACE_MS} more; those
 * that have not answered by then are given up.
 *
 * @param options The servers, their sources, the name and event sink.
 * @returns The size, the index of the server that reported it, and which
 * servers reported the same size by then.
 * @throws {CannotTransferError} If no server reported a size.
 */
export async function findFileSize(
  options: SizeLookupOptions,
): Promise<SizeFound> {
  const { servers, sources, name } = options;
  const answers: (SizeAnswer | undefined)[] = sources.map(() => undefined);
  const giveUp = new AbortController();
  let changed = Promise.withResolvers<void>();
  const asked = sources.map((source, i) =>
    source.size(giveUp.signal).then(
      (size) => ({ size }),
      (error) => ({ error }),
    ).then((answer: SizeAnswer) => {
      // Given up, unless a deadline of its own passed first.
      answers[i] = "error" in answer && giveUp.signal.aborted &&
          !(answer.error instanceof TimeoutError)
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
  let graceOver = false;
  let grace: ReturnType<typeof setTimeout> | undefined;
  let chosen: number | undefined;
  try {
    while (true) {
      chosen = chooseAnswer(answers, graceOver);
      if (chosen !== undefined) break;
      const first = answers.findIndex((a) => a !== undefined && "size" in a);
      if (first < 0 && !answers.includes(undefined)) break;
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
  const reasons = sources.flatMap((source, i) => {
    const answer = answers[i]!;
    if (chosen !== undefined && i >= chosen) return [];
    return "error" in answer ? [source.describeSizeFailure(answer.error)] : [];
  });
  if (chosen === undefined) throw new CannotTransferError(name, reasons);
  for (const detail of reasons) {
    options.onEvent?.({ type: "size-failed", detail });
  }
  const size = (answers[chosen] as { size: number }).size;
  options.onEvent?.({ type: "size", server: servers[chosen]!, size });
  const responsive = answers.map((a) =>
    a !== undefined && "size" in a && a.size === size
  );
  const sizes = answers.map((a) =>
    a !== undefined && "size" in a ? a.size : undefined
  );
  return { size, serverIndex: chosen, responsive, sizes };
}

/** The first server in list order that reported a size, unless one before
 * it may still answer (and the grace is not over). */
function chooseAnswer(
  answers: readonly (SizeAnswer | undefined)[],
  graceOver: boolean,
): number | undefined {
  const first = answers.findIndex((a) => a !== undefined && "size" in a);
  const pending = answers.findIndex((a) => a === undefined);
  return first >= 0 && (pending < 0 || pending > first || graceOver)
    ? first
    : undefined;
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
