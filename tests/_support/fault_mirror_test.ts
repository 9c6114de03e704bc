import assert from "node:assert/strict";
import { defaultEtag, FaultMirror, sha256Base64 } from "./fault_mirror.ts";
import { randomBytes, sameBytes } from "./harness.ts";

const FILE = randomBytes(10_000);

async function get(
  url: string,
  headers: Record<string, string> = {},
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
  const response = await fetch(url, { headers, ...init });
  const body = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body };
}

Deno.test("the fault mirror answers a range with 206 and the exact Content-Range", async () => {
  await using mirror = FaultMirror.start({ files: { "data.bin": FILE } });
  const reply = await get(mirror.fileUrl("data.bin"), {
    range: "bytes=100-199",
    "accept-encoding": "identity",
  });
  assert.equal(reply.status, 206);
  assert.equal(reply.headers.get("content-range"), "bytes 100-199/10000");
  assert.equal(reply.headers.get("etag"), defaultEtag(FILE));
  assert.ok(reply.headers.get("last-modified"));
  assert.ok(sameBytes(reply.body, FILE.subarray(100, 200)));
  assert.equal(mirror.requests.length, 1);
  assert.equal(mirror.requests[0]!.range, "bytes=100-199");
  assert.equal(mirror.requests[0]!.path, "/data.bin");
  assert.equal(mirror.requests[0]!.headers.get("accept-encoding"), "identity");
});

Deno.test("the fault mirror serves whole files, HEAD, 404 and 416 as a good mirror does", async () => {
  await using mirror = FaultMirror.start({
    files: { "data.bin": FILE, "empty": new Uint8Array(0) },
  });
  const whole = await get(mirror.fileUrl("data.bin"));
  assert.equal(whole.status, 200);
  assert.ok(sameBytes(whole.body, FILE));
  const head = await get(mirror.fileUrl("data.bin"), {}, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "10000");
  assert.equal(head.body.length, 0);
  const missing = await get(mirror.fileUrl("nothing"));
  assert.equal(missing.status, 404);
  const empty = await get(mirror.fileUrl("empty"), { range: "bytes=0-0" });
  assert.equal(empty.status, 416);
  assert.equal(empty.headers.get("content-range"), "bytes */0");
  const past = await get(mirror.fileUrl("data.bin"), {
    range: "bytes=10000-10001",
  });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get("content-range"), "bytes */10000");
});

Deno.test("the fault mirror sends the whole file when If-Range no longer matches", async () => {
  await using mirror = FaultMirror.start({
    files: { "data.bin": { content: FILE, etag: '"v1"' } },
    hook: ({ index }) =>
      index >= 1 ? { file: { content: FILE, etag: '"v2"' } } : undefined,
  });
  const first = await get(mirror.fileUrl("data.bin"), {
    range: "bytes=0-9",
    "if-range": '"v1"',
  });
  assert.equal(first.status, 206);
  const second = await get(mirror.fileUrl("data.bin"), {
    range: "bytes=0-9",
    "if-range": '"v1"',
  });
  assert.equal(second.status, 200);
  assert.equal(second.headers.get("etag"), '"v2"');
  assert.equal(mirror.requests[1]!.ifRange, '"v1"');
});

Deno.test("the fault mirror's hook scripts statuses, redirects, wrong ranges, HTML and digests", async () => {
  await using mirror = FaultMirror.start({
    files: { "data.bin": FILE },
    hook: ({ index }) =>
      [
        { status: 503, retryAfter: "2" },
        { redirect: "/data.bin", redirectStatus: 301 },
        { contentRange: "bytes 0-9/10000" },
        { html: true },
        { ignoreRange: true, reprDigest: true, digest: true },
        undefined,
      ][index],
  });
  const url = mirror.fileUrl("data.bin");
  const busy = await get(url, { range: "bytes=10-19" });
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("retry-after"), "2");
  const moved = await get(url, { range: "bytes=10-19" }, {
    redirect: "manual",
  });
  assert.equal(moved.status, 301);
  assert.equal(moved.headers.get("location"), "/data.bin");
  const wrong = await get(url, { range: "bytes=10-19" });
  assert.equal(wrong.headers.get("content-range"), "bytes 0-9/10000");
  assert.ok(sameBytes(wrong.body, FILE.subarray(10, 20)));
  const html = await get(url, { range: "bytes=10-19" });
  assert.equal(html.status, 200);
  assert.equal(html.headers.get("content-type"), "text/html");
  const ignored = await get(url, { range: "bytes=10-19" });
  assert.equal(ignored.status, 200);
  assert.ok(sameBytes(ignored.body, FILE));
  const hash = await sha256Base64(FILE);
  assert.equal(ignored.headers.get("repr-digest"), `sha-256=:${hash}:`);
  assert.equal(ignored.headers.get("digest"), `SHA-256=${hash}`);
  assert.equal(mirror.requests.length, 5);
});

Deno.test("the fault mirror cuts a body after N bytes", async () => {
  await using mirror = FaultMirror.start({
    files: { "data.bin": FILE },
    hook: () => ({ cutAfter: 1000 }),
  });
  const response = await fetch(mirror.fileUrl("data.bin"), {
    headers: { range: "bytes=0-4999" },
  });
  assert.equal(response.status, 206);
  const reader = response.body!.getReader();
  let received = 0;
  await assert.rejects(async () => {
    while (true) {
      const next = await reader.read();
      if (next.done) throw new Error("ended cleanly");
      received += next.value.length;
    }
  }, (error: Error) => error.message !== "ended cleanly");
  assert.ok(received <= 1000);
});

Deno.test("the fault mirror stalls until the client gives up, then stops cleanly", async () => {
  await using mirror = FaultMirror.start({
    files: { "data.bin": FILE },
    hook: ({ index }) => index === 0 ? { stall: true } : { stallAfter: 10 },
  });
  await assert.rejects(
    fetch(mirror.fileUrl("data.bin"), { signal: AbortSignal.timeout(200) }),
  );
  const response = await fetch(mirror.fileUrl("data.bin"));
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  const first = await reader.read();
  assert.equal(first.value?.length, 10);
  const next = reader.read();
  const timer = new Promise((resolve) =>
    setTimeout(() => resolve("quiet"), 200)
  );
  assert.equal(await Promise.race([next, timer]), "quiet");
  await reader.cancel();
  await next.catch(() => {});
});
