/**
 * What a test looks at in the file system while a client runs: whether a
 * path exists, the names in a folder, and waiting until something holds.
 * Internal to the tests.
 *
 * @module
 */

import { pathExists } from "../../lib/client/output/output_file.ts";

/**
 * Waits until `condition` holds, checking every 50 ms.
 *
 * @param condition What to wait for.
 * @param what What it means, for the error.
 * @param timeoutMs How long to wait at most.
 * @throws {Error} `<what> never happened` once the time is up.
 */
export async function waitUntil(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`${what} never happened`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether something (a file, a folder, a link) is at a path: the
 * client's own check, under the name the tests read best. */
export { pathExists as exists };

/**
 * Waits until something is at `path`, for at most 20 s.
 *
 * @param path The path.
 * @throws {Error} If nothing appeared there in time.
 */
export async function waitFor(path: string): Promise<void> {
  await waitUntil(() => pathExists(path), `"${path}" appearing`);
}

/**
 * The names in a folder, sorted.
 *
 * @param dir The folder.
 * @returns Its entries' names.
 */
export async function namesIn(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}
