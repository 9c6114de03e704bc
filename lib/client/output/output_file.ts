/**
 * The file a download writes: one handle shared by all ranges, written with
 * seek + write behind a mutex, under a temporary name until it is complete.
 *
 * @module
 */

import { Mutex } from "../mutex.ts";
import { createSha256 } from "../../wire/sha256.ts";
import { writeAll, writeAllSync } from "../../wire/exact_io.ts";
import { type FileIdentity, sideFilePaths } from "./side_files.ts";
import { quoteName } from "../../wire/quoted_name.ts";

export { PARTIAL_SUFFIX } from "./side_files.ts";

/**
 * Whether something is at a path (a symbolic link counts, even a broken
 * one).
 *
 * @param path The path.
 * @returns `true` if `lstat` finds it.
 * @throws Errors other than `NotFound`, such as a permission refused.
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Writing the output failed; the download cannot go on. */
export class OutputError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, and where.
   * @param options The file system error, as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "OutputError";
  }
}

/** The final name was taken while the download ran; the file stays under
 * its temporary name. */
export class OutputExistsError extends Error {
  /** The final name. */
  readonly path: string;
  /** The temporary name the complete file stays under. */
  readonly partialPath: string;

  /**
   * Creates the error.
   *
   * @param path The final name.
   * @param partialPath The temporary name the file stays under.
   */
  constructor(path: string, partialPath: string) {
    super(`${quoteName(path)} appeared while the file was downloaded`);
    this.name = "OutputExistsError";
    this.path = path;
    this.partialPath = partialPath;
  }
}

/**
 * The local name for a requested file: its base name, in the current folder.
 *
 * @param requested The name asked of the servers, possibly with folders.
 * @returns The base name.
 * @throws {TypeError} If the name has no usable base name.
 */
export function localName(requested: string): string {
  const base = requested.split("/").at(-1) ?? "";
  if (base === "" || base === "." || base === "..") {
    throw new TypeError(
      `Cannot name the output after ${
        quoteName(requested)
      }: it has no file name part`,
    );
  }
  return base;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /os error 28|ENOSPC|No space left/i.test(message)
    ? `no space left on the device (${message})`
    : message;
}

/** A file being downloaded, written out of order from several tasks. */
export class OutputFile {
  /** Where the file goes when complete. */
  readonly path: string;
  /** Where it is written until then. */
  readonly partialPath: string;
  #file: Deno.FsFile;
  #mutex = new Mutex();
  #closed = false;

  private constructor(path: string, partialPath: string, file: Deno.FsFile) {
    this.path = path;
    this.partialPath = partialPath;
    this.#file = file;
  }

  /**
   * Opens the temporary file: an existing one of the right size when
   * resuming, otherwise a new (or emptied) one, sized. It never writes into
   * a file it may not take: one with other names, or one that is not the
   * file the checks before the download found (see `checkOutputPath`),
   * such as a file another program put there since.
   *
   * @param path The final name.
   * @param size The file size in bytes.
   * @param options `resume`: keep the temporary file's contents. `found`:
   * the partial file the checks found, `null` if none (so any file there
   * now appeared since), or `undefined` if no checks were made (whatever
   * is there is this download's).
   * @returns The open output, and whether its contents were kept.
   * @throws {OutputError} If the file cannot be created or sized, or a file
   * it may not take has its name.
   */
  static async open(
    path: string,
    size: number,
    options: { resume?: boolean; found?: FileIdentity | null } = {},
  ): Promise<{ output: OutputFile; resumed: boolean }> {
    const partialPath = sideFilePaths(path).partial;
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(partialPath, { read: true, write: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new OutputError(
          `Cannot open ${quoteName(partialPath)}: ${describe(error)}`,
          { cause: error },
        );
      }
    }
    if (file !== undefined) {
      try {
        const info = await file.stat();
        const { found } = options;
        if (
          found === null ||
          (found !== undefined &&
            (info.dev !== found.dev || info.ino !== found.ino))
        ) {
          throw new OutputError(
            `${
              quoteName(partialPath)
            } appeared during the download, where the partial download goes: it is left alone; move it away, and run the same command again`,
          );
        }
        if (!info.isFile) {
          throw new OutputError(
            `${
              quoteName(partialPath)
            } is not a regular file, where the partial download goes: it is left alone; move it away, and run the same command again`,
          );
        }
        if (info.nlink !== null && info.nlink > 1) {
          throw new OutputError(
            `${
              quoteName(partialPath)
            } has other names (hard links), where the partial download goes: it is left alone; move it away, and run the same command again`,
          );
        }
        if (options.resume && info.size === size) {
          return {
            output: new OutputFile(path, partialPath, file),
            resumed: true,
          };
        }
        // Emptied, then sized: a fresh start reads as zeros.
        await file.truncate(0);
      } catch (error) {
        file.close();
        if (error instanceof OutputError) throw error;
        throw new OutputError(
          `Cannot open ${quoteName(partialPath)}: ${describe(error)}`,
          { cause: error },
        );
      }
    } else {
      try {
        file = await Deno.open(partialPath, {
          read: true,
          write: true,
          createNew: true,
        });
      } catch (error) {
        throw new OutputError(
          error instanceof Deno.errors.AlreadyExists
            ? `${
              quoteName(partialPath)
            } appeared during the download, where the partial download goes: it is left alone; move it away, and run the same command again`
            : `Cannot create ${quoteName(partialPath)}: ${describe(error)}`,
          { cause: error },
        );
      }
    }
    try {
      await file.truncate(size);
    } catch (error) {
      file.close();
      // Emptied or made here: nothing of it is worth keeping.
      await Deno.remove(partialPath).catch(() => {});
      throw new OutputError(
        `Cannot size ${quoteName(partialPath)} to ${size} bytes: ${
          describe(error)
        }`,
        { cause: error },
      );
    }
    return { output: new OutputFile(path, partialPath, file), resumed: false };
  }

  /**
   * Writes bytes at an offset, by default on Deno's thread pool, so the
   * event loop goes on receiving meanwhile; `onThisThread` writes here
   * instead, a copy into the page cache that costs less than the hop to
   * the pool and back, for bytes nothing receives in the background. Holds
   * the mutex for the seek and write. The bytes must not change until this
   * settles.
   *
   * @param offset Where the bytes go.
   * @param bytes The bytes.
   * @param options `onThisThread`: write on this thread.
   * @throws {OutputError} If the write fails.
   */
  async writeAt(
    offset: number,
    bytes: Uint8Array,
    options: { onThisThread?: boolean } = {},
  ): Promise<void> {
    await this.#mutex.runExclusive(async () => {
      try {
        // The seek is a system call that does not block: no hop.
        this.#file.seekSync(offset, Deno.SeekMode.Start);
        if (options.onThisThread) writeAllSync(this.#file, bytes);
        else await writeAll(this.#file, bytes);
      } catch (error) {
        throw new OutputError(
          `Cannot write to ${quoteName(this.partialPath)} at byte ${offset}: ${
            describe(error)
          }`,
          { cause: error },
        );
      }
    });
  }

  /**
   * Flushes what was written to the device, so a saved state never claims
   * bytes a power loss would lose.
   *
   * @throws {OutputError} If the flush fails.
   */
  async sync(): Promise<void> {
    try {
      await this.#file.syncData();
    } catch (error) {
      throw new OutputError(
        `Cannot flush ${quoteName(this.partialPath)}: ${describe(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * The SHA-256 digest of the whole file as written.
   *
   * @returns The digest in lower-case hex.
   * @throws {OutputError} If the file cannot be read.
   */
  async sha256(): Promise<string> {
    return await this.#mutex.runExclusive(async () => {
      try {
        await this.#file.seek(0, Deno.SeekMode.Start);
        const hash = await createSha256();
        const buffer = new Uint8Array(1024 * 1024);
        while (true) {
          const n = await this.#file.read(buffer);
          if (n === null) break;
          hash.update(buffer.subarray(0, n));
        }
        return hash.digest("hex");
      } catch (error) {
        throw new OutputError(
          `Cannot read back ${quoteName(this.partialPath)}: ${describe(error)}`,
          { cause: error },
        );
      }
    });
  }

  /**
   * Flushes and closes the file and gives it its final name. Unless told to
   * replace, it never replaces a file that took the name meanwhile: the
   * name is added as a hard link, which fails if it exists, and the
   * temporary name removed. Where the file system has no hard links, it
   * checks and renames.
   *
   * @param options `replace`: an existing file of the final name may be
   * replaced.
   * @throws {OutputExistsError} If the final name is taken and may not be
   * replaced; the temporary file stays, complete.
   * @throws {OutputError} If the flush or rename fails, or the temporary
   * name no longer leads to the file written.
   */
  async commit(options: { replace?: boolean } = {}): Promise<void> {
    let written: Deno.FileInfo;
    try {
      await this.#file.syncData();
      written = await this.#file.stat();
      this.close();
    } catch (error) {
      throw new OutputError(
        `Cannot finish ${quoteName(this.path)}: ${describe(error)}`,
        { cause: error },
      );
    }
    // The name must still lead to the file written, not to one that was
    // put in its place meanwhile.
    const named = await Deno.lstat(this.partialPath).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (named?.ino !== written.ino || named?.dev !== written.dev) {
      throw new OutputError(
        `Cannot finish ${quoteName(this.path)}: ${
          quoteName(this.partialPath)
        } was ${
          named === undefined ? "removed" : "replaced by another file"
        } during the download`,
      );
    }
    if (!options.replace && await this.#linkFinalName()) {
      try {
        await Deno.remove(this.partialPath);
      } catch (error) {
        // Left in place, a later run would truncate the finished file
        // through it.
        throw new OutputError(
          `${quoteName(this.path)} is complete, but its other name ${
            quoteName(this.partialPath)
          } cannot be removed: ${describe(error)}; remove it by hand`,
          { cause: error },
        );
      }
      return;
    }
    try {
      await Deno.rename(this.partialPath, this.path);
    } catch (error) {
      throw new OutputError(
        `Cannot finish ${quoteName(this.path)}: ${describe(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * Gives the file its final name as a hard link, unless something has the
   * name.
   *
   * @returns `true` if linked; `false` if the file system has no hard
   * links and nothing has the name, so a rename may follow.
   * @throws {OutputExistsError} If something has the name.
   */
  async #linkFinalName(): Promise<boolean> {
    try {
      await Deno.link(this.partialPath, this.path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) {
        throw new OutputExistsError(this.path, this.partialPath);
      }
      if (error instanceof Deno.errors.NotCapable) throw error;
      // Any other failure (EPERM where a file system has no hard links,
      // EMLINK...) leaves the check and rename below.
    }
    if (await pathExists(this.path)) {
      throw new OutputExistsError(this.path, this.partialPath);
    }
    return false;
  }

  /** Closes the file if it is still open; the temporary file stays. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }
}
