/**
 * Parsing of the server-info file: one `host port` or one `http://` or
 * `https://` URL (a mirror) per line.
 *
 * @module
 */

import { quoteName } from "../wire/quoted_name.ts";
import {
  entryKey,
  entryLabel,
  type MirrorEntry,
  protocolServer,
  type ServerEntry,
  urlLabel,
} from "./server_entry.ts";

/** The most servers a client uses; further lines are ignored. */
export const MAX_SERVERS = 20;

/** The result of parsing a server list. */
export interface ServerList {
  /** The servers and mirrors to use, in file order, at most
   * {@linkcode MAX_SERVERS}. */
  servers: ServerEntry[];
  /** How many valid servers past the limit were left out. */
  ignored: number;
  /** Lines that repeat an earlier line's server or URL, dropped: one
   * server listed twice gets nothing from it (its votes count once). */
  repeated: { line: number; first: number; label: string }[];
}

/** A server list that cannot be used. */
export class ServerListError extends Error {
  /** The 1-based line the problem is on, when it is on one line. */
  readonly line: number | undefined;

  /**
   * Creates the error for an unusable server list.
   *
   * @param message What is wrong.
   * @param line The 1-based line number, if any.
   */
  constructor(message: string, line?: number) {
    super(message);
    this.name = "ServerListError";
    this.line = line;
  }
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;
const IPV6 = /^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?$/;

/**
 * Parses a port number written in decimal.
 *
 * @param text The text to parse.
 * @returns The port, from 1 to 65535.
 * @throws {RangeError} If the text is not such a number.
 */
export function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new RangeError(
      `Port must be an integer from 1 to 65535: received ${quoteName(text)}`,
    );
  }
  return port;
}

function parseHost(text: string): string | undefined {
  const host = text.startsWith("[") && text.endsWith("]")
    ? text.slice(1, -1)
    : text;
  const colons = host.split(":").length - 1;
  if (colons >= 2 ? IPV6.test(host) : colons === 0 && HOSTNAME.test(host)) {
    return host;
  }
  return undefined;
}

/** A line that starts like a URL: a scheme, then `:`. */
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * Parses one URL of a mirror.
 *
 * @param text The URL as written.
 * @returns The mirror.
 * @throws {Error} If it is malformed, of another scheme than `http` and
 * `https`, or has credentials in plain `http` (they would cross the network
 * readable); the message says which.
 */
export function parseMirrorUrl(text: string): MirrorEntry {
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    if (error instanceof TypeError) {
      throw new Error(`not a valid URL: ${quoteName(text)}`);
    }
    throw error;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(
      `${
        quoteName(url.protocol.slice(0, -1))
      } URLs are not supported (only http and https): ${
        quoteName(urlLabel(url))
      }`,
    );
  }
  if (url.hostname === "") {
    throw new Error(`the URL names no host: ${quoteName(text)}`);
  }
  if (
    url.protocol === "http:" && (url.username !== "" || url.password !== "")
  ) {
    throw new Error(
      `${
        quoteName(urlLabel(url))
      } has credentials, which plain http would send readable; use https`,
    );
  }
  url.hash = "";
  return { kind: "mirror", url };
}

/** Runs the parse of a part of a line; what it throws is told as an error
 * of that line. */
function onLine<T>(lineNumber: number, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new ServerListError(
      `Cannot parse server list: line ${lineNumber}: ${
        (error as Error).message
      }`,
      lineNumber,
    );
  }
}

/**
 * Parses the text of a server-info file. Lines end in LF, CR LF or CR.
 * Blank lines and lines starting with `#` are skipped; text after a `#` is
 * a comment.
 *
 * @param text The file's contents.
 * A line is `host port`, or one URL of a mirror (see
 * {@linkcode parseMirrorUrl}).
 *
 * @returns The servers to use, how many were left out past the limit,
 * and the lines dropped because they repeat an earlier one.
 * @throws {ServerListError} If a line is malformed (naming its number) or
 * the list holds no server.
 */
export function parseServerList(text: string): ServerList {
  const listed: { at: number; entry: ServerEntry }[] = [];
  const add = (at: number, entry: ServerEntry) => listed.push({ at, entry });
  const lines = text.split(/\r\n|\r|\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const lineNumber = index + 1;
    const fields = line.split(/\s+/);
    if (URL_LIKE.test(line)) {
      if (fields.length !== 1) {
        throw new ServerListError(
          `Cannot parse server list: line ${lineNumber} holds more than a URL (a space in a URL is written %20): received ${
            quoteName(raw.trim())
          }`,
          lineNumber,
        );
      }
      add(lineNumber, onLine(lineNumber, () => parseMirrorUrl(line)));
      continue;
    }
    const [hostText, portText] = fields;
    const hostname = hostText === undefined ? undefined : parseHost(hostText);
    if (
      fields.length !== 2 || hostname === undefined || portText === undefined
    ) {
      throw new ServerListError(
        `Cannot parse server list: line ${lineNumber} is not "host port" or a URL: received ${
          quoteName(raw.trim())
        }`,
        lineNumber,
      );
    }
    const port = onLine(lineNumber, () => parsePort(portText));
    add(lineNumber, protocolServer({ hostname, port }));
  }
  if (listed.length === 0) {
    throw new ServerListError("Cannot parse server list: it names no server");
  }
  const { distinct, repeated } = dropRepeats(listed);
  return {
    servers: distinct.slice(0, MAX_SERVERS),
    ignored: Math.max(0, distinct.length - MAX_SERVERS),
    repeated: repeated.map(({ at, first, entry }) => ({
      line: at,
      first,
      label: entryLabel(entry),
    })),
  };
}

/**
 * Servers and mirrors without repeats: an entry with the key of an earlier
 * one (see {@linkcode entryKey}) is dropped, so one server listed twice
 * counts once.
 *
 * @param listed The entries, each with where it was given (a line, or the
 * number of a `--mirror`).
 * @returns The distinct entries in order, and each one dropped with where
 * it was given and where the one it repeats was.
 */
export function dropRepeats<T extends ServerEntry>(
  listed: readonly { at: number; entry: T }[],
): { distinct: T[]; repeated: { at: number; first: number; entry: T }[] } {
  const seen = new Map<string, number>();
  const distinct: T[] = [];
  const repeated: { at: number; first: number; entry: T }[] = [];
  for (const { at, entry } of listed) {
    const first = seen.get(entryKey(entry));
    if (first === undefined) {
      seen.set(entryKey(entry), at);
      distinct.push(entry);
    } else {
      repeated.push({ at, first, entry });
    }
  }
  return { distinct, repeated };
}
