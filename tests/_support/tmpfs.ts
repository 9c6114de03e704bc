/**
 * A small tmpfs mounted for one test: a disk that fills up, or a read-only
 * folder that root cannot write into either. Mounting needs root.
 *
 * @module
 */

/** A tmpfs mounted on a folder; unmounted when disposed. */
export class Tmpfs implements AsyncDisposable {
  /** The folder it is mounted on. */
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Mounts a tmpfs on an existing folder.
   *
   * @param path The folder.
   * @param options Its size (`1M`, `64M`), how many files and folders it
   * may hold (its own root folder counts), and whether it is read-only.
   * @returns The mount, or `undefined` where mounting is not allowed (not
   * root, or no `mount` program).
   */
  static async mount(
    path: string,
    options: { size: string; inodes?: number; readOnly?: boolean },
  ): Promise<Tmpfs | undefined> {
    const flags = `size=${options.size}${
      options.inodes === undefined ? "" : `,nr_inodes=${options.inodes}`
    }${options.readOnly ? ",ro" : ""}`;
    try {
      const result = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", flags, "tmpfs", path],
        stdout: "null",
        stderr: "null",
      }).output();
      return result.success ? new Tmpfs(path) : undefined;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Changes its size; what it holds stays.
   *
   * @param size The new size (`64M`).
   */
  async resize(size: string): Promise<void> {
    const result = await new Deno.Command("mount", {
      args: ["-o", `remount,size=${size}`, this.path],
    }).output();
    if (!result.success) {
      throw new Error(
        `Cannot resize the tmpfs on ${this.path}: ${
          new TextDecoder().decode(result.stderr)
        }`,
      );
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await new Deno.Command("umount", { args: [this.path] }).output();
  }
}
