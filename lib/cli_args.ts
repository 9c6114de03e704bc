/**
 * What the server and client command lines share: the usage error, the
 * parsing of option values, and the version.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** The version both programs report. */
export const PROGRAM_VERSION = "0.1.0";

/** A command line that cannot be used; programs exit with code 2. */
export class UsageError extends Error {
  /**
   * Creates the error for an unusable command line.
   *
   * @param message What is wrong with the command line.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The option declarations `parseArgs` takes. */
export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses a command line strictly: unknown options and missing values are
 * usage errors.
 *
 * @param args The arguments, without the program name.
 * @param options The option declarations.
 * @returns The option values and the positional arguments.
 * @throws {UsageError} For an unknown option or a missing value.
 */
export function parseCommandLine<T extends OptionSpec>(
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Parses a duration given in seconds (decimals allowed) into milliseconds.
 *
 * @param text The option value.
 * @param flag The option's name, for the message.
 * @returns Milliseconds; 0 means no limit.
 * @throws {UsageError} If the value is not a non-negative number.
 */
export function parseSeconds(text: string, flag: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(seconds)) {
    throw new UsageError(
      `${flag} takes a number of seconds (0 for no limit): received "${text}"`,
    );
  }
  return Math.round(seconds * 1000);
}
