/**
 * The live progress display on a terminal: hides the cursor, redraws the
 * rendered lines in place with ANSI codes a few times a second, prints
 * lines above itself, and gives the terminal back as it found it.
 *
 * Written by hand rather than with a package such as `cli-progress`: that
 * one draws a bar per `create()` from a format string, on a Node stream it
 * sizes and tests for a TTY itself, on a timer of its own. The display
 * here is not a list of bars: past the terminal's height it becomes counts,
 * a chunk map and packed cells, each line picked from variants to fit the
 * width; and its output is asserted byte for byte through an injected
 * `write` and `consoleSize`. What is left to write by hand is this module:
 * cursor up, clear line, clear below, hide and show the cursor.
 *
 * @module
 */

import type { DownloadProgress } from "../download_passes.ts";
import { RateWindow } from "./rate_window.ts";
import { renderProgress } from "./renderer.ts";

/** Columns assumed when the terminal does not tell its width. */
const FALLBACK_COLUMNS = 80;
/** At most this many lines of live display, whatever the terminal's height. */
export const MAX_DISPLAY_LINES = 12;

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
