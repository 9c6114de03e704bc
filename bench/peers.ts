/**
 * The other tools the client is measured against: which are installed and
 * their versions.
 *
 * @module
 */

/** The Debian command that installs every peer. */
export const INSTALL_HINT = "apt-get install nginx aria2 axel";
/** The Debian command that installs GNU time. */
export const TIME_INSTALL_HINT = "apt-get install time";

/** Which tools are on the PATH. */
export interface Installed {
  nginx: boolean;
  aria2c: boolean;
  axel: boolean;
  dd: boolean;
  /** Used to check each download against the original. */
  cmp: boolean;
  /** GNU time, for each run's CPU time and peak memory. */
  gnuTime: string | undefined;
}

/** Where Debian's `time` package puts GNU time. */
export const GNU_TIME = "/usr/bin/time";

/**
 * Whether a command is on the PATH, as the shell's `command -v` finds it.
 *
 * @param name The command.
 * @returns Whether it is there.
 */
export async function commandExists(name: string): Promise<boolean> {
  const { success } = await new Deno.Command("sh", {
    args: ["-c", 'command -v "$1" >/dev/null', "sh", name],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return success;
}

/**
 * Looks up every peer.
 *
 * @returns Which are installed.
 */
export async function detectInstalled(): Promise<Installed> {
  const [nginx, aria2c, axel, dd, cmp] = await Promise.all(
    ["nginx", "aria2c", "axel", "dd", "cmp"].map(commandExists),
  );
  let gnuTime: string | undefined = GNU_TIME;
  try {
    await Deno.stat(GNU_TIME);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    gnuTime = undefined;
  }
  return {
    nginx: nginx!,
    aria2c: aria2c!,
    axel: axel!,
    dd: dd!,
    cmp: cmp!,
    gnuTime,
  };
}

/**
 * The first line a command prints for its version option, on either
 * stream (`nginx -v` writes to standard error).
 *
 * @param command The command.
 * @param flag Its version option.
 * @returns The line, or `unknown` if it printed none.
 */
export async function versionLine(
  command: string,
  flag = "--version",
): Promise<string> {
  try {
    const output = await new Deno.Command(command, {
      args: [flag],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const text = decoder.decode(output.stdout) + decoder.decode(output.stderr);
    return firstLine(text) ?? "unknown";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "not installed";
    throw error;
  }
}

/**
 * The first non-empty line of a text, trimmed.
 *
 * @param text The text.
 * @returns The line, or `undefined` if all lines are empty.
 */
export function firstLine(text: string): string | undefined {
  return text.split("\n").map((line) => line.trim()).find((line) =>
    line !== ""
  );
}
