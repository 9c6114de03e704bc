/**
 * What the server and client command lines share: the usage error, the
 * parsing of option values, and the version.
 *
 * @module
 */

import { KEEP_OPEN_VERSION } from "../wire/protocol.ts";
import { quoteName } from "../wire/quoted_name.ts";
import { MAX_TIMER_MS } from "../wire/watchdog.ts";

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

/** One option's declaration: a flag, or an option with a value. */
export interface OptionDeclaration {
  /** `boolean`: a flag, `--name`; `string`: `--name VALUE` or
   * `--name=VALUE`. */
  type: "boolean" | "string";
  /** A one-letter name, `-x` (`-x VALUE` or `-xVALUE` with a value). */
  short?: string;
  /** Whether the option may be given more than once: its values are then
   * kept in order, in an array. */
  multiple?: boolean;
  /** Its value when it is not given. */
  default?: boolean | string;
}

/** The options a program takes, by long name. */
export type OptionSpec = Record<string, OptionDeclaration>;

/** The value of one option once parsed. */
export type OptionValue<D extends OptionDeclaration> = D extends
  { type: "boolean" } ? D extends { multiple: true } ? boolean[] : boolean
  : D extends { multiple: true } ? string[]
  : string;

/** The values of all options: `undefined` for one not given that has no
 * default. */
export type OptionValues<T extends OptionSpec> = {
  [K in keyof T]: T[K] extends { default: boolean | string } ? OptionValue<T[K]>
    : OptionValue<T[K]> | undefined;
};

/** A command line once parsed. */
export interface ParsedCommandLine<T extends OptionSpec> {
  /** The options' values. */
  values: OptionValues<T>;
  /** The other arguments, in order. */
  positionals: string[];
}

/** An argument that is a negative number (`-1`, `-1.5`, `-.5`): a value,
 * not an option, so that it gets the message about its range. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * Parses a command line strictly: unknown options and missing values are
 * usage errors. A negative number is taken as a value (a positional
 * argument, or the value of the option before it), never as an option;
 * `-` alone is a positional argument, and everything after `--` is.
 *
 * @param args The arguments, without the program name.
 * @param options The option declarations.
 * @returns The option values and the positional arguments.
 * @throws {UsageError} For an unknown option, a missing value, or a value
 * given to a flag.
 */
export function parseCommandLine<T extends OptionSpec>(
  args: readonly string[],
  options: T,
): ParsedCommandLine<T> {
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, declaration] of Object.entries(options)) {
    if (declaration.short !== undefined) byShort.set(declaration.short, name);
  }
  const set = (name: string, value: boolean | string) => {
    if (options[name]!.multiple) {
      ((values[name] ??= []) as unknown[]).push(value);
    } else {
      values[name] = value;
    }
  };
  const declared = (name: string | undefined) =>
    name !== undefined && Object.hasOwn(options, name)
      ? options[name]
      : undefined;
  // An option's value: the next argument, unless it looks like an option.
  const nextValue = (i: number, given: string, name: string): string => {
    const next = args[i + 1];
    if (next === undefined) {
      throw new UsageError(`Option ${quoteName(given)} needs a value`);
    }
    if (next.startsWith("-") && next !== "-" && !NEGATIVE_NUMBER.test(next)) {
      throw new UsageError(
        `Option ${
          quoteName(given)
        } needs a value (one that starts with "-" is written --${name}=-VALUE)`,
      );
    }
    return next;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-" || NEGATIVE_NUMBER.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      // `--name` or `--name=VALUE`.
      const equals = arg.indexOf("=");
      const given = equals < 0 ? arg : arg.slice(0, equals);
      const name = given.slice(2);
      const declaration = declared(name);
      if (declaration === undefined) throw unknownOption(given);
      const attached = equals < 0 ? undefined : arg.slice(equals + 1);
      if (declaration.type === "boolean") {
        if (attached !== undefined) {
          throw new UsageError(`Option ${quoteName(given)} takes no value`);
        }
        set(name, true);
      } else if (attached !== undefined) {
        set(name, attached);
      } else {
        set(name, nextValue(i++, given, name));
      }
      continue;
    }
    // `-x`, `-x VALUE`, `-xVALUE`, or letters together (`-qh`), the last
    // of which may take a value (`-qo FILE`, `-qoFILE`).
    for (let k = 1; k < arg.length; k++) {
      const given = `-${arg[k]}`;
      const name = byShort.get(arg[k]!);
      const declaration = declared(name);
      if (name === undefined || declaration === undefined) {
        throw unknownOption(arg[k] === "-" ? arg : given);
      }
      if (declaration.type === "boolean") {
        set(name, true);
        continue;
      }
      if (k + 1 < arg.length) set(name, arg.slice(k + 1));
      else set(name, nextValue(i++, given, name));
      break;
    }
  }
  for (const [name, declaration] of Object.entries(options)) {
    if (values[name] === undefined && declaration.default !== undefined) {
      values[name] = declaration.default;
    }
  }
  return { values: values as OptionValues<T>, positionals };
}

/** An option the program does not know, perhaps a name meant as a
 * positional argument. */
function unknownOption(given: string): UsageError {
  return new UsageError(
    `Unknown option ${
      quoteName(given)
    } (a name that starts with "-" goes after "--")`,
  );
}

/**
 * Parses a duration given in seconds (decimals allowed) into milliseconds.
 *
 * @param text The option value.
 * @param flag The option's name, for the message.
 * @returns Milliseconds; 0 means no limit.
 * @throws {UsageError} If the value is not a non-negative number, or is
 * longer than a timer can wait ({@linkcode MAX_SECONDS}).
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
  if (seconds > MAX_SECONDS) {
    throw new UsageError(
      `${flag} takes at most ${MAX_SECONDS} seconds (about 24 days; 0 for no limit): received ${
        quoteName(text)
      }`,
    );
  }
  return Math.round(seconds * 1000);
}

/** The longest time limit: what a timer waits at most (a longer one fires
 * at once), in whole seconds. */
export const MAX_SECONDS: number = Math.floor(MAX_TIMER_MS / 1000);

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
