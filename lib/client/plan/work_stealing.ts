/**
 * Work stealing: when a task finishes its range, it takes over the tail of
 * the range that would finish last, so fast servers finish a slow one's
 * work instead of waiting for it.
 *
 * @module
 */

/** Where an unfinished task stands, as far as work stealing weighs it (the
 * display has its own view of a task, `TaskProgress` in `range_task.ts`). */
export interface StealView {
  /** First byte the task has not received (or is not receiving) yet. */
  position: number;
  /** One past the task's last byte. */
  end: number;
  /** Its recent receive rate in bytes per second; 0 when not yet known. */
  rate: number;
  /** Whether it is connected to a server now (rather than waiting). */
  active: boolean;
  /**
   * Whether it is connected but its server has sent nothing for a while:
   * no reply yet, or no bytes (a server that accepts and never answers, or
   * went quiet). It is taken over whole, like a task that waits.
   */
  stuck?: boolean;
  /**
   * Where a task taken over whole ends: the end of its checked bytes (a
   * block boundary), at most `position`. Default: `position` rounded up to
   * a block.
   */
  kept?: number;
  /**
   * Its receive rate over the last second or two, in bytes per second;
   * `undefined` while too early to tell. A tail too small to split whose
   * task would take hopelessly long at this rate is taken over whole (see
   * {@linkcode isHopeless}).
   */
  recentRate?: number | undefined;
}

/** A tail is hopeless when its task would need longer than this at its
 * recent rate (and {@linkcode HOPELESS_MARGIN} times what a free server
 * would). */
export const HOPELESS_MS = 2000;

/** How many times longer than a free server a hopeless tail would take. */
export const HOPELESS_MARGIN = 4;

/**
 * Whether a running task's tail is hopeless at its recent rate: it would
 * take over {@linkcode HOPELESS_MS}, and over {@linkcode HOPELESS_MARGIN}
 * times what a free server at `thiefRate` would need. A server that
 * trickles the last bytes of a range keeps the download waiting for it
 * otherwise: such a tail is too small to split, and bytes still arrive.
 *
 * @param task The task: where it is, and its recent rate.
 * @param thiefRate The free server's rate in bytes per second; 0 when
 * unknown (nothing is judged hopeless then, nor is a task that received
 * nothing lately: it is stuck).
 * @returns Whether a free server should take the rest whole.
 */
export function isHopeless(
  task: Pick<StealView, "position" | "end" | "recentRate">,
  thiefRate: number,
): boolean {
  const remaining = task.end - task.position;
  // One that receives nothing is stuck, not slow: that has a rule of its
  // own.
  if (
    remaining <= 0 || task.recentRate === undefined || task.recentRate <= 0 ||
    thiefRate <= 0
  ) {
    return false;
  }
  const finishMs = (remaining / task.recentRate) * 1000;
  const thiefMs = (remaining / thiefRate) * 1000;
  return finishMs > HOPELESS_MS && finishMs > HOPELESS_MARGIN * thiefMs;
}

/** How to split. */
export interface StealOptions {
  /** Split points fall on multiples of this (blocks are checked whole). */
  blockSize: number;
  /** The smallest piece worth a new connection. */
  minPieceBytes: number;
  /** The thief's own recent rate in bytes per second; 0 when unknown. */
  thiefRate: number;
}

/** A steal: the victim keeps `[position, splitAt)`, the thief takes the rest. */
export interface Steal {
  /** Index of the victim in the array given. */
  victim: number;
  /** The victim's new end and the thief's start. */
  splitAt: number;
  /** Whether the victim runs, but is too slow to finish its tail (see
   * {@linkcode isHopeless}): it is taken over whole. */
  hopeless?: boolean;
}

/**
 * The minimum piece for a block size: one block, and at least 128 KiB,
 * small enough that a slow server is left with little, large enough that
 * a new connection costs far less than the piece takes.
 *
 * @param blockSize The block size of the download.
 * @returns The minimum piece in bytes.
 */
export function minPieceFor(blockSize: number): number {
  return Math.max(blockSize, 128 * 1024);
}

/**
 * Picks the task expected to finish last and where to split it, so both
 * halves are expected to finish at the same time: the victim keeps a
 * share of its remaining bytes in proportion to its rate. A task waiting
 * for a server gives up all its bytes; one whose rate is not known yet,
 * half. A task taken whole (waiting, or stuck) ends where its checked
 * bytes end and is taken however little is left of it: the thief is free,
 * and the task would wait. So is a running task whose tail is too small to
 * split but hopeless at its recent rate ({@linkcode isHopeless}).
 *
 * @param tasks The unfinished tasks.
 * @param options Alignment, minimum piece and the thief's rate.
 * @returns The steal, or `undefined` when no piece of at least
 * `minPieceBytes` is worth taking.
 */
export function planSteal(
  tasks: readonly StealView[],
  options: StealOptions,
): Steal | undefined {
  const { blockSize, minPieceBytes, thiefRate } = options;
  let best: Steal | undefined;
  let bestFinish = -1;
  let bestRemaining = -1;
  for (const [victim, task] of tasks.entries()) {
    const remaining = task.end - task.position;
    const whole = !task.active || task.stuck === true;
    if (whole) {
      const splitAt = Math.min(
        task.end,
        task.kept ?? Math.ceil(task.position / blockSize) * blockSize,
      );
      if (splitAt >= task.end) continue;
      if (
        Infinity > bestFinish ||
        (bestFinish === Infinity && remaining > bestRemaining)
      ) {
        best = { victim, splitAt };
        bestFinish = Infinity;
        bestRemaining = remaining;
      }
      continue;
    }
    const keepShare = task.rate > 0 && thiefRate > 0
      ? task.rate / (task.rate + thiefRate)
      : 0.5;
    const splitAt = Math.min(
      task.end,
      Math.ceil((task.position + remaining * keepShare) / blockSize) *
        blockSize,
    );
    if (remaining < minPieceBytes || task.end - splitAt < minPieceBytes) {
      if (!isHopeless(task, thiefRate)) continue;
      // Too small to split, and hopeless: taken whole.
      const from = Math.min(
        task.end,
        task.kept ?? Math.ceil(task.position / blockSize) * blockSize,
      );
      const finish = remaining / task.recentRate!;
      if (
        from < task.end &&
        (finish > bestFinish ||
          (finish === bestFinish && remaining > bestRemaining))
      ) {
        best = { victim, splitAt: from, hopeless: true };
        bestFinish = finish;
        bestRemaining = remaining;
      }
      continue;
    }
    const finish = task.rate > 0 ? remaining / task.rate : Infinity;
    if (
      finish > bestFinish ||
      (finish === bestFinish && remaining > bestRemaining)
    ) {
      best = { victim, splitAt };
      bestFinish = finish;
      bestRemaining = remaining;
    }
  }
  return best;
}

/** A task as a thief sees it: its progress, and what it waits for. */
export interface StealCandidate extends StealView {
  /** The server whose turn it waits for, if it waits for one. */
  waitingFor: number | undefined;
}

/** The servers' state, as far as a thief cares. */
export interface ServerState {
  /** Whether a server is taken: by a range, or by the digest list. */
  isBusy: (server: number) => boolean;
  /** The server the digest list is being received from, if any. */
  listingOn: number | undefined;
}

/** What a free server does next. */
export type StealDecision =
  /**
   * Takes `[splitAt, end)` of task `victim` (an index into the tasks); with
   * `takeOver`, the victim is stuck on a server that sends nothing, or
   * (`tooSlow`) one too slow to finish its tail, and its request is to be
   * given up.
   */
  | {
    action: "steal";
    victim: number;
    splitAt: number;
    takeOver: boolean;
    tooSlow?: boolean;
  }
  /** Looks again in a moment, or when a task ends. */
  | { action: "wait" }
  /** Has nothing left worth doing. */
  | { action: "stop" };

/**
 * Decides what a server that just finished a range does next.
 *
 * A server taken by ranges queued on it stops: they are its work now; one
 * taken by the digest list waits. It never takes from a task that waits
 * for the thief's own server (it would only queue behind it), for a server
 * that is free (the task is about to start), or for the digest list (the
 * thief would wait as long). Thieves that took such tasks whole passed
 * them back and forth without end. A task stuck on a server that sends
 * nothing is taken whole, and so is the tail of a running task too small
 * to split but hopeless at its recent rate. With nothing to take now, it waits while some
 * task is unfinished: a victim whose rate is not known yet, that waits for
 * the list, or whose server goes quiet, may be worth it later.
 *
 * A thief with `wholeOnly` (a server that had no range of its own) takes
 * only what waits: tasks stuck, or queued behind a busy server.
 *
 * @param tasks Every task; those finished are skipped.
 * @param thief The free server, its recent rate (0 when unknown), and
 * whether it takes only whole tasks that wait.
 * @param servers Which servers are taken.
 * @param options Alignment and the minimum piece.
 * @returns The decision; a steal names its victim by index in `tasks`.
 */
export function decideSteal(
  tasks: readonly StealCandidate[],
  thief: { server: number; rate: number; wholeOnly?: boolean },
  servers: ServerState,
  options: { blockSize: number; minPieceBytes: number },
): StealDecision {
  const busy = servers.isBusy(thief.server);
  if (busy && servers.listingOn !== thief.server) return { action: "stop" };
  const unfinished = [...tasks.keys()].filter((i) =>
    tasks[i]!.position < tasks[i]!.end &&
    tasks[i]!.waitingFor !== thief.server
  );
  const open = busy ? [] : unfinished.filter((i) => {
    const { waitingFor, active, stuck } = tasks[i]!;
    if (thief.wholeOnly && active && !stuck) return false;
    return waitingFor === undefined || servers.isBusy(waitingFor);
  });
  const steal = planSteal(open.map((i) => tasks[i]!), {
    ...options,
    thiefRate: thief.rate,
  });
  if (steal !== undefined) {
    const victim = tasks[open[steal.victim]!]!;
    return {
      action: "steal",
      victim: open[steal.victim]!,
      splitAt: steal.splitAt,
      takeOver: victim.active &&
        (victim.stuck === true || steal.hopeless === true),
      ...(steal.hopeless ? { tooSlow: true } : {}),
    };
  }
  // A running task may go quiet: it is taken over then.
  return { action: unfinished.length > 0 ? "wait" : "stop" };
}
