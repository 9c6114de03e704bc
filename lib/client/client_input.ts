/**
 * What the client reads before a download: the server list, the file name
 * (from the command line or standard input), and the output path.
 *
 * @module
 */

import { UsageError } from "../cli/cli_args.ts";
import {
  entryLabel,
  isFolderUrl,
  type MirrorEntry,
  nameFromUrl,
  type ServerEntry,
  urlLabel,
} from "./server_entry.ts";
import { ProtocolError } from "../wire/protocol.ts";
import { encodeName } from "../wire/frame_codec.ts";
import { escapeUnseen, quoteName } from "../wire/quoted_name.ts";
import { localName } from "./output/output_file.ts";
import { UnusableOutputError } from "./output/side_files.ts";
import {
  dropRepeats,
  MAX_SERVERS,
  parseServerList,
  ServerListError,
} from "./server_list.ts";

/**
 * An input that cannot be used, other than a malformed command line (the
 * server list, the file name): exit code 2, without the pointer to --help,
 * which would not help.
 */
export class InputError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the input.
   */
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** The server-info arguments that mean standard input: `-`, and
 * `/dev/stdin`, which Deno opens only with all permissions. */
const STANDARD_INPUT = new Set(["-", "/dev/stdin"]);

/** Reads all of standard input as text. */
async function readStandardInput(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/**
 * Reads the server list: from a file, or from standard input.
 *
 * @param path The server-info argument.
 * @returns The servers, at most `MAX_SERVERS`.
 * @throws {InputError} If it cannot be read or parsed.
 */
export async function readServers(path: string): Promise<ServerEntry[]> {
  const fromStdin = STANDARD_INPUT.has(path);
  const shown = fromStdin ? "standard input" : quoteName(path);
  let text: string;
  try {
    text = fromStdin
      ? await readStandardInput()
      : await Deno.readTextFile(path);
  } catch (error) {
    const cannot = `Cannot read server list ${shown}`;
    if (error instanceof Deno.errors.NotFound) {
      throw new InputError(`${cannot}: no such file`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new InputError(`${cannot}: it is a folder`);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new InputError(`${cannot}: permission denied`);
    }
    if (
      error instanceof Deno.errors.NotCapable && path.startsWith("/dev/")
    ) {
      // Such as bash's <(...), which passes /dev/fd/63.
      throw new InputError(
        `${cannot}: Deno opens paths under /dev only with all permissions; give - to read the list from standard input`,
      );
    }
    throw error;
  }
  try {
    const list = parseServerList(text);
    for (const { line, first, label } of list.repeated) {
      console.error(
        `warning: ${shown} line ${line} repeats line ${first} (${label}); it is used once`,
      );
    }
    if (list.ignored > 0) {
      console.error(
        `warning: ${shown} lists ${
          list.servers.length + list.ignored
        } servers; only the first ${MAX_SERVERS} are used`,
      );
    }
    return list.servers;
  } catch (error) {
    if (error instanceof ServerListError) {
      throw new InputError(`${error.message} (in ${shown})`);
    }
    throw error;
  }
}

/** Reads one line from standard input, without its line ending. */
async function readLine(): Promise<string | undefined> {
  // A file name is kept byte for byte, a leading U+FEFF included.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const buffer = new Uint8Array(1024);
  let text = "";
  while (true) {
    const n = await Deno.stdin.read(buffer);
    if (n === null) return text === "" ? undefined : text;
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
    const end = text.indexOf("\n");
    if (end >= 0) return text.slice(0, end).replace(/\r$/, "");
  }
}

/**
 * Asks for the file name on standard input.
 *
 * @param serverInfo The server-info argument (none with `--mirror`): when
 * it is standard input, nothing is asked.
 * @returns The name, without blanks around it.
 * @throws {UsageError} If standard input holds the server list.
 * @throws {InputError} If no name was given.
 */
export async function askFilename(
  serverInfo: string | undefined,
): Promise<string> {
  if (serverInfo !== undefined && STANDARD_INPUT.has(serverInfo)) {
    throw new UsageError(
      "No file name given: standard input holds the server list, so the file name goes on the command line",
    );
  }
  await Deno.stderr.write(new TextEncoder().encode("enter filename: "));
  const line = await readLine();
  // Input that ended without a line (Ctrl-D): nothing moved past the
  // prompt, so the message starts a line of its own.
  if (line === undefined) {
    await Deno.stderr.write(new TextEncoder().encode("\n"));
  }
  // Blanks around the name go, but not a U+FEFF, which names can hold.
  const name = line?.replace(/^[^\S\uFEFF]+|[^\S\uFEFF]+$/g, "");
  if (name === undefined || name === "") {
    throw new InputError("No file name given");
  }
  return name;
}

/**
 * Whether a list names the file itself everywhere: every entry is a
 * mirror's file URL (none a folder, no `host port`), so no file name is
 * needed to fetch it.
 *
 * @param servers The servers and mirrors.
 * @returns Whether the list needs no file name.
 */
export function onlyFileUrls(servers: readonly ServerEntry[]): boolean {
  return servers.length > 0 &&
    servers.every((entry) =>
      entry.kind === "mirror" && !isFolderUrl(entry.url)
    );
}

/**
 * The `--mirror` URLs to use, as from a list: one that repeats an earlier
 * one is used once, and at most {@linkcode MAX_SERVERS}, with a warning
 * for each left out.
 *
 * @param mirrors The `--mirror` URLs, in order.
 * @returns The distinct ones, the first {@linkcode MAX_SERVERS}.
 */
export function mirrorsToUse(mirrors: readonly MirrorEntry[]): MirrorEntry[] {
  const { distinct, repeated } = dropRepeats(
    mirrors.map((entry, i) => ({ at: i + 1, entry })),
  );
  for (const { at, first, entry } of repeated) {
    console.error(
      `warning: --mirror ${at} repeats --mirror ${first} (${
        entryLabel(entry)
      }); it is used once`,
    );
  }
  if (distinct.length > MAX_SERVERS) {
    console.error(
      `warning: ${distinct.length} --mirror URLs given; only the first ${MAX_SERVERS} are used`,
    );
  }
  return distinct.slice(0, MAX_SERVERS);
}

/**
 * The file name a list of file URLs gives: the last path segment of the
 * first URL, decoded and checked like a name given on the command line.
 *
 * @param servers The servers and mirrors: file URLs only (see
 * {@linkcode onlyFileUrls}).
 * @returns The name.
 * @throws {InputError} If the segment does not decode to a usable name.
 */
export function nameFromFileUrls(servers: readonly ServerEntry[]): string {
  const first = servers[0];
  if (first === undefined || first.kind !== "mirror") {
    throw new TypeError("Not a list of file URLs");
  }
  const name = nameFromUrl(first.url);
  const cannot = `Cannot name the file after the URL ${
    quoteName(urlLabel(first.url))
  }`;
  const giveOne = "give the file name after <numchunks>";
  if (name === undefined) {
    throw new InputError(
      `${cannot}: its last path segment is not valid percent-encoded UTF-8; ${giveOne}`,
    );
  }
  // A name a URL makes up is one nobody typed: none that could end a
  // line or show as another (a newline, a right-to-left override).
  if (escapeUnseen(name) !== name) {
    throw new InputError(
      `${cannot}: its last path segment decodes to ${
        quoteName(name)
      }, which holds control or invisible characters; ${giveOne}`,
    );
  }
  try {
    checkFilename(name);
  } catch (error) {
    if (error instanceof InputError) {
      throw new InputError(
        `${cannot}: its last path segment decodes to ${
          quoteName(name)
        }, not a usable file name; ${giveOne}`,
      );
    }
    throw error;
  }
  return name;
}

/**
 * Checks a file name can be asked for, and gives its local name.
 *
 * @param name The name to ask the servers for.
 * @returns Its base name, for the output.
 * @throws {InputError} If the protocol cannot carry it, or it has no
 * usable base name.
 */
export function checkFilename(name: string): string {
  try {
    encodeName(name);
    return localName(name);
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof TypeError) {
      throw new InputError(error.message);
    }
    throw error;
  }
}

/**
 * The output path: `-o` as given, or inside it when it is a folder.
 *
 * @param base The file's local name.
 * @param output The `-o` value, if any.
 * @returns The path to write to.
 * @throws {UnusableOutputError} If `-o` names a folder that is not one.
 */
export async function chooseOutputPath(
  base: string,
  output: string | undefined,
): Promise<string> {
  if (output === undefined || output === "") return base;
  // `x/`, `x/.` and `..` name a folder, whatever the system's stat makes
  // of them (Deno's drops a trailing slash).
  const namesFolder = /(^|\/)\.{0,2}$/.test(output);
  try {
    if ((await Deno.stat(output)).isDirectory) {
      return `${output.replace(/\/+$/, "")}/${base}`;
    }
    if (namesFolder) {
      throw new UnusableOutputError(
        `Cannot write into ${quoteName(output)}: it is not a folder`,
      );
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotADirectory) {
      throw new UnusableOutputError(
        `Cannot write to ${
          quoteName(output)
        }: part of that path is not a folder`,
      );
    }
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (namesFolder) {
    throw new UnusableOutputError(
      `Cannot write into ${quoteName(output)}: no such folder`,
    );
  }
  return output;
}
