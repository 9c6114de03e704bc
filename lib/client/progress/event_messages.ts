/**
 * The lines a download's events print: warnings, the size found, retries.
 *
 * @module
 */

import { formatByteSize } from "../../cli/byte_size.ts";
import type { DownloadEvent } from "../download_events.ts";

/**
 * The line an event prints, if it prints one.
 *
 * @param event The event.
 * @returns The line (it may hold several), or `undefined` for an event
 * that only the progress display shows.
 */
export function eventMessage(event: DownloadEvent): string | undefined {
  switch (event.type) {
    case "size-failed":
      return `warning: no size from ${event.detail}`;
    case "size":
      return `${event.server} reports ${event.size} bytes`;
    case "range-failed":
      // A range whose bytes all went to other tasks lost nothing.
      if (event.range.end <= event.range.start) return undefined;
      return `warning: chunk ${event.range.chunk} (bytes ${event.range.start}-${
        event.range.end - 1
      }) stopped at byte ${event.position}: ${event.detail}`;
    case "unverified":
      if (event.checked !== undefined && event.checked.length > 0) {
        return `warning: blocks are not checked one by one: ${event.detail}; checked instead: ${
          event.checked.join("; ")
        }`;
      }
      return `warning: downloading without verification${
        event.from === 0 ? "" : ` from byte ${event.from} on`
      }: ${event.detail}`;
    case "resumed":
      return `Resuming: ${event.bytes} bytes (${
        formatByteSize(event.bytes)
      }) are already here${
        event.checking ? "; checking them against the block digests" : ""
      }`;
    case "kept-mismatch":
      return `warning: ${event.bytes} bytes (${
        formatByteSize(event.bytes)
      }) kept from before do not match their digests; fetching them again`;
    case "kept-unchecked":
      return `warning: ${event.bytes} bytes (${
        formatByteSize(event.bytes)
      }) kept from before cannot be checked (no server sent their digests); fetching them again`;
    case "restarted":
      return `warning: starting over: ${event.reason}`;
    case "list-moved":
      return `warning: ${event.detail}`;
    case "server-excluded":
      return `warning: not using ${event.server} for this file: ${event.reason}`;
    case "retry-round":
      return `chunk ${event.range.chunk}: retry round ${event.round} in ${
        event.delayMs / 1000
      } s`;
    case "range-done":
    case "stolen":
      return undefined;
  }
}

/**
 * A sink for a download's events that prints their lines.
 *
 * @param print Prints one line.
 * @returns The sink.
 */
export function reporter(
  print: (line: string) => void,
): (event: DownloadEvent) => void {
  return (event) => {
    const line = eventMessage(event);
    if (line !== undefined) print(line);
  };
}
