/**
 * What the range tasks need of a place that holds the file: learn its
 * size, get its digest list (or say it has none), fetch a byte range into a
 * sink, ask the digest of a range, and say what it is in messages. The msfd
 * protocol is one kind of source ({@linkcode MsfdSource} in
 * `msfd_source.ts`); the failover, retries, work stealing and checks of
 * the range tasks are written against this interface only.
 *
 * @module
 */

import type { ReceiveBuffers } from "./receive_buffers.ts";

/** The source cannot serve this download at all (its copy differs, it
 * does not have the file, it refuses it, it ignores ranges): it is left
 * out for good, with the message as the reason. */
export class SourceLeftOutError extends Error {
  /**
   * Creates the error.
   *
   * @param message Why it cannot serve the download.
   */
  constructor(message: string) {
    super(message);
    this.name = "SourceLeftOutError";
  }
}

/** The source's copy of the file is not the one the client settled on. */
export class OtherVersionError extends SourceLeftOutError {
  /**
   * Creates the error.
   *
   * @param message How it differs.
   */
  constructor(message: string) {
    super(message);
    this.name = "OtherVersionError";
  }
}

/** The source asked to be left alone for a while (an HTTP `Retry-After`)
 * and was not asked: the caller moves on to other sources, and comes back
 * once it is ready (see {@linkcode Source.readyAt}). */
export class SourceBusyError extends Error {
  /** When it is ready again (`performance.now()` time). */
  readonly readyAt: number;

  /**
   * Creates the error.
   *
   * @param message Why, in words.
   * @param readyAt When it is ready again (`performance.now()` time).
   */
  constructor(message: string, readyAt: number) {
    super(message);
    this.name = "SourceBusyError";
    this.readyAt = readyAt;
  }
}

/** The source keeps no digest list for the file: blocks cannot be checked
 * against one of its own. */
export class NoDigestListError extends Error {
  /**
   * Creates the error.
   *
   * @param message Why, in words.
   */
  constructor(message: string) {
    super(message);
    this.name = "NoDigestListError";
  }
}

/** Where the bytes of a fetched range go, piece by piece: the receive path
 * of the range tasks. */
export interface RangeSink {
  /**
   * Receives the payload in order, piece by piece. A piece stays unchanged
   * until the call for the next piece has settled, or until the fetch has
   * settled; longer if the caller holds its buffer (see `buffers`).
   * Resolving to `false` ends the transfer early (the range was cut short
   * by work stealing).
   */
  onData: (piece: Uint8Array) => Promise<boolean | void>;
  /**
   * Pieces end on multiples of this in the file (a multiple of the block
   * size, so pieces after the first hold whole blocks). Default: the
   * source's own.
   */
  pieceBytes?: number;
  /**
   * The buffers pieces are read into, kept by the caller across the
   * transfers of one connection at a time. In `onData` the caller may
   * {@linkcode ReceiveBuffers.hold} the piece's buffer until it is done
   * with it, say checking it, even after the transfer ended. Default: new
   * ones for this transfer.
   */
  buffers?: ReceiveBuffers;
  /** Told how many bytes each read brought, before they are handed over. */
  onRead?: (bytes: number) => void;
  /**
   * The current end of the range (exclusive), when it may move down while
   * the transfer runs; the transfer ends there. Default: `offset + length`.
   */
  end?: () => number;
}

/** A range to fetch from a source. */
export interface SourceFetch {
  /** First byte of the range. */
  offset: number;
  /** Number of bytes. */
  length: number;
  /** The size the file must have; a copy of another size is refused with
   * an {@linkcode OtherVersionError}. */
  fileSize: number;
  /** Where the bytes go. */
  sink: RangeSink;
  /** Gives the request up. */
  signal?: AbortSignal | undefined;
}

/** Receives a digest list as it arrives. */
export interface DigestListener {
  /** Told when the source accepted the request. */
  onReply?: () => void;
  /** Given the list's bytes as they arrive, with where they start in the
   * list; the bytes may be overwritten after the call: copy what is kept.
   * What it throws ends the request. */
  onDigests: (at: number, bytes: Uint8Array) => void;
}

/** One place the file can be fetched from. */
export interface Source {
  /** What it is, for messages: its address. */
  readonly label: string;
  /**
   * Learns the file's size.
   *
   * @param signal Gives the request up.
   * @returns The size in bytes.
   */
  size(signal?: AbortSignal): Promise<number>;
  /**
   * Streams the SHA-256 digest of every block of the file.
   *
   * @param request The size the file must have, the block size, and the
   * signal that gives the request up.
   * @param listener Told of the reply and given the list's bytes.
   * @throws {NoDigestListError} If the source has no list.
   * @throws {OtherVersionError} If its copy has another size.
   */
  blockDigests(
    request: { fileSize: number; blockSize: number; signal?: AbortSignal },
    listener: DigestListener,
  ): Promise<void>;
  /**
   * Fetches `[offset, offset + length)` into the sink. When it throws, the
   * pieces already handed over are valid: the caller resumes after them.
   *
   * @param request The range, the size the file must have, and the sink.
   * @throws {OtherVersionError} If the source's copy has another size now.
   */
  fetch(request: SourceFetch): Promise<void>;
  /**
   * Asks the SHA-256 digest of a byte range of the source's copy: a block
   * that failed its check is judged by it.
   *
   * @param request The range and the size the file must have.
   * @returns The digest.
   * @throws {OtherVersionError} If the source's copy has another size now.
   */
  rangeDigest(
    request: {
      offset: number;
      length: number;
      fileSize: number;
      signal?: AbortSignal;
    },
  ): Promise<Uint8Array>;
  /**
   * Describes a failed request in one line for warnings.
   *
   * @param error What the request threw.
   * @returns `<label>: <reason>`.
   */
  describeFailure(error: unknown): string;
  /**
   * Describes in one line why the size was not learnt, in a few words:
   * `not found`, `connection refused`, and so on.
   *
   * @param error What {@linkcode Source.size} threw.
   * @returns `<label>: <reason>`.
   */
  describeSizeFailure(error: unknown): string;
  /**
   * When the source is ready to be asked again, if it asked to be left
   * alone until then (its requests fail with a {@linkcode SourceBusyError}
   * meanwhile). Optional: a source without it is always ready.
   *
   * @returns A `performance.now()` time in the future, or `undefined` if it
   * is ready now.
   */
  readyAt?(): number | undefined;
  /**
   * Whether the runtime receives the source's bytes in the background (a
   * `fetch` body), so that the event loop must stay free while pieces are
   * written; a source that reads its own socket (a `server.ts`) does not.
   * Optional: `false` when not given.
   */
  readonly receivesInBackground?: boolean;
  /**
   * Whether it was found to serve the file only whole (a mirror that
   * ignores Range requests): only a download in one chunk can use it.
   * Optional: `false` when not given.
   */
  readonly servesWholeFileOnly?: boolean;
  /** Lets go of what it keeps between requests (an open connection):
   * no request follows soon. */
  release(): void;
}

/**
 * Fetches a range of a source's copy whole, into memory: for a few
 * windows or a block, never for the bulk of a download.
 *
 * @param source The source.
 * @param request The range, the size the file must have, and a signal.
 * @returns The range's bytes.
 * @throws What the source's fetch threw, or an error if it ended short.
 */
export async function fetchWhole(
  source: Pick<Source, "fetch">,
  request: {
    offset: number;
    length: number;
    fileSize: number;
    signal?: AbortSignal | undefined;
  },
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(request.length);
  let at = 0;
  await source.fetch({
    ...request,
    sink: {
      onData: (piece) => {
        bytes.set(piece, at);
        at += piece.length;
        return Promise.resolve();
      },
    },
  });
  if (at !== request.length) {
    throw new Error(`it sent ${at} of the ${request.length} bytes asked for`);
  }
  return bytes;
}
