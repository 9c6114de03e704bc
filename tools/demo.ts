/**
 * The demo: four servers on a generated file, one download in four chunks,
 * a byte-for-byte check, then everything stopped and removed.
 *
 * Run with `deno task demo`.
 *
 * @module
 */

import { formatByteSize } from "../lib/cli/byte_size.ts";
import {
  randomBytes,
  runClient,
  sameBytes,
  serverInfo,
  ServerProcess,
  tempDir,
} from "../tests/_support/harness.ts";

const SIZE = 48 * 1024 * 1024 + 12_345;
const SERVERS = 4;
const CHUNKS = 4;

async function main(): Promise<number> {
  await using served = await tempDir();
  await using downloads = await tempDir();
  const bytes = randomBytes(SIZE);
  await Deno.writeFile(`${served.path}/sample.bin`, bytes);
  console.log(
    `Generated sample.bin: ${SIZE} bytes (${
      formatByteSize(SIZE)
    }) in ${served.path}`,
  );

  const servers = await Promise.all(
    Array.from({ length: SERVERS }, () => ServerProcess.start(served.path)),
  );
  try {
    const ports = servers.map((s) => s.port);
    console.log(
      `Started ${SERVERS} servers on 127.0.0.1 ports ${ports.join(", ")}`,
    );
    await Deno.writeTextFile(
      `${downloads.path}/server-info.text`,
      serverInfo(ports),
    );

    console.log(
      `Running: client.ts server-info.text ${CHUNKS} sample.bin (in ${downloads.path})`,
    );
    const run = await runClient({
      cwd: downloads.path,
      args: ["server-info.text", String(CHUNKS), "sample.bin"],
    });
    for (const line of run.stderr.trimEnd().split("\n")) {
      console.log(`  | ${line}`);
    }
    if (run.code !== 0) {
      console.log(`The client failed with exit code ${run.code}`);
      return 1;
    }
    const got = await Deno.readFile(`${downloads.path}/sample.bin`);
    if (!sameBytes(got, bytes)) {
      console.log("FAILED: the downloaded file differs from the original");
      return 1;
    }
    console.log(
      `OK: the downloaded file is byte-identical to the original (${got.length} bytes)`,
    );
  } finally {
    await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
    console.log("Stopped the servers and removed the temporary folders");
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
