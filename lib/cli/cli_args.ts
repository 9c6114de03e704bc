/**
 * What the server and client command lines share: the usage error, the
 * parsing of option values, and the version.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { KEEP_OPEN_VERSION } from "../wire/protocol.ts";
import { quoteName } from "../wire/quoted_name.ts";

/** The version both programs report. */
export const PROGRAM_VERSION = "0.1.0";

/**
 * What `--version` prints: the program's version and the newest protocol
 * version it speaks, so that a user who mixes versions can see it.
 *
 * @param program The script's name, such as `client.ts`.
 * @returns For example `client.ts 0.1.0, protocol 2`.
 */
export function versionLine(program: string): string {
  return `${program} ${PROGRAM_VERSION}, protocol ${KEEP_OPEN_VERSION}`;
}

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

/** An argument that is a negative number (`-1`, `-1.5`, `-.5`): a value,
 * not an option, so that it gets the message about its range. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/** What stands in for a negative number while the options are parsed: no
 * argument can hold a NUL character, so none is taken for it. */
const STAND_IN = "\0";

/**
 * Parses a command line strictly: unknown options and missing values are
 * usage errors. A negative number is taken as a value (a positional
 * argument, or the value of the option before it), never as an option.
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
  const end = args.indexOf("--");
  const numbers: string[] = [];
  const standIns = args.map((arg, i) => {
    if ((end >= 0 && i > end) || !NEGATIVE_NUMBER.test(arg)) return arg;
    numbers.push(arg);
    return `${STAND_IN}${numbers.length - 1}`;
  });
  const restore = (value: unknown) =>
    typeof value === "string" && value.startsWith(STAND_IN)
      ? numbers[Number(value.slice(STAND_IN.length))]!
      : value;
  let parsed: ReturnType<
    typeof parseArgs<{ options: T; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({
      args: standIns,
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error as Error));
  }
  const values = parsed.values as Record<string, unknown>;
  for (const [key, value] of Object.entries(values)) {
    values[key] = Array.isArray(value) ? value.map(restore) : restore(value);
  }
  return {
    ...parsed,
    positionals: parsed.positionals.map((p) => restore(p) as string),
  };
}

/** The argument parser's message, in one line, with its quotes closed. */
function describeParseError(error: Error): string {
  const code = (error as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const option = /^Unknown option '(.*?)'\. To specify/s.exec(
      error.message,
    )?.[1];
    if (option !== undefined) {
      return `Unknown option ${
        quoteName(option)
      } (a name that starts with "-" goes after "--")`;
    }
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const option = /^Option '(.*?)' argument is ambiguous/s.exec(
      error.message,
    )?.[1];
    if (option !== undefined) {
      const flag = option.replace(/ .*$/, "");
      return `Option ${
        quoteName(flag)
      } needs a value (one that starts with "-" is written ${flag}=-VALUE)`;
    }
  }
  return error.message.replace(/\s*\n\s*/g, " ");
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
      `${flag} takes a number of seconds (0 for no limit): received ${
        quoteName(text)
      }`,
    );
  }
  return Math.round(seconds * 1000);
}

/**
 * How many positional arguments were given, in words for a usage message.
 *
 * @param count The number of arguments.
 * @returns `none`, `1 argument` or `N arguments`.
 */
export function countArguments(count: number): string {
  return count === 0
    ? "none"
    : count === 1
    ? "1 argument"
    : `${count} arguments`;
}
