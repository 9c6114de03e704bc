/**
 * Progress snapshots and frames for the progress display's unit tests.
 *
 * @module
 */

import type { ByteRange } from "../../lib/client/plan/range_planner.ts";
import type {
  DownloadProgress,
  ProgressFrame,
  TaskProgress,
} from "../../lib/client/progress/renderer.ts";

/** Four servers as the display names them. */
export const SERVERS = [
  "127.0.0.1:30001",
  "127.0.0.1:30002",
  "127.0.0.1:30003",
  "127.0.0.1:30004",
];
/** A mebibyte. */
export const MIB = 1024 * 1024;

/** `count` equal tasks over `size` bytes, each `fraction(i)` done. */
export function tasksOf(
  count: number,
  size: number,
  fraction: (i: number) => number,
  extra: (i: number) => Partial<TaskProgress> = () => ({}),
): TaskProgress[] {
  return Array.from({ length: count }, (_, i) => {
    const start = Math.floor(i * size / count);
    const end = Math.floor((i + 1) * size / count);
    const done = fraction(i);
    return {
      index: i,
      chunk: i,
      start,
      end,
      position: start + Math.floor(done * (end - start)),
      server: done > 0 ? i % SERVERS.length : undefined,
      active: done > 0 && done < 1,
      failovers: 0,
      ...extra(i),
    };
  });
}

/** A download whose chunks are the tasks' ranges, unless given. */
export function progressOf(
  size: number,
  tasks: TaskProgress[],
  more: { chunks?: ByteRange[]; resumed?: [number, number][] } = {},
): DownloadProgress {
  const resumed = more.resumed ?? [];
  const resumedBytes = resumed.reduce((sum, [s, e]) => sum + e - s, 0);
  return {
    size,
    resumedBytes,
    doneBytes: tasks.reduce(
      (sum, t) => sum + t.position - t.start,
      resumedBytes,
    ),
    bytesPerServer: SERVERS.map(() => 0),
    tasks,
    chunks: more.chunks ??
      tasks.map((t) => ({
        index: t.chunk,
        chunk: t.chunk,
        start: t.start,
        end: t.end,
      })),
    resumed,
  };
}

export function frameOf(
  progress: DownloadProgress,
  overrides: Partial<ProgressFrame> = {},
): ProgressFrame {
  return {
    progress,
    servers: SERVERS,
    elapsedMs: 2000,
    bytesPerSecond: 8 * MIB,
    width: 80,
    maxLines: 12,
    ...overrides,
  };
}
