/**
 * What is checked of a download with mirrors on the web when no server
 * sends a block digest list: the whole-file digests the mirrors send must
 * agree (and decide the finished file's digest), and spot checks compare
 * the same windows of every source before the bulk of the transfer. Also
 * the validators the resume state records of the mirrors.
 *
 * @module
 */

import type { ServerSlot } from "./server_slot.ts";
import {
  identityOf,
  type MirrorValidators,
  settleFileDigest,
  validatorsOf,
} from "./verify/mirror_identity.ts";
import { toHex } from "../wire/sha256.ts";
import { placeOf } from "./source_place.ts";
import { describeSpotCheck, spotCheck } from "./verify/spot_check_fetch.ts";
import { describeCrossCheck } from "./verify/cross_checks.ts";

/** What {@linkcode checkWithoutList} needs. */
export interface MirrorChecksOptions {
  /** The file's name. */
  name: string;
  /** The servers and mirrors, in list order. */
  slots: readonly ServerSlot[];
  /** Which of them are mirrors on the web, by index. */
  mirrors: readonly boolean[];
  /** The file's size. */
  size: number;
  /** The user's `--sha256`, if given. */
  sha256?: string | undefined;
  /** Where the spot checks' random offsets come from. Default: random. */
  seed?: number | undefined;
  /** Stops the checks. */
  signal?: AbortSignal | undefined;
  /** Leaves a source out for the rest of the download, saying why and
   * whether it holds another version of the file. */
  exclude: (serverIndex: number, reason: string, otherVersion: boolean) => void;
}

/** What was checked, and the finished file's digest if the mirrors gave
 * it. */
export interface MirrorChecks {
  /** What was checked in place of the blocks, in words, for the warning
   * that blocks are not checked one by one; empty when nothing was. */
  checked: string[];
  /** The SHA-256 (hex) the finished file must have, when the mirrors'
   * `Repr-Digest` decides it, and where it came from. `alone` when it is
   * the claim of no more than half of the places whose copies agreed in
   * the spot checks (the others sent none): a file that fails it may
   * well be right, and its claim wrong. */
  fileDigest?: { sha256: string; from: string; alone: boolean };
}

/**
 * Checks the sources against each other when there is no digest list:
 * spot checks across every source not left out (see `spotCheck`), then
 * the whole-file digests of the mirrors that passed them (see
 * `settleFileDigest`).
 * Sources that fail are left out through `exclude`.
 *
 * @param options The sources, the file, `--sha256`, and how to leave one
 * out.
 * @returns What was checked and the file's digest.
 * @throws {MirrorsDisagreeError} If no majority agrees on the file.
 */
export async function checkWithoutList(
  options: MirrorChecksOptions,
): Promise<MirrorChecks> {
  const { slots, mirrors } = options;
  // The spot checks first: by their end every source compared has
  // answered, and said what it has to say of its copy.
  const spot = await spotCheck({
    name: options.name,
    slots,
    size: options.size,
    seed: options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!,
    signal: options.signal,
    exclude: options.exclude,
  });
  const digests = slots.map((slot) => {
    if (slot.excluded || !mirrors[slot.index]) return undefined;
    const sha256 = identityOf(slot.source)?.sha256;
    return sha256 === undefined ? undefined : toHex(sha256);
  });
  const settled = settleFileDigest({
    name: options.name,
    labels: slots.map((slot) => slot.source.label),
    places: slots.map((slot) => placeOf(slot.source)),
    digests,
    sha256: options.sha256,
  });
  for (const { index, reason } of settled.leftOut) {
    options.exclude(index, reason, true);
  }
  const onlyMirrors = slots.every((slot) =>
    slot.excluded || mirrors[slot.index]
  );
  const spotChecked = describeSpotCheck(
    spot,
    onlyMirrors ? "mirrors" : "sources",
  );
  const checked = [
    spotChecked,
    options.sha256 !== undefined
      ? "the finished file is checked against --sha256"
      : settled.sha256 !== undefined
      ? "the finished file is checked against the SHA-256 the mirrors sent (Repr-Digest)"
      : undefined,
    // Two places or more: what each sends is compared after the transfer.
    spotChecked === undefined
      ? undefined
      : `after the transfer, ${
        describeCrossCheck(onlyMirrors ? "mirror" : "source")
      }`,
  ].filter((text) => text !== undefined);
  return {
    checked,
    ...(settled.sha256 === undefined ? {} : {
      fileDigest: fileDigestOf(settled.sha256, settled, spot.agreed),
    }),
  };
}

/** The settled digest, and whether it is the claim of a minority of the
 * places whose copies agreed (said in `from`). */
function fileDigestOf(
  sha256: string,
  settled: { from?: string; places?: number },
  agreed: number,
): NonNullable<MirrorChecks["fileDigest"]> {
  const places = settled.places ?? 0;
  const alone = 2 * places <= agreed;
  const others = agreed - places;
  return {
    sha256,
    from: alone
      ? `${settled.from}; the other ${others} mirror${
        others === 1 ? "" : "s"
      } whose copies agree sent none`
      : settled.from!,
    alone,
  };
}

/**
 * The validators of the mirrors in use, for the resume state: each one
 * not left out that sent any.
 *
 * @param slots The servers and mirrors.
 * @returns Their validators, in list order.
 */
export function currentValidators(
  slots: readonly ServerSlot[],
): MirrorValidators[] {
  return slots.flatMap((slot) => {
    // One left out because it cannot serve the file now (not found,
    // refused) still says which file the bytes it sent are of.
    if (slot.excluded && slot.excludedAsOtherVersion) return [];
    const identity = identityOf(slot.source);
    const validators = identity === undefined
      ? undefined
      : validatorsOf(slot.source.label, identity);
    return validators === undefined ? [] : [validators];
  });
}
