/**
 * What mirrors on the web say of their copy of the file, and what the
 * client makes of it without a block digest list: the whole-file SHA-256
 * they send (`Repr-Digest`) must agree, and their validators (`ETag`,
 * `Last-Modified`) tell a later run whether the file changed meanwhile.
 *
 * @module
 */

import { toHex } from "../../wire/sha256.ts";
import { MirrorsDisagreeError } from "../download_errors.ts";
import type { MirrorValidators } from "../output/download_state.ts";
import { tallyPlaces } from "./spot_checks.ts";

export type { MirrorValidators };

/** What a source said of its copy's identity (see `HttpSource.identity`). */
export interface SourceIdentity {
  /** The first `ETag` it sent, strong or weak, as sent. */
  etag?: string | undefined;
  /** The first `Last-Modified` it sent. */
  lastModified?: string | undefined;
  /** The SHA-256 of the whole file it sent. */
  sha256?: Uint8Array | undefined;
}

/**
 * What a source said of its copy, if it is one that says (a mirror on the
 * web; an msfd server says nothing of the kind).
 *
 * @param source The source.
 * @returns Its identity, or `undefined`.
 */
export function identityOf(source: object): SourceIdentity | undefined {
  const identity = (source as { identity?: unknown }).identity;
  return typeof identity === "function"
    ? (identity.call(source) as SourceIdentity)
    : undefined;
}

/**
 * A mirror's validators as a state records them: its strong `ETag` (a
 * weak one, `W/"…"`, promises no identical bytes, and is dropped), its
 * `Last-Modified`, and its digest in hex.
 *
 * @param label The mirror, as messages name it.
 * @param identity What it said of its copy.
 * @returns Its validators, or `undefined` if it sent none.
 */
export function validatorsOf(
  label: string,
  identity: SourceIdentity,
): MirrorValidators | undefined {
  const validators: MirrorValidators = { label };
  if (identity.etag !== undefined && !identity.etag.startsWith("W/")) {
    validators.etag = identity.etag;
  }
  if (identity.lastModified !== undefined) {
    validators.lastModified = identity.lastModified;
  }
  if (identity.sha256 !== undefined) validators.sha256 = toHex(identity.sha256);
  return Object.keys(validators).length > 1 ? validators : undefined;
}

/** Whether the mirrors' file is the one an earlier run fetched bytes of. */
export type ValidatorVerdict =
  | {
    /** A mirror still says what it said then, and none says otherwise. */
    verdict: "same";
  }
  | {
    /** A mirror says otherwise now: the file changed. */
    verdict: "changed";
    /** Which mirror, and how, such as `http://a/f: ETag "2" (was "1")`. */
    reason: string;
  }
  | {
    /** No mirror says the same thing then and now: nothing to go by. */
    verdict: "unknown";
  };

/** The validators compared, strongest first, with their names. */
const FIELDS = [
  ["sha256", "SHA-256"],
  ["etag", "ETag"],
  ["lastModified", "Last-Modified"],
] as const;

/**
 * Compares the validators an earlier run recorded with those the mirrors
 * send now, mirror by mirror (by label; a mirror's validators mean
 * nothing to another). A validator that one of them lacks is not
 * compared; any compared one that differs means the file changed.
 *
 * @param saved What the earlier run recorded, if anything.
 * @param now What the mirrors of this run send.
 * @returns `same` when at least one mirror matches on at least one
 * validator and none differs; `changed`, naming the first that differs;
 * else `unknown`.
 */
export function compareValidators(
  saved: readonly MirrorValidators[] | undefined,
  now: readonly MirrorValidators[],
): ValidatorVerdict {
  let matched = false;
  for (const current of now) {
    const before = saved?.find((entry) => entry.label === current.label);
    if (before === undefined) continue;
    for (const [field, name] of FIELDS) {
      const then = before[field];
      const value = current[field];
      if (then === undefined || value === undefined) continue;
      if (then !== value) {
        return {
          verdict: "changed",
          reason: `${current.label}: ${name} ${value} (was ${then})`,
        };
      }
      matched = true;
    }
  }
  return matched ? { verdict: "same" } : { verdict: "unknown" };
}

/** The whole-file digest settled on, and the mirrors left out over it. */
export interface FileDigestVerdict {
  /** The SHA-256 the finished file must have, in hex, when the mirrors'
   * digest decides it (not when `--sha256` was given). */
  sha256?: string;
  /** Where it came from, for messages. */
  from?: string;
  /** How many places sent it (mirrors at one place count once). */
  places?: number;
  /** Mirrors whose digest differs, by index, and why they are left out. */
  leftOut: { index: number; reason: string }[];
}

/**
 * Settles the whole file's SHA-256 from the digests mirrors sent: the
 * user's `--sha256` decides when given (a mirror that sent another is left
 * out); else the digest of more than half of the mirrors that sent one
 * (the others are left out), mirrors at the same place voting once.
 *
 * @param options The file's name, each mirror's label, place (default:
 * its label) and digest in hex (`undefined` if it sent none), and the
 * user's digest if given.
 * @returns The digest, where it came from, and the mirrors left out.
 * @throws {MirrorsDisagreeError} If the mirrors that sent one disagree
 * and no majority of them agrees.
 */
export function settleFileDigest(options: {
  name: string;
  labels: readonly string[];
  places?: readonly string[] | undefined;
  digests: readonly (string | undefined)[];
  sha256?: string | undefined;
}): FileDigestVerdict {
  const { labels, digests } = options;
  const given = options.sha256?.toLowerCase();
  if (given !== undefined) {
    return {
      leftOut: digests.flatMap((digest, index) =>
        digest === undefined || digest === given ? [] : [{
          index,
          reason:
            `its Repr-Digest SHA-256 is ${digest}, not the ${given} given with --sha256`,
        }]
      ),
    };
  }
  const vote = tallyPlaces(digests, options.places ?? labels);
  if (!vote.agreed) {
    throw new MirrorsDisagreeError({
      name: options.name,
      compared: "their whole-file SHA-256 digests (Repr-Digest)",
      groups: vote.groups.map((group) => group.map((i) => labels[i]!)),
    });
  }
  if (vote.answer === undefined) return { leftOut: [] };
  const others = new Set(
    vote.majority.map((i) => (options.places ?? labels)[i]),
  ).size;
  return {
    sha256: vote.answer,
    places: others,
    from: `the Repr-Digest of ${
      vote.majority.map((i) => labels[i]).join(", ")
    }`,
    leftOut: vote.outvoted.map((index) => ({
      index,
      reason: `its Repr-Digest SHA-256 is ${
        digests[index]
      }, not the ${vote.answer} of ${others} other mirror${
        others === 1 ? "" : "s"
      }`,
    })),
  };
}
