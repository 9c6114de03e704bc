/**
 * A whole download: learn the size, split the file into ranges, fetch the
 * ranges concurrently with failover between servers, and commit the file
 * only when every range is complete.
 *
 * @module
 */

import { Mutex } from "async-mutex";
import { OutputError, OutputFile } from "./output_file.ts";
import { type ByteRange, planRanges } from "./range_planner.ts";
import {
  describeFailure,
  fetchRange,
  requestSize,
  type Timeouts,
} from "./server_connection.ts";
import type { ServerAddress } from "./server_list.ts";

/** No server could report the file's size. */
export class CannotTransferError extends Error {
  /** One line per server: why it could not. */
  readonly reasons: string[];

  /** @param reasons One line per server: why it could not. */
  constructor(reasons: string[]) {
    super("Cannot transfer this file");
    this.name = "CannotTransferError";
    this.reasons = reasons;
  }
}

/** Some ranges could not be fetched from any server. */
export class IncompleteDownloadError extends Error {
  /** The ranges that are not complete. */
  readonly missing: ByteRange[];
  /** The temporary file holding what was fetched. */
  readonly partialPath: string;

  /**
   * @param missing The ranges that are not complete.
   * @param partialPath The temporary file holding what was fetched.
   */
  constructor(missing: ByteRange[], partialPath: string) {
    super("not all chunks are downloaded");
    this.name = "IncompleteDownloadError";
    this.missing = missing;
    this.partialPath = partialPath;
  }
}

/** Something worth telling the user while a download runs. */
export type DownloadEvent =
  | { type: "size-failed"; detail: string }
  | { type: "size"; server: ServerAddress; size: number }
  | {
    type: "range-failed";
    range: ByteRange;
    /** First byte not yet received; the next server resumes there. */
    position: number;
    detail: string;
  }
  | { type: "range-done"; range: ByteRange; server: ServerAddress };

/** What a download needs. */
export interface DownloadOptions {
  /** The servers, in list order. */
  servers: ServerAddress[];
  /** The name to ask the servers for. */
  name: string;
  /** How many ranges to split the file into. */
  numChunks: number;
  /** Where the complete file goes. */
  outputPath: string;
  timeouts: Timeouts;
  /** Receives progress and failures; optional. */
  onEvent?: (event: DownloadEvent) => void;
}

/** What a finished download did. */
export interface DownloadResult {
  size: number;
  /** The ranges the file was split into. */
  ranges: ByteRange[];
  /** Bytes received from each server, in list order. */
  bytesPerServer: number[];
  /** How many times a range moved on to another server. */
  failovers: number;
}

/**
 * Asks the servers, in list order, for the size of a file and returns the
 * first answer.
 *
 * @param options The servers, the name, deadlines and event sink.
 * @returns The size and the index of the server that reported it.
 * @throws {CannotTransferError} If no server reported a size.
 */
export async function findFileSize(
  options: Pick<DownloadOptions, "servers" | "name" | "timeouts" | "onEvent">,
): Promise<{ size: number; serverIndex: number }> {
  const reasons: string[] = [];
  for (const [serverIndex, server] of options.servers.entries()) {
    try {
      const size = await requestSize(
        { server, timeouts: options.timeouts },
        options.name,
      );
      options.onEvent?.({ type: "size", server, size });
      return { size, serverIndex };
    } catch (error) {
      const detail = describeFailure(server, error);
      reasons.push(detail);
      options.onEvent?.({ type: "size-failed", detail });
    }
  }
  throw new CannotTransferError(reasons);
}

/**
 * Downloads a file from several servers at once.
 *
 * @param options What to download, from where, to where.
 * @returns What was done.
 * @throws {CannotTransferError} If no server reported the file's size.
 * @throws {IncompleteDownloadError} If some range could not be fetched; the
 * temporary file stays.
 * @throws {OutputError} If the output cannot be written.
 */
export async function download(
  options: DownloadOptions,
): Promise<DownloadResult> {
  const { servers, timeouts, onEvent } = options;
  const { size } = await findFileSize(options);
  const ranges = planRanges(size, options.numChunks);
  const output = await OutputFile.create(options.outputPath, size);
  try {
    const abort = new AbortController();
    // A server serves one client at a time, so a second connection to it
    // would only wait in its queue: each server gets one range at a time.
    const serverLocks = servers.map(() => new Mutex());
    const bytesPerServer = servers.map(() => 0);
    let failovers = 0;

    const fetchWithFailover = async (range: ByteRange): Promise<boolean> => {
      let position = range.start;
      for (let tried = 0; tried < servers.length; tried++) {
        if (position === range.end) break;
        if (tried > 0) failovers++;
        const serverIndex = (range.index + tried) % servers.length;
        const server = servers[serverIndex]!;
        try {
          await serverLocks[serverIndex]!.runExclusive(() =>
            fetchRange({ server, timeouts, signal: abort.signal }, {
              name: options.name,
              offset: position,
              length: range.end - position,
              fileSize: size,
              onData: async (piece) => {
                await output.writeAt(position, piece);
                position += piece.length;
                bytesPerServer[serverIndex]! += piece.length;
              },
            })
          );
          onEvent?.({ type: "range-done", range, server });
        } catch (error) {
          if (error instanceof OutputError) {
            abort.abort(error);
            throw error;
          }
          if (abort.signal.aborted) throw abort.signal.reason;
          onEvent?.({
            type: "range-failed",
            range,
            position,
            detail: describeFailure(server, error),
          });
        }
      }
      return position === range.end;
    };

    const settled = await Promise.allSettled(ranges.map(fetchWithFailover));
    const failure = settled.find((s) => s.status === "rejected");
    if (failure) throw failure.reason;
    const missing = ranges.filter((_, i) =>
      (settled[i] as PromiseFulfilledResult<boolean>).value === false
    );
    if (missing.length > 0) {
      throw new IncompleteDownloadError(missing, output.partialPath);
    }
    await output.commit();
    return { size, ranges, bytesPerServer, failovers };
  } finally {
    output.close();
  }
}
