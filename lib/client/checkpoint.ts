/**
 * Saving a download's progress for a later run: at the start, every tick,
 * and at the end; one save at a time, the partial file synced before the
 * state that describes it.
 *
 * @module
 */

import { quoteName } from "../wire/quoted_name.ts";
import type {
  DownloadState,
  MirrorValidators,
} from "./output/download_state.ts";
import { StateWriter } from "./output/state_writer.ts";
import { OutputError } from "./output/output_file.ts";
import type { Interval } from "./plan/interval_set.ts";
import { type KeptBytes, listIdentity } from "./verify/kept_bytes.ts";
import type { ReferenceDigests } from "./verify/reference_digests.ts";

/** What {@linkcode Checkpoints} needs. */
export interface CheckpointOptions {
  /** The state file. */
  statePath: string;
  /** Where the download is now, as the state to save. */
  snapshot: () => Promise<DownloadState>;
  /** Makes the partial file's bytes durable before the state says so. */
  sync: () => Promise<void>;
  /** How often progress is saved while the download runs, in ms.
   * @default {1000} */
  intervalMs?: number | undefined;
}

/** The saves of one download's state. */
export class Checkpoints implements Disposable {
  #options: CheckpointOptions;
  #writer: StateWriter;
  #saving: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Prepares the saves; nothing is written yet.
   *
   * @param options The state file, the snapshot and the sync.
   */
  constructor(options: CheckpointOptions) {
    this.#options = options;
    this.#writer = new StateWriter(options.statePath);
  }

  /**
   * Saves the state now: syncs the partial file, then writes the state. A
   * save asked for while one runs is that one.
   *
   * @returns When it is saved.
   */
  save(): Promise<void> {
    this.#saving ??= (async () => {
      const state = await this.#options.snapshot();
      await this.#options.sync();
      await this.#writer.save(state);
    })().finally(() => this.#saving = undefined);
    return this.#saving;
  }

  /**
   * Writes the state without syncing the partial file first: for a file
   * already complete and synced.
   *
   * @returns When it is written.
   */
  async saveUnsynced(): Promise<void> {
    await this.#writer.save(await this.#options.snapshot());
  }

  /** Saves every `intervalMs` until {@linkcode Checkpoints.settle}. */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.save().catch(() => {
        // A failed checkpoint is retried at the next tick; the write path
        // reports a full disk on its own.
      });
    }, this.#options.intervalMs ?? 1000);
  }

  /**
   * Stops the ticks and waits for a save under way. A save that fails now
   * is as good as one that failed a tick earlier: the next one settles the
   * matter.
   */
  async settle(): Promise<void> {
    clearInterval(this.#timer);
    await this.#saving?.catch(() => {});
  }

  /** Releases the writer; call after {@linkcode Checkpoints.settle}. */
  [Symbol.dispose](): void {
    clearInterval(this.#timer);
    this.#writer[Symbol.dispose]();
  }
}

/**
 * The state to save: the bytes present, the kept ones not checked yet
 * included (they stand until they fail, tied to the earlier run's version
 * until the list decides), the digest list's version, and the mirrors'
 * validators.
 *
 * @param run The file, the bytes present, the list and the kept bytes.
 * @returns The state.
 */
export async function snapshotOf(run: {
  name: string;
  size: number;
  blockSize: number;
  done: Interval[];
  reference: ReferenceDigests | undefined;
  kept: KeptBytes | undefined;
  /** The mirrors' validators, recorded when there are any. */
  mirrors?: MirrorValidators[] | undefined;
}): Promise<DownloadState> {
  const { reference, kept } = run;
  const version = reference === undefined
    ? undefined
    : kept?.undecided ?? await listIdentity(reference);
  return {
    name: run.name,
    size: run.size,
    blockSize: run.blockSize,
    identity: version?.identity ?? null,
    listed: version?.listed ?? 0,
    done: run.done,
    ...(run.mirrors === undefined || run.mirrors.length === 0
      ? {}
      : { mirrors: run.mirrors }),
  };
}

/**
 * The first save, before any byte arrives, so even a disk that fills up at
 * once leaves a state beside the partial file.
 *
 * @param checkpoints The saves.
 * @param run The partial file, whether it was resumed, and the paths.
 * @throws {OutputError} If it cannot be saved; a fresh partial file, which
 * holds nothing yet, is removed then.
 */
export async function firstSave(
  checkpoints: Checkpoints,
  run: {
    output: { close(): void };
    resumed: boolean;
    partialPath: string;
    statePath: string;
  },
): Promise<void> {
  try {
    await checkpoints.save();
  } catch (error) {
    // A fresh partial file holds nothing yet: without a state it would
    // only be overwritten, so it goes.
    if (!run.resumed) {
      run.output.close();
      await Deno.remove(run.partialPath).catch(() => {});
    }
    throw new OutputError(
      `Cannot save the download state ${quoteName(run.statePath)}: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}
