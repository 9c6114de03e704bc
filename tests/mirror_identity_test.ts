/**
 * Identity and integrity with mirrors on the web, end to end: the real
 * client against fault mirrors (and a real server.ts) on 127.0.0.1. Never
 * a file mixed from two different files: with a digest list every block is
 * checked; without one, spot checks compare the mirrors, their whole-file
 * digests must agree, and their validators decide whether kept bytes are
 * taken on a later run.
 */

import assert from "node:assert/strict";
import {
  clientOutcome,
  randomBytes,
  runClient,
  sameBytes,
  ServerProcess,
  spawnClient,
  tempDir,
} from "./_support/harness.ts";
import { exists } from "./_support/file_system.ts";
import {
  FaultMirror,
  type FaultMirrorOptions,
  sha256Base64,
} from "./_support/fault_mirror.ts";

/** Starts one fault mirror per option set, each serving `f.bin`. */
function mirrors(...options: FaultMirrorOptions[]): FaultMirror[] {
  return options.map((o) => FaultMirror.start(o));
}

/** Writes a server list of the mirrors' file URLs (and servers) and runs
 * the client on it. */
async function download(
  work: string,
  lines: string[],
  extra: string[] = [],
) {
  await Deno.writeTextFile(`${work}/list.txt`, lines.join("\n") + "\n");
  return await runClient({
    cwd: work,
    args: [...extra, "list.txt", "4", "f.bin"],
  });
}

/** The client ended well with `f.bin` byte-identical to `bytes`. */
async function assertDownloaded(
  work: string,
  run: { code: number; stderr: string },
  bytes: Uint8Array,
) {
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work}/f.bin`), bytes));
}

const SIZE = 1024 * 1024 + 333;

Deno.test("a mirror listed first with same-size other content is left out by the server's block digests", async () => {
  const bytes = randomBytes(SIZE);
  await using work = await tempDir();
  await using root = await tempDir();
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  const [other] = mirrors({ files: { "f.bin": randomBytes(SIZE) } });
  await using _other = other!;
  const url = other!.fileUrl("f.bin");
  const run = await download(work.path, [url, `127.0.0.1 ${server.port}`]);
  await assertDownloaded(work.path, run, bytes);
  // Of the sizes alike, the server's is taken: it sends the digest list.
  assert.match(
    run.stderr,
    new RegExp(`127\\.0\\.0\\.1:${server.port} reports ${SIZE} bytes`),
  );
  assert.match(
    run.stderr,
    new RegExp(`warning: not using ${url} for this file: its copy differs`),
  );
  assert.doesNotMatch(run.stderr, /without verification|not checked one by/);
});

Deno.test("of three mirrors, one with same-size other content is outvoted in the spot checks and left out", async () => {
  const bytes = randomBytes(SIZE);
  const all = mirrors(
    { files: { "f.bin": bytes } },
    { files: { "f.bin": randomBytes(SIZE) } },
    { files: { "f.bin": bytes } },
  );
  await using _a = all[0]!;
  await using _b = all[1]!;
  await using _c = all[2]!;
  await using work = await tempDir();
  const urls = all.map((m) => m.fileUrl("f.bin"));
  const run = await download(work.path, urls);
  await assertDownloaded(work.path, run, bytes);
  assert.match(
    run.stderr,
    new RegExp(
      `warning: not using ${
        urls[1]
      } for this file: its copy differs from that of 2 other sources in a spot check \\(bytes 0-65535\\)`,
    ),
  );
  assert.match(
    run.stderr,
    /warning: blocks are not checked one by one: no server sent block digests: .*; checked instead: spot checks of 4 windows of 64\.0 KiB across 2 mirrors agree; after the transfer, 4 windows of 64\.0 KiB of the bytes each mirror sent are compared with other mirrors\n/,
  );
  // Its bytes were asked for the spot checks only: 4 windows.
  const ranged = all[1]!.requests.filter((r) => r.range !== null);
  assert.ok(ranged.length <= 5, `${ranged.length} requests`);
});

Deno.test("two mirrors that disagree stop the download with exit code 7, writing nothing", async () => {
  const bytes = randomBytes(SIZE);
  const all = mirrors(
    { files: { "f.bin": bytes } },
    { files: { "f.bin": randomBytes(SIZE) } },
  );
  await using _a = all[0]!;
  await using _b = all[1]!;
  await using work = await tempDir();
  const urls = all.map((m) => m.fileUrl("f.bin"));
  const run = await download(work.path, urls);
  assert.equal(run.code, 7, run.stderr);
  assert.ok(
    run.stderr.endsWith(
      `error: The mirrors hold different files named "f.bin", and no majority agrees on one (their bytes in 4 spot-checked windows differ):\n  file 1: ${
        urls[0]
      }\n  file 2: ${
        urls[1]
      }\nnothing was written: list another mirror of the file (a majority decides), or a server.ts that has it (its digest list decides)\n`,
    ),
    run.stderr,
  );
  for (const name of ["f.bin", "f.bin.part", "f.bin.part.state"]) {
    assert.equal(await exists(`${work.path}/${name}`), false, name);
  }
});

Deno.test({
  name:
    "mirrors whose Repr-Digests agree have the finished file checked against it",
  fn: async () => {
    const bytes = randomBytes(SIZE);
    const all = mirrors(
      { files: { "f.bin": bytes }, hook: () => ({ reprDigest: true }) },
      { files: { "f.bin": bytes }, hook: () => ({ reprDigest: true }) },
    );
    await using _a = all[0]!;
    await using _b = all[1]!;
    await using work = await tempDir();
    const run = await download(work.path, all.map((m) => m.fileUrl("f.bin")));
    await assertDownloaded(work.path, run, bytes);
    assert.match(
      run.stderr,
      /checked instead: spot checks of 4 windows of 64\.0 KiB across 2 mirrors agree; the finished file is checked against the SHA-256 the mirrors sent \(Repr-Digest\)/,
    );
  },
});

Deno.test({
  name:
    "a mirror whose Repr-Digest the others outvote is left out; a digest the file does not have ends with exit code 6",
  fn: async () => {
    const bytes = randomBytes(SIZE);
    const other = randomBytes(SIZE);
    const withDigest = () => ({ reprDigest: true });
    const wrong = `sha-256=:${await sha256Base64(other)}:`;
    const wrongDigest = () => ({ headers: { "repr-digest": wrong } });
    // The second one holds the file, and says it holds another.
    const all = mirrors(
      { files: { "f.bin": bytes }, hook: withDigest },
      { files: { "f.bin": bytes }, hook: wrongDigest },
      { files: { "f.bin": bytes }, hook: withDigest },
    );
    await using _a = all[0]!;
    await using _b = all[1]!;
    await using _c = all[2]!;
    await using work = await tempDir();
    const urls = all.map((m) => m.fileUrl("f.bin"));
    const run = await download(work.path, urls);
    await assertDownloaded(work.path, run, bytes);
    assert.match(
      run.stderr,
      new RegExp(
        `warning: not using ${
          urls[1]
        } for this file: its Repr-Digest SHA-256 is [0-9a-f]{64}, not the [0-9a-f]{64} of 2 other mirrors`,
      ),
    );

    // Every mirror agrees on a digest the file does not have.
    const lying = mirrors(
      ...[0, 1].map(() => ({ files: { "f.bin": bytes }, hook: wrongDigest })),
    );
    await using _d = lying[0]!;
    await using _e = lying[1]!;
    await using work2 = await tempDir();
    const lied = await download(
      work2.path,
      lying.map((m) => m.fileUrl("f.bin")),
    );
    assert.equal(lied.code, 6, lied.stderr);
    assert.match(
      lied.stderr,
      /error: The downloaded file's SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64} \(the Repr-Digest of http:\/\/127\.0\.0\.1:\d+\/f\.bin, http:\/\/127\.0\.0\.1:\d+\/f\.bin\); the file is kept as "f\.bin\.part"/,
    );
    assert.equal(await exists(`${work2.path}/f.bin`), false);
  },
});

/** Hooks that fail the chunks of the file's second half (requests longer
 * than a spot-check window), while `failing` says so. */
function secondHalfFails(state: { failing: boolean }) {
  return ({ recorded }: { recorded: { range: string | null } }) => {
    const match = /^bytes=(\d+)-(\d+)$/.exec(recorded.range ?? "");
    if (!state.failing || match === null) return undefined;
    const [start, end] = [Number(match[1]), Number(match[2])];
    return start >= SIZE / 2 && end - start + 1 > 64 * 1024
      ? { status: 404 }
      : undefined;
  };
}

/**
 * Two mirrors of a file and a download from them that failed in the
 * second half (exit code 4), its partial file and state kept; `failing`
 * set to false lets the next run through.
 */
async function halfDownloaded() {
  const bytes = randomBytes(SIZE);
  const state = { failing: true };
  const all = mirrors(
    { files: { "f.bin": bytes }, hook: secondHalfFails(state) },
    { files: { "f.bin": bytes }, hook: secondHalfFails(state) },
  );
  const work = await tempDir();
  const urls = all.map((m) => m.fileUrl("f.bin"));
  const first = await download(work.path, urls, ["--retries", "0"]);
  assert.equal(first.code, 4, first.stderr);
  return {
    bytes,
    state,
    all,
    work,
    urls,
    async [Symbol.asyncDispose]() {
      for (const mirror of all) await mirror[Symbol.asyncDispose]();
      await work[Symbol.asyncDispose]();
    },
  };
}

Deno.test({
  name:
    "an interrupted mirror-only download resumes its kept bytes when the mirrors' ETags are unchanged",
  fn: async () => {
    await using half = await halfDownloaded();
    const { bytes, state, all, work, urls } = half;
    const saved = JSON.parse(
      await Deno.readTextFile(`${work.path}/f.bin.part.state`),
    );
    assert.deepEqual(
      saved.mirrors.map((m: { label: string }) => m.label),
      urls,
    );
    state.failing = false;
    for (const mirror of all) mirror.requests.length = 0;
    const second = await download(work.path, urls);
    await assertDownloaded(work.path, second, bytes);
    assert.match(second.stderr, /Resuming: \d+ bytes/);
    // No digests vouched for the kept bytes: the mirrors' validators did.
    assert.match(
      second.stderr,
      /resumed from before, the mirrors' validators \(ETag, Last-Modified\) say the file is unchanged\n/,
    );
    assert.doesNotMatch(second.stderr, /checked against the digests/);
    assert.doesNotMatch(second.stderr, /starting over|fetching them again/);
    // Of the first half, only spot-check windows were asked again.
    for (const mirror of all) {
      for (const { range } of mirror.requests) {
        const [start, end] = /(\d+)-(\d+)/.exec(range ?? "")!.slice(1).map(
          Number,
        );
        assert.ok(
          start! >= SIZE / 2 - 1024 * 1024 || end! - start! < 64 * 1024,
          range!,
        );
      }
    }
  },
});

Deno.test({
  name:
    "a mirror-only download whose file changed between runs (a new ETag) starts over",
  fn: async () => {
    await using half = await halfDownloaded();
    const { state, all, work, urls } = half;
    state.failing = false;
    const changed = randomBytes(SIZE);
    for (const mirror of all) mirror.files.set("f.bin", { content: changed });
    const second = await download(work.path, urls);
    await assertDownloaded(work.path, second, changed);
    assert.match(
      second.stderr,
      /warning: starting over: the file changed on the mirrors since the partial download \(http:\/\/127\.0\.0\.1:\d+\/f\.bin: ETag "[^"]+" \(was "[^"]+"\)\)/,
    );
  },
});

Deno.test("a stale mirror listed first is outvoted on the size by two up-to-date ones; two mirrors of different sizes end with exit code 7", async () => {
  const bytes = randomBytes(SIZE);
  const all = mirrors(
    { files: { "f.bin": bytes.slice(0, SIZE - 1000) } },
    { files: { "f.bin": bytes } },
    { files: { "f.bin": bytes } },
  );
  await using _a = all[0]!;
  await using _b = all[1]!;
  await using _c = all[2]!;
  await using work = await tempDir();
  const urls = all.map((m) => m.fileUrl("f.bin"));
  const run = await download(work.path, urls);
  await assertDownloaded(work.path, run, bytes);
  assert.match(
    run.stderr,
    new RegExp(
      `warning: not using ${urls[0]} for this file: its file is ${
        SIZE - 1000
      } bytes, not ${SIZE} as ${urls[1]} reported`,
    ),
  );

  await using work2 = await tempDir();
  const split = await download(work2.path, urls.slice(0, 2));
  assert.equal(split.code, 7, split.stderr);
  assert.match(
    split.stderr,
    /no majority agrees on one \(the sizes they report \(\d+ bytes, \d+ bytes\) differ\)/,
  );
  assert.equal(await exists(`${work2.path}/f.bin.part`), false);
});

Deno.test("a stale mirror listed before a server.ts loses the size to the server, whose digest list checks the blocks", async () => {
  const bytes = randomBytes(SIZE);
  await using work = await tempDir();
  await using root = await tempDir();
  await Deno.writeFile(`${root.path}/f.bin`, bytes);
  await using server = await ServerProcess.start(root.path);
  const [stale] = mirrors({ files: { "f.bin": bytes.slice(0, SIZE - 1000) } });
  await using _stale = stale!;
  const run = await download(work.path, [
    stale!.fileUrl("f.bin"),
    `127.0.0.1 ${server.port}`,
  ]);
  await assertDownloaded(work.path, run, bytes);
  assert.doesNotMatch(run.stderr, /without verification|not checked one by/);
});

Deno.test("a mirror that reports the size and then is silent in the spot checks is left out within seconds", async () => {
  const bytes = randomBytes(SIZE);
  const all = mirrors(
    {
      files: { "f.bin": bytes },
      hook: ({ recorded }) =>
        recorded.range === null || recorded.range === "bytes=0-0"
          ? undefined
          : { stall: true },
    },
    { files: { "f.bin": bytes } },
  );
  await using _a = all[0]!;
  await using _b = all[1]!;
  await using work = await tempDir();
  const urls = all.map((m) => m.fileUrl("f.bin"));
  const started = performance.now();
  const run = await download(work.path, urls);
  const seconds = (performance.now() - started) / 1000;
  await assertDownloaded(work.path, run, bytes);
  assert.ok(seconds < 9, `took ${seconds} s`);
  assert.match(
    run.stderr,
    new RegExp(
      `warning: not using ${
        urls[0]
      } for this file: it did not send its spot-check windows within 2 s of the first source that did`,
    ),
  );
});

Deno.test("one mirror reached by two lines (its folder URL and its file URL) votes once: against one other mirror there is no majority", async () => {
  const bytes = randomBytes(SIZE);
  const all = mirrors(
    { files: { "f.bin": randomBytes(SIZE) } },
    { files: { "f.bin": bytes } },
  );
  await using _a = all[0]!;
  await using _b = all[1]!;
  await using work = await tempDir();
  const run = await download(work.path, [
    all[0]!.url,
    all[0]!.fileUrl("f.bin"),
    all[1]!.fileUrl("f.bin"),
  ]);
  assert.equal(run.code, 7, run.stderr);
  assert.match(run.stderr, /no majority agrees on one/);
  assert.equal(await exists(`${work.path}/f.bin`), false);
});

Deno.test("SIGINT or SIGTERM during the spot checks ends with exit code 130 and the Interrupted line", async () => {
  const bytes = randomBytes(SIZE);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const all = mirrors(
      {
        files: { "f.bin": bytes },
        hook: ({ recorded }) =>
          recorded.range === null || recorded.range === "bytes=0-0"
            ? undefined
            : { stall: true },
      },
      { files: { "f.bin": bytes } },
    );
    await using _a = all[0]!;
    await using _b = all[1]!;
    await using work = await tempDir();
    await Deno.writeTextFile(
      `${work.path}/list.txt`,
      all.map((m) => m.fileUrl("f.bin")).join("\n") + "\n",
    );
    const child = spawnClient({
      cwd: work.path,
      args: ["list.txt", "4", "f.bin"],
    });
    // The first spot-check window asked of the stalling mirror.
    while (!all[0]!.requests.some((r) => r.range?.endsWith("-65535"))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill(signal);
    const run = await clientOutcome(child);
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /^Interrupted: nothing was written$/m);
    assert.doesNotMatch(run.stderr, /Uncaught|AbortError/);
    assert.equal(await exists(`${work.path}/f.bin.part`), false);
  }
});

Deno.test("the summary names a mirror that could not serve the file apart from one whose copy differs", async () => {
  const bytes = randomBytes(SIZE);
  const all = mirrors(
    { files: { "f.bin": bytes } },
    {
      files: { "f.bin": bytes },
      hook: ({ recorded }) =>
        recorded.range === "bytes=0-0" ? undefined : { status: 404 },
    },
    { files: { "f.bin": randomBytes(SIZE) } },
    { files: { "f.bin": bytes } },
  );
  await using work = await tempDir();
  const urls = all.map((m) => m.fileUrl("f.bin"));
  const run = await download(work.path, urls);
  try {
    await assertDownloaded(work.path, run, bytes);
    assert.match(
      run.stderr,
      new RegExp(`\n  left out \\(their copy differs\\): ${urls[2]}\n`),
    );
    assert.match(
      run.stderr,
      new RegExp(
        `\n  left out \\(could not serve the file\\): ${urls[1]}\n`,
      ),
    );
  } finally {
    for (const mirror of all) await mirror[Symbol.asyncDispose]();
  }
});

Deno.test("a false Repr-Digest sent by one of three agreeing mirrors fails the file naming it, keeps the state, and a run with --sha256 finishes without fetching again", async () => {
  const bytes = randomBytes(SIZE);
  const wrong = `sha-256=:${await sha256Base64(randomBytes(SIZE))}:`;
  const all = mirrors(
    { files: { "f.bin": bytes } },
    {
      files: { "f.bin": bytes },
      hook: () => ({ headers: { "repr-digest": wrong } }),
    },
    { files: { "f.bin": bytes } },
  );
  await using _a = all[0]!;
  await using _b = all[1]!;
  await using _c = all[2]!;
  await using work = await tempDir();
  const urls = all.map((m) => m.fileUrl("f.bin"));
  const first = await download(work.path, urls);
  assert.equal(first.code, 6, first.stderr);
  assert.ok(
    first.stderr.includes(
      `(the Repr-Digest of ${
        urls[1]
      }; the other 2 mirrors whose copies agree sent none); the file is kept as "f.bin.part", with its state: if that digest is wrong, the same command with --sha256 of the right file, or without the mirror that sent it, finishes the file without fetching it again\n`,
    ),
    first.stderr,
  );
  assert.ok(await exists(`${work.path}/f.bin.part.state`));

  for (const mirror of all) mirror.requests.length = 0;
  const hex = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  ).reduce((text, byte) => text + byte.toString(16).padStart(2, "0"), "");
  const second = await download(work.path, urls, ["--sha256", hex]);
  await assertDownloaded(work.path, second, bytes);
  assert.match(
    second.stderr,
    new RegExp(
      `warning: not using ${
        urls[1]
      } for this file: its Repr-Digest SHA-256 is [0-9a-f]{64}, not the ${hex} given with --sha256`,
    ),
  );
  // Nothing was fetched again beyond the size and the spot checks.
  for (const mirror of all) {
    for (const { range } of mirror.requests) {
      const [start, end] = /(\d+)-(\d+)/.exec(range ?? "")!.slice(1).map(
        Number,
      );
      assert.ok(end! - start! < 64 * 1024, range!);
    }
  }
});

Deno.test("a list line that repeats an earlier mirror is dropped with a warning", async () => {
  const bytes = randomBytes(SIZE);
  const [only] = mirrors({ files: { "f.bin": bytes } });
  await using _only = only!;
  await using work = await tempDir();
  const url = only!.fileUrl("f.bin");
  const run = await download(work.path, [url, url]);
  await assertDownloaded(work.path, run, bytes);
  assert.match(
    run.stderr,
    new RegExp(
      `^warning: "list\\.txt" line 2 repeats line 1 \\(${url}\\); it is used once$`,
      "m",
    ),
  );
  assert.match(run.stderr, /4 chunks from 1 of 1 server;/);
});

Deno.test("a --mirror that repeats an earlier one is used once, with a warning", async () => {
  const bytes = randomBytes(SIZE);
  const [only] = mirrors({ files: { "f.bin": bytes } });
  await using _only = only!;
  await using work = await tempDir();
  const url = only!.fileUrl("f.bin");
  const run = await runClient({
    cwd: work.path,
    args: ["--mirror", url, "--mirror", url, "4"],
  });
  await assertDownloaded(work.path, run, bytes);
  assert.match(
    run.stderr,
    new RegExp(
      `^warning: --mirror 2 repeats --mirror 1 \\(${url}\\); it is used once$`,
      "m",
    ),
  );
  assert.match(run.stderr, /4 chunks from 1 of 1 server;/);
});
