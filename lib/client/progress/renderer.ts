/**
 * The live progress display's lines: overall percent, bytes, rate, ETA,
 * and a line or cell per chunk. Rendering is pure: a snapshot of the
 * progress goes in, lines of text come out; `terminal.ts` draws them.
 *
 * @module
 */

import { formatByteSize } from "../../cli/byte_size.ts";
import type { DownloadProgress } from "../download_passes.ts";
import type { TaskProgress } from "../range_tasks.ts";

// The types this module's functions take, for readers of its docs.
export type { DownloadProgress, TaskProgress };

/**
 * Formats a duration for people: `7s`, `1m05s`, `2h03m`.
 *
 * @param seconds The duration; rounded to whole seconds.
 * @returns The text, or `--` when the duration is not finite.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const total = Math.round(seconds);
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) {
    return `${minutes}m${String(total % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(minutes / 60)}h${
    String(minutes % 60).padStart(2, "0")
  }m`;
}

/** What one frame of the live display shows. */
export interface ProgressFrame {
  /** Where the download is. */
  progress: DownloadProgress;
  /** The servers as `host:port`, in list order. */
  servers: readonly string[];
  /** Time since the download started, in ms. */
  elapsedMs: number;
  /** The recent rate, if known. */
  bytesPerSecond: number | undefined;
  /** Terminal columns; every line is kept at least one shorter. */
  width: number;
  /** At most this many lines; at least 2 are used. */
  maxLines: number;
}

/**
 * A whole percentage, from 0 to 100; 100 when there is nothing to do.
 *
 * @param done What is done.
 * @param total All there is.
 * @returns The percentage, rounded down.
 */
export function percentOf(done: number, total: number): number {
  if (total <= 0) return 100;
  return Math.min(100, Math.max(0, Math.floor(done * 100 / total)));
}

/**
 * One of the user's chunks as the display shows it: the sum of its pieces
 * (the ranges fetched for it in this run, stolen tails included) and of the
 * bytes kept from before.
 */
export interface ChunkView {
  /** The chunk's number, from 0, as the user's `numchunks` made it. */
  index: number;
  /** First byte of the chunk. */
  start: number;
  /** One past its last byte. */
  end: number;
  /** Bytes present: kept from before, and received. */
  doneBytes: number;
  /** The servers to show, in list order: those sending bytes of it now;
   * when none is, those its pieces wait for; else those that sent them. */
  servers: number[];
  /** Whether bytes of it are on their way now. */
  active: boolean;
  /** How many times its pieces moved on to another server. */
  failovers: number;
  /** Whether all of it was kept from an earlier run. */
  resumed: boolean;
}

/** Bytes of `[start, end)` inside the intervals. */
function overlap(
  intervals: readonly (readonly [number, number])[],
  start: number,
  end: number,
): number {
  let bytes = 0;
  for (const [s, e] of intervals) {
    bytes += Math.max(0, Math.min(e, end) - Math.max(s, start));
  }
  return bytes;
}

/**
 * The user's chunks with what is done of each: a chunk's progress is the
 * sum of its pieces, however work stealing split them, and of the bytes
 * kept from before.
 *
 * @param progress Where the download is.
 * @returns One view per chunk, in file order.
 */
export function chunkViews(progress: DownloadProgress): ChunkView[] {
  const { chunks, tasks, resumed } = progress;
  // The kept intervals, each counted in the chunks it meets.
  const kept = chunks.map(() => 0);
  for (const interval of resumed) {
    // Chunks are in file order: the first one that ends past the start.
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (chunks[mid]!.end <= interval[0]) lo = mid + 1;
      else hi = mid;
    }
    for (let c = lo; c < chunks.length && chunks[c]!.start < interval[1]; c++) {
      kept[c]! += overlap([interval], chunks[c]!.start, chunks[c]!.end);
    }
  }
  const pieces = chunks.map((): TaskProgress[] => []);
  for (const task of tasks) pieces[task.chunk]?.push(task);
  return chunks.map((chunk, c) => {
    const own = pieces[c]!;
    const unfinished = own.filter((t) => t.position < t.end);
    const sending = unfinished.filter((t) => t.active);
    const shown = sending.length > 0
      ? sending
      : unfinished.length > 0
      ? unfinished
      : own;
    const servers = [
      ...new Set(
        shown.flatMap((t) => t.server === undefined ? [] : [t.server]),
      ),
    ].sort((a, b) => a - b);
    const doneBytes = own.reduce(
      (sum, t) => sum + t.position - t.start,
      kept[c]!,
    );
    return {
      index: chunk.chunk,
      start: chunk.start,
      end: chunk.end,
      doneBytes: Math.min(doneBytes, chunk.end - chunk.start),
      servers,
      active: sending.length > 0,
      failovers: own.reduce((sum, t) => sum + t.failovers, 0),
      resumed: own.length === 0 && kept[c]! >= chunk.end - chunk.start,
    };
  });
}

function chunkPercent(chunk: ChunkView): number {
  return percentOf(chunk.doneBytes, chunk.end - chunk.start);
}

function isDone(chunk: ChunkView): boolean {
  return chunk.doneBytes >= chunk.end - chunk.start;
}

/**
 * A count and its noun: `1 chunk`, `2 chunks`.
 *
 * @param count The count.
 * @param word The noun, singular.
 * @returns The text.
 */
export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** `[=====>    ]`, `cells` wide inside the brackets. */
function bar(percent: number, cells: number): string {
  const filled = Math.floor(percent * cells / 100);
  const head = filled < cells && percent > 0 ? ">" : "";
  return `[${"=".repeat(filled)}${head}${
    " ".repeat(cells - filled - head.length)
  }]`;
}

function fit(line: string, width: number): string {
  // The last column stays free: writing into it makes some terminals wrap,
  // and the cursor-up count of the next redraw would be off by one.
  const room = Math.max(1, width - 1);
  return line.length <= room ? line : line.slice(0, room);
}

/** A chunk's server, and how many more share it: `host:port +1`. */
function serverOf(chunk: ChunkView, servers: readonly string[]): string {
  const [first, ...more] = chunk.servers;
  if (first === undefined) return "-";
  const name = servers[first] ?? `server ${first}`;
  return more.length > 0 ? `${name} +${more.length}` : name;
}

/** The first variant that fits in `width` columns, or the last one cut. */
function firstFitting(variants: string[], width: number): string {
  return variants.find((line) => line.length <= width - 1) ?? variants.at(-1)!;
}

function headerLine(frame: ProgressFrame): string {
  const { progress, bytesPerSecond, width } = frame;
  const percent = percentOf(progress.doneBytes, progress.size);
  const rate = bytesPerSecond === undefined
    ? "--/s"
    : `${formatByteSize(Math.round(bytesPerSecond))}/s`;
  const remaining = progress.size - progress.doneBytes;
  const eta = remaining <= 0
    ? "0s"
    : bytesPerSecond === undefined || bytesPerSecond <= 0
    ? "--"
    : formatDuration(Math.ceil(remaining / bytesPerSecond));
  const head = `${String(percent).padStart(3)}%`;
  const bytes = `${formatByteSize(progress.doneBytes)} / ${
    formatByteSize(progress.size)
  }`;
  const elapsed = `${formatDuration(frame.elapsedMs / 1000)} elapsed`;
  const withBar = (rest: string) => {
    const cells = Math.min(30, width - 1 - head.length - rest.length - 5);
    return cells >= 10 ? `${head} ${bar(percent, cells)}  ${rest}` : "";
  };
  return firstFitting(
    [
      withBar(`${bytes}  ${rate}  ETA ${eta}  ${elapsed}`),
      withBar(`${bytes}  ${rate}  ETA ${eta}`),
      `${head}  ${bytes}  ${rate}  ETA ${eta}`,
      `${head}  ${rate}  ETA ${eta}`,
      `${head}  ETA ${eta}`,
    ].filter((line) => line !== ""),
    width,
  );
}

function chunkLines(
  frame: ProgressFrame,
  chunks: readonly ChunkView[],
): string[] {
  const indexWidth = Math.max(...chunks.map((t) => String(t.index).length));
  const serverWidth = Math.max(
    1,
    ...chunks.map((t) => serverOf(t, frame.servers).length),
  );
  return chunks.map((chunk) => {
    const percent = chunkPercent(chunk);
    const notes: string[] = [];
    if (chunk.resumed) notes.push("resumed");
    else if (isDone(chunk)) notes.push("done");
    else if (!chunk.active) notes.push("waiting");
    if (chunk.failovers > 0) notes.push(plural(chunk.failovers, "failover"));
    const head = `  #${String(chunk.index).padEnd(indexWidth)} ${
      serverOf(chunk, frame.servers).padEnd(serverWidth)
    }`;
    const tail = ` ${String(percent).padStart(3)}%${
      notes.length > 0 ? `  ${notes.join(", ")}` : ""
    }`;
    const longestTail = 4 + 2 + "waiting, 99 failovers".length;
    const cells = Math.min(
      30,
      frame.width - 1 - head.length - longestTail - 3,
    );
    return `${head}${cells >= 5 ? ` ${bar(percent, cells)}` : ""}${tail}`;
  });
}

/** One character per group of chunks, in file order: `#` done, `.` not
 * started, a digit for the tens of percent of a started one. */
function chunkMap(ordered: readonly ChunkView[], cells: number): string {
  const count = Math.min(cells, ordered.length);
  let map = "";
  for (let c = 0; c < count; c++) {
    const group = ordered.slice(
      Math.floor(c * ordered.length / count),
      Math.floor((c + 1) * ordered.length / count),
    );
    const total = group.reduce((sum, t) => sum + t.end - t.start, 0);
    const done = group.reduce((sum, t) => sum + t.doneBytes, 0);
    if (group.every(isDone)) map += "#";
    else if (done <= 0) map += ".";
    else map += String(Math.min(9, Math.floor(percentOf(done, total) / 10)));
  }
  return map;
}

function compactLines(
  frame: ProgressFrame,
  chunks: readonly ChunkView[],
  room: number,
): string[] {
  const done = chunks.filter(isDone).length;
  const active = chunks.filter((t) => t.active && !isDone(t));
  const failovers = chunks.reduce((sum, t) => sum + t.failovers, 0);
  const counts = `  ${
    plural(chunks.length, "chunk")
  }: ${done} done, ${active.length} active, ${
    chunks.length - done - active.length
  } waiting`;
  const lines = [
    firstFitting(
      [`${counts}; ${plural(failovers, "failover")}`, counts],
      frame.width,
    ),
  ];
  const inner = Math.max(1, frame.width - 1 - 4);
  const mapLines = Math.min(2, room - 2, Math.ceil(chunks.length / inner));
  if (mapLines > 0) {
    const map = chunkMap(chunks, mapLines * inner);
    for (let at = 0; at < map.length; at += inner) {
      const piece = map.slice(at, at + inner);
      lines.push(
        `  ${at === 0 ? "[" : " "}${piece}${
          at + inner >= map.length ? "]" : ""
        }`,
      );
    }
  }
  const cellLines = room - lines.length;
  if (cellLines <= 0 || active.length === 0) return lines;
  const indexWidth = Math.max(...active.map((t) => String(t.index).length));
  const serverWidth = Math.max(
    ...active.map((t) => serverOf(t, frame.servers).length),
  );
  const cells = active.map((chunk) =>
    `#${String(chunk.index).padEnd(indexWidth)} ${
      serverOf(chunk, frame.servers).padEnd(serverWidth)
    } ${String(chunkPercent(chunk)).padStart(3)}%${
      chunk.failovers > 0 ? ` (${plural(chunk.failovers, "failover")})` : ""
    }`
  );
  const cellWidth = Math.max(...cells.map((c) => c.length));
  const gap = 3;
  const perLine = Math.max(
    1,
    Math.floor((frame.width - 1 - 2 + gap) / (cellWidth + gap)),
  );
  const needed = Math.ceil(cells.length / perLine);
  const shown = needed <= cellLines ? cells.length : (cellLines - 1) * perLine;
  for (let at = 0; at < shown; at += perLine) {
    lines.push(
      `  ${
        cells.slice(at, Math.min(at + perLine, shown))
          .map((c) => c.padEnd(cellWidth)).join(" ".repeat(gap)).trimEnd()
      }`,
    );
  }
  if (shown < cells.length) {
    lines.push(`  ... and ${cells.length - shown} more active`);
  }
  return lines;
}

/**
 * Renders one frame of the live display: a line for the whole download,
 * then a line per chunk of the user's (each the sum of its pieces), or,
 * when the chunks do not fit, their counts, a map of them and the active
 * ones packed several to a line.
 *
 * @param frame The progress, time, rate and room.
 * @returns The lines, each shorter than `frame.width`, at most
 * `frame.maxLines` of them (and never fewer than 2 when there are chunks).
 */
export function renderProgress(frame: ProgressFrame): string[] {
  const maxLines = Math.max(2, frame.maxLines);
  const chunks = chunkViews(frame.progress);
  const lines = [headerLine(frame)];
  if (chunks.length > 0 && chunks.length + 1 <= maxLines) {
    lines.push(...chunkLines(frame, chunks));
  } else if (chunks.length > 0) {
    lines.push(...compactLines(frame, chunks, maxLines - 1));
  }
  return lines.map((line) => fit(line, frame.width));
}
