/**
 * How the client ends: its exit codes, and the one table from the errors
 * a run can end in to the message printed and the code returned.
 *
 * @module
 */

import { formatByteSize } from "../cli/byte_size.ts";
import { UsageError } from "../cli/cli_args.ts";
import { notCapableIn } from "../cli/permission_error.ts";
import { quoteName } from "../wire/quoted_name.ts";
import { InputError } from "./client_input.ts";
import { describeDeniedToClient } from "./client_permissions.ts";
import type { DownloadProgress } from "./download_passes.ts";
import {
  CannotTransferError,
  ChecksumMismatchError,
  FileChangedError,
  IncompleteDownloadError,
  MirrorsDisagreeError,
} from "./download_errors.ts";
import { UnreadableStateError } from "./output/download_state.ts";
import { OutputError, OutputExistsError } from "./output/output_file.ts";
import { UnusableOutputError } from "./output/side_files.ts";
import { percentOf } from "./progress/renderer.ts";

/** Exit codes, as documented in the README. */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CANNOT_TRANSFER: 3,
  INCOMPLETE: 4,
  OUTPUT: 5,
  CHECKSUM: 6,
  MIRRORS_DISAGREE: 7,
  INTERRUPTED: 130,
} as const;

/** How a run ends: the message for standard error, and the exit code. */
export interface Exit {
  /** The exit code. */
  code: number;
  /** What is printed, on one or more lines. */
  message: string;
}

/** What the messages need to know of the run. */
export interface ExitContext {
  /** Where the download is, once it started. */
  progress?: (() => DownloadProgress) | undefined;
  /** Whether the next run can resume: a partial file with its state. */
  partialKept: () => Promise<boolean>;
}

/** ` at 37% (17.8 MiB of 48.0 MiB)`, or nothing before the start. */
function describeReached(
  progress: (() => DownloadProgress) | undefined,
): string {
  if (progress === undefined) return "";
  const { doneBytes, size } = progress();
  return ` at ${percentOf(doneBytes, size)}% (${formatByteSize(doneBytes)} of ${
    formatByteSize(size)
  })`;
}

function incomplete(error: IncompleteDownloadError): Exit {
  const lines = [error.message];
  for (const range of error.missing) {
    lines.push(
      `  chunk ${range.chunk} (bytes ${range.start}-${range.end - 1}) ${
        // Not for want of a server: the version it was part of is gone.
        error instanceof FileChangedError
          ? "is not downloaded"
          : "failed on every server"}`,
    );
  }
  const partial = quoteName(error.partialPath);
  if (error.noServerLeft === undefined) {
    lines.push(
      `  the partial file is kept as ${partial}; run the same command again to resume`,
    );
  } else {
    // Running the same command again helps only if those servers change.
    lines.push(
      "  every server was left out (the warnings above say why)",
      error.noServerLeft === "ranges"
        ? `  the partial file is kept as ${partial}: a server that serves ranges resumes it; one that ignores Range requests sends only whole files, so download in 1 chunk to another output (-o) instead`
        : `  the partial file is kept as ${partial}: the same command resumes it once those servers can serve the file, or with a list of other servers`,
    );
  }
  return { code: ExitCode.INCOMPLETE, message: lines.join("\n") };
}

/**
 * The table: each row an error the client expects, in the order they are
 * tried (a sandbox refusal anywhere in an error's causes comes before the
 * error itself), and how the run ends with it.
 */
const ROWS: ((error: unknown, context: ExitContext) =>
  | Exit
  | undefined
  | Promise<Exit | undefined>)[] = [
    (error) =>
      error instanceof CannotTransferError
        ? { code: ExitCode.CANNOT_TRANSFER, message: error.message }
        : undefined,
    (error) => {
      const denied = notCapableIn(error);
      return denied === undefined ? undefined : {
        code: ExitCode.USAGE,
        message: `error: ${describeDeniedToClient(denied)}`,
      };
    },
    (error) =>
      error instanceof UsageError
        ? {
          code: ExitCode.USAGE,
          message: `error: ${error.message}\nRun with --help for usage.`,
        }
        : undefined,
    // Inputs that cannot be used: the pointer to --help would not help.
    (error) =>
      error instanceof UnusableOutputError || error instanceof InputError
        ? { code: ExitCode.USAGE, message: `error: ${error.message}` }
        : undefined,
    (error, { progress }) =>
      error instanceof IncompleteDownloadError && error.interrupted
        ? {
          code: ExitCode.INTERRUPTED,
          message: error.kept
            ? `Interrupted${
              describeReached(progress)
            }: the partial file is kept as ${
              quoteName(error.partialPath)
            }; run the same command again to resume`
            : `Interrupted${describeReached(progress)}: nothing was written`,
        }
        : undefined,
    (error) =>
      error instanceof IncompleteDownloadError ? incomplete(error) : undefined,
    (error) =>
      error instanceof ChecksumMismatchError
        ? {
          code: ExitCode.CHECKSUM,
          message: `error: ${error.message}; the file is kept as ${
            quoteName(error.partialPath)
          }${
            error.stateKept
              ? ", with its state: if that digest is wrong, the same command with --sha256 of the right file, or without the mirror that sent it, finishes the file without fetching it again"
              : ""
          }`,
        }
        : undefined,
    (error) =>
      error instanceof MirrorsDisagreeError
        ? {
          code: ExitCode.MIRRORS_DISAGREE,
          message: `error: ${error.message}${
            error.partial === undefined
              ? "\nnothing was written: list another mirror of the file (a majority decides), or a server.ts that has it (its digest list decides)"
              : `\nthe download is kept as ${
                quoteName(error.partial.path)
              }, with its state, less the ${
                formatByteSize(error.partial.withdrawnBytes)
              } in doubt: the same command with another mirror of the file, or without the wrong one, fetches those again`
          }`,
        }
        : undefined,
    (error) =>
      error instanceof OutputExistsError
        ? {
          code: ExitCode.USAGE,
          message:
            `error: ${error.message}: it is not replaced; the download is kept as ${
              quoteName(error.partialPath)
            }: remove ${
              quoteName(error.path)
            }, or run the same command with --force to replace it`,
        }
        : undefined,
    // Only a state of a newer version ends the download: it is kept.
    (error) =>
      error instanceof UnreadableStateError
        ? {
          code: ExitCode.USAGE,
          message:
            `error: ${error.message}; resume with that version, or remove ${
              quoteName(error.path)
            } to start over`,
        }
        : undefined,
    // Kept only if the next run can resume it: a partial file with its
    // state.
    async (error, { partialKept }) =>
      error instanceof OutputError
        ? {
          code: ExitCode.OUTPUT,
          message: `error: ${error.message}\n${
            await partialKept()
              ? "The partial download is kept; fix the cause and run the same command again to resume."
              : "Nothing was kept; fix the cause and run the same command again."
          }`,
        }
        : undefined,
  ];

/**
 * How a run that failed with `error` ends.
 *
 * @param error What the run threw.
 * @param context Where the download got to, and what it kept.
 * @returns The message and exit code, or `undefined` for an error the
 * client does not expect (an internal error: it is rethrown).
 */
export async function exitFor(
  error: unknown,
  context: ExitContext,
): Promise<Exit | undefined> {
  for (const row of ROWS) {
    const exit = await row(error, context);
    if (exit !== undefined) return exit;
  }
  return undefined;
}
