/**
 * The folder a server shares, and the rules for which names in it may be
 * opened: regular files inside it, and nothing else.
 *
 * @module
 */

import { Status } from "../wire/protocol.ts";
import { quoteName } from "../wire/quoted_name.ts";

/** A request for a file that cannot be served; carries the reply status. */
export class FileAccessError extends Error {
  /** The status to reply with. */
  readonly status: Status;

  /**
   * Creates the error for a request that cannot be served.
   *
   * @param status The status to reply with.
   * @param message What is wrong, for the reply and the log.
   * @param options The underlying error, if any.
   */
  constructor(status: Status, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileAccessError";
    this.status = status;
  }
}

/** An open file ready to be served. */
export interface ServedFile extends Disposable {
  /** The open file, for reading. */
  file: Deno.FsFile;
  /** Size of the file when it was opened. */
  size: number;
  /** What `stat` said of the open file: identifies this version of it. */
  info: Deno.FileInfo;
}

/** A folder whose regular files are served. */
export class ServedFolder {
  /** The folder's canonical absolute path. */
  readonly root: string;
  #prefix: string;

  private constructor(root: string) {
    this.root = root;
    this.#prefix = root.endsWith("/") ? root : `${root}/`;
  }

  /**
   * Resolves and checks the folder to serve.
   *
   * @param path The folder, absolute or relative to the current one.
   * @returns The served folder.
   * @throws {Deno.errors.NotFound} If the folder does not exist.
   * @throws {TypeError} If the path is not a folder.
   */
  static async open(path: string): Promise<ServedFolder> {
    const root = await Deno.realPath(path);
    if (!(await Deno.stat(root)).isDirectory) {
      throw new TypeError(
        `${quoteName(path)} is not a folder`,
      );
    }
    return new ServedFolder(root);
  }

  /**
   * Opens a file of the folder for reading. The name is `/`-separated and
   * relative to the folder; absolute names, `..` segments, symbolic links
   * that lead out of the folder, and anything but a regular file are refused.
   * The calls are synchronous: the server is serial, and a hop to a thread
   * pool for each of them tripled the CPU time of a request.
   *
   * @param name The requested name.
   * @returns The open file and its size; dispose of it to close the file.
   * @throws {FileAccessError} With the status to reply with.
   */
  openFile(name: string): ServedFile {
    const path = this.#resolveName(name);
    let real: string;
    try {
      real = Deno.realPathSync(path);
    } catch (error) {
      throw mapFsError(error, name);
    }
    if (!real.startsWith(this.#prefix)) {
      throw new FileAccessError(
        Status.FORBIDDEN,
        `Not inside the served folder: ${quoteName(name)}`,
      );
    }
    // Checked before opening: opening a FIFO for reading would block.
    let stat: Deno.FileInfo;
    try {
      stat = Deno.statSync(real);
    } catch (error) {
      throw mapFsError(error, name);
    }
    // A name that ends in "/" (or "/.") names a folder, which a file is
    // not, as the system's own realpath says; Deno's drops the ending.
    if (namesFolder(name) && !stat.isDirectory) {
      throw new FileAccessError(
        Status.NOT_FOUND,
        `No such file: ${quoteName(name)}`,
      );
    }
    if (!stat.isFile) {
      throw new FileAccessError(
        Status.FORBIDDEN,
        `Not a regular file: ${quoteName(name)}`,
      );
    }
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(real, { read: true });
    } catch (error) {
      throw mapFsError(error, name);
    }
    try {
      const opened = file.statSync();
      if (!opened.isFile) {
        throw new FileAccessError(
          Status.FORBIDDEN,
          `Not a regular file: ${quoteName(name)}`,
        );
      }
      return {
        file,
        size: opened.size,
        info: opened,
        [Symbol.dispose]: () => file.close(),
      };
    } catch (error) {
      file.close();
      throw error instanceof FileAccessError ? error : mapFsError(error, name);
    }
  }

  #resolveName(name: string): string {
    if (name.startsWith("/")) {
      throw new FileAccessError(
        Status.FORBIDDEN,
        `Absolute names are not served: ${quoteName(name)}`,
      );
    }
    if (name.includes("\0")) {
      throw new FileAccessError(
        Status.BAD_REQUEST,
        "The file name contains a NUL byte",
      );
    }
    const segments = name.split("/");
    if (segments.includes("..")) {
      throw new FileAccessError(
        Status.FORBIDDEN,
        `Names with ".." segments are not served: ${quoteName(name)}`,
      );
    }
    return this.#prefix + name;
  }
}

/** Whether a name can only name a folder: its last segment is empty or
 * ".", as in `sub/`, `one.bin//` or `one.bin/.`. */
function namesFolder(name: string): boolean {
  const last = name.slice(name.lastIndexOf("/") + 1);
  return last === "" || last === ".";
}

function mapFsError(error: unknown, name: string): FileAccessError {
  if (error instanceof Deno.errors.FilesystemLoop) {
    // The name exists; following it never ends.
    return new FileAccessError(
      Status.FORBIDDEN,
      `Leads through a symbolic link loop: ${quoteName(name)}`,
      { cause: error },
    );
  }
  if (
    error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.NotADirectory
  ) {
    return new FileAccessError(
      Status.NOT_FOUND,
      `No such file: ${quoteName(name)}`,
      {
        cause: error,
      },
    );
  }
  if (
    error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotCapable
  ) {
    return new FileAccessError(
      Status.FORBIDDEN,
      `Permission denied: ${quoteName(name)}`,
      { cause: error },
    );
  }
  if ((error as { code?: unknown }).code === "ENAMETOOLONG") {
    return new FileAccessError(
      Status.NOT_FOUND,
      `No such file: ${quoteName(name)}`,
      {
        cause: error,
      },
    );
  }
  // The OS message names paths on the server: it goes to the log only.
  return new FileAccessError(
    Status.SERVER_ERROR,
    `Cannot open ${quoteName(name)}`,
    {
      cause: error,
    },
  );
}
