/**
 * What the download knows of one server (one source) while it runs: its
 * lock, its kept connection (in its source), whether it failed, was found
 * stuck or was left out, and the bytes it sent. One object per server
 * instead of arrays indexed by the server's number.
 *
 * @module
 */

import { Semaphore } from "./mutex.ts";
import { IntervalSet } from "./plan/interval_set.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import type { Source } from "./source.ts";

/** Receive buffers per connection: one is read into while one is checked. */
export const BUFFERS_PER_CONNECTION = 2;

/** A server's lock: held for each request to the server; it admits as
 * many requests at once as the server is given connections. */
export interface ServerLock {
  /** Runs `work` once the lock admits it, holding a place meanwhile. */
  runExclusive<T>(work: () => Promise<T> | T): Promise<T>;
  /** Whether every place is taken now. */
  isLocked(): boolean;
}

/** One server of the list and what the download knows of it. */
export class ServerSlot implements Disposable {
  /** Its place in the server list. */
  readonly index: number;
  /** Where the bytes come from. */
  readonly source: Source;
  /** How many requests it is sent at once: 1 for a server of `server.ts`,
   * which serves one client at a time (a second connection would only
   * wait in its queue); up to `--connections-per-mirror` for a mirror. */
  readonly connections: number;
  /** Held for each request to it (the digest list's too), by as many at
   * once as it has connections. */
  readonly lock: ServerLock;
  /** Receive buffers not in use by a transfer now: one set per connection,
   * made when first needed. */
  #idleBuffers: ReceiveBuffers[] = [];
  /** Whether it reported the file's size (the one settled on). */
  answeredSize = false;
  /** Whether it answered in this pass: the size, or a range. */
  responsive = false;
  /** Whether it refused the size request (its connection, say): it starts
   * no range, and is asked only after the others. */
  refusedSize = false;
  /** Whether it failed in this pass: asked after the others. */
  failed = false;
  /** Until when (`performance.now()`) it was last said to be busy: every
   * range that tries it meanwhile fails alike, and is not said again. */
  busyToldUntil: number | undefined;
  /** Whether a free server took its task over (it sent nothing, or too
   * slowly), until it sends bytes again: asked after every other, and
   * given no work it did not ask for. */
  stuck = false;
  /** Why it was left out for good (its copy differs, or it cannot serve
   * the file), if it was. */
  excludedWhy: string | undefined;
  /** Whether it was left out because it holds another version of the
   * file (rather than because it cannot serve it: refused, not found). */
  excludedAsOtherVersion = false;
  /** Bytes of ranges it sent, over every pass. */
  bytesSent = 0;
  /** Where the bytes it sent lie in the file, over every pass: what is
   * cross-checked with the others when no digest list checks the blocks. */
  readonly sent: IntervalSet = new IntervalSet();

  /**
   * Creates the slot.
   *
   * @param index Its place in the server list.
   * @param source Where the bytes come from.
   * @param connections How many requests it is sent at once; default 1.
   * @throws {RangeError} If `connections` is not a positive integer.
   */
  constructor(index: number, source: Source, connections = 1) {
    if (!Number.isInteger(connections) || connections < 1) {
      throw new RangeError(`At least 1 connection, not ${connections}`);
    }
    this.index = index;
    this.source = source;
    this.connections = connections;
    this.lock = new Semaphore(connections);
  }

  /**
   * The buffers for one transfer, under the lock: each connection receives
   * into its own. Their pieces may still be held by checks when they are
   * given back; the buffers wait for those before being read into again.
   *
   * @returns A set of buffers no other transfer uses now.
   */
  takeBuffers(): ReceiveBuffers {
    return this.#idleBuffers.pop() ??
      new ReceiveBuffers(BUFFERS_PER_CONNECTION);
  }

  /**
   * Gives back buffers taken with {@linkcode takeBuffers}, for the next
   * transfer.
   *
   * @param buffers The buffers.
   */
  giveBackBuffers(buffers: ReceiveBuffers): void {
    this.#idleBuffers.push(buffers);
  }

  /** Whether it is left out for good: its copy differs. */
  get excluded(): boolean {
    return this.excludedWhy !== undefined;
  }

  /**
   * Leaves it out for good.
   *
   * @param reason Why: how its copy differs, or why it cannot serve it.
   * @param otherVersion Whether it holds another version of the file.
   * @returns Whether it was in until now.
   */
  exclude(reason: string, otherVersion = true): boolean {
    if (this.excluded) return false;
    this.excludedWhy = reason;
    this.excludedAsOtherVersion = otherVersion;
    return true;
  }

  /** Starts a pass of range tasks: failures and stuck flags of an earlier
   * pass are forgotten; it counts as answering if it reported the size. */
  beginPass(): void {
    this.failed = false;
    this.stuck = false;
    this.responsive = this.answeredSize;
  }

  /**
   * Notes bytes of a range it sent: it answers, and is not stuck.
   *
   * @param bytes How many.
   * @param offset Where they lie in the file, if known: recorded in
   * {@linkcode ServerSlot.sent}.
   */
  noteBytes(bytes: number, offset?: number): void {
    this.bytesSent += bytes;
    if (offset !== undefined) this.sent.add(offset, offset + bytes);
    this.responsive = true;
    this.stuck = false;
  }

  /** Lets go of its kept connection. */
  [Symbol.dispose](): void {
    this.source.release();
  }
}
