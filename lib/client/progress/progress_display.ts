/**
 * What a download shows people: the live progress display on a terminal
 * (overall percent, bytes, rate, ETA, and a line or cell per task), the
 * rate estimate behind it, and the summary printed at the end.
 *
 * Rendering is pure: a snapshot of the progress goes in, lines of text come
 * out. {@linkcode ProgressDisplay} is the small I/O part that redraws them
 * in place with ANSI codes.
 *
 * @module
 */

import { formatByteSize } from "../../cli/byte_size.ts";
import { quoteName } from "../../wire/quoted_name.ts";
import type {
  DownloadProgress,
  DownloadResult,
  TaskProgress,
} from "../download.ts";

// The types this module's functions take, for readers of its docs.
export type { DownloadProgress, DownloadResult, TaskProgress };

/** Columns assumed when the terminal does not tell its width. */
const FALLBACK_COLUMNS = 80;
/** At most this many lines of live display, whatever the terminal's height. */
export const MAX_DISPLAY_LINES = 12;

/**
 * A transfer rate over a sliding window of recent samples, so the estimate
 * follows changes (a server slowing down, a failover) within seconds.
 */
export class RateWindow {
  /** How far back samples count, in ms. */
  readonly windowMs: number;
  /** The shortest span that gives an estimate, in ms. */
  readonly minSpanMs: number;
  #samples: { time: number; bytes: number }[] = [];

  /**
   * Makes an empty window.
   *
   * @param options `windowMs` (default 3000) and `minSpanMs` (default 500).
   * @throws {RangeError} If a duration is not positive.
   */
  constructor(options: { windowMs?: number; minSpanMs?: number } = {}) {
    this.windowMs = options.windowMs ?? 3000;
    this.minSpanMs = options.minSpanMs ?? 500;
    if (!(this.windowMs > 0) || !(this.minSpanMs > 0)) {
      throw new RangeError(
        `Rate window durations must be positive: received ${this.windowMs} and ${this.minSpanMs}`,
      );
    }
  }

  /**
   * Records how many bytes were done at a moment.
   *
   * @param timeMs The moment, in ms; it must not go back.
   * @param bytes The bytes done so far.
   * @throws {RangeError} If the time goes back.
   */
  record(timeMs: number, bytes: number): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && timeMs < last.time) {
      throw new RangeError(
        `Rate samples must not go back in time: received ${timeMs} after ${last.time}`,
      );
    }
    this.#samples.push({ time: timeMs, bytes });
    // The newest sample at or before the window's start stays, so the
    // estimate spans the whole window.
    while (
      this.#samples.length > 2 &&
      this.#samples[1]!.time <= timeMs - this.windowMs
    ) {
      this.#samples.shift();
    }
  }

  /**
   * The rate over the window.
   *
   * @returns Bytes per second, or `undefined` while the samples span less
   * than `minSpanMs`.
   */
  bytesPerSecond(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (first === undefined || last === undefined) return undefined;
    const span = last.time - first.time;
    if (span < this.minSpanMs) return undefined;
    // Bytes done can step back when a damaged block is fetched again.
    return Math.max(0, (last.bytes - first.bytes) * 1000 / span);
  }
}

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

function plural(count: number, word: string): string {
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
  /** Bytes kept from an earlier run that count: checked against the
   * digests when `verified`, trusted otherwise. */
  resumedBytes: number;
  /** Bytes of the file fetched in this run: all but the resumed ones. */
  fetchedBytes: number;
  /** Bytes kept from an earlier run that failed their check and were
   * fetched again. */
  refetchedBytes: number;
  /** Servers left out because their copy differs. */
  excluded: string[];
  /** Whether blocks were checked against SHA-256 digests. */
  verified: boolean;
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
    fetchedBytes: result.size - result.resumedBytes,
    refetchedBytes: result.refetchedBytes,
    excluded: [...options.excluded],
    verified: options.verified,
  };
}

function bytesText(bytes: number): string {
  return bytes < 1024
    ? plural(bytes, "byte")
    : `${formatByteSize(bytes)} (${bytes} bytes)`;
}

function shortBytes(bytes: number): string {
  return bytes < 1024 ? plural(bytes, "byte") : formatByteSize(bytes);
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
        summary.verified ? ", checked against the digests" : ", not checked"
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
  if (summary.excluded.length > 0) {
    lines.push(
      `  left out (their copy differs): ${summary.excluded.join(", ")}`,
    );
  }
  lines.push(`Saved as ${quoteName(location)}`);
  return lines;
}

const ESC = "\x1b[";
const HIDE_CURSOR = `${ESC}?25l`;
const SHOW_CURSOR = `${ESC}?25h`;

/** What a {@linkcode ProgressDisplay} writes to and reads from. */
export interface ProgressDisplayOptions {
  /** The servers as `host:port`, in list order. */
  servers: readonly string[];
  /** Writes text to the terminal, all of it, synchronously. */
  write: (text: string) => void;
  /** The terminal's size; zero or a throw means unknown. */
  consoleSize: () => { columns: number; rows: number };
  /** The clock, in ms. Default `performance.now`. */
  now?: () => number;
  /** When the download started, on that clock. Default: at construction. */
  startedAt?: number;
  /** How often to redraw, in ms. Default 200. */
  intervalMs?: number;
}

/**
 * The live display on a terminal: redrawn in place a few times a second,
 * below whatever was printed before it. Lines printed through
 * {@linkcode ProgressDisplay.println} appear above it, ungarbled.
 */
export class ProgressDisplay implements Disposable {
  #options: ProgressDisplayOptions;
  #now: () => number;
  #startedAt: number;
  #rate = new RateWindow();
  #progress: (() => DownloadProgress) | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lines = 0;
  #stopped = false;

  /**
   * Makes a display; nothing shows until {@linkcode ProgressDisplay.start}.
   *
   * @param options Where to write, the servers, and the clock.
   */
  constructor(options: ProgressDisplayOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#startedAt = options.startedAt ?? this.#now();
  }

  /**
   * Shows the display and redraws it until {@linkcode ProgressDisplay.stop}.
   *
   * @param progress Tells where the download is.
   */
  start(progress: () => DownloadProgress): void {
    if (this.#stopped || this.#progress !== undefined) return;
    this.#progress = progress;
    this.#options.write(`${HIDE_CURSOR}\r${this.#frame()}`);
    this.#timer = setInterval(
      () => this.redraw(),
      this.#options.intervalMs ?? 200,
    );
  }

  /** Draws the display again over itself. */
  redraw(): void {
    if (this.#stopped || this.#progress === undefined) return;
    // Each line is overwritten rather than all cleared first, so the
    // display does not flicker.
    this.#options.write(`${this.#up()}${this.#frame()}`);
  }

  /**
   * Prints a line above the display: clears it, prints, redraws.
   *
   * @param line The text; it may hold several lines.
   */
  println(line: string): void {
    const showing = !this.#stopped && this.#progress !== undefined;
    this.#options.write(
      showing ? `${this.#up()}${ESC}J${line}\n${this.#frame()}` : `${line}\n`,
    );
  }

  /** Clears the display for good and shows the cursor again. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    if (this.#progress !== undefined) {
      this.#options.write(`${this.#up()}${ESC}J${SHOW_CURSOR}`);
    }
  }

  /** Same as {@linkcode ProgressDisplay.stop}. */
  [Symbol.dispose](): void {
    this.stop();
  }

  #size(): { columns: number; rows: number } {
    try {
      const { columns, rows } = this.#options.consoleSize();
      return { columns: columns > 0 ? columns : FALLBACK_COLUMNS, rows };
    } catch {
      return { columns: FALLBACK_COLUMNS, rows: 0 };
    }
  }

  /** Moves to the start of the display's first line. */
  #up(): string {
    const up = this.#lines > 0 ? `${ESC}${this.#lines}A` : "";
    this.#lines = 0;
    return `\r${up}`;
  }

  #frame(): string {
    const progress = this.#progress!();
    const now = this.#now();
    this.#rate.record(now, progress.doneBytes);
    const { columns, rows } = this.#size();
    const lines = renderProgress({
      progress,
      servers: this.#options.servers,
      elapsedMs: now - this.#startedAt,
      bytesPerSecond: this.#rate.bytesPerSecond(),
      width: columns,
      maxLines: rows > 0
        ? Math.min(MAX_DISPLAY_LINES, rows - 2)
        : MAX_DISPLAY_LINES,
    });
    this.#lines = lines.length;
    // Each line clears what is left of the previous frame's; the final
    // code clears lines the previous frame had beyond this one's.
    return lines.map((line) => `${ESC}2K${line}\n`).join("") + `${ESC}J`;
  }
}
