/**
 * What the server and client command lines share: the usage error, the
 * parsing of option values, and the version.
 *
 * @module
 */

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
    // `--name`, `--name=VALUE`, `-x`, `-xVALUE`, or flags together: `-xy`.
    const long = arg.startsWith("--");
    const equals = long ? arg.indexOf("=") : -1;
    const given = long
      ? (equals < 0 ? arg : arg.slice(0, equals))
      : arg.slice(0, 2);
    const name = long ? given.slice(2) : byShort.get(given.slice(1));
    const declaration = name === undefined || !Object.hasOwn(options, name)
      ? undefined
      : options[name];
    if (name === undefined || declaration === undefined) {
      throw unknownOption(given);
    }
    const attached = long
      ? (equals < 0 ? undefined : arg.slice(equals + 1))
      : (arg.length > 2 ? arg.slice(2) : undefined);
    if (declaration.type === "boolean") {
      if (long && attached !== undefined) {
        throw new UsageError(`Option ${quoteName(given)} takes no value`);
      }
      set(name, true);
      // Flags together, `-xy`: the rest are flags too.
      for (const letter of attached ?? "") {
        const other = byShort.get(letter);
        if (other === undefined || options[other]!.type !== "boolean") {
          throw unknownOption(`-${letter}`);
        }
        set(other, true);
      }
      continue;
    }
    if (attached !== undefined) {
      set(name, attached);
      continue;
    }
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
    set(name, next);
    i++;
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
