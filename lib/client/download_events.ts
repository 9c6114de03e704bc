/**
 * What a download tells its user while it runs: the events, as values.
 * The messages they print are in `progress/event_messages.ts`.
 *
 * @module
 */

import type { RangeEvent } from "./range_tasks.ts";

export type { RangeEvent };

/** Something worth telling the user while a download runs. */
export type DownloadEvent =
  | { type: "size-failed"; detail: string }
  | { type: "size"; server: string; size: number }
  | {
    type: "unverified";
    /** The first byte left unchecked: 0, or where the digests ended. */
    from: number;
    detail: string;
    /** What was checked instead, in words (spot checks across mirrors,
     * the whole file's digest); absent or empty when nothing was. */
    checked?: string[];
  }
  | {
    type: "resumed";
    /** Bytes kept from an earlier run. */
    bytes: number;
    /** Whether they are checked against the digests before they count;
     * otherwise (without verification) they are trusted. */
    checking: boolean;
  }
  | {
    type: "kept-mismatch";
    /** Bytes kept from an earlier run that failed their check: they are
     * fetched again. */
    bytes: number;
  }
  | {
    type: "kept-unchecked";
    /** Bytes kept from an earlier run that cannot be checked (no server
     * sent their digests): with checks on they do not count, and are
     * fetched again. */
    bytes: number;
  }
  | { type: "restarted"; reason: string }
  | {
    type: "list-moved";
    /** Which server failed or is too slow for the digest list, and which
     * one is asked next. */
    detail: string;
  }
  | { type: "server-excluded"; server: string; reason: string }
  | RangeEvent;

/** Receives a download's events. */
export type DownloadEventSink = (event: DownloadEvent) => void;
