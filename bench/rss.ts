/**
 * Peak memory of processes, from `/proc/<pid>/status`: `VmHWM` is the
 * resident set's high-water mark, kept by the kernel while the process
 * lives.
 *
 * @module
 */

/**
 * The `VmHWM` value of a `/proc/<pid>/status` text.
 *
 * @param status The file's text.
 * @returns The peak resident set in KiB, or `undefined` if it is not there.
 */
export function parseVmHwm(status: string): number | undefined {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) : undefined;
}

/**
 * Reads a live process's peak resident set.
 *
 * @param pid The process.
 * @returns KiB, or `undefined` if the process is gone or the value missing.
 */
export async function readPeakRssKiB(
  pid: number,
): Promise<number | undefined> {
  try {
    return parseVmHwm(await Deno.readTextFile(`/proc/${pid}/status`));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * The children of a process, as the kernel lists them per thread.
 *
 * @param pid The parent.
 * @returns Their pids; none if the parent is gone.
 */
export async function childPids(pid: number): Promise<number[]> {
  const pids: number[] = [];
  try {
    for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
      const text = await Deno.readTextFile(
        `/proc/${pid}/task/${task.name}/children`,
      );
      for (const word of text.split(/\s+/)) {
        if (word !== "") pids.push(Number(word));
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return pids;
}

/**
 * Polls a running process's `VmHWM` and keeps the largest value seen: the
 * file disappears with the process, so the last poll (at most one interval
 * before the exit) stands for the peak.
 */
export class PeakRssSampler {
  #pid: number;
  #peakKiB: number | undefined;
  #timer: ReturnType<typeof setInterval>;
  #pending: Promise<void> = Promise.resolve();

  /**
   * Starts polling.
   *
   * @param pid The process.
   * @param intervalMs Time between polls.
   */
  constructor(pid: number, intervalMs = 100) {
    this.#pid = pid;
    // No poll at once: just after the spawn it may still read the parent's
    // copy before the exec.
    this.#timer = setInterval(() => this.#poll(), intervalMs);
  }

  #poll(): void {
    this.#pending = this.#pending.then(async () => {
      const value = await readPeakRssKiB(this.#pid);
      if (value !== undefined) {
        this.#peakKiB = Math.max(this.#peakKiB ?? 0, value);
      }
    });
  }

  /**
   * Stops polling.
   *
   * @returns The peak in KiB, or `undefined` if no poll saw the process.
   */
  async stop(): Promise<number | undefined> {
    clearInterval(this.#timer);
    await this.#pending;
    return this.#peakKiB;
  }
}
