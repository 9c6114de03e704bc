/**
 * Writing the control file of a download so that a crash at any moment
 * leaves either the old state or the new one, and, for the saves of one
 * download, into space taken beforehand so a full disk cannot stop the next
 * save.
 *
 * @module
 */

import { writeAll, writeAllSync } from "../../wire/exact_io.ts";
import { type DownloadState, encodeState } from "./download_state.ts";

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
    using file = await createReplacing(temporary);
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
 * Creates a new file at a path, never writing into one that is there: what
 * is there loses this name (other names it has keep it), and the new file
 * is created exclusively.
 *
 * @param path Where the file goes.
 * @returns The new file, open for writing.
 */
async function createReplacing(path: string): Promise<Deno.FsFile> {
  await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return await Deno.open(path, { write: true, createNew: true });
}

/** As {@linkcode createReplacing}, synchronously. */
function createReplacingSync(path: string): Deno.FsFile {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return Deno.openSync(path, { write: true, createNew: true });
}

/** Granularity of the space a {@linkcode StateWriter} reserves. */
const RESERVE_UNIT = 4096;

/**
 * Saves the control file of one download again and again, as
 * {@linkcode saveState} does, but into space taken beforehand: the
 * temporary file stays allocated between saves and each save overwrites
 * it in place (the text padded with spaces to its size), so the save that
 * follows a full disk needs no new space. The space the replaced state
 * frees is taken back at once for the next save, before a write of the
 * download can take it. Only a temporary file the writer made itself is
 * written into: a file found at its name (a hard link to another file,
 * say) is replaced, never written through.
 */
export class StateWriter implements Disposable {
  /** Where the state goes. */
  readonly path: string;
  readonly #temporary: string;
  /** Bytes the temporary file holds ready for the next save; 0 if none. */
  #reserved = 0;
  /** Which file the reserve is, so the next save writes into no other. */
  #reserve: { dev: number; ino: number | null } | undefined;

  /**
   * Creates a writer; nothing is written before the first save.
   *
   * @param path Where the state goes.
   */
  constructor(path: string) {
    this.path = path;
    this.#temporary = `${path}.tmp`;
  }

  /**
   * Replaces the state so that a crash at any moment leaves either the old
   * one or the new one: the temporary file is written, flushed and renamed
   * over it, then allocated again for the next save.
   *
   * @param state The state.
   * @throws The file system's error, such as a full disk; the previous
   * state stays valid then.
   */
  async save(state: DownloadState): Promise<void> {
    const text = new TextEncoder().encode(encodeState(state));
    let padded: Uint8Array;
    try {
      // Not truncated: the bytes go where the reserved ones are.
      using file = await this.#openReserve() ??
        await createReplacing(this.#temporary);
      const length = text.length <= this.#reserved
        ? this.#reserved
        : Math.ceil((2 * text.length) / RESERVE_UNIT) * RESERVE_UNIT;
      this.#reserved = 0;
      padded = new Uint8Array(length).fill(0x20);
      padded.set(text);
      padded[length - 1] = 0x0a;
      await writeAll(file, padded);
      await file.truncate(length);
      await file.syncData();
    } catch (error) {
      this.#reserved = 0;
      this.#removeTemporary();
      throw error;
    }
    // Synchronous from here: no write of the download runs in between, so
    // the space the old state frees is the next save's.
    Deno.renameSync(this.#temporary, this.path);
    try {
      using file = createReplacingSync(this.#temporary);
      writeAllSync(file, padded.fill(0x20, 0, padded.length - 1));
      const { dev, ino } = file.statSync();
      this.#reserve = { dev, ino };
      this.#reserved = padded.length;
    } catch {
      // No reserve: the next save needs new space, and may fail.
      this.#removeTemporary();
    }
  }

  /**
   * Opens the reserve for the next save, if there is one and its name still
   * leads to it, with no other name.
   *
   * @returns The reserve, or `undefined` when a new file must be made.
   */
  async #openReserve(): Promise<Deno.FsFile | undefined> {
    if (this.#reserved === 0 || this.#reserve === undefined) return undefined;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#temporary, { write: true });
    } catch {
      // Gone, or no longer a file: a new one is made in its place.
      return undefined;
    }
    const { dev, ino, nlink, isFile } = await file.stat();
    if (
      isFile && nlink === 1 && dev === this.#reserve.dev &&
      ino === this.#reserve.ino
    ) {
      return file;
    }
    file.close();
    return undefined;
  }

  /** Removes the reserved temporary file; the state stays. */
  [Symbol.dispose](): void {
    this.#reserved = 0;
    this.#removeTemporary();
  }

  #removeTemporary(): void {
    try {
      Deno.removeSync(this.#temporary);
    } catch {
      // Gone already, or never made.
    }
  }
}
