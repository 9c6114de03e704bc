/**
 * The download's servers as slots: one {@linkcode ServerSlot} per server of
 * the list, each with its source, made before anything is asked; the size
 * asked of their sources; and leaving a server out for good, told as an
 * event.
 *
 * @module
 */

import { withoutLabel } from "./failure_reasons.ts";
import type { DownloadEventSink } from "./download_events.ts";
import { HttpSource } from "./http_source.ts";
import { MsfdSource } from "./msfd_source.ts";
import { entryLabel, mirrorFileUrl, type ServerEntry } from "./server_entry.ts";
import { ServerReplyError, type Timeouts } from "./request_exchange.ts";
import { SourceLeftOutError } from "./source.ts";
import { ProtocolError, Status } from "../wire/protocol.ts";
import { DEFAULT_RETRY_POLICY } from "./retry_policy.ts";
import { ServerSlot } from "./server_slot.ts";
import { findFileSize, type SizeFound } from "./size_lookup.ts";
import { placeOf } from "./source_place.ts";

/** What {@linkcode openSlots} needs. */
export interface SlotsOptions {
  /** The servers and mirrors, in list order. */
  servers: readonly ServerEntry[];
  /** The name to ask the servers for. */
  name: string;
  /** Deadlines for each request. */
  timeouts: Timeouts;
  /** The longest wait a mirror's `Retry-After` gets. Default: the retry
   * policy's longest delay. */
  retryAfterCapMs?: number | undefined;
  /** Requests at once to each mirror on the web; default 1. A server of
   * `server.ts` is sent one at a time. */
  connectionsPerMirror?: number | undefined;
}

/**
 * Makes a slot for each server, its source an msfd server or an HTTP(S)
 * mirror; nothing is asked yet.
 *
 * @param options The servers, the file's name, the deadlines and the
 * connections per mirror.
 * @returns The slots, in list order.
 */
export function openSlots(options: SlotsOptions): ServerSlot[] {
  const { name, timeouts } = options;
  return options.servers.map((entry, i) =>
    entry.kind === "server"
      ? new ServerSlot(
        i,
        new MsfdSource({ server: entry.address, name, timeouts }),
      )
      : new ServerSlot(
        i,
        new HttpSource({
          url: mirrorFileUrl(entry.url, name),
          label: entryLabel(entry, name),
          timeouts,
          retryAfterCapMs: options.retryAfterCapMs ??
            DEFAULT_RETRY_POLICY.maxDelayMs,
        }),
        options.connectionsPerMirror ?? 1,
      )
  );
}

/**
 * Learns the file's size from the slots' sources (see
 * {@linkcode findFileSize}), and notes in each slot whether it reported
 * the size settled on; a server that reported another size is left out,
 * told as an event naming both sizes.
 *
 * @param slots The slots, in list order.
 * @param options The servers as the events name them, the file's name and
 * the event sink.
 * @returns The size and the index of the server that reported it.
 * @throws {CannotTransferError} If no server reported a size.
 * @throws {MirrorsDisagreeError} If no size is reported by the most
 * places and no server of `server.ts` reported one of the tied sizes.
 */
export async function learnSize(
  slots: readonly ServerSlot[],
  options: {
    servers: readonly string[];
    name: string;
    onEvent?: DownloadEventSink | undefined;
  },
): Promise<SizeFound> {
  const found = await findFileSize({
    ...options,
    sources: slots.map((slot) => slot.source),
    // Any source but a mirror on the web may send a digest list.
    canList: slots.map((slot) => !(slot.source instanceof HttpSource)),
    placeOf: (i) => placeOf(slots[i]!.source),
  });
  for (const slot of slots) slot.answeredSize = found.responsive[slot.index]!;
  // A server that reported another size holds another file.
  const exclude = slotExcluder(slots, options.servers, options.onEvent);
  // One that cannot serve the file is left out; one that refused the
  // connection starts no range, and is asked only after the others.
  found.refusals.forEach((error, i) => {
    if (error === undefined) return;
    const slot = slots[i]!;
    if (cannotServeFile(error)) {
      const reason = withoutLabel(
        slot.source.label,
        slot.source.describeSizeFailure(error),
      );
      // Those listed before the one settled on were told of already.
      if (i < found.serverIndex) slot.exclude(reason, false);
      else exclude(i, reason, false);
    } else {
      slot.refusedSize = true;
    }
  });
  found.sizes.forEach((size, i) => {
    if (size === undefined || size === found.size) return;
    exclude(
      i,
      `its file is ${size} bytes, not ${found.size} as ${
        options.servers[found.serverIndex]
      } reported`,
    );
  });
  return found;
}

/** Whether a size request's failure says the server cannot serve the
 * file at all: it has no such file, refuses it, or speaks another
 * protocol (a mirror's own verdicts are {@linkcode SourceLeftOutError}s). */
function cannotServeFile(error: unknown): boolean {
  if (error instanceof SourceLeftOutError) return true;
  if (error instanceof ProtocolError) return true;
  return error instanceof ServerReplyError &&
    (error.status === Status.NOT_FOUND || error.status === Status.FORBIDDEN);
}

/**
 * A function that leaves a server out for good (its copy differs from the
 * one settled on) and tells of it, once per server.
 *
 * @param slots The slots, in list order.
 * @param servers The servers, as the event names them.
 * @param onEvent Told of each server left out.
 * @returns `exclude(serverIndex, reason, otherVersion)`; `otherVersion`
 * (default true) says the server holds another version of the file, not
 * that it cannot serve it.
 */
export function slotExcluder(
  slots: readonly ServerSlot[],
  servers: readonly string[],
  onEvent: DownloadEventSink | undefined,
): (serverIndex: number, reason: string, otherVersion?: boolean) => void {
  return (serverIndex, reason, otherVersion = true) => {
    if (!slots[serverIndex]!.exclude(reason, otherVersion)) return;
    onEvent?.({
      type: "server-excluded",
      server: servers[serverIndex]!,
      reason,
    });
  };
}
