/**
 * An in-process source whose behaviour is scripted: it serves bytes from a
 * `Uint8Array`, and can fail, stall, cut a transfer short, corrupt bytes
 * (on the way, or in its own copy) or send slowly. The range tasks are
 * unit-tested through it without sockets. Internal to the tests.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { ReceiveBuffers } from "../../lib/client/receive_buffers.ts";
import {
  type DigestListener,
  NoDigestListError,
  OtherVersionError,
  type Source,
  type SourceFetch,
} from "../../lib/client/source.ts";

/** What a fake source does with its next fetches. */
export interface FakeBehaviour {
  /** Fails each fetch at once with this error. */
  fail?: Error;
  /** Fails this many fetches, then serves. */
  failTimes?: number;
  /** Sends nothing until the request is given up. */
  stall?: boolean;
  /** Sends this many bytes of a transfer, then closes it (once). */
  cutAfter?: number;
  /** Damages the bytes it sends at these file offsets (once each): its
   * copy is right, the bytes were damaged on the way. */
  damageOnce?: number[];
  /** Sends at most this many bytes per tick of `tickMs`. */
  bytesPerTick?: number;
  /** A tick's length, in milliseconds. Default 1. */
  tickMs?: number;
}

/** A source serving a copy of a file from memory. */
export class FakeSource implements Source {
  readonly label: string;
  /** Its copy of the file; change it to make a copy that differs. */
  copy: Uint8Array;
  /** What it does; may be changed while a download runs. */
  behaviour: FakeBehaviour;
  /** The ranges it was asked for, in order. */
  readonly fetched: { offset: number; length: number }[] = [];
  /** How many range digests it was asked for. */
  rangeDigests = 0;
  /** How many times it was told to let go of what it keeps. */
  released = 0;
  /** Whether its bytes count as received in the background (a mirror's). */
  receivesInBackground = false;
  /** Whether it counts as serving the file only whole (a mirror that
   * ignores Range requests). */
  servesWholeFileOnly = false;

  constructor(
    label: string,
    copy: Uint8Array,
    behaviour: FakeBehaviour = {},
  ) {
    this.label = label;
    this.copy = copy;
    this.behaviour = behaviour;
  }

  size(): Promise<number> {
    return Promise.resolve(this.copy.length);
  }

  blockDigests(
    _request: { fileSize: number; blockSize: number },
    _listener: DigestListener,
  ): Promise<void> {
    return Promise.reject(new NoDigestListError("a fake keeps no list"));
  }

  async fetch(request: SourceFetch): Promise<void> {
    const { offset, length, fileSize, sink, signal } = request;
    this.fetched.push({ offset, length });
    const b = this.behaviour;
    if (b.failTimes !== undefined && b.failTimes > 0) {
      b.failTimes--;
      throw new Error("failed on purpose");
    }
    if (b.fail) throw b.fail;
    if (this.copy.length !== fileSize) {
      throw new OtherVersionError(
        `the server's file is ${this.copy.length} bytes, expected ${fileSize}: another version`,
      );
    }
    if (b.stall) {
      await new Promise<void>((_, reject) => {
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener("abort", () => reject(signal.reason), {
          once: true,
        });
      });
    }
    const pieceBytes = sink.pieceBytes ?? 64 * 1024;
    const buffers = sink.buffers ?? new ReceiveBuffers();
    const requestedEnd = offset + length;
    const end = () => Math.min(requestedEnd, sink.end?.() ?? requestedEnd);
    let position = offset;
    let sent = 0;
    while (position < end()) {
      signal?.throwIfAborted();
      const buffer = await buffers.take(Math.min(pieceBytes, length));
      let count = Math.min(
        (Math.floor(position / pieceBytes) + 1) * pieceBytes,
        end(),
      ) - position;
      if (b.bytesPerTick !== undefined) {
        await tick(b.tickMs ?? 1, signal);
        count = Math.min(count, b.bytesPerTick);
      }
      let cut = false;
      if (b.cutAfter !== undefined && sent + count >= b.cutAfter) {
        count = b.cutAfter - sent;
        b.cutAfter = undefined;
        cut = true;
      }
      buffer.set(this.copy.subarray(position, position + count));
      for (const at of b.damageOnce ?? []) {
        if (at >= position && at < position + count) {
          buffer[at - position]! ^= 0xff;
          b.damageOnce = b.damageOnce!.filter((x) => x !== at);
        }
      }
      sink.onRead?.(count);
      sent += count;
      const more = count > 0
        ? await sink.onData(buffer.subarray(0, count))
        : true;
      position += count;
      if (cut) throw new Error("the server closed the connection");
      if (more === false) return;
    }
  }

  rangeDigest(
    request: { offset: number; length: number; fileSize: number },
  ): Promise<Uint8Array> {
    this.rangeDigests++;
    if (this.copy.length !== request.fileSize) {
      return Promise.reject(new OtherVersionError("another version"));
    }
    const bytes = this.copy.subarray(
      request.offset,
      request.offset + request.length,
    );
    return Promise.resolve(
      new Uint8Array(createHash("sha256").update(bytes).digest()),
    );
  }

  describeFailure(error: unknown): string {
    return `${this.label}: ${
      error instanceof Error ? error.message : String(error)
    }`;
  }

  describeSizeFailure(error: unknown): string {
    return this.describeFailure(error);
  }

  release(): void {
    this.released++;
  }
}

function tick(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}
