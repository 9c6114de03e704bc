/**
 * The control file saved beside a partial download, as aria2's `.aria2`
 * file is: which bytes are complete and which digest list they were checked
 * against, so a later run continues where this one stopped.
 *
 * @module
 */

import type { Interval } from "../plan/interval_set.ts";
import { quoteName } from "../../wire/quoted_name.ts";

/** Suffix added to the partial file's name for its control file. */
export const STATE_SUFFIX = ".state";

/** What a control file records. */
export interface DownloadState {
  /** The name asked of the servers. */
  name: string;
  /** The file size. */
  size: number;
  /** The block size digests were checked in (1 without verification). */
  blockSize: number;
  /**
   * SHA-256 (hex) of the first {@linkcode DownloadState.listed} digests of
   * the block digest list the bytes were checked against (the whole list
   * once it arrived), which tells a later run whether the file changed; or
   * `null` when no digest was known (without verification, say).
   */
  identity: string | null;
  /** How many digests, from the first, `identity` covers; 0 without one. */
  listed: number;
  /**
   * Byte intervals written and flushed (and verified, when checked). A hint
   * for a later run: with checks on, it checks them again before they
   * count.
   */
  done: Interval[];
  /**
   * What each mirror on the web said of its copy when the bytes were
   * fetched: its validators and whole-file digest. A later run that has no
   * digest list keeps the bytes only when the mirrors still say the same
   * (see `verify/mirror_identity.ts`). Absent in states without mirrors
   * and in those of earlier versions.
   */
  mirrors?: MirrorValidators[];
}

/** A mirror's validators and whole-file digest, as a state records them. */
export interface MirrorValidators {
  /** The mirror, as messages name it (its URL). */
  label: string;
  /** Its strong `ETag`, as sent (quotes included). */
  etag?: string;
  /** Its `Last-Modified`, as sent. */
  lastModified?: string;
  /** The SHA-256 of the whole file it sent (`Repr-Digest`), in hex. */
  sha256?: string;
}

const FORMAT = "msfd-state-2";
/** The format before `listed`: its identity covered the whole list. */
const FORMAT_1 = "msfd-state-1";
/** Format tags of this kind with a higher number are of newer versions. */
const FORMAT_PATTERN = /^msfd-state-([1-9][0-9]{0,8})$/;

/**
 * The largest control file read: 64 MiB, room for over a million done
 * intervals, more than a download keeps (its ranges are at most 10,000
 * chunks, split further only where blocks failed). A larger file is not a
 * state this program wrote, and is not read into memory.
 */
export const MAX_STATE_BYTES = 64 * 1024 * 1024;

/** A control file is there but cannot be used; nothing of it is. */
export class UnreadableStateError extends Error {
  /** Where it is. */
  readonly path: string;
  /** What is wrong with it, such as `it is not JSON`. */
  readonly problem: string;
  /** The format tag of a newer version of the program, if it has one:
   * that version can read it, this one must not overwrite it. */
  readonly newerFormat: string | undefined;

  /**
   * Creates the error.
   *
   * @param options Where the file is, what is wrong with it, and the
   * format tag of a newer version if it has one.
   */
  constructor(
    options: { path: string; problem: string; newerFormat?: string },
  ) {
    super(
      `The download state ${
        quoteName(options.path)
      } cannot be read: ${options.problem}`,
    );
    this.name = "UnreadableStateError";
    this.path = options.path;
    this.problem = options.problem;
    this.newerFormat = options.newerFormat;
  }
}

/**
 * Encodes a state as JSON text.
 *
 * @param state The state.
 * @returns The text to store.
 */
export function encodeState(state: DownloadState): string {
  return JSON.stringify({ format: FORMAT, ...state }) + "\n";
}

function isUint(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** What {@linkcode parseState} found: the state, or what is wrong. */
export type ParsedState =
  | { state: DownloadState }
  | {
    /** What is wrong with the text, such as `it is not JSON`. */
    problem: string;
    /** The format tag, when it is one of a newer version. */
    newerFormat?: string;
  };

/**
 * Decodes a control file's text, saying what is wrong with it if it is
 * not a valid state.
 *
 * @param text The stored text.
 * @returns The state, or the problem.
 */
export function parseState(text: string): ParsedState {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "it is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { problem: "it is not a JSON object" };
  }
  const format = value.format;
  if (format !== FORMAT && format !== FORMAT_1) {
    const number = typeof format === "string"
      ? FORMAT_PATTERN.exec(format)?.[1]
      : undefined;
    if (number !== undefined && Number(number) > 2) {
      return {
        problem: `it was written by a newer version of the client (format ${
          JSON.stringify(format)
        })`,
        newerFormat: format as string,
      };
    }
    return {
      problem: format === undefined
        ? "it has no format tag"
        : `its format tag is ${JSON.stringify(format)}, not "${FORMAT}"`,
    };
  }
  if (typeof value.name !== "string") {
    return { problem: "its name is not a string" };
  }
  if (!isUint(value.size)) {
    return { problem: "its size is not a whole number of bytes" };
  }
  if (!isUint(value.blockSize) || (value.blockSize as number) < 1) {
    return { problem: "its block size is not a positive whole number" };
  }
  if (
    value.identity !== null &&
    !(typeof value.identity === "string" && IDENTITY.test(value.identity))
  ) {
    return {
      problem: "its identity is neither null nor 64 hexadecimal digits",
    };
  }
  if (!Array.isArray(value.done)) {
    return { problem: "its done intervals are not a list" };
  }
  const size = value.size as number;
  const blockSize = value.blockSize as number;
  const blocks = Math.ceil(size / blockSize);
  const identity = value.identity as string | null;
  const listed = format === FORMAT_1
    ? (identity === null ? 0 : blocks)
    : value.listed;
  if (
    !isUint(listed) || listed > blocks || (identity === null) !== (listed === 0)
  ) {
    return {
      problem: `its listed count ${
        JSON.stringify(listed)
      } does not fit its identity and its ${blocks} blocks`,
    };
  }
  const done: Interval[] = [];
  for (const [i, interval] of (value.done as unknown[]).entries()) {
    if (
      !Array.isArray(interval) || interval.length !== 2 ||
      !isUint(interval[0]) || !isUint(interval[1]) ||
      interval[0] > interval[1] || interval[1] > size
    ) {
      return {
        problem: `its done interval ${
          i + 1
        } is not a pair of offsets from 0 to ${size}`,
      };
    }
    done.push([interval[0], interval[1]]);
  }
  const mirrors = parseMirrors(value.mirrors);
  if (typeof mirrors === "string") return { problem: mirrors };
  return {
    state: {
      name: value.name,
      size,
      blockSize,
      identity,
      listed,
      done,
      ...(mirrors === undefined ? {} : { mirrors }),
    },
  };
}

/** The mirrors' validators of a state, `undefined` if it has none, or what
 * is wrong with them. */
function parseMirrors(value: unknown): MirrorValidators[] | undefined | string {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return "its mirrors are not a list";
  const mirrors: MirrorValidators[] = [];
  for (const [i, entry] of value.entries()) {
    const problem = `its mirror ${i + 1} is not a label with validators`;
    if (typeof entry !== "object" || entry === null) return problem;
    const { label, etag, lastModified, sha256 } = entry as Record<
      string,
      unknown
    >;
    if (typeof label !== "string") return problem;
    const mirror: MirrorValidators = { label };
    for (
      const [key, text] of [["etag", etag], [
        "lastModified",
        lastModified,
      ]] as const
    ) {
      if (text === undefined) continue;
      if (typeof text !== "string") return problem;
      mirror[key] = text;
    }
    if (sha256 !== undefined) {
      if (typeof sha256 !== "string" || !IDENTITY.test(sha256)) return problem;
      mirror.sha256 = sha256;
    }
    mirrors.push(mirror);
  }
  return mirrors;
}

/** The identity: a SHA-256 in lower-case hex. */
const IDENTITY = /^[0-9a-f]{64}$/;

/** Reads a file of at most `limit` bytes, or gives `undefined` for a
 * longer one (as its size says, or as it turns out while it is read). */
async function readUpTo(
  path: string,
  limit: number,
): Promise<Uint8Array | undefined> {
  using file = await Deno.open(path, { read: true });
  const known = (await file.stat()).size;
  if (known > limit) return undefined;
  let buffer = new Uint8Array(Math.max(known, 4096) + 1);
  let filled = 0;
  while (true) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) return buffer.subarray(0, filled);
    filled += n;
    if (filled > limit) return undefined;
    if (filled === buffer.length) {
      // It grew since, or its size says nothing (as under /proc).
      const larger = new Uint8Array(Math.min(2 * buffer.length, limit + 1));
      larger.set(buffer);
      buffer = larger;
    }
  }
}

/**
 * Reads a control file.
 *
 * @param path Where it is.
 * @returns The state, or `undefined` if there is none.
 * @throws {UnreadableStateError} If there is one that is not a valid
 * state, or one larger than {@linkcode MAX_STATE_BYTES}.
 */
export async function loadState(
  path: string,
): Promise<DownloadState | undefined> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readUpTo(path, MAX_STATE_BYTES);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  if (bytes === undefined) {
    throw new UnreadableStateError({
      path,
      problem: `it is larger than the ${
        MAX_STATE_BYTES / 1024 / 1024
      } MiB a download state can be`,
    });
  }
  const parsed = parseState(new TextDecoder().decode(bytes));
  if ("state" in parsed) return parsed.state;
  throw new UnreadableStateError({ path, ...parsed });
}

/**
 * Removes a control file if it exists.
 *
 * @param path Where it is.
 */
export async function removeState(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
