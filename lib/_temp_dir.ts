/**
 * A temporary folder for one unit test, removed afterwards. Internal to the
 * tests.
 *
 * @module
 */

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
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
