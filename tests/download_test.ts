/**
 * `download()` run in this process against real server processes, for
 * what the command line cannot reach: its progress callbacks and its state
 * saves.
 */

import { protocolServer } from "../lib/client/server_entry.ts";
import assert from "node:assert/strict";
import { download } from "../lib/client/download.ts";
import { DEFAULT_TIMEOUTS } from "../lib/client/request_exchange.ts";
import {
  randomBytes,
  sameBytes,
  ServerProcess,
  tempDir,
} from "./_support/harness.ts";

Deno.test("a download completes when the state save under way as its ranges end fails", async () => {
  await using served = await tempDir();
  await using work = await tempDir();
  const bytes = randomBytes(8 * 1024 * 1024);
  await Deno.writeFile(`${served.path}/f.bin`, bytes);
  await using first = await ServerProcess.start(served.path);
  await using second = await ServerProcess.start(served.path);
  const output = `${work.path}/f.bin`;
  await download({
    servers: [first, second].map((s) =>
      protocolServer({ hostname: "127.0.0.1", port: s.port })
    ),
    name: "f.bin",
    numChunks: 4,
    outputPath: output,
    timeouts: DEFAULT_TIMEOUTS,
    // A save every millisecond, so one is under way when the ranges end.
    checkpointMs: 1,
    // After the first save, every save fails: its temporary file's name
    // (held in reserve after a save) is taken by a folder that is not
    // empty.
    onStart: () => {
      Deno.removeSync(`${output}.part.state.tmp`);
      Deno.mkdirSync(`${output}.part.state.tmp`);
      Deno.writeTextFileSync(`${output}.part.state.tmp/x`, "");
    },
  });
  assert.ok(sameBytes(await Deno.readFile(output), bytes));
});
