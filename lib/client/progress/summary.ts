/**
 * The summary of a finished download: for people, and as `--json` prints
 * it.
 *
 * @module
 */

import { formatByteSize } from "../../cli/byte_size.ts";
import { quoteName } from "../../wire/quoted_name.ts";
import type { DownloadResult, ResumedCheck } from "../download.ts";
import { plural } from "./renderer.ts";

export type { DownloadResult, ResumedCheck };

/** What a finished download did, as `--json` prints it. */
export interface DownloadSummary {
  /** The name asked of the servers. */
  file: string;
  /** Where the file went, as given. */
  path: string;
  /** The file's size in bytes. */
  size: number;
  /** From the start of the run to the end, rounded to the millisecond. */
  seconds: number;
  /** The bytes fetched in this run (`fetchedBytes`) per second. */
  bytesPerSecond: number;
  /** How many chunks the user's `numchunks` made of the file (fewer for a
   * file of fewer blocks), however many pieces they were fetched in. */
  chunks: number;
  /** Every listed server, with the bytes it sent. */
  servers: { server: string; bytes: number }[];
  /** How many times a range moved on to another server. */
  failovers: number;
  /** How many retry rounds ranges needed. */
  retryRounds: number;
  /** Bytes kept from an earlier run that count: checked as
   * `resumedCheck` says. */
  resumedBytes: number;
  /** What vouched for the resumed bytes: the block digests, the mirrors'
   * validators (`ETag`, `Last-Modified`, digest) when there was no digest
   * list, or nothing (`--no-verify`). */
  resumedCheck: ResumedCheck;
  /** Bytes of the file fetched in this run: all but the resumed ones. */
  fetchedBytes: number;
  /** Bytes kept from an earlier run that failed their check and were
   * fetched again. */
  refetchedBytes: number;
  /** Servers left out because their copy differs. */
  excluded: string[];
  /** Servers left out because they could not serve the file (refused,
   * not found, ignored `Range`, too slow). */
  unusable: string[];
  /** Whether blocks were checked against SHA-256 digests. */
  verified: boolean;
  /** The cross-checks after the transfer, when there was no digest list:
   * windows compared with another place, windows nobody else answered,
   * and bytes fetched again because their source was outvoted. */
  crossChecks?: {
    compared: number;
    unanswered: number;
    refetchedBytes: number;
  };
}

/**
 * Sums up a finished download.
 *
 * @param options The result, the servers as `host:port`, and the rest.
 * @returns The summary, numbers rounded as printed.
 */
export function summarizeDownload(options: {
  file: string;
  path: string;
  result: DownloadResult;
  servers: readonly string[];
  excluded: readonly string[];
  seconds: number;
  verified: boolean;
}): DownloadSummary {
  const { result } = options;
  const seconds = Number(options.seconds.toFixed(3));
  return {
    file: options.file,
    path: options.path,
    size: result.size,
    seconds,
    bytesPerSecond: Math.round(
      (result.size - result.resumedBytes) / Math.max(seconds, 1e-3),
    ),
    chunks: result.chunks,
    servers: options.servers.map((server, i) => ({
      server,
      bytes: result.bytesPerServer[i] ?? 0,
    })),
    failovers: result.failovers,
    retryRounds: result.retryRounds,
    resumedBytes: result.resumedBytes,
    // Nothing resumed: nothing was vouched for.
    resumedCheck: result.resumedBytes === 0
      ? "none"
      : result.resumedCheck ?? (options.verified ? "digests" : "none"),
    fetchedBytes: result.size - result.resumedBytes,
    refetchedBytes: result.refetchedBytes,
    excluded: [...options.excluded],
    unusable: [...(result.unusable ?? [])],
    verified: options.verified,
    ...result.crossChecks === undefined
      ? {}
      : { crossChecks: { ...result.crossChecks } },
  };
}

/** How the resumed line says what vouched for the kept bytes. */
const RESUMED_CHECKED: Record<ResumedCheck, string> = {
  digests: ", checked against the digests",
  validators:
    ", the mirrors' validators (ETag, Last-Modified) say the file is unchanged",
  none: ", not checked",
};

function bytesText(bytes: number): string {
  return bytes < 1024
    ? plural(bytes, "byte")
    : `${formatByteSize(bytes)} (${bytes} bytes)`;
}

function shortBytes(bytes: number): string {
  return bytes < 1024 ? plural(bytes, "byte") : formatByteSize(bytes);
}

/**
 * A path made absolute against a folder, with its `.` and `..` steps
 * walked and repeated `/` joined: where the summary says the file is.
 *
 * @param path The path, as given.
 * @param cwd The folder a relative path starts from.
 * @returns The absolute path.
 */
export function absolutePath(path: string, cwd: string): string {
  const steps: string[] = [];
  const full = path.startsWith("/") ? path : `${cwd}/${path}`;
  for (const step of full.split("/")) {
    if (step === "" || step === ".") continue;
    if (step === "..") steps.pop();
    else steps.push(step);
  }
  return `/${steps.join("/")}`;
}

/**
 * The summary for people: size, time, rate, bytes per server that sent
 * any, failovers and retries, resumed bytes and left-out servers if any,
 * and where the file is.
 *
 * @param summary The summary.
 * @param location Where the file is, as shown (an absolute path, say).
 * @returns The lines.
 */
export function formatSummary(
  summary: DownloadSummary,
  location: string,
): string[] {
  const rate = `${formatByteSize(summary.bytesPerSecond)}/s`;
  // A resumed download's rate is over the bytes fetched in this run: the
  // line says so, and how many were resumed.
  const how = summary.resumedBytes > 0
    ? `: ${shortBytes(summary.resumedBytes)} resumed from before, ${
      shortBytes(summary.fetchedBytes)
    } fetched at ${rate}`
    : `, ${rate}`;
  const lines = [
    `Downloaded ${quoteName(summary.file)}: ${bytesText(summary.size)} in ${
      summary.seconds.toFixed(2)
    } s${how}`,
  ];
  const senders = summary.servers.filter((s) => s.bytes > 0);
  const width = Math.max(0, ...senders.map((s) => s.server.length));
  for (const { server, bytes } of senders) {
    lines.push(`  ${server.padEnd(width)}  sent ${bytesText(bytes)}`);
  }
  lines.push(
    `  ${plural(summary.chunks, "chunk")} from ${senders.length} of ${
      plural(summary.servers.length, "server")
    }; ${plural(summary.failovers, "failover")}, ${
      plural(summary.retryRounds, "retry round")
    }${summary.verified ? "" : "; blocks not verified"}`,
  );
  if (summary.resumedBytes > 0) {
    lines.push(
      `  ${bytesText(summary.resumedBytes)} resumed from before${
        RESUMED_CHECKED[summary.resumedCheck]
      }`,
    );
  }
  if (summary.refetchedBytes > 0) {
    lines.push(
      `  ${
        bytesText(summary.refetchedBytes)
      } kept from before did not match their digests and were fetched again`,
    );
  }
  const cross = summary.crossChecks;
  if (cross !== undefined && cross.compared + cross.unanswered > 0) {
    lines.push(
      `  cross-checked with other mirrors: ${
        plural(cross.compared, "window")
      } of what each sent${
        cross.unanswered > 0 ? `, ${cross.unanswered} unanswered` : ""
      }${
        cross.refetchedBytes > 0
          ? `; ${bytesText(cross.refetchedBytes)} fetched again`
          : ""
      }`,
    );
  }
  if (summary.excluded.length > 0) {
    lines.push(
      `  left out (their copy differs): ${summary.excluded.join(", ")}`,
    );
  }
  if (summary.unusable.length > 0) {
    lines.push(
      `  left out (could not serve the file): ${summary.unusable.join(", ")}`,
    );
  }
  lines.push(`Saved as ${quoteName(location)}`);
  return lines;
}
