/**
 * The end of a complete download: the whole file's digest checked if one
 * was given, the file given its name, the state removed.
 *
 * @module
 */

import { ChecksumMismatchError } from "./download_errors.ts";
import type { Checkpoints } from "./checkpoint.ts";
import { removeState } from "./output/download_state.ts";
import { OutputExistsError, type OutputFile } from "./output/output_file.ts";

/**
 * Checks the whole file's digest if one was given, then gives the file its
 * name and removes the state.
 *
 * @param run The expected digest, `replace`, the file, its saves and
 * paths.
 * @throws {ChecksumMismatchError} If the digest differs.
 * @throws {OutputExistsError} If a file took the name and `replace` is not
 * set; the complete file stays as the partial one, its state saying so.
 */
export async function commitDownload(run: {
  options: { sha256?: string | undefined; replace?: boolean };
  /** Where the expected digest came from when not from `--sha256`. */
  sha256From?: string | undefined;
  /** Whether the expected digest is a claim that a file failing it does
   * not disprove (a minority of the mirrors sent it): the state is then
   * kept, so a run with `--sha256` (or other mirrors' digests) finishes the
   * file without fetching it again. */
  keepStateOnMismatch?: boolean | undefined;
  output: OutputFile;
  checkpoints: Checkpoints;
  statePath: string;
  partialPath: string;
}): Promise<void> {
  const { options, output } = run;
  if (options.sha256 !== undefined) {
    const actual = await output.sha256();
    if (actual !== options.sha256.toLowerCase()) {
      const kept = run.keepStateOnMismatch ?? false;
      if (kept) await run.checkpoints.save();
      else await removeState(run.statePath);
      throw new ChecksumMismatchError({
        expected: options.sha256,
        actual,
        partialPath: run.partialPath,
        expectedFrom: run.sha256From,
        stateKept: kept,
      });
    }
  }
  try {
    await output.commit({ replace: options.replace ?? false });
  } catch (error) {
    // The complete file stays under its temporary name, its state saying
    // so: the same command with --force finishes it without a transfer.
    if (error instanceof OutputExistsError) {
      await run.checkpoints.saveUnsynced().catch(() => {});
    }
    throw error;
  }
  await removeState(run.statePath);
}
