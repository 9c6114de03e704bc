/**
 * One range being fetched: where it is, what of it is checked, and its
 * rates, which work stealing judges it by.
 *
 * @module
 */

import { RangeVerifier } from "./verify/block_digests.ts";
import type { BlockHasher } from "./verify/block_hasher.ts";
import type { ReferenceDigests } from "./verify/reference_digests.ts";
import type { ByteRange } from "./plan/range_planner.ts";
import type { ServerSlot } from "./server_slot.ts";

/** What the tasks report while they run. */
export type RangeEvent =
  | {
    type: "range-failed";
    range: ByteRange;
    /** First byte not yet received; the next server resumes there. */
    position: number;
    detail: string;
  }
  | { type: "retry-round"; range: ByteRange; round: number; delayMs: number }
  | {
    type: "stolen";
    /** The range that gave up its tail (its `end` is already moved). */
    from: ByteRange;
    /** The new range: the tail. */
    range: ByteRange;
  }
  | {
    type: "range-done";
    range: ByteRange;
    /** The index of the server that finished it, in list order. */
    server: number;
  };

/** Where one range's fetch is. */
export interface TaskProgress {
  /** The range's number; stolen tails get numbers after the planned ones. */
  index: number;
  /** The user's chunk the range lies in (a stolen tail, its victim's). */
  chunk: number;
  /** First byte of the range. */
  start: number;
  /** End of the range (exclusive); it moves down when a tail is stolen. */
  end: number;
  /** End of the bytes received so far (some may still be on their way to the file). */
  position: number;
  /** Index of the server it fetches from or waits for, if any. */
  server: number | undefined;
  /** Whether bytes are on their way now (not waiting for a server). */
  active: boolean;
  /** How many times it moved on to another server. */
  failovers: number;
}

/** One range being fetched: where it is, and what of it is checked. */
export interface Task {
  /** Its range, its own copy; `end` moves down when another task steals
   * the tail. */
  range: ByteRange;
  /** Next byte to receive. */
  position: number;
  /** Bytes received past `position`: in the piece being filled, or being
   * written. */
  received: number;
  /** Checks its blocks, with checks on. */
  verifier: RangeVerifier | undefined;
  /** Servers that sent bytes of the block being checked. */
  blockSources: Set<ServerSlot>;
  /** Whether a connection is fetching for it now. */
  active: boolean;
  /** The checks of the pieces received, chained: each starts when the one
   * before has passed. Settles when the last has. */
  checking: Promise<void> | undefined;
  /** Why a check failed, once one has: the transfer stops. */
  checkFailure: unknown;
  /** The server it fetches from or last fetched from. */
  server: ServerSlot | undefined;
  /** How many times it moved on to another server. */
  failovers: number;
  /** The server whose turn it waits for, if it waits for one. */
  waitingFor: ServerSlot | undefined;
  /** When its server last sent something (or the request went out). */
  heardAt: number;
  /** Whether a piece is being handed over (written) now. */
  writing: boolean;
  /** Gives up the current request: another server took the task over. */
  cancel: AbortController | undefined;
  /** Whether another server took the task over: it ends there. */
  takenOver: boolean;
  /** When the current or last connection started and ended, and what it
   * brought. */
  attemptStart: number;
  /** When the last connection ended. */
  attemptEnd: number;
  /** Bytes the current or last connection brought. */
  attemptBytes: number;
  /** Bytes received in the current window of {@linkcode RATE_WINDOW_MS}
   * and the one before: its recent rate. */
  windowStart: number;
  /** Bytes received in the current window. */
  windowBytes: number;
  /** Length of the window before. */
  lastWindowMs: number;
  /** Bytes received in the window before. */
  lastWindowBytes: number;
  /** What a free server took over when it gave up the task's request,
   * and why: the task's range ends at `start` since. */
  handedOver: { start: number; end: number; why: string } | undefined;
}

/** What a task's checks need. */
export interface TaskChecks {
  /** The digest list; none without checks. */
  reference: ReferenceDigests | undefined;
  /** The block size. */
  blockSize: number;
  /** The file's size. */
  size: number;
  /** Hashes whole blocks on a worker thread. */
  hasher: BlockHasher | undefined;
}

/**
 * Creates a task for a range; it owns a copy of the range, so the planned
 * one stays as planned when a tail is stolen.
 *
 * @param range The range.
 * @param checks The digest list and what checking needs.
 * @returns The task, not started.
 */
export function newTask(range: ByteRange, checks: TaskChecks): Task {
  const { reference, blockSize, size, hasher } = checks;
  return {
    range: { ...range },
    position: range.start,
    received: 0,
    verifier: reference === undefined ? undefined : new RangeVerifier({
      reference,
      blockSize,
      fileSize: size,
      start: range.start,
      hasher,
      // A server left out: what it sent is kept only if a digest says so.
      leftOut: (source) => (source as ServerSlot).excluded,
    }),
    blockSources: new Set(),
    heardAt: 0,
    writing: false,
    cancel: undefined,
    takenOver: false,
    handedOver: undefined,
    windowStart: 0,
    windowBytes: 0,
    lastWindowMs: 0,
    lastWindowBytes: 0,
    active: false,
    checking: undefined,
    checkFailure: undefined,
    server: undefined,
    failovers: 0,
    waitingFor: undefined,
    attemptStart: 0,
    attemptEnd: 0,
    attemptBytes: 0,
  };
}

/** A task's recent rate counts the bytes of the last window of this long
 * and the one before it. */
export const RATE_WINDOW_MS = 1000;

/**
 * Counts bytes a task received for its recent rate.
 *
 * @param task The task.
 * @param bytes How many arrived.
 * @param now The time, from `performance.now()`.
 */
export function noteBytes(task: Task, bytes: number, now: number): void {
  if (now - task.windowStart >= RATE_WINDOW_MS) {
    task.lastWindowMs = now - task.windowStart;
    task.lastWindowBytes = task.windowBytes;
    task.windowStart = now;
    task.windowBytes = 0;
  }
  task.windowBytes += bytes;
}

/**
 * A running task's rate over about the last one or two seconds.
 *
 * @param task The task.
 * @param now The time, from `performance.now()`.
 * @returns Bytes/s; `undefined` while it has run for less than a window,
 * or does not run.
 */
export function recentRateOf(task: Task, now: number): number | undefined {
  if (!task.active) return undefined;
  const ms = task.lastWindowMs + (now - task.windowStart);
  if (ms < RATE_WINDOW_MS) return undefined;
  return ((task.lastWindowBytes + task.windowBytes) * 1000) / ms;
}

/**
 * A task's receive rate over its current or last connection.
 *
 * @param task The task.
 * @param now The time, from `performance.now()`.
 * @returns Bytes/s.
 */
export function rateOf(task: Task, now: number): number {
  if (!task.active) {
    const seconds = (task.attemptEnd - task.attemptStart) / 1000;
    return seconds > 0 ? task.attemptBytes / seconds : 0;
  }
  // Too early to tell while the first bytes are on their way.
  const seconds = (now - task.attemptStart) / 1000;
  return seconds > 0.05 ? task.attemptBytes / seconds : 0;
}

/** A connected task whose server sends nothing for this long is stuck: a
 * free server takes it over whole, and its request is given up. Far below
 * the reply and stall timeouts, far above what a working server keeps a
 * client waiting (a reply comes within milliseconds). */
export const STUCK_MS = 2000;

/**
 * Whether a task's server has sent nothing for `stuckMs`.
 *
 * @param task The task.
 * @param now The time, from `performance.now()`.
 * @param stuckMs How long silence makes it stuck.
 * @returns Whether it is stuck.
 */
export function isStuck(task: Task, now: number, stuckMs: number): boolean {
  return task.active && !task.writing && now - task.heardAt >= stuckMs;
}

/**
 * End of the bytes a task has received, written or not: where progress
 * stands and where a thief may split.
 *
 * @param task The task.
 * @returns The offset.
 */
export function reached(task: Task): number {
  return Math.min(task.position + task.received, task.range.end);
}

/**
 * End of the bytes of a task that are safe to keep: within its range
 * (after a takeover, checks of bytes past its new end may still pass; the
 * bytes there are the thief's to write).
 *
 * @param task The task.
 * @returns The offset.
 */
export function keptTo(task: Task): number {
  return Math.min(task.verifier?.verifiedTo ?? task.position, task.range.end);
}
