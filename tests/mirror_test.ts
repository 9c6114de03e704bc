/**
 * Mirrors on the web with real parts: nginx started on free ports of
 * 127.0.0.1 (over HTTPS with a CA of the test's own), alone and beside
 * `server.ts`, and the real client downloading from them.
 */

import assert from "node:assert/strict";
import { Nginx, type NginxServeOptions } from "../bench/nginx.ts";
import {
  randomBytes,
  runClient,
  sameBytes,
  ServerProcess,
  tempDir,
} from "./_support/harness.ts";
import { makeTestCertificates } from "./_support/tls.ts";
import { Tmpfs } from "./_support/tmpfs.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The folder URL of each nginx server block, one list line each. */
function mirrorLines(nginx: Nginx, scheme = "http"): string[] {
  return nginx.ports.map((port) => `${scheme}://127.0.0.1:${port}/`);
}

/** A folder holding `f.bin` with the given bytes. */
async function servedFolder(
  bytes: Uint8Array,
): Promise<{ path: string } & AsyncDisposable> {
  const folder = await tempDir();
  await Deno.writeFile(`${folder.path}/f.bin`, bytes);
  return folder;
}

/** nginx serving `options.root`, with its access log. */
function startNginx(
  options: Omit<NginxServeOptions, "accessLog">,
): Promise<Nginx> {
  return Nginx.serve({ ...options, accessLog: true });
}

/** Runs the client on a list of the given lines in `work`, for `f.bin`. */
async function download(
  work: string,
  lines: string[],
  options: {
    chunks: number;
    env?: Record<string, string>;
    timeoutMs?: number;
  },
) {
  await Deno.writeTextFile(`${work}/servers.txt`, lines.join("\n") + "\n");
  return await runClient({
    cwd: work,
    args: ["servers.txt", String(options.chunks), "f.bin"],
    env: options.env,
    timeoutMs: options.timeoutMs,
  });
}

/** Asserts the run succeeded with `f.bin` identical to `bytes` and no
 * partial download left. */
async function assertDownloaded(
  work: string,
  run: { code: number; stderr: string },
  bytes: Uint8Array,
): Promise<void> {
  assert.equal(run.code, 0, run.stderr);
  assert.ok(sameBytes(await Deno.readFile(`${work}/f.bin`), bytes));
  await assert.rejects(Deno.stat(`${work}/f.bin.part`), Deno.errors.NotFound);
  await Deno.remove(`${work}/f.bin`);
}

/** The ranges each port of nginx answered with a 206, `bytes=0-0` (the
 * size's request) left out. */
async function rangesByPort(nginx: Nginx): Promise<Map<number, string[]>> {
  const ranges = new Map<number, string[]>(
    nginx.ports.map((port) => [port, []]),
  );
  for (const entry of await nginx.accessLog()) {
    if (entry.status === 206 && entry.range !== "bytes=0-0") {
      ranges.get(entry.port)!.push(entry.range ?? "");
    }
  }
  return ranges;
}

Deno.test("a file of an odd size comes byte-identical from nginx alone in 1, 3 and 8 chunks, from one mirror and from three", async () => {
  const bytes = randomBytes(3 * MiB + 4093);
  await using served = await servedFolder(bytes);
  await using work = await tempDir();
  await using nginx = await startNginx({ root: served.path, count: 3 });
  const mirrors = mirrorLines(nginx);
  for (const lines of [mirrors.slice(0, 1), mirrors]) {
    for (const chunks of [1, 3, 8]) {
      const run = await download(work.path, lines, { chunks });
      await assertDownloaded(work.path, run, bytes);
      const count = lines.length;
      assert.match(
        run.stderr,
        new RegExp(
          `\\n {2}${chunks} chunks? from \\d of ${count} servers?; 0 failovers, 0 retry rounds\\n`,
        ),
      );
    }
  }
});

Deno.test("an empty file comes from nginx as an empty file", async () => {
  await using served = await servedFolder(new Uint8Array());
  await using work = await tempDir();
  await using nginx = await startNginx({ root: served.path, count: 2 });
  const run = await download(work.path, mirrorLines(nginx), { chunks: 4 });
  await assertDownloaded(work.path, run, new Uint8Array());
  assert.match(run.stderr, /\nDownloaded "f\.bin": 0 bytes in /);
});

Deno.test("a list mixing nginx mirrors and server.ts checks the mirrors' blocks against the server's digest list", async () => {
  const bytes = randomBytes(8 * MiB + 777);
  await using served = await servedFolder(bytes);
  await using work = await tempDir();
  await using nginx = await startNginx({ root: served.path, count: 2 });
  await using server = await ServerProcess.start(served.path);
  const [first, second] = mirrorLines(nginx);
  const run = await download(
    work.path,
    [first!, `127.0.0.1 ${server.port}`, second!],
    { chunks: 8 },
  );
  await assertDownloaded(work.path, run, bytes);
  assert.doesNotMatch(run.stderr, /without verification|warning/);
  assert.match(run.stderr, /\n {2}8 chunks from 3 of 3 servers; /);
  // Both mirrors sent ranges, not only their size.
  for (const [port, ranges] of await rangesByPort(nginx)) {
    assert.ok(ranges.length > 0, `the mirror on ${port} sent no range`);
  }
});

Deno.test("a mirror holding another file of the same size is left out with a warning by the server's digest list, and the download stays byte-identical", async () => {
  const bytes = randomBytes(6 * MiB + 333);
  await using served = await servedFolder(bytes);
  await using other = await servedFolder(randomBytes(bytes.length));
  await using work = await tempDir();
  // The first block serves the other file.
  await using nginx = await startNginx({
    root: served.path,
    roots: [other.path],
    count: 2,
  });
  await using server = await ServerProcess.start(served.path);
  const [wrong, right] = mirrorLines(nginx);
  const run = await download(
    work.path,
    [wrong!, `127.0.0.1 ${server.port}`, right!],
    { chunks: 6 },
  );
  await assertDownloaded(work.path, run, bytes);
  assert.match(
    run.stderr,
    new RegExp(
      `\\nwarning: not using ${
        RegExp.escape(`${wrong!}f.bin`)
      } for this file: its copy differs from the first server's in bytes \\d+-\\d+\\n`,
    ),
  );
  assert.match(
    run.stderr,
    new RegExp(
      `\\n {2}left out \\(their copy differs\\): ${
        RegExp.escape(`${wrong!}f.bin`)
      }\\n`,
    ),
  );
  // The wrong mirror was asked for a range, so its blocks were checked.
  const ranges = await rangesByPort(nginx);
  assert.ok(ranges.get(nginx.ports[0]!)!.length > 0);
});

Deno.test("a sparse file past 4 GiB comes byte-identical from nginx", async () => {
  // 4 GiB and a bit: random bytes at the start, across the 4 GiB mark and
  // at the end, holes between (no disk for the served copy).
  const size = 4 * GiB + 3 * MiB + 4097;
  await using served = await tempDir();
  const marks = [0, 4 * GiB - 5000, size - 7000];
  {
    using file = await Deno.open(`${served.path}/f.bin`, {
      write: true,
      create: true,
    });
    await file.truncate(size);
    for (const at of marks) {
      await file.seek(at, Deno.SeekMode.Start);
      await file.write(randomBytes(Math.min(10_000, size - at)));
    }
  }
  await using work = await tempDir();
  // The download on a tmpfs where one can be mounted, so 4 GiB of writes
  // and their comparison stay in memory.
  await using _memory = await Tmpfs.mount(work.path, { size: "5G" });
  await using nginx = await startNginx({ root: served.path, count: 2 });
  // About 10 s alone; the bound leaves room for a loaded machine.
  const run = await download(work.path, mirrorLines(nginx), {
    chunks: 8,
    timeoutMs: 120_000,
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /\nDownloaded "f\.bin": 4\.0 GiB \(4298117121 bytes\) in /,
  );
  const compared = await new Deno.Command("cmp", {
    args: [`${served.path}/f.bin`, `${work.path}/f.bin`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    compared.code,
    0,
    new TextDecoder().decode(compared.stdout) +
      new TextDecoder().decode(compared.stderr),
  );
  await Deno.remove(`${work.path}/f.bin`);
});

/** nginx over HTTPS with a certificate from a CA of the test's own. */
async function startHttpsNginx(root: string, certificates: string) {
  const tls = await makeTestCertificates(certificates);
  const nginx = await startNginx({
    root,
    count: 2,
    tls: { certificate: tls.certificate, key: tls.key },
  });
  return { nginx, caCertificate: tls.caCertificate };
}

Deno.test("over HTTPS, a client trusting the test CA through DENO_CERT downloads byte-identical", async () => {
  const bytes = randomBytes(2 * MiB + 5);
  await using served = await servedFolder(bytes);
  await using certificates = await tempDir();
  await using work = await tempDir();
  const https = await startHttpsNginx(served.path, certificates.path);
  await using nginx = https.nginx;
  const run = await download(work.path, mirrorLines(nginx, "https"), {
    chunks: 4,
    env: { DENO_CERT: https.caCertificate },
  });
  await assertDownloaded(work.path, run, bytes);
  assert.match(run.stderr, /\n {2}4 chunks from 2 of 2 servers; /);
});

Deno.test("over HTTPS, a certificate from a CA the client does not trust is a clear error and exit code 3", async () => {
  await using served = await servedFolder(randomBytes(4096));
  await using certificates = await tempDir();
  await using work = await tempDir();
  const https = await startHttpsNginx(served.path, certificates.path);
  await using nginx = https.nginx;
  const [first, second] = mirrorLines(nginx, "https");
  const run = await download(work.path, [first!, second!], { chunks: 2 });
  assert.equal(run.code, 3, run.stderr);
  assert.match(run.stderr, /^Cannot transfer this file "f\.bin": /m);
  for (const label of [first!, second!]) {
    assert.match(
      run.stderr,
      new RegExp(`${RegExp.escape(`${label}f.bin`)}: [^\\n]*certificate`),
    );
  }
  assert.deepEqual(
    [...Deno.readDirSync(work.path)].map((entry) => entry.name),
    ["servers.txt"],
  );
  // No request got through to nginx.
  assert.deepEqual(await nginx.accessLog(), []);
});

Deno.test("one mirror's successive ranges come over kept connections", async () => {
  const bytes = randomBytes(8 * MiB);
  await using served = await servedFolder(bytes);
  await using work = await tempDir();
  await using nginx = await startNginx({ root: served.path, count: 1 });
  const run = await download(work.path, mirrorLines(nginx), { chunks: 8 });
  await assertDownloaded(work.path, run, bytes);
  const log = await nginx.accessLog();
  // The size, then the 8 chunks one after another.
  assert.deepEqual(
    log.map((entry) => entry.status),
    Array(9).fill(206),
  );
  // fetch keeps a connection once its reply has been read: the 8 ranges
  // come over one, with the size's request on it or on one of its own.
  const connections = new Set(log.slice(1).map((entry) => entry.connection));
  assert.equal(
    connections.size,
    1,
    `8 ranges over ${connections.size} connections`,
  );
  assert.ok(log.at(-1)!.connectionRequests >= 8);
});
