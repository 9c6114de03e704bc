/**
 * The real client against a mirror that answers small requests (the size,
 * the spot checks) truthfully and sends another file's bytes for longer
 * ranges: the cross-checks after the transfer catch it.
 */

import assert from "node:assert/strict";
import { FaultMirror, type MirrorBehaviour } from "./_support/fault_mirror.ts";
import {
  type ClientRun,
  randomBytes,
  runClient,
  sameBytes,
  tempDir,
} from "./_support/harness.ts";
import { pathExists } from "../lib/client/output/output_file.ts";

const NAME = "f.bin";
const BYTES = randomBytes(600_000);
const OTHER = randomBytes(600_000);
const ETAG = '"same-tag"';

/** An honest mirror. */
function honest(): FaultMirror {
  return FaultMirror.start({
    files: { [NAME]: { content: BYTES, etag: ETAG } },
  });
}

/** A mirror true for requests of up to 64 KiB, and lying (same size, same
 * validators, other bytes) for longer ones. */
function liar(): FaultMirror {
  return FaultMirror.start({
    files: { [NAME]: { content: BYTES, etag: ETAG } },
    hook: ({ recorded }): MirrorBehaviour | undefined => {
      const match = /^bytes=(\d+)-(\d+)$/.exec(recorded.range ?? "");
      if (match === null) return undefined;
      const length = Number(match[2]) - Number(match[1]) + 1;
      return length > 64 * 1024
        ? { file: { content: OTHER, etag: ETAG } }
        : undefined;
    },
  });
}

/** Runs the client in `dir` against mirrors listed by URL. */
async function download(
  dir: string,
  mirrors: readonly FaultMirror[],
  args: readonly string[] = [],
): Promise<ClientRun & { output: Uint8Array | undefined }> {
  await Deno.writeTextFile(
    `${dir}/list`,
    mirrors.map((m) => `${m.url}\n`).join(""),
  );
  const run = await runClient({
    cwd: dir,
    args: [...args, "list", "4", NAME],
  });
  const path = `${dir}/${NAME}`;
  const output = await pathExists(path) ? await Deno.readFile(path) : undefined;
  return { ...run, output };
}

/** `text` with the regular expression's special characters escaped. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("a mirror that tells the truth for small ranges and lies for larger ones is left out after the transfer, its bytes fetched again: the file is whole", async () => {
  await using work = await tempDir();
  await using a = honest();
  await using lying = liar();
  await using c = honest();
  const run = await download(work.path, [a, lying, c], ["--json"]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.output !== undefined && sameBytes(run.output, BYTES));
  // The summary says what the cross-checks did, for people and in JSON.
  const { crossChecks } = JSON.parse(run.stdout);
  assert.ok(crossChecks.compared >= 12, JSON.stringify(crossChecks));
  assert.ok(crossChecks.refetchedBytes > 0, JSON.stringify(crossChecks));
  assert.match(
    run.stderr,
    new RegExp(
      `\n  cross-checked with other mirrors: ${crossChecks.compared} windows of what each sent(, \\d+ unanswered)?; [\\d.]+ KiB \\(${crossChecks.refetchedBytes} bytes\\) fetched again\n`,
    ),
  );
  assert.match(
    run.stderr,
    new RegExp(
      `warning: not using ${
        literal(`${lying.url}${NAME}`)
      } for this file: the bytes it sent differ from those of 2 other sources in a cross-check after the transfer \\(bytes \\d+-\\d+\\); the [\\d.]+ KiB it sent are fetched again from the others\\n`,
    ),
  );
  assert.match(
    run.stderr,
    /checked instead: spot checks of 4 windows of 64\.0 KiB across 3 mirrors agree; after the transfer, 4 windows of 64\.0 KiB of the bytes each mirror sent are compared with other mirrors\n/,
  );
  assert.equal(await pathExists(`${work.path}/${NAME}.part`), false);
  assert.equal(await pathExists(`${work.path}/${NAME}.part.state`), false);
});

Deno.test("two mirrors that disagree on bytes one sent stop the download with exit 7, the partial file kept; a third mirror then finishes it", async () => {
  await using work = await tempDir();
  await using a = honest();
  await using lying = liar();
  const run = await download(work.path, [a, lying]);
  assert.equal(run.code, 7, run.stderr);
  assert.equal(run.output, undefined);
  assert.match(
    run.stderr,
    new RegExp(
      `error: The mirrors hold different files named "f\\.bin", and no majority agrees on one \\(their bytes \\d+-\\d+ cross-checked after the transfer differ\\):\\n  file 1: ${
        literal(`${lying.url}${NAME}`)
      }\\n  file 2: ${
        literal(`${a.url}${NAME}`)
      }\\nthe download is kept as ".*f\\.bin\\.part", with its state, less the [\\d.]+ KiB in doubt: the same command with another mirror of the file, or without the wrong one, fetches those again\\n`,
    ),
  );
  assert.ok(await pathExists(`${work.path}/${NAME}.part`));
  assert.ok(await pathExists(`${work.path}/${NAME}.part.state`));
  // The bytes the honest mirror sent stand; the liar's are fetched again
  // (and, where it lies again, caught again).
  await using c = honest();
  const again = await download(work.path, [a, lying, c]);
  assert.equal(again.code, 0, again.stderr);
  assert.ok(again.output !== undefined && sameBytes(again.output, BYTES));
});
