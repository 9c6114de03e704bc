/**
 * The steal loop of the range tasks: a server that just proved free takes
 * over the tail of the task expected to finish last; one without a range
 * of its own stands by for stuck work. The decisions are
 * {@linkcode decideSteal}'s; this loop carries them out.
 *
 * @module
 */

import { formatByteSize } from "../cli/byte_size.ts";
import type { ByteRange } from "./plan/range_planner.ts";
import {
  decideSteal,
  minPieceFor,
  type StealDecision,
} from "./plan/work_stealing.ts";
import {
  isStuck,
  keptTo,
  rateOf,
  reached,
  recentRateOf,
  type Task,
} from "./range_task.ts";
import type { ServerSlot } from "./server_slot.ts";
import { delay } from "./retry_policy.ts";
import { nextTurn } from "../wire/event_loop_turn.ts";

/** How long a free server waits before it looks for work again, unless a
 * task ends first. */
const LOOK_AGAIN_MS = 100;

/** What the steal loop needs of the range tasks. */
export interface StealContext {
  /** Every server. */
  slots: readonly ServerSlot[];
  /** The tasks, planned and stolen; a stolen tail is pushed here. */
  tasks: Task[];
  /** The block size: steals are aligned to it. */
  blockSize: number;
  /** A connected task whose source sends nothing for this long is stuck. */
  stuckMs: number;
  /** The index of the server whose lock the digest list holds, if any. */
  listingOn: () => number | undefined;
  /** Stops everything. */
  abort: AbortController;
  /** Told of each steal. */
  onEvent?:
    | ((event: { type: "stolen"; from: ByteRange; range: ByteRange }) => void)
    | undefined;
  /** Creates a task for a range. */
  newTask: (range: ByteRange) => Task;
  /** Fetches a task's range, its server first; the server that finished
   * it, if one did. */
  fetchTask: (task: Task, first: ServerSlot) => Promise<ServerSlot | undefined>;
  /** Says a task ended. */
  endTask: () => void;
  /** Settles when a task ends next. */
  taskEnded: () => Promise<void>;
}

/** Whether a standing-by server may take over work now: it answered in
 * this pass and has not failed since, or no server that did is left. */
function mayStandIn(slots: readonly ServerSlot[], slot: ServerSlot): boolean {
  const trusted = (s: ServerSlot) => s.responsive && !s.failed && !s.excluded;
  return trusted(slot) || !slots.some(trusted);
}

/** What a free server should do now. */
function decide(
  context: StealContext,
  slot: ServerSlot,
  current: Task | undefined,
): StealDecision {
  const { tasks, slots, blockSize, stuckMs } = context;
  const now = performance.now();
  const standingBy = current === undefined;
  if (standingBy && !mayStandIn(slots, slot)) {
    return {
      action: tasks.some((t) => keptTo(t) < t.range.end) ? "wait" : "stop",
    };
  }
  return decideSteal(
    tasks.map((t) => ({
      position: reached(t),
      end: t.range.end,
      rate: rateOf(t, now),
      active: t.active,
      stuck: isStuck(t, now, stuckMs),
      kept: keptTo(t),
      recentRate: t.writing ? undefined : recentRateOf(t, now),
      waitingFor: t.waitingFor?.index,
    })),
    {
      server: slot.index,
      rate: current === undefined ? 0 : rateOf(current, now),
      wholeOnly: standingBy,
    },
    {
      isBusy: (s) => slots[s]!.lock.isLocked(),
      listingOn: context.listingOn(),
    },
    { blockSize, minPieceBytes: minPieceFor(blockSize) },
  );
}

/**
 * Keeps stealing the tail of the task expected to finish last, on a server
 * that just proved free (after `last`, its last task), or that stands by
 * (`last` undefined) for stuck work.
 *
 * @param context The tasks and what the loop needs of them.
 * @param first The free server.
 * @param last The task it just finished, if any.
 */
export async function stealWhileFree(
  context: StealContext,
  first: ServerSlot,
  last: Task | undefined,
): Promise<void> {
  const { tasks, abort, onEvent, stuckMs } = context;
  let current = last;
  let slot: ServerSlot | undefined = first;
  while (slot !== undefined && !abort.signal.aborted) {
    // It looks once the event loop has turned: a task whose server's lock
    // is granted but whose request has not begun yet looks like one
    // waiting for a busy server, which is taken whole. Without the turn,
    // thieves took such a range from one another without end, in promise
    // callbacks only: no socket was read and no timer fired meanwhile.
    await nextTurn();
    if (abort.signal.aborted) return;
    // Left out, or found stuck: it takes no work it was not given.
    if (slot.excluded || slot.stuck) return;
    const decision = decide(context, slot, current);
    if (decision.action === "stop") return;
    if (decision.action === "wait") {
      await delay(LOOK_AGAIN_MS, abort.signal, context.taskEnded());
      continue;
    }
    const victim = tasks[decision.victim]!;
    current = context.newTask({
      index: tasks.length,
      // Still a part of the user's chunk.
      chunk: victim.range.chunk,
      start: decision.splitAt,
      end: victim.range.end,
    });
    // Its server sends nothing, or too slowly: its request is given up.
    if (decision.takeOver) {
      const rate = recentRateOf(victim, performance.now()) ?? 0;
      victim.handedOver = {
        start: decision.splitAt,
        end: victim.range.end,
        why: decision.tooSlow
          ? `too slow (${formatByteSize(Math.round(rate))}/s)`
          : `nothing received for ${stuckMs / 1000} s`,
      };
    }
    victim.range.end = decision.splitAt;
    if (decision.takeOver) victim.cancel?.abort();
    tasks.push(current);
    onEvent?.({ type: "stolen", from: victim.range, range: current.range });
    slot = await context.fetchTask(current, slot);
    context.endTask();
  }
}
