/**
 * The lock a running download holds on its output: an exclusive advisory
 * lock (`flock`) on a side file, `<name>.part.lock`. The system releases
 * it when the process ends, however it ends, so a crashed run leaves at
 * most an unlocked, empty file that the next run takes over. A file at the
 * lock's name that is not empty or has other names is no lock: it is
 * refused, never removed.
 *
 * @module
 */

import { kindAt, LOCK_SUFFIX, UnusableOutputError } from "./side_files.ts";
import { quoteName } from "../../wire/quoted_name.ts";

/** Another download to the same output is running. */
export class OutputLockedError extends UnusableOutputError {
  /**
   * Creates the error.
   *
   * @param output The output path.
   * @param lockPath The lock file another run holds.
   * @param options `owner`: the lock is not the output's own but that of
   * the download whose side file the output is (see `ownerLockPath`).
   */
  constructor(
    output: string,
    lockPath: string,
    options: { owner?: boolean } = {},
  ) {
    const partial = lockPath.slice(0, -LOCK_SUFFIX.length);
    super(
      `${
        options.owner
          ? `Another download that writes ${
            quoteName(partial)
          } or the files beside it`
          : `Another download to ${
            quoteName(output)
          }, or to one of its side files,`
      } is running (it holds ${
        quoteName(lockPath)
      }): wait for it to end, or name another output with -o`,
    );
    this.name = "OutputLockedError";
  }
}

/** How a folder that cannot take the lock file is described. */
function describeCreateError(error: unknown, lockPath: string): string {
  const slash = lockPath.lastIndexOf("/");
  const folder = slash < 0 ? "." : lockPath.slice(0, slash) || "/";
  if (error instanceof Deno.errors.NotFound) {
    return `Cannot write into ${quoteName(folder)}: no such folder`;
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return `Cannot write into ${quoteName(folder)}: it is not a folder`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `Cannot write into ${quoteName(folder)}: permission denied`;
  }
  if ((error as { code?: unknown })?.code === "EROFS") {
    return `Cannot write into ${
      quoteName(folder)
    }: the file system is read-only`;
  }
  return `Cannot create the lock file ${quoteName(lockPath)}: ${
    error instanceof Error ? error.message : String(error)
  }`;
}

/** The lock of one output, held until disposed. */
export class OutputLock implements AsyncDisposable {
  /** The lock file. */
  readonly path: string;
  #file: Deno.FsFile;
  /** The file locked, so the release removes no other. */
  #held: { dev: number; ino: number | null };
  #released = false;

  private constructor(
    path: string,
    file: Deno.FsFile,
    held: { dev: number; ino: number | null },
  ) {
    this.path = path;
    this.#file = file;
    this.#held = { dev: held.dev, ino: held.ino };
  }

  /**
   * Takes the lock of an output at once, or fails: it never waits.
   *
   * @param files The output path and its lock file's path; `owner` when
   * the lock is that of the download whose side file the output is.
   * @returns The lock, held until disposed.
   * @throws {OutputLockedError} If another process holds it.
   * @throws {UnusableOutputError} If the lock file cannot be created: the
   * folder is missing, not a folder, or not writable.
   */
  static async acquire(
    files: { output: string; lock: string; owner?: boolean },
  ): Promise<OutputLock> {
    let kind: string | undefined;
    try {
      kind = await kindAt(files.lock);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error;
      throw new UnusableOutputError(describeCreateError(error, files.lock), {
        cause: error,
      });
    }
    if (kind !== undefined && kind !== "file") {
      throw new UnusableOutputError(
        `${
          quoteName(files.lock)
        } is ${kind}, where the lock of a running download goes: move it away, or name another output with -o`,
      );
    }
    // A run that releases removes the file while it holds the lock; one
    // that opened the file just before then locks a file without a name.
    // It sees that and starts again with the file now at the path.
    for (let attempt = 0;; attempt++) {
      let file: Deno.FsFile;
      try {
        file = await Deno.open(files.lock, {
          read: true,
          write: true,
          create: true,
        });
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) throw error;
        throw new UnusableOutputError(describeCreateError(error, files.lock), {
          cause: error,
        });
      }
      try {
        if (!await file.tryLock(true)) {
          throw new OutputLockedError(files.output, files.lock, files);
        }
        const held = await file.stat();
        const named = await Deno.lstat(files.lock).catch((error) => {
          if (error instanceof Deno.errors.NotFound) return undefined;
          throw error;
        });
        if (named?.ino === held.ino && named?.dev === held.dev) {
          // A lock file is empty and has one name: anything else is another
          // file, which the release would remove.
          if (held.nlink !== null && held.nlink > 1) {
            throw new UnusableOutputError(
              `${
                quoteName(files.lock)
              } has other names (hard links), where the lock of a running download goes: move it away, or name another output with -o`,
            );
          }
          if (held.size > 0) {
            throw new UnusableOutputError(
              `${
                quoteName(files.lock)
              } is a file that is not empty, where the (empty) lock of a running download goes: move it away, or name another output with -o`,
            );
          }
          return new OutputLock(files.lock, file, held);
        }
        if (attempt >= 10) {
          throw new OutputLockedError(files.output, files.lock, files);
        }
      } catch (error) {
        file.close();
        throw error;
      }
      file.close();
    }
  }

  /**
   * Releases the lock and removes its file, if its name still leads to it.
   * The file goes first, while the lock is still held, so no other run can
   * lock it in between and keep a lock on a file the next run no longer
   * finds.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    try {
      const named = await Deno.lstat(this.path);
      if (named.ino === this.#held.ino && named.dev === this.#held.dev) {
        await Deno.remove(this.path);
      }
    } catch {
      // Whatever stops the removal (the file removed by hand, the folder
      // made read-only), the lock ends with the handle below, and a file
      // left behind is taken over by the next run.
    } finally {
      this.#file.close();
    }
  }

  /** Releases the lock, as {@linkcode OutputLock.release}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
