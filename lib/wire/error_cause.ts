/**
 * Finding what an error was caused by.
 *
 * @module
 */

/**
 * The error itself, or the nearest of its causes, if it is of a type.
 *
 * @param error What was thrown.
 * @param type The error class looked for.
 * @returns The error of that type, or `undefined`.
 */
export function findCause<T extends Error>(
  error: unknown,
  // deno-lint-ignore no-explicit-any
  type: abstract new (...args: any[]) => T,
): T | undefined {
  let current = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    if (current instanceof type) return current;
    current = current.cause;
  }
  return undefined;
}
