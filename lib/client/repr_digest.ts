/**
 * A whole file's SHA-256 as a mirror on the web announces it: RFC 9530's
 * `Repr-Digest: sha-256=:<base64>:` (a structured-field dictionary) or
 * RFC 3230's older `Digest: SHA-256=<base64>`.
 *
 * @module
 */

import { DIGEST_BYTES } from "../wire/protocol.ts";

/**
 * Reads the SHA-256 from a `Repr-Digest` header (RFC 9530): a dictionary
 * of algorithms to byte sequences, `sha-256=:…:` among them.
 *
 * @param value The header's value.
 * @returns The digest, or `undefined` if it holds no valid `sha-256`.
 */
export function parseReprDigest(value: string): Uint8Array | undefined {
  for (const member of splitList(value)) {
    const match = /^([a-z0-9_.*-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*(;.*)?$/
      .exec(member);
    if (match === null || match[1] !== "sha-256") continue;
    return sha256Bytes(match[2]!);
  }
  return undefined;
}

/**
 * Reads the SHA-256 from a `Digest` header (RFC 3230): a list of
 * `algorithm=value`, the algorithm's name in any case.
 *
 * @param value The header's value.
 * @returns The digest, or `undefined` if it holds no valid `SHA-256`.
 */
export function parseDigestHeader(value: string): Uint8Array | undefined {
  for (const member of splitList(value)) {
    const at = member.indexOf("=");
    if (at < 0) continue;
    if (member.slice(0, at).trim().toLowerCase() !== "sha-256") continue;
    return sha256Bytes(member.slice(at + 1).trim());
  }
  return undefined;
}

/**
 * The SHA-256 a reply announces for the whole file: its `Repr-Digest`,
 * else its `Digest`.
 *
 * @param headers The reply's headers.
 * @returns The digest, or `undefined` if it announces none.
 */
export function announcedSha256(headers: Headers): Uint8Array | undefined {
  const repr = headers.get("repr-digest");
  const fromRepr = repr === null ? undefined : parseReprDigest(repr);
  if (fromRepr !== undefined) return fromRepr;
  const digest = headers.get("digest");
  return digest === null ? undefined : parseDigestHeader(digest);
}

function splitList(value: string): string[] {
  return value.split(",").map((member) => member.trim()).filter((m) =>
    m !== ""
  );
}

/** Base64 of exactly 32 bytes, else `undefined`. */
function sha256Bytes(base64: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
    return undefined;
  }
  let text: string;
  try {
    text = atob(base64);
  } catch {
    return undefined;
  }
  if (text.length !== DIGEST_BYTES) return undefined;
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
