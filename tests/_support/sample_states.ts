/**
 * Sample resume states for the unit tests of their format and their saving.
 *
 * @module
 */

import type { DownloadState } from "../../lib/client/output/download_state.ts";

/** A state checked against a digest list, with two done ranges. */
export const VERIFIED: DownloadState = {
  name: "folder/file.bin",
  size: 1_000_003,
  blockSize: 65_536,
  identity: "ab".repeat(32),
  listed: 16,
  done: [[0, 131_072], [262_144, 1_000_003]],
};

/** A state without a digest list and with nothing done yet. */
export const UNVERIFIED: DownloadState = {
  name: "plain.txt",
  size: 10,
  blockSize: 1,
  identity: null,
  listed: 0,
  done: [],
};
