/**
 * Deno's sandbox refusals, told in one line that names the flag to add.
 *
 * @module
 */

import { findCause } from "../wire/error_cause.ts";
import { quoteName } from "../wire/quoted_name.ts";

/**
 * The refusal of Deno's sandbox behind an error, if that is what it is:
 * the error itself or one of its causes.
 *
 * @param error What was thrown.
 * @returns The `NotCapable` error, or `undefined`.
 */
export function notCapableIn(
  error: unknown,
): Deno.errors.NotCapable | undefined {
  return findCause(error, Deno.errors.NotCapable);
}

/**
 * One line naming what the sandbox denied and the flag that allows it,
 * from Deno's `Requires write access to "x", run again with the
 * --allow-write flag`.
 *
 * @param error The refusal.
 * @param program The flags the program needs, named when Deno's message
 * has another form, and the task that runs it with them, as
 * `{ flags: "--allow-net --allow-read", task: "deno task server" }`.
 * @returns For example `no write access to "f.bin": run with --allow-write
 * (or deno task client)`.
 */
export function describeDenied(
  error: Deno.errors.NotCapable,
  program: { flags: string; task: string },
): string {
  const match =
    /Requires (\w+) access to "?(.*?)"?, run again with the (--allow-[\w-]+) flag/
      .exec(error.message);
  if (match === null) {
    return `${error.message}: run with ${program.flags} (or ${program.task})`;
  }
  const [, kind, what, flag] = match;
  return describeNoAccess({ kind: kind!, what: what!, flag: flag! }, program);
}

/**
 * One line naming an access the program lacks and the flag that grants it.
 *
 * @param access The kind of access (`net`, `write`...), what it was for,
 * and the flag.
 * @param program The task that runs the program with its flags.
 * @returns For example `no net access to "h:1": run with --allow-net (or
 * deno task client)`.
 */
export function describeNoAccess(
  access: { kind: string; what: string; flag: string },
  program: { task: string },
): string {
  // Deno grants paths under /dev, /proc and /sys only with every
  // permission, which no task of the project asks for.
  if (access.kind === "all") {
    const system = /^\/(dev|proc|sys)(\/|$)/.exec(access.what)?.[1];
    const which = system === undefined ? "/dev, /proc and /sys" : `/${system}`;
    return `Deno opens ${
      quoteName(access.what)
    } only with all permissions (as paths under ${which}): run with ${access.flag}, or use a folder elsewhere`;
  }
  return `no ${access.kind} access to ${
    quoteName(access.what)
  }: run with ${access.flag} (or ${program.task})`;
}
