/**
 * The files a download keeps beside its output until it is complete: the
 * partial file, its state, the state's temporary copy and the lock; their
 * names, and the checks that they can be used before anything is fetched.
 *
 * @module
 */

import { STATE_SUFFIX } from "./download_state.ts";
import { quoteName } from "../../wire/quoted_name.ts";

/** Suffix of the temporary name a download is written under. */
export const PARTIAL_SUFFIX = ".part";
/** Suffix added to the state file's name for its temporary copy (the one
 * `saveState` writes before renaming it over the state). */
export const TEMPORARY_SUFFIX = ".tmp";
/** Suffix added to the partial file's name for the lock of a running
 * download. */
export const LOCK_SUFFIX = ".lock";

/** The longest file name, in bytes, that common file systems allow. */
export const NAME_MAX_BYTES = 255;

/** The longest suffix a side file adds to the output's base name. */
const LONGEST_SUFFIX = PARTIAL_SUFFIX + STATE_SUFFIX + TEMPORARY_SUFFIX;

/** The side files of one output path. */
export interface SideFiles {
  /** The output's final name. */
  output: string;
  /** Where the file is written until complete: `<name>.part`. */
  partial: string;
  /** Which bytes are complete: `<name>.part.state`. */
  state: string;
  /** The state's copy while it is saved: `<name>.part.state.tmp`. */
  stateTemporary: string;
  /** Held by the running download: `<name>.part.lock`. */
  lock: string;
}

const encoder = new TextEncoder();

/** The byte length of a text in UTF-8. */
function utf8Length(text: string): number {
  return encoder.encode(text).length;
}

/** 64-bit FNV-1a of the UTF-8 bytes, as 16 hex digits. */
function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of encoder.encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

/**
 * The base name side files are named after: the output's own base name
 * when every side file's name fits in {@linkcode NAME_MAX_BYTES}; otherwise
 * its longest start that leaves room, whole characters only, then `~` and a
 * hash of the whole base name, so two long names that start alike still get
 * side files of their own.
 *
 * @param base The output's base name.
 * @returns The base name for the side files.
 */
export function sideBaseName(base: string): string {
  if (utf8Length(base + LONGEST_SUFFIX) <= NAME_MAX_BYTES) return base;
  const tag = `~${fnv1a64(base)}`;
  const room = NAME_MAX_BYTES - utf8Length(LONGEST_SUFFIX + tag);
  let start = "";
  let used = 0;
  for (const char of base) {
    const length = utf8Length(char);
    if (used + length > room) break;
    start += char;
    used += length;
  }
  return start + tag;
}

/**
 * The side files of an output path, in the output's folder.
 *
 * @param output The output's path.
 * @returns The paths of the partial file, the state, its temporary copy and
 * the lock.
 */
export function sideFilePaths(output: string): SideFiles {
  const slash = output.lastIndexOf("/");
  const folder = output.slice(0, slash + 1);
  const partial = folder + sideBaseName(output.slice(slash + 1)) +
    PARTIAL_SUFFIX;
  const state = partial + STATE_SUFFIX;
  return {
    output,
    partial,
    state,
    stateTemporary: state + TEMPORARY_SUFFIX,
    lock: partial + LOCK_SUFFIX,
  };
}

/**
 * The lock of the download that would write the output as one of its own
 * side files, if the output's name is one: an output `x.part`,
 * `x.part.state` or `x.part.state.tmp` is a side file of a download to
 * `x`, which holds `x.part.lock`. A download to such an output holds that
 * lock too, so the two never run at once. (An output named like a lock,
 * `x.part.lock`, needs none: a lock is never written into, and a file at
 * its name that is not empty is refused, never removed.)
 *
 * @param output The output's path.
 * @returns The lock's path, or `undefined` when the output's name is no
 * other download's side file.
 */
export function ownerLockPath(output: string): string | undefined {
  const slash = output.lastIndexOf("/");
  const base = output.slice(slash + 1);
  for (const suffix of ["", STATE_SUFFIX, STATE_SUFFIX + TEMPORARY_SUFFIX]) {
    if (!base.endsWith(PARTIAL_SUFFIX + suffix)) continue;
    const partial = base.slice(0, base.length - suffix.length);
    // Another download's partial file has a name before its suffix, and
    // room for every side file's name.
    if (
      partial === PARTIAL_SUFFIX ||
      utf8Length(partial + STATE_SUFFIX + TEMPORARY_SUFFIX) > NAME_MAX_BYTES
    ) {
      return undefined;
    }
    return output.slice(0, slash + 1) + partial + LOCK_SUFFIX;
  }
  return undefined;
}

/** Which file a path led to: its device and inode. */
export interface FileIdentity {
  /** The device. */
  dev: number;
  /** The inode, `null` where the system has none. */
  ino: number | null;
}

/** The output path cannot be used: the download does not start. */
export class UnusableOutputError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong, and what to do.
   * @param options The file system error, as `cause`, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnusableOutputError";
  }
}

/**
 * What is at a path, without following a symbolic link.
 *
 * @param path The path.
 * @returns `"file"` for a regular file, a description such as `"a folder"`
 * for anything else, `undefined` when nothing is there.
 */
export async function kindAt(path: string): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (info.isFile) return "file";
  if (info.isDirectory) return "a folder";
  if (info.isSymlink) return "a symbolic link";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  return "a device";
}

/**
 * Checks, before anything is fetched, that a download can use its output
 * path: the final name is a file name the system allows and no folder, and
 * exists only when it may be replaced; each side file is absent or a
 * regular file; the state, if any, can be read.
 *
 * @param files The output's side files.
 * @param options `force`: an existing output file may be replaced.
 * @returns Which file the partial file is, or `null` if there is none: the
 * download overwrites or resumes that file only, never one that takes its
 * name later.
 * @throws {UnusableOutputError} Saying what is wrong and what to do.
 */
export async function checkOutputPath(
  files: SideFiles,
  options: { force: boolean },
): Promise<{ partial: FileIdentity | null }> {
  const base = files.output.slice(files.output.lastIndexOf("/") + 1);
  const length = utf8Length(base);
  if (length > NAME_MAX_BYTES) {
    throw new UnusableOutputError(
      `Cannot name the output ${
        quoteName(base)
      }: the name is ${length} bytes long, and a file name has at most ${NAME_MAX_BYTES}`,
    );
  }
  const output = await kindAt(files.output);
  if (output === "a folder") {
    throw new UnusableOutputError(
      `${quoteName(files.output)} is a folder: name another output with -o`,
    );
  }
  if (output !== undefined && !options.force) {
    throw new UnusableOutputError(
      `${
        quoteName(files.output)
      } exists already: remove it, or pass --force to replace it`,
    );
  }
  const sides: [string, string][] = [
    [files.partial, "partial download"],
    [files.state, "download state"],
    [files.stateTemporary, "download state's temporary copy"],
  ];
  for (const [path, what] of sides) {
    const kind = await kindAt(path);
    if (kind !== undefined && kind !== "file") {
      throw new UnusableOutputError(
        `${
          quoteName(path)
        } is ${kind}, where the ${what} goes: move it away, or name another output with -o`,
      );
    }
  }
  // A fresh start truncates the partial file: through another name, that
  // would destroy another file.
  let partial: FileIdentity | null = null;
  if ((await kindAt(files.partial)) === "file") {
    const { nlink, dev, ino } = await Deno.lstat(files.partial);
    if (nlink !== null && nlink > 1) {
      throw new UnusableOutputError(
        `${
          quoteName(files.partial)
        } has other names (hard links), where the partial download goes: move it away, or name another output with -o`,
      );
    }
    partial = { dev, ino };
  }
  try {
    (await Deno.open(files.state, { read: true })).close();
    return { partial };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { partial };
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new UnusableOutputError(
        `Cannot read the download state ${
          quoteName(files.state)
        }: permission denied`,
        { cause: error },
      );
    }
    throw error;
  }
}
