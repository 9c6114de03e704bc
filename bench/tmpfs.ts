/**
 * The work folder: a tmpfs the benchmark mounts for itself when it runs as
 * root, so that no disk takes part in the timings; otherwise a temporary
 * folder, or a new folder under `--dir`. Gone again on dispose.
 *
 * @module
 */

import { MIB } from "./stats.ts";

/** The folder the benchmark works in. */
export interface WorkDir extends AsyncDisposable {
  path: string;
  /** Where it is and what file system holds it, for the report. */
  description: string;
  /** Whether it is on a tmpfs (mounted by us or not). */
  onTmpfs: boolean;
}

/** Options for {@linkcode openWorkDir}. */
export interface WorkDirOptions {
  /** Work under this folder instead of mounting a tmpfs. */
  dir: string | undefined;
  /** The tmpfs size to mount. */
  sizeBytes: number;
  /** Told why no tmpfs was mounted. */
  warn: (message: string) => void;
}

/**
 * The file system type holding a path, from the text of `/proc/mounts`:
 * that of the longest mount point the path is under.
 *
 * @param path An absolute path.
 * @param mounts The text of `/proc/mounts`.
 * @returns The type, such as `tmpfs` or `ext4`, or `undefined`.
 */
export function fileSystemOf(path: string, mounts: string): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const line of mounts.split("\n")) {
    const fields = line.split(" ");
    if (fields.length < 3) continue;
    // /proc/mounts writes spaces, tabs, newlines and backslashes as octal.
    const point = fields[1]!.replace(
      /\\([0-7]{3})/g,
      (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
    );
    const under = point === "/" || path === point ||
      path.startsWith(`${point}/`);
    if (under && (best === undefined || point.length >= best.point.length)) {
      best = { point, type: fields[2]! };
    }
  }
  return best?.type;
}

async function fileSystemType(path: string): Promise<string> {
  try {
    return fileSystemOf(path, await Deno.readTextFile("/proc/mounts")) ??
      "unknown";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "unknown";
    throw error;
  }
}

async function run(command: string, args: string[]): Promise<string | null> {
  const output = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (output.success) return null;
  return new TextDecoder().decode(output.stderr).trim() ||
    `exit code ${output.code}`;
}

async function unmount(path: string): Promise<void> {
  let error: string | null = null;
  // A child that has just been killed may still hold a file open there.
  for (let attempt = 0; attempt < 10; attempt++) {
    error = await run("umount", [path]);
    if (error === null) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // Detach it at least, so that it goes once the last user closes.
  const lazy = await run("umount", ["-l", path]);
  if (lazy !== null) {
    throw new Error(`Cannot unmount the tmpfs at "${path}": ${error}`);
  }
}

async function plainFolder(path: string, note: string): Promise<WorkDir> {
  const type = await fileSystemType(path);
  return {
    path,
    description: `${path} (${type}${note})`,
    onTmpfs: type === "tmpfs",
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/**
 * Opens the work folder: a fresh tmpfs when root and no `--dir`; when the
 * mount fails, or when not root, a temporary folder; with `--dir`, a new
 * folder under it. Disposing removes it (and unmounts the tmpfs).
 *
 * @param options The folder asked for, the tmpfs size, a warning sink.
 * @returns The work folder.
 */
export async function openWorkDir(options: WorkDirOptions): Promise<WorkDir> {
  const prefix = "msfd_bench_";
  if (options.dir !== undefined) {
    await Deno.mkdir(options.dir, { recursive: true });
    const path = await Deno.makeTempDir({ dir: options.dir, prefix });
    return await plainFolder(path, ", under --dir");
  }
  const path = await Deno.makeTempDir({ prefix });
  if (Deno.uid() !== 0) {
    options.warn(
      "not root: cannot mount a tmpfs; working in a temporary folder",
    );
    return await plainFolder(path, ", not root so no tmpfs of its own");
  }
  const sizeMiB = Math.ceil(options.sizeBytes / MIB);
  const error = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${sizeMiB}m,mode=0700`,
    "msfd_bench",
    path,
  ]);
  if (error !== null) {
    options.warn(`cannot mount a tmpfs: ${error}; working in ${path}`);
    return await plainFolder(path, ", the tmpfs mount failed");
  }
  return {
    path,
    description: `${path} (tmpfs of ${sizeMiB} MiB mounted by the benchmark)`,
    onTmpfs: true,
    async [Symbol.asyncDispose]() {
      try {
        await unmount(path);
      } finally {
        await Deno.remove(path, { recursive: true });
      }
    },
  };
}
