/**
 * What the benchmark ran on: cores, CPU model, memory, kernel, Deno and the
 * peers' versions.
 *
 * @module
 */

import {
  firstLine,
  type Installed,
  TIME_INSTALL_HINT,
  versionLine,
} from "./peers.ts";

/**
 * The CPU model from the text of `/proc/cpuinfo`.
 *
 * @param cpuinfo The text.
 * @returns The first `model name`, or `undefined`.
 */
export function cpuModel(cpuinfo: string): string | undefined {
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
}

/**
 * The total memory from the text of `/proc/meminfo`.
 *
 * @param meminfo The text.
 * @returns KiB, or `undefined`.
 */
export function memTotalKiB(meminfo: string): number | undefined {
  const match = /^MemTotal:\s+(\d+)\s+kB$/m.exec(meminfo);
  return match ? Number(match[1]) : undefined;
}

/**
 * The 1-, 5- and 15-minute load averages from the text of `/proc/loadavg`.
 *
 * @param loadavg The text.
 * @returns The three numbers as written, or `undefined`.
 */
export function loadAverages(loadavg: string): string | undefined {
  const fields = loadavg.trim().split(/\s+/);
  return fields.length >= 3 ? fields.slice(0, 3).join(" ") : undefined;
}

/**
 * The machine's load now: other work running beside the benchmark shows up
 * here and in the times.
 *
 * @returns The load averages over 1, 5 and 15 minutes, as text.
 */
export async function currentLoad(): Promise<string> {
  return loadAverages(await readOr("/proc/loadavg")) ?? "unknown";
}

async function readOr(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

async function processorCount(): Promise<string> {
  try {
    const output = await new Deno.Command("nproc", {
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    if (output.success && text !== "") return text;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return String(navigator.hardwareConcurrency);
}

/**
 * Describes the machine and the tools, one `name: value` line each.
 *
 * @param installed Which peers are installed.
 * @returns The lines.
 */
export async function describeMachine(installed: Installed): Promise<string[]> {
  const [nproc, cpuinfo, meminfo] = await Promise.all([
    processorCount(),
    readOr("/proc/cpuinfo"),
    readOr("/proc/meminfo"),
  ]);
  const memKiB = memTotalKiB(meminfo);
  const lines = [
    `cpu:    ${nproc} cores (nproc), ${cpuModel(cpuinfo) ?? "unknown model"}`,
    `memory: ${
      memKiB === undefined ? "unknown" : `${(memKiB / 1024 / 1024).toFixed(1)}`
    } GiB`,
    `kernel: ${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    `deno:   ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
  ];
  const peers: [string, boolean, string][] = [
    ["nginx", installed.nginx, "-v"],
    ["aria2c", installed.aria2c, "--version"],
    ["axel", installed.axel, "--version"],
    ["dd", installed.dd, "--version"],
  ];
  for (const [name, present, flag] of peers) {
    const version = present ? await versionLine(name, flag) : "not installed";
    lines.push(`${`${name}:`.padEnd(7)} ${firstLine(version) ?? version}`);
  }
  lines.push(
    `time:   ${
      installed.gnuTime === undefined
        ? `not installed (${TIME_INSTALL_HINT}): no CPU times, peak memory polled from /proc`
        : `${await versionLine(
          installed.gnuTime,
        )} (CPU time and peak memory of each run)`
    }`,
  );
  return lines;
}
