/**
 * Builds the standalone programs `myserver` and `myclient` (into `bin/`, or
 * `--out-dir DIR`) with `deno compile`, then runs each with `--version` to
 * check that it is a working build. They take the same arguments as
 * `server.ts` and `client.ts`.
 *
 * `deno compile` writes the program into a copy of "denort", Deno's runtime
 * without its tools, of the same version as the `deno` that runs it. It
 * downloads denort from dl.deno.land on first use and keeps it in DENO_DIR;
 * the environment variable DENORT_BIN names a denort binary to use instead.
 * The `deno` CLI itself cannot stand in for denort: it ignores the embedded
 * program, so the check below refuses such a build.
 *
 * Run with `deno task compile`. Exit codes: 0 built and checked, 1 failed,
 * 2 bad command line, 3 denort is not available (no network, no DENORT_BIN).
 *
 * @module
 */

import { resolve } from "node:path";
import {
  parseCommandLine,
  UsageError,
  versionLine,
} from "../lib/cli/cli_args.ts";

const PROJECT = new URL("../", import.meta.url).pathname;

/** One program to build. */
interface Target {
  /** The binary's file name. */
  name: string;
  /** The entry script, relative to the project. */
  script: string;
  /** The permissions the binary runs with. */
  permissions: string[];
}

const TARGETS: Target[] = [
  {
    name: "myserver",
    script: "server.ts",
    permissions: ["--allow-net", "--allow-read"],
  },
  {
    name: "myclient",
    script: "client.ts",
    permissions: ["--allow-net", "--allow-read", "--allow-write"],
  },
];

/** Exit code when denort can be neither downloaded nor found. */
const NO_RUNTIME = 3;

const USAGE = `Usage: tools/compile.ts [--out-dir DIR]

Builds myserver and myclient into DIR (default: bin/ of the project).
Set DENORT_BIN to a denort ${Deno.version.deno} binary to build offline.`;

/** A build that failed; `code` is the exit code. */
class BuildError extends Error {
  readonly code: number;

  constructor(message: string, code = 1) {
    super(message);
    this.name = "BuildError";
    this.code = code;
  }
}

async function run(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ success: boolean; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, {
    args,
    cwd: PROJECT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
    ...(env === undefined ? {} : { env }),
  }).output();
  const decoder = new TextDecoder();
  return {
    success: output.success,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Where `deno compile` looks for a downloaded denort. */
async function cachedRuntimePath(): Promise<string> {
  const info = await run(Deno.execPath(), ["info", "--json"]);
  const denoDir = info.success
    ? (JSON.parse(info.stdout) as { denoDir?: string }).denoDir
    : undefined;
  return `${
    denoDir ?? "$DENO_DIR"
  }/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
}

async function build(target: Target, outDir: string): Promise<void> {
  const output = `${outDir}/${target.name}`;
  const compiled = await run(Deno.execPath(), [
    "compile",
    ...target.permissions,
    "--output",
    output,
    target.script,
  ]);
  if (!compiled.success) {
    // deno compile's error chain names the step: "Setting up base binary"
    // for the download, "Could not find denort" for a bad DENORT_BIN.
    if (/Setting up base binary|Could not find denort/.test(compiled.stderr)) {
      const causes = compiled.stderr.split("Stack backtrace")[0]!.split("\n")
        .map((line) => line.trim()).filter((line) => /^\d+: /.test(line))
        .map((line) => line.replace(/^\d+: /, ""));
      const url = /https:\/\/[^\s)]+/.exec(compiled.stderr)?.[0];
      const missing = causes.find((line) => line.startsWith("Could not find"));
      const cause = `${
        url === undefined ? missing ?? "no runtime" : `cannot download ${url}`
      } (${causes.at(-1) ?? compiled.stderr.trim()})`;
      throw new BuildError(
        `deno compile needs denort ${Deno.version.deno} (Deno's runtime for ` +
          `compiled programs): ${cause}. Set DENORT_BIN ` +
          `to a denort ${Deno.version.deno} binary for ${Deno.build.target}, ` +
          `or put the release's denort zip at ${await cachedRuntimePath()}`,
        NO_RUNTIME,
      );
    }
    throw new BuildError(
      `deno compile ${target.script} failed:\n${compiled.stderr.trimEnd()}`,
    );
  }
  const expected = versionLine(target.script);
  const version = await run(output, ["--version"]);
  if (version.stdout.trim() !== expected) {
    await Deno.remove(output);
    throw new BuildError(
      `${output} is not a working build of ${target.script}: --version ` +
        `printed "${
          version.stdout.trim().split("\n")[0]
        }", not "${expected}"; DENORT_BIN must name the denort runtime, ` +
        `not the deno CLI`,
    );
  }
  const { size } = await Deno.stat(output);
  console.log(
    `Built ${output} (${(size / 2 ** 20).toFixed(1)} MiB): deno compile ${
      target.permissions.join(" ")
    } ${target.script}`,
  );
}

async function main(args: string[]): Promise<number> {
  let outDir: string;
  try {
    const { values, positionals } = parseCommandLine(args, {
      "out-dir": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError(`Unexpected argument: "${positionals[0]}"`);
    }
    outDir = resolve(values["out-dir"] ?? `${PROJECT}bin`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  await Deno.mkdir(outDir, { recursive: true });
  try {
    for (const target of TARGETS) await build(target, outDir);
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    console.error(`error: ${error.message}`);
    return error.code;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
