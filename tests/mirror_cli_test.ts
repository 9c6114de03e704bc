/**
 * The client's command line with mirrors on the web: `--mirror`, lists of
 * file URLs without a file name, bad URL lines, `--connections-per-mirror`,
 * run as real `client.ts` processes against HTTP file servers on
 * 127.0.0.1.
 */

import assert from "node:assert/strict";
import {
  CLIENT_SCRIPT,
  randomBytes,
  runClient,
  sameBytes,
  tempDir,
} from "./_support/harness.ts";
import { HttpFileServer } from "./_support/http_file_server.ts";
import { pathExists } from "../lib/client/output/output_file.ts";

const FILE = randomBytes(1024 * 1024 + 12345);

async function assertDownloaded(path: string): Promise<void> {
  assert.ok(sameBytes(await Deno.readFile(path), FILE), `${path} differs`);
}

Deno.test("--mirror twice downloads from two mirrors without a list file, folder and file URLs alike", async () => {
  await using dir = await tempDir();
  await using a = HttpFileServer.start({ files: { "/pub/f%20b.bin": FILE } });
  await using b = HttpFileServer.start({ files: { "/other/x.bin": FILE } });
  const run = await runClient({
    cwd: dir.path,
    args: [
      "--mirror",
      a.url("/pub/"),
      "--mirror",
      b.url("/other/x.bin"),
      "4",
      "f b.bin",
    ],
  });
  assert.equal(run.code, 0, run.stderr);
  await assertDownloaded(`${dir.path}/f b.bin`);
  assert.ok(a.ranges > 0 && b.ranges > 0, `${a.ranges} and ${b.ranges}`);
  // The folder mirror is named by the file's URL in it.
  assert.match(run.stderr, new RegExp(`${a.url("/pub/f%20b.bin")} reports`));
  assert.match(run.stderr, new RegExp(`\n  ${b.url("/other/x.bin")} +sent`));
});

Deno.test("more than 20 --mirror URLs are taken as a list of them is: the first 20, with a warning", async () => {
  await using dir = await tempDir();
  await using a = HttpFileServer.start({ files: { "/f.bin": FILE } });
  const urls = Array.from({ length: 21 }, (_, i) => a.url(`/f.bin?n=${i}`));
  const run = await runClient({
    cwd: dir.path,
    args: [...urls.flatMap((url) => ["--mirror", url]), "2"],
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /^warning: 21 --mirror URLs given; only the first 20 are used$/m,
  );
  await assertDownloaded(`${dir.path}/f.bin`);
});

Deno.test("a list of file URLs needs no file name: the first URL's last segment names the output", async () => {
  await using dir = await tempDir();
  await using a = HttpFileServer.start({
    files: { "/dist/big%20file.iso": FILE },
  });
  await using b = HttpFileServer.start({ files: { "/mirror/big.iso": FILE } });
  await Deno.writeTextFile(
    `${dir.path}/list.txt`,
    `${a.url("/dist/big%20file.iso")}\n${b.url("/mirror/big.iso")}\n`,
  );
  // No standard input: a prompt would get no name and fail.
  const run = await runClient({ cwd: dir.path, args: ["list.txt", "3"] });
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /enter filename/);
  await assertDownloaded(`${dir.path}/big file.iso`);
});

Deno.test("a list of file URLs read from standard input needs no file name either", async () => {
  await using dir = await tempDir();
  await using a = HttpFileServer.start({ files: { "/f.bin": FILE } });
  const run = await runClient({
    cwd: dir.path,
    args: ["-", "2"],
    stdin: `${a.url("/f.bin")}\n${a.url("/f.bin")}\n`,
  });
  assert.equal(run.code, 0, run.stderr);
  await assertDownloaded(`${dir.path}/f.bin`);
});

Deno.test("a file name given with a list of file URLs names the output", async () => {
  await using dir = await tempDir();
  await using a = HttpFileServer.start({ files: { "/f.bin": FILE } });
  const run = await runClient({
    cwd: dir.path,
    args: ["--mirror", a.url("/f.bin"), "2", "copy.bin"],
  });
  assert.equal(run.code, 0, run.stderr);
  await assertDownloaded(`${dir.path}/copy.bin`);
  assert.equal(await pathExists(`${dir.path}/f.bin`), false);
});

Deno.test("a file URL whose last segment is no usable name ends the client with exit code 2", async () => {
  await using dir = await tempDir();
  const run = await runClient({
    cwd: dir.path,
    args: ["--mirror", "http://127.0.0.1:9/pub/%FF", "2"],
  });
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr.trim(),
    'error: Cannot name the file after the URL "http://127.0.0.1:9/pub/%FF": its last path segment is not valid percent-encoded UTF-8; give the file name after <numchunks>',
  );
});

Deno.test("a bad URL line in the server list ends the client with exit code 2, naming the line", async () => {
  await using dir = await tempDir();
  const cases: [line: string, message: string][] = [
    [
      "ftp://127.0.0.1/f.bin",
      'line 2: "ftp" URLs are not supported (only http and https): "ftp://127.0.0.1/f.bin"',
    ],
    [
      "http://user:secret@127.0.0.1:9/f.bin",
      'line 2: "http://127.0.0.1:9/f.bin" has credentials, which plain http would send readable; use https',
    ],
    [
      "http://127.0.0.1:99999/",
      'line 2: not a valid URL: "http://127.0.0.1:99999/"',
    ],
  ];
  for (const [line, message] of cases) {
    await Deno.writeTextFile(
      `${dir.path}/list.txt`,
      `http://127.0.0.1:9/pub/\n${line}\n`,
    );
    const run = await runClient({
      cwd: dir.path,
      args: ["list.txt", "2", "f.bin"],
    });
    assert.equal(run.code, 2, line);
    assert.equal(
      run.stderr.trim(),
      `error: Cannot parse server list: ${message} (in "list.txt")`,
    );
  }
});

Deno.test("--mirror with a server list, or --connections-per-mirror out of bounds, is a usage error", async () => {
  await using dir = await tempDir();
  const cases: [args: string[], message: string][] = [
    [
      ["--mirror", "http://127.0.0.1:9/", "list.txt", "4", "f.bin"],
      "--mirror takes the place of <server-info>: give the servers in a list or as --mirror URLs, not both",
    ],
    [
      ["--connections-per-mirror", "0", "list.txt", "4", "f.bin"],
      '--connections-per-mirror takes a whole number from 1 to 16: received "0"',
    ],
    [
      ["--connections-per-mirror", "17", "list.txt", "4", "f.bin"],
      '--connections-per-mirror takes a whole number from 1 to 16: received "17"',
    ],
  ];
  for (const [args, message] of cases) {
    const run = await runClient({ cwd: dir.path, args });
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, new RegExp(`^error: ${RegExp.escape(message)}\n`));
  }
});

Deno.test("--connections-per-mirror 4 sends one mirror four ranges at once", async () => {
  await using dir = await tempDir();
  // Each range waits until four are being served, for 5 s at most: four
  // at once pass at once.
  await using mirror = HttpFileServer.start({
    files: { "/f.bin": FILE },
    barrier: 4,
    barrierMs: 5000,
  });
  const started = performance.now();
  const run = await runClient({
    cwd: dir.path,
    args: [
      "--connections-per-mirror",
      "4",
      "--mirror",
      mirror.url("/f.bin"),
      "4",
    ],
  });
  assert.equal(run.code, 0, run.stderr);
  await assertDownloaded(`${dir.path}/f.bin`);
  assert.equal(mirror.mostAtOnce, 4);
  const took = performance.now() - started;
  assert.ok(took < 4500, "the ranges waited");
});

Deno.test("by default a mirror is sent one range at a time", async () => {
  await using dir = await tempDir();
  await using mirror = HttpFileServer.start({
    files: { "/f.bin": FILE },
    barrier: 2,
    barrierMs: 200,
  });
  const run = await runClient({
    cwd: dir.path,
    args: ["--mirror", mirror.url("/f.bin"), "4"],
  });
  assert.equal(run.code, 0, run.stderr);
  await assertDownloaded(`${dir.path}/f.bin`);
  assert.equal(mirror.mostAtOnce, 1);
  assert.ok(mirror.ranges >= 4, `${mirror.ranges} ranges`);
});

Deno.test("with several connections a fast mirror still takes over a slow one's work", async () => {
  await using dir = await tempDir();
  await using slow = HttpFileServer.start({
    files: { "/f.bin": FILE },
    bytesPerSecond: 64 * 1024,
  });
  await using fast = HttpFileServer.start({ files: { "/f.bin": FILE } });
  const started = performance.now();
  const run = await runClient({
    cwd: dir.path,
    args: [
      "--connections-per-mirror",
      "2",
      "--mirror",
      slow.url("/f.bin"),
      "--mirror",
      fast.url("/f.bin"),
      "4",
    ],
  });
  assert.equal(run.code, 0, run.stderr);
  await assertDownloaded(`${dir.path}/f.bin`);
  // Alone, the slow mirror's half would take 8 s.
  assert.ok(
    performance.now() - started < 7000,
    "the slow mirror was waited for",
  );
});

Deno.test("a mirror needs --allow-net for its host and port", async () => {
  await using dir = await tempDir();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1:1",
      "--allow-read",
      "--allow-write",
      CLIENT_SCRIPT,
      "--mirror",
      "http://127.0.0.1:8/f.bin",
      "--mirror",
      "https://[::1]/f.bin",
      "2",
    ],
    cwd: dir.path,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 2, stderr);
  assert.match(stderr, /^error: .*127\.0\.0\.1:8\b.*--allow-net/);
});
