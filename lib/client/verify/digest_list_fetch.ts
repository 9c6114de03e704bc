/**
 * Fetching the block digest list: from one server after another, the next
 * one asked as well when one is silent or too slow, a list cut midway
 * continued by the next server.
 *
 * @module
 */

import { withoutLabel } from "../failure_reasons.ts";
import { DIGEST_BYTES } from "../../wire/protocol.ts";
import type { DownloadEventSink } from "../download_events.ts";
import type { ServerSlot } from "../server_slot.ts";
import { OtherVersionError } from "../source.ts";
import { ReferenceDigests } from "./reference_digests.ts";

/** A digest list request unanswered for this long gets a second one, to
 * the next server: the first to answer sends the list, the other request
 * is given up. A list that arrives too slowly over this long gets one too
 * (see {@linkcode MIN_LIST_BYTES_PER_S}). */
export const LIST_GRACE_MS = 2000;

/** A digest list that covers less of the file than this per second (over
 * {@linkcode LIST_GRACE_MS}) is too slow: the next server is asked for it
 * as well. A server that computes the list as it sends it reads and hashes
 * far faster than this; one that trickles it would hold every range. */
export const MIN_LIST_BYTES_PER_S = 8 * 1024 * 1024;

/** What {@linkcode fetchReference} needs. */
export interface DigestListFetchOptions {
  /** The servers, in list order: the list is asked of each one's source,
   * under its lock; one left out (its copy differs) is not asked. */
  slots: readonly Pick<ServerSlot, "source" | "lock" | "excluded">[];
  /** Told when the list moves on to another server, or gives up. */
  onEvent?: DownloadEventSink | undefined;
  /** The server asked first (the one that reported the size). */
  first: number;
  /** The file's size. */
  size: number;
  /** The block size the list is asked for. */
  blockSize: number;
  /** Where the digests go. */
  reference: ReferenceDigests;
  /** Stops the list. */
  signal: AbortSignal;
  /** Called when a server accepted the request. */
  onReply: () => void;
  /** Leaves out a server whose copy differs. */
  exclude: (serverIndex: number, reason: string) => void;
  /** Told which server the list is asked of, under its lock, if any. */
  onServer: (serverIndex: number | undefined) => void;
}

/** A request under way: whether it was answered, when it was asked, and
 * how far its list reached. */
interface Running {
  cancel: AbortController;
  replied: boolean;
  order: number;
  reach: number;
}

/**
 * Fills the reference digest list: asks the size server first, then the
 * others in list order after it. A server that has not cached the list
 * computes it while it sends it, so the list fills from its start while
 * ranges are fetched. After a server fails midway, the next one is asked
 * at once; its list must agree with the digests already taken. A server
 * that has not answered within {@linkcode LIST_GRACE_MS} is not waited for
 * alone: the next one is asked as well, and the first to answer is kept.
 * One whose list arrives too slowly (less than
 * {@linkcode MIN_LIST_BYTES_PER_S} of the file over {@linkcode
 * LIST_GRACE_MS}) gets the next one asked as well: the one asked later is
 * kept once it passes it. Each server is asked under its lock, so no range
 * queues behind the list on it.
 *
 * @param options The servers, the list to fill, and the download's state.
 * @returns When the list is complete, was stopped, or was given up. Never
 * rejects: when no server sends the rest, the list gives up and says so in
 * an "unverified" event.
 */
export function fetchReference(options: DigestListFetchOptions): Promise<void> {
  return new DigestListFetch(options).run();
}

/** The digest list being fetched, if blocks are checked. */
export interface Listing {
  /** The list; `undefined` without checks, or when no server accepted. */
  reference: ReferenceDigests | undefined;
  /** Settles when the list is complete, stopped or given up. */
  listed: Promise<void>;
  /** The server whose lock the list holds, if any. */
  listingOn: () => number | undefined;
}

/**
 * Starts fetching the digest list (see {@linkcode fetchReference}), and
 * waits until a server accepted the request, or none did: the download
 * then goes on unverified.
 *
 * @param options All {@linkcode fetchReference} needs but the list and
 * the calls it makes back.
 * @returns The list, when it settles, and the server whose lock it holds.
 */
export async function startListing(
  options: Omit<
    DigestListFetchOptions,
    "reference" | "onReply" | "onServer"
  >,
): Promise<Listing> {
  let listingOn: number | undefined;
  const list = new ReferenceDigests(
    Math.ceil(options.size / options.blockSize),
  );
  const replied = Promise.withResolvers<void>();
  const listed = fetchReference({
    ...options,
    reference: list,
    onReply: replied.resolve,
    onServer: (serverIndex) => listingOn = serverIndex,
  });
  await Promise.race([replied.promise, listed]);
  // No server accepted the request: the download goes on unverified.
  const reference = list.ended && list.covered === 0 ? undefined : list;
  return { reference, listed, listingOn: () => listingOn };
}

/** One fetch of the list; its state, shared by the requests under way. */
class DigestListFetch {
  #options: DigestListFetchOptions;
  /** Why each server sent no list, by its label. */
  #reasons: { label: string; line: string }[] = [];
  #running = new Map<number, Running>();
  #changed = Promise.withResolvers<void>();
  /** How many servers were tried, counting from the first. */
  #next = 0;
  #launchedAt = 0;
  #finished = false;
  /** Why the list moves on to the next server, if it does. */
  #failure: string | undefined;
  /** Where the list stood when the current look at its pace began. */
  #windowAt = 0;
  #windowCovered = 0;

  constructor(options: DigestListFetchOptions) {
    this.#options = options;
  }

  /** Runs the fetch to its end (see {@linkcode fetchReference}). */
  async run(): Promise<void> {
    const { reference, signal, blockSize } = this.#options;
    await this.#supervise();
    // The others were given up, or stopped with the signal.
    while (this.#running.size > 0) await this.#nextChange();
    if (this.#finished) return;
    if (signal.aborted) {
      reference.stop(signal.reason);
      return;
    }
    reference.giveUp();
    const from = reference.covered * blockSize;
    this.#options.onEvent?.({
      type: "unverified",
      from,
      detail: `no server sent ${
        from === 0 ? "block digests" : "the rest of the block digests"
      }: ${joinReasons(this.#reasons)}`,
    });
  }

  /** Asks servers until the list is complete or nobody is left: a next one
   * when one fails, has not answered in time, or is too slow. */
  async #supervise(): Promise<void> {
    const { reference, signal } = this.#options;
    /** Digests the list should gain over a look at its pace. */
    const wanted = Math.ceil(
      MIN_LIST_BYTES_PER_S * (LIST_GRACE_MS / 1000) / this.#options.blockSize,
    );
    /** Whether a server is left to ask. */
    let more = true;
    while (!this.#finished && !signal.aborted) {
      const now = performance.now();
      if (this.#running.size === 0) {
        if (!this.#launch(this.#failure)) break;
        this.#failure = undefined;
        continue;
      }
      const answered = [...this.#running].filter(([, entry]) => entry.replied);
      let wakeAt = Infinity;
      if (!more) {
        // Nobody left to ask: wait for those asked.
      } else if (answered.length === 0) {
        if (now - this.#launchedAt >= LIST_GRACE_MS) {
          more = this.#launch();
          continue;
        }
        wakeAt = this.#launchedAt + LIST_GRACE_MS;
      } else if (now - this.#windowAt >= LIST_GRACE_MS) {
        const gained = reference.covered - this.#windowCovered;
        if (
          gained < Math.min(wanted, reference.blockCount - this.#windowCovered)
        ) {
          // The one ahead holds the list back.
          const [slow] = answered.reduce((a, b) =>
            b[1].reach > a[1].reach ? b : a
          );
          more = this.#launch(
            `the digest list is too slow at ${
              this.#digests(reference.covered)
            }: ${this.#options.slots[slow]!.source.label}: ${gained} digest${
              gained === 1 ? "" : "s"
            } in ${LIST_GRACE_MS / 1000} s`,
          );
        }
        this.#startWindow();
        continue;
      } else {
        wakeAt = this.#windowAt + LIST_GRACE_MS;
      }
      await this.#wait(wakeAt, now);
    }
  }

  /** Waits for a request to change, the signal, or `wakeAt`. */
  async #wait(wakeAt: number, now: number): Promise<void> {
    const { signal } = this.#options;
    const wake = this.#changed.promise;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = wakeAt === Infinity
        ? undefined
        : setTimeout(done, Math.max(0, wakeAt - now));
      signal.addEventListener("abort", done, { once: true });
      wake.then(done);
    });
    this.#changed = Promise.withResolvers<void>();
  }

  async #nextChange(): Promise<void> {
    await this.#changed.promise;
    this.#changed = Promise.withResolvers<void>();
  }

  #startWindow(): void {
    this.#windowAt = performance.now();
    this.#windowCovered = this.#options.reference.covered;
  }

  #digests(count: number): string {
    return `${count} of ${this.#options.reference.blockCount} digests`;
  }

  /** Asks the next server, if any is left; `why` says why, if it is
   * asked because another failed or is too slow. */
  #launch(why?: string): boolean {
    const { slots, first, reference } = this.#options;
    for (; this.#next < slots.length; this.#next++) {
      const serverIndex = (first + this.#next) % slots.length;
      if (slots[serverIndex]!.excluded) continue;
      if (why !== undefined) {
        this.#options.onEvent?.({
          type: "list-moved",
          detail: `${why}; asking ${slots[serverIndex]!.source.label} for ${
            reference.covered > 0 ? "the rest" : "it"
          }`,
        });
      }
      this.#ask(serverIndex);
      this.#next++;
      this.#launchedAt = performance.now();
      return true;
    }
    return false;
  }

  /** Asks one server for the list, under its lock. */
  async #ask(serverIndex: number): Promise<void> {
    const { signal } = this.#options;
    const slot = this.#options.slots[serverIndex]!;
    const entry: Running = {
      cancel: new AbortController(),
      replied: false,
      order: this.#next,
      reach: 0,
    };
    this.#running.set(serverIndex, entry);
    try {
      await slot.lock.runExclusive(async () => {
        entry.cancel.signal.throwIfAborted();
        this.#options.onServer(serverIndex);
        try {
          await this.#request(serverIndex, entry);
        } finally {
          this.#options.onServer(undefined);
        }
      });
      this.#finished = true;
      for (const [other, running] of this.#running) {
        if (other !== serverIndex) running.cancel.abort();
      }
    } catch (error) {
      // Given up for another server's answer: no failure of its own.
      if (!entry.cancel.signal.aborted || signal.aborted) {
        this.#reasons.push({
          label: slot.source.label,
          line: slot.source.describeFailure(error),
        });
        if (entry.replied) {
          this.#failure = `the digest list stopped at ${
            this.#digests(Math.floor(entry.reach / DIGEST_BYTES))
          }: ${slot.source.describeFailure(error)}`;
        }
        // Its ranges would not match the digests taken either.
        if (error instanceof OtherVersionError && !signal.aborted) {
          this.#options.exclude(serverIndex, error.message);
        }
      }
    } finally {
      this.#running.delete(serverIndex);
      this.#changed.resolve();
    }
  }

  /** The request itself: the list's bytes go into the reference. */
  #request(serverIndex: number, entry: Running): Promise<void> {
    const { reference, signal } = this.#options;
    return this.#options.slots[serverIndex]!.source.blockDigests(
      {
        fileSize: this.#options.size,
        blockSize: this.#options.blockSize,
        signal: AbortSignal.any([signal, entry.cancel.signal]),
      },
      {
        onReply: () => {
          // Another server answered first: it sends the list.
          entry.cancel.signal.throwIfAborted();
          entry.replied = true;
          // Those that have not answered are given up; one that
          // answered and is slow goes on until this one passes it.
          for (const other of this.#running.values()) {
            if (!other.replied) other.cancel.abort();
          }
          this.#startWindow();
          this.#options.onReply();
        },
        onDigests: (at, bytes) => {
          const covered = reference.covered;
          if (!reference.add(at, bytes, serverIndex)) {
            throw new OtherVersionError(
              "its digest list differs from the one received before",
            );
          }
          entry.reach = at + bytes.length;
          // Ahead of all: those asked before it were overtaken.
          if (reference.covered > covered) {
            for (const other of this.#running.values()) {
              if (other.order < entry.order) other.cancel.abort();
            }
          }
        },
      },
    );
  }
}

/**
 * Failures told in one line, those with the same reason once, naming
 * their servers together: `a, b: a mirror on the web keeps no block
 * digests; c: connection refused`.
 *
 * @param reasons Each server's label and its `<label>: <reason>` line.
 * @returns The line.
 */
export function joinReasons(
  reasons: readonly { label: string; line: string }[],
): string {
  const byReason = new Map<string, string[]>();
  for (const { label, line } of reasons) {
    const reason = withoutLabel(label, line);
    const labels = byReason.get(reason);
    if (labels === undefined) byReason.set(reason, [label]);
    else labels.push(label);
  }
  return [...byReason].map(([reason, labels]) =>
    `${labels.join(", ")}: ${reason}`
  ).join("; ");
}
