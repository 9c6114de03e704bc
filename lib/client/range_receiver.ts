/**
 * The receive path of the range tasks: each piece a source sends is
 * written, then checked while the next one arrives; a block that fails its
 * check is judged (the source's copy differs, or the bytes were damaged on
 * the way).
 *
 * @module
 */

import { IntegrityError } from "./verify/block_digests.ts";
import type { ReferenceDigests } from "./verify/reference_digests.ts";
import { equalBytes } from "../wire/byte_arrays.ts";
import { findCause } from "../wire/error_cause.ts";
import { OutputError, type OutputFile } from "./output/output_file.ts";
import {
  OtherVersionError,
  type RangeSink,
  SourceLeftOutError,
} from "./source.ts";
import type { ReceiveBuffers } from "./receive_buffers.ts";
import { BUFFERS_PER_CONNECTION, type ServerSlot } from "./server_slot.ts";
import { noteBytes, type Task } from "./range_task.ts";

/** Memory for receive buffers, shared by the servers' connections (more
 * with over 8 servers: see {@linkcode MIN_PIECE_BYTES}). */
const RECEIVE_MEMORY_BYTES = 16 * 1024 * 1024;
/** The smallest piece the memory share allows: below it each byte costs
 * more in writes, worker messages and wake-ups (with 20 servers, 384 KiB
 * pieces made the download 5 % slower than 1 MiB ones). So the buffers of
 * 20 servers take 40 MiB. */
const MIN_PIECE_BYTES = 1024 * 1024;

/**
 * The piece size for a transfer: whole blocks, within the memory for
 * buffers, from 1 MiB to 4 MiB (larger pieces mean fewer system calls),
 * and a quarter of the transfer at most, so checking a piece overlaps with
 * receiving the next one.
 *
 * @param options The block size, how many connections share the memory
 * (`servers`: one per server, more for mirrors with more), and the
 * transfer's length.
 * @returns The piece size in bytes.
 */
export function pieceSizeFor(
  options: { blockSize: number; servers: number; length: number },
): number {
  const { blockSize, servers, length } = options;
  const target = Math.min(
    Math.max(
      RECEIVE_MEMORY_BYTES / (BUFFERS_PER_CONNECTION * servers),
      MIN_PIECE_BYTES,
    ),
    4 * 1024 * 1024,
    Math.max(length / 4, 64 * 1024),
  );
  return blockSize * Math.max(1, Math.floor(target / blockSize));
}

/**
 * Of the errors that ended an attempt, the one it is judged by: a write
 * error (it stops the download), then a failed check (it names the block
 * and the server), then the first one given.
 *
 * @param errors The errors, in order; `undefined` ones are skipped.
 * @returns The decisive one.
 */
export function decisiveError(...errors: unknown[]): unknown {
  for (const type of [OutputError, IntegrityError]) {
    for (const error of errors) {
      const found = findCause(error, type);
      if (found !== undefined) return found;
    }
  }
  return errors.find((error) => error !== undefined);
}

/** What the receive path shares with the rest of the download. */
export interface RangeReceiverOptions {
  /** The file's size. */
  size: number;
  /** The block size. */
  blockSize: number;
  /** Every server: they share the receive memory. */
  slots: readonly ServerSlot[];
  /** The digest list blocks are checked against; none without checks. */
  reference: ReferenceDigests | undefined;
  /** Where the bytes go. */
  output: Pick<OutputFile, "writeAt">;
  /** Leaves out a server whose copy differs. */
  exclude: (slot: ServerSlot, reason: string, otherVersion?: boolean) => void;
}

/** Writes and checks what the sources send, and judges failed checks. */
export class RangeReceiver {
  #options: RangeReceiverOptions;
  /** Whether pieces are written on this thread: only when no source's
   * bytes are received in the background, which needs the event loop. */
  #writeOnThisThread: boolean;
  /** Connections of all the servers: they share the receive memory. */
  #connections: number;

  /**
   * Creates the receive path.
   *
   * @param options What it shares with the rest of the download.
   */
  constructor(options: RangeReceiverOptions) {
    this.#options = options;
    this.#writeOnThisThread = options.slots.every((slot) =>
      !slot.source.receivesInBackground
    );
    this.#connections = options.slots.reduce(
      (sum, slot) => sum + slot.connections,
      0,
    );
  }

  /**
   * The sink a task's transfer from a server fills.
   *
   * @param task The task.
   * @param slot The server it fetches from.
   * @param options How long the request is, and the connection's buffers
   * (taken from the server's under its lock).
   * @returns The sink.
   */
  sinkFor(
    task: Task,
    slot: ServerSlot,
    options: { length: number; buffers: ReceiveBuffers },
  ): RangeSink {
    return {
      onData: (piece) => this.#receive(task, slot, piece, options.buffers),
      onRead: (bytes) => {
        task.received += bytes;
        task.heardAt = performance.now();
        noteBytes(task, bytes, task.heardAt);
      },
      // A thief may move the end down while this runs.
      end: () => task.range.end,
      pieceBytes: pieceSizeFor({
        blockSize: this.#options.blockSize,
        servers: this.#connections,
        length: options.length,
      }),
      // Each connection of a server has its buffers: they serve every range
      // it sends, and stay held while pieces of an earlier range are
      // checked.
      buffers: options.buffers,
    };
  }

  /**
   * One request of an attempt, under the server's lock: what became of it.
   *
   * @param task The task.
   * @param slot The server.
   * @param request Whether it is the attempt's first, whether the server
   * was stuck before, and the signal.
   * @returns What became of it.
   * @throws What the source threw: the transfer failed.
   */
  transfer(
    task: Task,
    slot: ServerSlot,
    request: {
      first: boolean;
      stuckBefore: boolean;
      signal: AbortSignal;
    },
  ): Promise<TransferOutcome> {
    const { slots, size } = this.#options;
    return slot.lock.runExclusive(async () => {
      task.waitingFor = undefined;
      // Its digest list differed while this task waited.
      if (slot.excluded) return "left-out";
      // Found stuck while this task waited: the others go first.
      if (
        request.first && !request.stuckBefore && slot.stuck &&
        slots.some((s) => !s.excluded && !s.stuck)
      ) {
        return "deferred";
      }
      // The tail may have been stolen while this task waited.
      const end = task.range.end;
      if (task.position >= end) return "nothing-left";
      startAttempt(task, request.first);
      const buffers = slot.takeBuffers();
      try {
        await slot.source.fetch({
          offset: task.position,
          length: end - task.position,
          fileSize: size,
          sink: this.sinkFor(task, slot, {
            length: end - task.position,
            buffers,
          }),
          signal: request.signal,
        });
      } finally {
        slot.giveBackBuffers(buffers);
        task.received = 0;
        task.active = false;
        task.attemptEnd = performance.now();
      }
      return "fetched";
    });
  }

  /** Writes received bytes and starts their check; `false` once the
   * range is full. The check of a piece runs while the next one arrives. */
  async #receive(
    task: Task,
    slot: ServerSlot,
    received: Uint8Array,
    buffers: ReceiveBuffers,
  ): Promise<boolean> {
    // Only up to the range's end: a thief may have moved it down, even
    // below the position when it took over the range.
    const piece = received.subarray(
      0,
      Math.max(0, task.range.end - task.position),
    );
    if (piece.length > 0) {
      task.writing = true;
      try {
        await this.#options.output.writeAt(task.position, piece, {
          onThisThread: this.#writeOnThisThread,
        });
      } finally {
        task.writing = false;
        task.heardAt = performance.now();
      }
      slot.noteBytes(piece.length, task.position);
      task.position += piece.length;
      task.attemptBytes += piece.length;
    }
    task.received -= received.length;
    // A failed check ends the transfer: what follows the bad block is
    // fetched again.
    if (task.checkFailure !== undefined) throw task.checkFailure;
    const { verifier } = task;
    if (verifier && piece.length > 0) {
      const previous = task.checking;
      const checking = (async () => {
        await previous;
        task.blockSources.add(slot);
        const before = verifier.verifiedTo;
        await verifier.update(piece, slot);
        if (verifier.verifiedTo > before) {
          task.blockSources = new Set([slot]);
        }
      })();
      checking.catch((error) => task.checkFailure ??= error);
      task.checking = checking;
      // The piece's buffer is read into again once its check is done.
      buffers.hold(checking);
    }
    return task.position < task.range.end;
  }

  /**
   * A block failed its check: a server whose own copy differs (from the
   * list, or from what it listed itself) is left out for good; otherwise
   * the bytes were damaged on the way.
   *
   * @param error The failed check.
   * @param slot A server that sent bytes of the block.
   * @param signal Gives the question up.
   */
  async judgeCorruption(
    error: IntegrityError,
    slot: ServerSlot,
    signal: AbortSignal,
  ): Promise<void> {
    const { reference, blockSize, exclude, size } = this.#options;
    const block = error.start / blockSize;
    // Judged against its own list, a copy that differs has changed since
    // the server sent it (or its list was stale): not the first server's.
    const ownList = reference!.listedBy(slot.index, block);
    // Compared already, so it arrived.
    const expected = reference!.digestOf(block)!;
    try {
      const theirs = await slot.lock.runExclusive(() =>
        slot.source.rangeDigest({
          offset: error.start,
          length: error.end - error.start,
          fileSize: size,
          signal,
        })
      );
      if (!equalBytes(theirs, expected)) {
        const bytes = `bytes ${error.start}-${error.end - 1}`;
        exclude(
          slot,
          ownList
            ? `its file changed after it sent its digest list (${bytes} differ)`
            : `its copy differs from the first server's in ${bytes}`,
        );
      }
    } catch (caught) {
      if (caught instanceof SourceLeftOutError) {
        exclude(slot, caught.message, caught instanceof OtherVersionError);
      }
      // Otherwise no verdict; the server already counts as failed.
    }
  }
}

/** What became of one request of an attempt: it fetched, had nothing left
 * to fetch (a thief took the tail), its server was left out, or was found
 * stuck meanwhile. */
export type TransferOutcome =
  | "fetched"
  | "nothing-left"
  | "left-out"
  | "deferred";

/** Marks a task connected, and starts its rate windows (and with
 * `first`, its attempt). */
function startAttempt(task: Task, first: boolean): void {
  task.active = true;
  task.heardAt = performance.now();
  task.windowStart = task.heardAt;
  task.windowBytes = 0;
  task.lastWindowMs = 0;
  task.lastWindowBytes = 0;
  if (first) {
    task.attemptStart = performance.now();
    task.attemptBytes = 0;
  } else {
    // The rate counts the time spent fetching, not waiting for the list.
    task.attemptStart += performance.now() - task.attemptEnd;
  }
}
