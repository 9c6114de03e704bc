/**
 * The real client against fault mirrors (`Deno.serve` in the test): what
 * nginx will not do. Each test asserts the output (byte-identical, or
 * absent), the message and the exit code.
 */

import assert from "node:assert/strict";
import {
  FaultMirror,
  type FaultMirrorOptions,
} from "./_support/fault_mirror.ts";
import {
  CLIENT_SCRIPT,
  clientOutcome,
  type ClientRun,
  randomBytes,
  runClient,
  sameBytes,
  spawnClient,
  tempDir,
} from "./_support/harness.ts";
import { pathExists } from "../lib/client/output/output_file.ts";

const NAME = "f.bin";
const BYTES = randomBytes(600_000);

/** Runs the client against mirrors listed by URL in a list file. */
async function download(
  mirrors: readonly FaultMirror[],
  options: { chunks?: number; args?: string[] } = {},
): Promise<ClientRun & { output: Uint8Array | undefined }> {
  await using work = await tempDir();
  await Deno.writeTextFile(
    `${work.path}/list`,
    mirrors.map((m) => `${m.url}\n`).join(""),
  );
  const run = await runClient({
    cwd: work.path,
    args: [
      ...options.args ?? [],
      "list",
      String(options.chunks ?? 4),
      NAME,
    ],
  });
  const path = `${work.path}/${NAME}`;
  const output = await pathExists(path) ? await Deno.readFile(path) : undefined;
  return { ...run, output };
}

function mirror(hook?: FaultMirrorOptions["hook"]): FaultMirror {
  return FaultMirror.start({ files: { [NAME]: BYTES }, hook });
}

function assertWhole(run: ClientRun & { output: Uint8Array | undefined }) {
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.output !== undefined && sameBytes(run.output, BYTES));
}

/** The ranged GETs a mirror received (not the size's `bytes=0-0`). */
function ranges(m: FaultMirror): string[] {
  return m.requests.filter((r) => r.method === "GET" && r.range !== "bytes=0-0")
    .map((r) => r.range ?? "none");
}

Deno.test("a mirror that ignores Range serves at most the range at 0 and is then left out; the file is whole", async () => {
  await using ignoring = mirror(() => ({ ignoreRange: true }));
  await using good = mirror();
  const run = await download([ignoring, good]);
  assertWhole(run);
  assert.match(
    run.stderr,
    new RegExp(
      `warning: not using ${ignoring.url}${NAME} for this file: (its spot-check windows could not be fetched: )?it ignores Range requests \\(it answers 200 with the whole file\\)`,
    ),
  );
  // Its only ranged request after the size is one at 0.
  assert.ok(ranges(ignoring).every((r) => r.startsWith("bytes=0-")));
  for (const request of [...ignoring.requests, ...good.requests]) {
    assert.equal(request.headers.get("accept-encoding"), "identity");
  }
});

Deno.test("a lone mirror that ignores Range fetches the chunk at 0 and reports the rest as not downloaded, not as a changed file", async () => {
  await using ignoring = mirror(() => ({ ignoreRange: true }));
  const run = await download([ignoring], { chunks: 3 });
  assert.equal(run.code, 4, run.stderr);
  assert.equal(run.output, undefined);
  assert.match(run.stderr, /not all chunks are downloaded/);
  assert.doesNotMatch(run.stderr, /file changed/);
  assert.match(run.stderr, /it ignores Range requests/);
});

Deno.test("a download left unfinished by a mirror that ignores Range says a rerun needs other servers or 1 chunk, and 1 chunk to another output works", async () => {
  await using ignoring = mirror(() => ({ ignoreRange: true }));
  await using work = await tempDir();
  await Deno.writeTextFile(`${work.path}/list`, `${ignoring.url}\n`);
  const first = await runClient({
    cwd: work.path,
    args: ["list", "3", NAME],
  });
  assert.equal(first.code, 4, first.stderr);
  assert.ok(
    first.stderr.includes(
      `  every server was left out (the warnings above say why)\n  the partial file is kept as "${NAME}.part": a server that serves ranges resumes it; one that ignores Range requests sends only whole files, so download in 1 chunk to another output (-o) instead`,
    ),
    first.stderr,
  );
  assert.doesNotMatch(first.stderr, /run the same command again/);
  assert.doesNotMatch(first.stderr, /the same command resumes it/);
  const whole = await runClient({
    cwd: work.path,
    args: ["-o", "whole.bin", "list", "1", NAME],
  });
  assert.equal(whole.code, 0, whole.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/whole.bin`), BYTES));
});

Deno.test("a lone mirror that ignores Range and sends the whole file without its length is left out, and the advice is not to download in 1 chunk", async () => {
  await using ignoring = mirror(() => ({ ignoreRange: true, chunked: true }));
  for (const chunks of [3, 1]) {
    const run = await download([ignoring], { chunks });
    assert.notEqual(run.code, 0, run.stderr);
    assert.equal(run.output, undefined);
    assert.doesNotMatch(run.stderr, /download in 1 chunk/);
  }
});

Deno.test("a 206 with a wrong Content-Range is never written; another mirror serves the range", async () => {
  await using wrong = mirror(({ index }) =>
    index === 0 ? undefined : { contentRange: "bytes 0-9/600000" }
  );
  await using good = mirror();
  const run = await download([wrong, good]);
  assertWhole(run);
  assert.match(run.stderr, /: it sent bytes 0-9 for bytes \d+-\d+/);
});

Deno.test("an HTML page sent with 200 is refused and never written; the file comes from the other mirror", async () => {
  await using html = mirror(() => ({ html: true }));
  await using good = mirror();
  const run = await download([html, good]);
  assertWhole(run);
  assert.match(
    run.stderr,
    new RegExp(
      `warning: no size from ${html.url}${NAME}: it sent an HTML page \\(200, text/html\\) instead of the file`,
    ),
  );
});

Deno.test("a mirror without the file, and one of another size outvoted by two, are left out with their reasons", async () => {
  await using missing = FaultMirror.start({ files: {} });
  await using good = mirror();
  await using second = mirror();
  await using shorter = FaultMirror.start({
    files: { [NAME]: BYTES.subarray(0, 500_000) },
  });
  const run = await download([missing, shorter, good, second]);
  assertWhole(run);
  assert.match(
    run.stderr,
    new RegExp(
      `warning: no size from ${missing.url}${NAME}: not found \\(404\\)`,
    ),
  );
  assert.match(
    run.stderr,
    new RegExp(
      `warning: not using ${shorter.url}${NAME} for this file: its file is 500000 bytes, not 600000 as ${good.url}${NAME} reported`,
    ),
  );
  assert.deepEqual(ranges(shorter), []);
});

Deno.test("a mirror that refuses the file is a clear error and nothing is written", async () => {
  await using refusing = mirror(() => ({ status: 403 }));
  const run = await download([refusing]);
  assert.equal(run.code, 3);
  assert.equal(run.output, undefined);
  assert.match(
    run.stderr,
    new RegExp(
      `Cannot transfer this file "f.bin": ${refusing.url}${NAME}: refused \\(403 Forbidden\\)`,
    ),
  );
});

Deno.test("5xx then success: the range is asked again and the file is whole", async () => {
  await using flaky = mirror(({ index }) =>
    index === 1 || index === 2 ? { status: 500 } : undefined
  );
  const run = await download([flaky], { chunks: 2 });
  assertWhole(run);
  assert.match(run.stderr, /server error \(500 Internal Server Error\)/);
});

Deno.test("a 503 with Retry-After is waited for before the mirror is asked again", async () => {
  await using busy = mirror(({ index }) =>
    index === 1 ? { status: 503, retryAfter: "2" } : undefined
  );
  const run = await download([busy], { chunks: 1 });
  assertWhole(run);
  const [refused, next] = busy.requests.slice(1).map((r) => r.at);
  assert.ok(
    next! - refused! >= 1900,
    `asked again after ${next! - refused!} ms`,
  );
  assert.match(
    run.stderr,
    /busy \(503 Service Unavailable\), retry after 2 s/,
  );
});

Deno.test("a redirect chain is followed and its end asked for every range; a loop is a clear error", async () => {
  await using target = mirror();
  await using hops = FaultMirror.start({
    files: {},
    hook: ({ recorded }) =>
      recorded.path === `/${NAME}`
        ? { redirect: "/hop1" }
        : recorded.path === "/hop1"
        ? { redirect: "/hop2", redirectStatus: 301 }
        : { redirect: `${target.url}${NAME}`, redirectStatus: 307 },
  });
  const run = await download([hops]);
  assertWhole(run);
  // Three hops for the size; the ranges go straight to the end.
  assert.equal(hops.requests.length, 3);
  assert.equal(ranges(target).length, 4);

  await using loop = FaultMirror.start({
    files: {},
    hook: ({ recorded }) => ({
      redirect: recorded.path === `/${NAME}` ? "/other" : `/${NAME}`,
    }),
  });
  const looped = await download([loop]);
  assert.equal(looped.code, 3);
  assert.equal(looped.output, undefined);
  assert.match(
    looped.stderr,
    new RegExp(
      `${loop.url}${NAME}: redirect loop: ${loop.url}other redirects back to ${loop.url}${NAME}`,
    ),
  );
});

Deno.test("a cut body fails over and the range resumes at the byte reached", async () => {
  await using cutting = mirror(({ index }) =>
    index === 1 ? { cutAfter: 100_000 } : undefined
  );
  const run = await download([cutting], { chunks: 1 });
  assertWhole(run);
  const asked = ranges(cutting);
  assert.equal(asked[0], "bytes=0-599999");
  const resumedAt = Number(/^bytes=(\d+)-599999$/.exec(asked[1]!)?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= 100_000, asked[1]);
});

Deno.test("a stalled mirror times out and another mirror serves its range", async () => {
  await using stalling = mirror(({ index }) =>
    index === 0 ? undefined : { stallAfter: 1000 }
  );
  await using good = mirror();
  const started = performance.now();
  const run = await download([stalling, good], {
    args: ["--stall-timeout", "1", "--reply-timeout", "1"],
  });
  assertWhole(run);
  assert.ok(performance.now() - started < 20_000);
});

Deno.test("a mirror whose file changes mid-download is left out: If-Range gets 200, nothing of it is written", async () => {
  const other = randomBytes(BYTES.length);
  await using changing = FaultMirror.start({
    files: { [NAME]: { content: BYTES, etag: '"one"' } },
    hook: ({ index }) =>
      index >= 2 ? { file: { content: other, etag: '"two"' } } : undefined,
  });
  const run = await download([changing], { chunks: 3 });
  assert.equal(run.code, 4, run.stderr);
  assert.equal(run.output, undefined);
  assert.match(
    run.stderr,
    /the file changed on the servers since the download started \(.*: its file changed: it sent the whole file \(200\) to If-Range "one", its ETag is "two" now\)/,
  );
  assert.ok(changing.requests.slice(1).every((r) => r.ifRange === '"one"'));
});

/** Runs the client with --allow-net for these hosts only. */
async function downloadAllowing(
  hosts: readonly string[],
  mirrorUrl: string,
): Promise<ClientRun & { output: Uint8Array | undefined }> {
  await using work = await tempDir();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--allow-net=${hosts.join(",")}`,
      "--allow-read",
      "--allow-write",
      CLIENT_SCRIPT,
      "--mirror",
      mirrorUrl,
      "4",
    ],
    cwd: work.path,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const path = `${work.path}/${NAME}`;
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
    output: await pathExists(path) ? await Deno.readFile(path) : undefined,
  };
}

Deno.test("a redirect to a host --allow-net does not allow stops the download with exit 2, on the size request and on the ranges, without retry rounds", async () => {
  await using target = mirror();
  const targetHost = `127.0.0.1:${target.port}`;
  await using always = FaultMirror.start({
    files: {},
    hook: () => ({ redirect: target.fileUrl(NAME) }),
  });
  await using rangesOnly = FaultMirror.start({
    files: { [NAME]: BYTES },
    hook: ({ recorded }) =>
      recorded.range === "bytes=0-0"
        ? undefined
        : { redirect: target.fileUrl(NAME) },
  });
  for (const redirecting of [always, rangesOnly]) {
    const started = performance.now();
    const run = await downloadAllowing(
      [`127.0.0.1:${redirecting.port}`],
      redirecting.fileUrl(NAME),
    );
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `error: no net access to "${targetHost}": run with --allow-net \\(or deno task client\\)\\n$`,
      ),
    );
    assert.doesNotMatch(run.stderr, /retry|round/i);
    assert.ok(performance.now() - started < 10_000);
  }
  assert.equal(target.requests.length, 0);
});

Deno.test("a mirror that answers every range 429 with Retry-After makes all chunks wait together, once per round, and the download gives up in a few rounds' time", async () => {
  await using busy = mirror(({ recorded }) =>
    recorded.range === "bytes=0-0"
      ? undefined
      : { status: 429, retryAfter: "2" }
  );
  const started = performance.now();
  const run = await download([busy], {
    chunks: 8,
    args: ["--retries", "2"],
  });
  const took = performance.now() - started;
  assert.equal(run.code, 4, run.stderr);
  // Two rounds of 2 s, not 2 s per chunk and round.
  assert.ok(took < 15_000, `gave up after ${took} ms`);
  assert.ok(ranges(busy).length <= 6, ranges(busy).join(" "));
  // Said once a wait, not once a chunk: 8 chunks, 3 rounds.
  const told = run.stderr.split("\n").filter((line) =>
    line.includes("asked to be left alone")
  );
  assert.ok(told.length <= 3, told.join("\n"));
});

Deno.test("a 429 with Retry-After on the size request is asked once more after the wait", async () => {
  await using busy = mirror(({ index }) =>
    index === 0 ? { status: 429, retryAfter: "1" } : undefined
  );
  const run = await download([busy], { chunks: 2 });
  assertWhole(run);
  const [refused, next] = busy.requests.map((r) => r.at);
  assert.ok(next! - refused! >= 900, `asked again after ${next! - refused!}`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`${signal} while the chunks wait out a Retry-After ends the download at once, as an interrupt: exit 130, the partial file kept, no lock left`, async () => {
    await using busy = mirror(({ recorded }) =>
      recorded.range === "bytes=0-0"
        ? undefined
        : { status: 429, retryAfter: "1000" }
    );
    await using work = await tempDir();
    await Deno.writeTextFile(`${work.path}/list`, `${busy.url}\n`);
    const client = spawnClient({
      cwd: work.path,
      args: ["list", "16", NAME],
      timeoutMs: 30_000,
    });
    // Until the mirror said 429 and the chunks wait.
    while (ranges(busy).length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const stopped = performance.now();
    client.kill(signal);
    const run = await clientOutcome(client);
    assert.equal(run.code, 130, run.stderr);
    assert.ok(performance.now() - stopped < 2500);
    assert.match(run.stderr, /Interrupted at 0% .*run the same command again/);
    const left = (await Array.fromAsync(Deno.readDir(work.path)))
      .map((e) => e.name).sort();
    assert.deepEqual(left, ["f.bin.part", "f.bin.part.state", "list"]);
  });
}

Deno.test("a mirror nothing listens on, beside good ones, is left out as 'connection refused', not in fetch's own words", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = listener.addr.port;
  listener.close();
  await using good = mirror();
  await using other = mirror();
  await using work = await tempDir();
  const dead = `http://127.0.0.1:${closedPort}/${NAME}`;
  await Deno.writeTextFile(
    `${work.path}/list`,
    `${dead}\n${good.url}${NAME}\n${other.url}${NAME}\n`,
  );
  const run = await runClient({ cwd: work.path, args: ["list", "4"] });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work.path}/${NAME}`), BYTES));
  assert.doesNotMatch(run.stderr, /fetch failed|os error/);
  assert.match(
    run.stderr,
    new RegExp(`^warning: no size from ${dead}: connection refused$`, "m"),
  );
});
