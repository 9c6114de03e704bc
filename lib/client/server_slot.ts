/**
 * What the download knows of one server (one source) while it runs: its
 * lock, its kept connection (in its source), whether it failed, was found
 * stuck or was left out, and the bytes it sent. One object per server
 * instead of arrays indexed by the server's number.
 *
 * @module
 */

import { Mutex } from "./mutex.ts";
import { ReceiveBuffers } from "./receive_buffers.ts";
import type { Source } from "./source.ts";

/** Receive buffers per connection: one is read into while one is checked. */
export const BUFFERS_PER_CONNECTION = 2;

/** A server's lock (a mutex): held for each request to the server. */
export interface ServerLock {
  /** Runs `work` once the lock is free, holding it meanwhile. */
  runExclusive<T>(work: () => Promise<T> | T): Promise<T>;
  /** Whether it is held now. */
  isLocked(): boolean;
}

/** One server of the list and what the download knows of it. */
export class ServerSlot implements Disposable {
  /** Its place in the server list. */
  readonly index: number;
  /** Where the bytes come from. */
  readonly source: Source;
  /** Held for each request to it (the digest list's too): a server serves
   * one client at a time, so a second connection would only wait in its
   * queue. */
  readonly lock: ServerLock = new Mutex();
  /** The buffers its connection receives into, one connection at a time. */
  readonly buffers: ReceiveBuffers = new ReceiveBuffers(
    BUFFERS_PER_CONNECTION,
  );
  /** Whether it reported the file's size (the one settled on). */
  answeredSize = false;
  /** Whether it answered in this pass: the size, or a range. */
  responsive = false;
  /** Whether it failed in this pass: asked after the others. */
  failed = false;
  /** Whether a free server took its task over (it sent nothing, or too
   * slowly), until it sends bytes again: asked after every other, and
   * given no work it did not ask for. */
  stuck = false;
  /** Why it was left out for good (its copy differs), if it was. */
  excludedWhy: string | undefined;
  /** Bytes of ranges it sent, over every pass. */
  bytesSent = 0;

  /**
   * Creates the slot.
   *
   * @param index Its place in the server list.
   * @param source Where the bytes come from.
   */
  constructor(index: number, source: Source) {
    this.index = index;
    this.source = source;
  }

  /** Whether it is left out for good: its copy differs. */
  get excluded(): boolean {
    return this.excludedWhy !== undefined;
  }

  /**
   * Leaves it out for good.
   *
   * @param reason Why: how its copy differs.
   * @returns Whether it was in until now.
   */
  exclude(reason: string): boolean {
    if (this.excluded) return false;
    this.excludedWhy = reason;
    return true;
  }

  /** Starts a pass of range tasks: failures and stuck flags of an earlier
   * pass are forgotten; it counts as answering if it reported the size. */
  beginPass(): void {
    this.failed = false;
    this.stuck = false;
    this.responsive = this.answeredSize;
  }

  /** Notes bytes of a range it sent: it answers, and is not stuck. */
  noteBytes(bytes: number): void {
    this.bytesSent += bytes;
    this.responsive = true;
    this.stuck = false;
  }

  /** Lets go of its kept connection. */
  [Symbol.dispose](): void {
    this.source.release();
  }
}
