/**
 * Deno's sandbox refusals, told in one line that names the flag to add.
 *
 * @module
 */

import { findCause } from "./error_cause.ts";

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
  return `no ${kind} access to "${what}": run with ${flag} (or ${program.task})`;
}
