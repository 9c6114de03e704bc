/**
 * The output a download holds: its locks, taken before any server is
 * asked, and the partial file the checks under them found.
 *
 * @module
 */

import { OutputLock } from "./output_lock.ts";
import {
  checkOutputPath,
  type FileIdentity,
  ownerLockPath,
  type SideFiles,
} from "./side_files.ts";

/** The locks a download holds, and the partial file its checks found. */
export interface HeldOutput {
  /** The output's own lock. */
  lock: OutputLock;
  /** The lock of the download whose side file the output is, if any. */
  ownerLock: OutputLock | undefined;
  /** The partial file found, `null` if none. */
  partial: FileIdentity | null;
}

/**
 * Takes the output's locks and checks, under them, that the output and its
 * side files can be used, before any server is asked.
 *
 * @param sideFiles The output and the files beside it.
 * @param force Whether the output may be replaced.
 * @returns The locks.
 * @throws {UnusableOutputError} If the output or a side file cannot be
 * used; the locks taken are released.
 */
export async function lockOutput(
  sideFiles: SideFiles,
  force: boolean,
): Promise<HeldOutput> {
  let lock: OutputLock | undefined;
  let ownerLock: OutputLock | undefined;
  try {
    lock = await OutputLock.acquire(sideFiles);
    const owner = ownerLockPath(sideFiles.output);
    if (owner !== undefined) {
      ownerLock = await OutputLock.acquire({
        output: sideFiles.output,
        lock: owner,
        owner: true,
      });
    }
    const { partial } = await checkOutputPath(sideFiles, { force });
    return { lock, ownerLock, partial };
  } catch (error) {
    await ownerLock?.release();
    await lock?.release();
    throw error;
  }
}
