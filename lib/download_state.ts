/**
 * The control file saved beside a partial download, as aria2's `.aria2`
 * file is: which file version it holds and which bytes are complete, so a
 * later run continues where this one stopped.
 *
 * @module
 */

import { writeAll } from "./conn_io.ts";
import type { Interval } from "./interval_set.ts";

/** Suffix added to the partial file's name for its control file. */
export const STATE_SUFFIX = ".state";

/** What a control file records. */
export interface DownloadState {
  /** The name asked of the servers. */
  name: string;
  /** The file size. */
  size: number;
  /** The block size digests were checked in (1 without verification). */
  blockSize: number;
  /**
   * SHA-256 (hex) of the block digest list the download was checked
   * against, or `null` when it ran without verification.
   */
  identity: string | null;
  /** Byte intervals written (and verified, when checked). */
  done: Interval[];
}

const FORMAT = "msfd-state-1";

/**
 * Encodes a state as JSON text.
 *
 * @param state The state.
 * @returns The text to store.
 */
export function encodeState(state: DownloadState): string {
  return JSON.stringify({ format: FORMAT, ...state }) + "\n";
}

function isUint(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * Decodes a control file's text.
 *
 * @param text The stored text.
 * @returns The state, or `undefined` if the text is not a valid state.
 */
export function decodeState(text: string): DownloadState | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (
    typeof value !== "object" || value === null ||
    value.format !== FORMAT || typeof value.name !== "string" ||
    !isUint(value.size) || !isUint(value.blockSize) ||
    (value.blockSize as number) < 1 ||
    (value.identity !== null && typeof value.identity !== "string") ||
    !Array.isArray(value.done)
  ) {
    return undefined;
  }
  const size = value.size as number;
  const done: Interval[] = [];
  for (const interval of value.done as unknown[]) {
    if (
      !Array.isArray(interval) || interval.length !== 2 ||
      !isUint(interval[0]) || !isUint(interval[1]) ||
      interval[0] > interval[1] || interval[1] > size
    ) {
      return undefined;
    }
    done.push([interval[0], interval[1]]);
  }
  return {
    name: value.name,
    size,
    blockSize: value.blockSize as number,
    identity: value.identity as string | null,
    done,
  };
}

/**
 * Reads a control file.
 *
 * @param path Where it is.
 * @returns The state, or `undefined` if there is none or it is unreadable.
 */
export async function loadState(
  path: string,
): Promise<DownloadState | undefined> {
  try {
    return decodeState(await Deno.readTextFile(path));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Writes a control file so that a crash at any moment leaves either the
 * old one or the new one: a temporary file, flushed, renamed over it.
 *
 * @param path Where it goes.
 * @param state The state.
 */
export async function saveState(
  path: string,
  state: DownloadState,
): Promise<void> {
  const temporary = `${path}.tmp`;
  try {
    using file = await Deno.open(temporary, {
      write: true,
      create: true,
      truncate: true,
    });
    await writeAll(file, new TextEncoder().encode(encodeState(state)));
    await file.syncData();
  } catch (error) {
    // Typically a full disk: the previous state stays valid.
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  await Deno.rename(temporary, path);
}

/**
 * Removes a control file if it exists.
 *
 * @param path Where it is.
 */
export async function removeState(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
