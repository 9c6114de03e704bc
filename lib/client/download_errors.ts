/**
 * The ways a download ends without its file: no server could report the
 * size, ranges are missing (the file changed, or the run was stopped), or
 * the finished file has another digest than asked for.
 *
 * @module
 */

import { quoteName } from "../wire/quoted_name.ts";
import type { ByteRange } from "./plan/range_planner.ts";

/** No server could report the file's size. */
export class CannotTransferError extends Error {
  /** One line per server: `host:port: why it could not`. */
  readonly reasons: string[];

  /**
   * Creates the error. Its message starts with the words `Cannot transfer
   * this file`, names the file, and says why each server could not: on the
   * same line for one server, else one indented line each below.
   *
   * @param name The file asked for.
   * @param reasons One line per server: `host:port: why it could not`.
   */
  constructor(name: string, reasons: string[]) {
    super(
      reasons.length === 1
        ? `Cannot transfer this file ${quoteName(name)}: ${reasons[0]}`
        : `Cannot transfer this file ${
          quoteName(name)
        }: no server reported its size\n${
          reasons.map((reason) => `  ${reason}`).join("\n")
        }`,
    );
    this.name = "CannotTransferError";
    this.reasons = reasons;
  }
}

/** What an {@linkcode IncompleteDownloadError} says. */
export interface IncompleteDownloadOptions {
  /** The ranges that are not complete. */
  missing: ByteRange[];
  /** The temporary file holding what was fetched. */
  partialPath: string;
  /** Whether the download was stopped by its signal rather than failures.
   * @default {false} */
  interrupted?: boolean;
  /** Whether a partial file is there to resume (not when the download
   * was stopped before one was written). @default {true} */
  kept?: boolean;
  /** Why no server is left to fetch the rest, when every one was left
   * out: `"ranges"` if each ignores Range requests (it sends only whole
   * files), `"other"` otherwise. */
  noServerLeft?: "ranges" | "other" | undefined;
}

/** Some ranges could not be fetched from any server, or it was interrupted. */
export class IncompleteDownloadError extends Error {
  /** The ranges that are not complete. */
  readonly missing: ByteRange[];
  /** The temporary file holding what was fetched. */
  readonly partialPath: string;
  /** Whether the download was stopped by its signal rather than failures. */
  readonly interrupted: boolean;
  /** Whether a partial file is there to resume. */
  readonly kept: boolean;
  /** Why no server is left, if every one was left out. */
  readonly noServerLeft: "ranges" | "other" | undefined;

  /**
   * Creates the error.
   *
   * @param options The ranges not complete, the temporary file, and
   * whether the download was stopped by its signal.
   */
  constructor(options: IncompleteDownloadOptions) {
    super("not all chunks are downloaded");
    this.name = "IncompleteDownloadError";
    this.missing = options.missing;
    this.partialPath = options.partialPath;
    this.interrupted = options.interrupted ?? false;
    this.kept = options.kept ?? true;
    this.noServerLeft = options.noServerLeft;
  }
}

/**
 * Some ranges could not be fetched because the file changed on the servers
 * since the download started: the server that reported its size now has
 * another version (another size, or blocks that no longer match the digest
 * list). What was fetched of the first version stays as the partial file.
 */
export class FileChangedError extends IncompleteDownloadError {
  /** How the file changed: the server, and what it reports now. */
  readonly how: string;

  /**
   * Creates the error.
   *
   * @param options The ranges not complete, the temporary file, and how
   * the file changed.
   */
  constructor(
    options: { missing: ByteRange[]; partialPath: string; how: string },
  ) {
    super({ missing: options.missing, partialPath: options.partialPath });
    this.name = "FileChangedError";
    this.how = options.how;
    this.message =
      `not all chunks are downloaded: the file changed on the servers since the download started (${options.how})`;
  }
}

/** The finished file does not have the SHA-256 digest it was expected to. */
export class ChecksumMismatchError extends Error {
  /** The digest the file has. */
  readonly actual: string;
  /** The temporary file holding it. */
  readonly partialPath: string;
  /** Whether its state was kept, so a later run finishes it without
   * fetching it again. */
  readonly stateKept: boolean;

  /**
   * Creates the error.
   *
   * @param options The digest asked for (`expected`), the one the file
   * has (`actual`), the temporary file holding it, where the expected
   * digest came from when not from `--sha256` (such as `the Repr-Digest
   * of http://host/f`), and whether the state was kept.
   */
  constructor(
    options: {
      expected: string;
      actual: string;
      partialPath: string;
      expectedFrom?: string | undefined;
      stateKept?: boolean | undefined;
    },
  ) {
    super(
      `The downloaded file's SHA-256 is ${options.actual}, expected ${options.expected}${
        options.expectedFrom === undefined ? "" : ` (${options.expectedFrom})`
      }`,
    );
    this.name = "ChecksumMismatchError";
    this.actual = options.actual;
    this.partialPath = options.partialPath;
    this.stateKept = options.stateKept ?? false;
  }
}

/**
 * The sources hold different files under the name and size asked for, and
 * no majority of them agrees on one: the client does not guess which is
 * meant. Found before the transfer, nothing is fetched beyond the checks;
 * found after it (`partial` set), the partial file and its state are kept
 * without the bytes in doubt.
 */
export class MirrorsDisagreeError extends Error {
  /** The sources, as messages name them, grouped by the file they hold. */
  readonly groups: string[][];
  /** Found after the transfer: the partial file kept, and how many bytes
   * its state no longer counts (a later run fetches them again). */
  readonly partial: { path: string; withdrawnBytes: number } | undefined;

  /**
   * Creates the error.
   *
   * @param options The file's name, what was compared (such as `spot
   * checks of 4 windows`), the sources grouped by what they answered, and
   * the partial file kept, if any.
   */
  constructor(
    options: {
      name: string;
      compared: string;
      groups: string[][];
      partial?: { path: string; withdrawnBytes: number };
    },
  ) {
    super(
      `The mirrors hold different files named ${
        quoteName(options.name)
      }, and no majority agrees on one (${options.compared} differ):\n${
        options.groups.map((group, i) => `  file ${i + 1}: ${group.join(", ")}`)
          .join("\n")
      }`,
    );
    this.name = "MirrorsDisagreeError";
    this.partial = options.partial;
    this.groups = options.groups;
  }
}
