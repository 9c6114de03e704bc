/**
 * How names (of files, paths) are shown in messages and log lines: quoted
 * and escaped, so that no name can end its line, forge another one, move
 * the cursor or hide among invisible characters, and the name can be read
 * back exactly (the quoted form is a JSON string).
 *
 * @module
 */

/**
 * What `JSON.stringify` leaves raw and a reader cannot see or trust: DEL
 * and the C1 controls, format characters (bidirectional overrides,
 * zero-width characters, U+FEFF, soft hyphen) and the line and paragraph
 * separators.
 */
const UNSEEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** `\uXXXX` for each UTF-16 unit of `char`, as JSON writes them. */
function escapeUnits(char: string): string {
  let escaped = "";
  for (let i = 0; i < char.length; i++) {
    escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return escaped;
}

/**
 * A name as shown to people: in double quotes, with `"`, `\` and every
 * control, format and line-separating character escaped as in JSON, so
 * `JSON.parse` gives the name back.
 *
 * @param name A file name or path.
 * @returns The quoted name, on one line.
 */
export function quoteName(name: string): string {
  return JSON.stringify(name).replace(UNSEEN, escapeUnits);
}

/**
 * A text from elsewhere (a server's message) made safe to print: control,
 * format and line-separating characters are escaped as `\uXXXX`; the rest,
 * quotes and backslashes included, is left as it is.
 *
 * @param text The text.
 * @returns The text, on one line.
 */
export function escapeUnseen(text: string): string {
  return text.replace(UNSEEN, escapeUnits);
}
