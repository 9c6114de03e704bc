/**
 * One line of the server list: a server of `server.ts` (`host port`) or a
 * mirror on the web (an `http://` or `https://` URL), with how each is
 * named in messages and where a mirror keeps a file.
 *
 * @module
 */

import { formatAddress, type ServerAddress } from "../wire/address.ts";

/** A server of `server.ts`, asked over the msfd protocol. */
export interface ProtocolServerEntry {
  /** Its kind. */
  kind: "server";
  /** Where it listens. */
  address: ServerAddress;
}

/** A mirror on the web, asked over HTTP(S). */
export interface MirrorEntry {
  /** Its kind. */
  kind: "mirror";
  /** The URL as listed: a folder when its path ends in `/` (the file's
   * name is appended), the file itself otherwise. */
  url: URL;
}

/** One place the client can fetch from. */
export type ServerEntry = ProtocolServerEntry | MirrorEntry;

/**
 * An entry for a server of `server.ts`.
 *
 * @param address Where it listens.
 * @returns The entry.
 */
export function protocolServer(address: ServerAddress): ProtocolServerEntry {
  return { kind: "server", address };
}

/**
 * Whether a mirror's URL names a folder (its path ends in `/`).
 *
 * @param url The URL as listed.
 * @returns Whether the file's name is appended to it.
 */
export function isFolderUrl(url: URL): boolean {
  return url.pathname.endsWith("/");
}

/**
 * The URL of a file in a mirror: a folder URL with the name appended, each
 * of its path segments percent-encoded; a file URL as it is.
 *
 * @param url The URL as listed.
 * @param name The file's name, segments split by `/`.
 * @returns The file's URL, a new object.
 */
export function mirrorFileUrl(url: URL, name: string): URL {
  const file = new URL(url.href);
  if (isFolderUrl(url)) {
    file.pathname = url.pathname +
      name.split("/").map(encodeURIComponent).join("/");
  }
  return file;
}

/**
 * A URL as messages show it: without credentials and with the query
 * shortened (a presigned URL's signature is not shown).
 *
 * @param url The URL.
 * @returns The text.
 */
export function urlLabel(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${
    url.search === "" ? "" : "?…"
  }`;
}

/**
 * What makes two entries the same place to fetch from: a mirror's URL as
 * listed, a server's address.
 *
 * @param entry The entry.
 * @returns The key; equal for entries listed twice.
 */
export function entryKey(entry: ServerEntry): string {
  return entry.kind === "mirror" ? entry.url.href : entryLabel(entry);
}

/**
 * How messages name an entry: `host:port`, or the mirror's URL; with the
 * file's name, a folder mirror's label is the file's URL in it, so
 * messages name what was fetched.
 *
 * @param entry The entry.
 * @param name The file's name, when known.
 * @returns Its label.
 */
export function entryLabel(entry: ServerEntry, name?: string): string {
  if (entry.kind === "server") return formatAddress(entry.address);
  return urlLabel(
    name === undefined ? entry.url : mirrorFileUrl(entry.url, name),
  );
}

/**
 * The host (with its port) the client connects to for an entry: what
 * `--allow-net` must allow.
 *
 * @param entry The entry.
 * @returns `host:port`.
 */
export function entryNetHost(entry: ServerEntry): string {
  if (entry.kind === "server") return formatAddress(entry.address);
  const port = entry.url.port !== ""
    ? entry.url.port
    : entry.url.protocol === "https:"
    ? "443"
    : "80";
  return `${entry.url.hostname}:${port}`;
}

/**
 * The file name a file URL names: its last path segment, decoded.
 *
 * @param url A mirror's file URL.
 * @returns The name; `undefined` if the segment is empty or cannot be
 * decoded.
 */
export function nameFromUrl(url: URL): string | undefined {
  const segment = url.pathname.slice(url.pathname.lastIndexOf("/") + 1);
  try {
    const name = decodeURIComponent(segment);
    return name === "" ? undefined : name;
  } catch (error) {
    if (error instanceof URIError) return undefined;
    throw error;
  }
}

/**
 * A text with every URL in it shown as messages show URLs: without
 * credentials, its query as `?…` (a signed URL's query is a secret).
 *
 * @param text Any text, such as `fetch`'s error message.
 * @returns The text with its URLs so shown.
 */
export function scrubUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s]+/gi, (match) => {
    // Punctuation after a URL is the text's, as in `(http://h/f):`.
    const [, found, after] = /^(.*?)([)\]>,;:.'"]*)$/s.exec(match)!;
    return `${scrubUrl(found!)}${after}`;
  });
}

/** One URL as messages show it, or what is left of it, scrubbed alike,
 * if it cannot be read. */
function scrubUrl(found: string): string {
  try {
    const url = new URL(found);
    if (url.host !== "") return urlLabel(url);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  return found.replace(/^([^:]+:\/\/)[^/?#]*@/, "$1").replace(
    /[?#].*$/,
    "?…",
  );
}
