/**
 * CPU time of live processes, from `/proc/<pid>/stat`: used to charge each
 * run with the CPU its servers spent, since the client and its servers share
 * the same two cores.
 *
 * @module
 */

/** Clock ticks per second in `/proc` (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * User plus system CPU time from the text of `/proc/<pid>/stat`.
 *
 * @param stat The file's text.
 * @returns Seconds, or `undefined` if the text is not such a line.
 */
export function parseCpuSeconds(stat: string): number | undefined {
  // The command name (field 2) may hold spaces and parentheses: the fields
  // that follow start after its last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!(Number.isInteger(utime) && Number.isInteger(stime))) return undefined;
  return (utime + stime) / USER_HZ;
}

/**
 * The CPU time live processes have used so far, added up.
 *
 * @param pids The processes.
 * @returns Seconds; a process that is gone counts 0.
 */
export async function totalCpuSeconds(
  pids: readonly number[],
): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      total += parseCpuSeconds(await Deno.readTextFile(`/proc/${pid}/stat`)) ??
        0;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return total;
}
