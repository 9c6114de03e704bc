import assert from "node:assert/strict";
import { randomBytes, sameBytes, serverInfo, tempDir } from "./harness.ts";

const PROJECT = new URL("../", import.meta.url).pathname;

/**
 * Builds the binaries the way `deno task compile` does, into `outDir`.
 * `deno compile` downloads Deno's runtime on first use; without network
 * access it fails, and the test is skipped with the reason.
 */
async function compile(outDir: string): Promise<string | undefined> {
  for (
    const [name, script, flags] of [
      ["myserver", "server.ts", ["--allow-net", "--allow-read"]],
      ["myclient", "client.ts", [
        "--allow-net",
        "--allow-read",
        "--allow-write",
      ]],
    ] as const
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["compile", ...flags, "--output", `${outDir}/${name}`, script],
      cwd: PROJECT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      const stderr = new TextDecoder().decode(output.stderr);
      if (
        /dns error|error sending request|failed to lookup|Download/i.test(
          stderr,
        )
      ) {
        return `deno compile cannot download Deno's runtime here (no network): ${
          stderr.split("\n").find((line) => /error/i.test(line))?.trim()
        }`;
      }
      throw new Error(`deno compile failed:\n${stderr}`);
    }
  }
  return undefined;
}

const binDir = await Deno.makeTempDir({ prefix: "msfd_compile_" });
const skipReason = await compile(binDir);
if (skipReason !== undefined) {
  console.log(`Skipping the compiled-binary test: ${skipReason}`);
  await Deno.remove(binDir, { recursive: true });
}

Deno.test({
  name: "compiled myserver and myclient download a file like the scripts",
  ignore: skipReason !== undefined,
  async fn() {
    await using served = await tempDir();
    await using work = await tempDir();
    try {
      const bytes = randomBytes(777_777);
      await Deno.writeFile(`${served.path}/f.bin`, bytes);
      const server = new Deno.Command(`${binDir}/myserver`, {
        args: ["--host", "127.0.0.1", "0"],
        cwd: served.path,
        stdout: "piped",
        stderr: "null",
      }).spawn();
      try {
        const reader = server.stdout.pipeThrough(new TextDecoderStream())
          .getReader();
        const { value } = await reader.read();
        await reader.cancel();
        const port = Number(/:(\d+)/.exec(value ?? "")?.[1]);
        await Deno.writeTextFile(
          `${work.path}/servers.txt`,
          serverInfo([port]),
        );
        const client = await new Deno.Command(`${binDir}/myclient`, {
          args: ["servers.txt", "4", "f.bin"],
          cwd: work.path,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(client.code, 0, new TextDecoder().decode(client.stderr));
        assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
      } finally {
        server.kill();
        await server.status;
      }
    } finally {
      await Deno.remove(binDir, { recursive: true });
    }
  },
});
