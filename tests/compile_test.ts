import assert from "node:assert/strict";
import {
  randomBytes,
  sameBytes,
  tempDir,
  writeServerList,
} from "./_support/harness.ts";

const COMPILE_SCRIPT = new URL("../tools/compile.ts", import.meta.url)
  .pathname;
/** The exit code of tools/compile.ts when denort is not available. */
const NO_RUNTIME = 3;

/** Runs tools/compile.ts, as `deno task compile` does, into `outDir`. */
async function compile(
  outDir: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-run",
      "--allow-read",
      `--allow-write=${outDir}`,
      COMPILE_SCRIPT,
      "--out-dir",
      outDir,
    ],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

// `deno compile` needs denort, Deno's runtime for compiled programs, which it
// downloads unless DENORT_BIN names one; with neither, the test is skipped
// with tools/compile.ts's reason.
const binDir = await Deno.makeTempDir({ prefix: "msfd_compile_" });
const build = await compile(binDir);
if (build.code !== 0) await Deno.remove(binDir, { recursive: true });
if (build.code === NO_RUNTIME) {
  console.log(`Skipping the compiled-binary test: ${build.stderr.trim()}`);
}

/** Starts a compiled server on a free port of 127.0.0.1 in `root`. */
async function startServer(
  root: string,
): Promise<{ port: number; child: Deno.ChildProcess }> {
  const child = new Deno.Command(`${binDir}/myserver`, {
    args: ["--host", "127.0.0.1", "--quiet", "0"],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (true) {
    const { value, done } = await lines.read();
    if (done) break;
    seen += value;
    const match = /^Serving ".*" on 127\.0\.0\.1:(\d+)\n/m.exec(seen);
    if (match) {
      await lines.cancel();
      return { port: Number(match[1]), child };
    }
  }
  await child.status;
  throw new Error(`myserver exited before listening: ${seen}`);
}

Deno.test({
  name: "compiled myserver and myclient download a file like the scripts",
  ignore: build.code === NO_RUNTIME,
  async fn() {
    try {
      assert.equal(build.code, 0, `tools/compile.ts failed: ${build.stderr}`);
      await using served = await tempDir();
      await using work = await tempDir();
      const bytes = randomBytes(777_777);
      await Deno.writeFile(`${served.path}/f.bin`, bytes);
      const servers = [
        await startServer(served.path),
        await startServer(served.path),
      ];
      try {
        await writeServerList(work.path, servers.map((server) => server.port));
        const client = await new Deno.Command(`${binDir}/myclient`, {
          args: ["servers.txt", "4", "f.bin"],
          cwd: work.path,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(client.code, 0, new TextDecoder().decode(client.stderr));
        assert.ok(sameBytes(await Deno.readFile(`${work.path}/f.bin`), bytes));
      } finally {
        for (const server of servers) {
          server.child.kill();
          await server.child.status;
        }
      }
    } finally {
      if (build.code === 0) await Deno.remove(binDir, { recursive: true });
    }
  },
});

Deno.test("compile refuses the deno CLI as DENORT_BIN: it ignores the program", async () => {
  // A copy of `deno` with the program appended runs as plain `deno`, so
  // `myserver --version` prints Deno's version: the build is refused.
  await using out = await tempDir();
  const result = await compile(out.path, { DENORT_BIN: Deno.execPath() });
  assert.equal(result.code, 1, result.stderr);
  assert.match(
    result.stderr,
    /myserver is not a working build of server\.ts: --version printed "deno /,
  );
  assert.deepEqual(await Array.fromAsync(Deno.readDir(out.path)), []);
});
