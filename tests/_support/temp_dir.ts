/**
 * Temporary folders for the tests, removed afterwards, and whether file
 * modes stop this process. Internal to the tests.
 *
 * @module
 */

/**
 * A new temporary folder, removed with everything in it on dispose.
 *
 * @param prefix The start of the folder's name, to tell whose it is.
 * @returns Its path, and a dispose that removes it.
 */
export async function tempDir(
  prefix = "msfd_test_",
): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

/**
 * Runs `fn` with a new temporary folder, then removes the folder and all
 * in it, whether `fn` succeeded or not.
 *
 * @param prefix The start of the folder's name, to tell whose it is.
 * @param fn What to do with the folder's path.
 */
export async function withTempDir(
  prefix: string,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir(prefix);
  await fn(dir.path);
}

/**
 * Whether this process reads a file whose mode lets nobody read it, as
 * root does: tests of unreadable or unwritable files cannot run then.
 *
 * @returns `true` if file modes do not stop this process.
 */
export function ignoresFileModes(): boolean {
  const dir = Deno.makeTempDirSync({ prefix: "file_modes_" });
  try {
    Deno.writeTextFileSync(`${dir}/probe`, "");
    Deno.chmodSync(`${dir}/probe`, 0o000);
    Deno.readFileSync(`${dir}/probe`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) return false;
    throw error;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
