import assert from "node:assert/strict";
import { FaultMirror } from "../../tests/_support/fault_mirror.ts";
import { randomBytes, sameBytes } from "../../tests/_support/harness.ts";
import { TimeoutError } from "../wire/watchdog.ts";
import { HttpSource, MAX_REDIRECTS } from "./http_source.ts";
import {
  HttpStatusError,
  MirrorRedirectError,
  MirrorReplyError,
  parseContentRange,
  parseRetryAfter,
} from "./http_replies.ts";
import { mirrorFailureReason } from "./failure_reasons.ts";
import { scrubUrls } from "./server_entry.ts";
import { DEFAULT_TIMEOUTS, type Timeouts } from "./request_exchange.ts";
import {
  OtherVersionError,
  SourceBusyError,
  SourceLeftOutError,
} from "./source.ts";

const FILE = randomBytes(100_000);
const NAME = "data.bin";

function source(
  url: string,
  options: { timeouts?: Timeouts; retryAfterCapMs?: number } = {},
): HttpSource {
  return new HttpSource({
    url: new URL(url),
    label: url,
    timeouts: options.timeouts ?? DEFAULT_TIMEOUTS,
    retryAfterCapMs: options.retryAfterCapMs,
  });
}

/** Fetches a range into memory; returns the bytes received. */
async function fetchRange(
  mirror: HttpSource,
  offset: number,
  length: number,
  fileSize = FILE.length,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  try {
    await mirror.fetch({
      offset,
      length,
      fileSize,
      sink: {
        onData: (piece) => {
          parts.push(piece.slice());
          return Promise.resolve();
        },
        pieceBytes: 16 * 1024,
      },
    });
  } finally {
    received = concat(parts);
  }
  return received;
}
let received: Uint8Array = new Uint8Array(0);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("a Content-Range is read only as bytes a-b/total within the total", () => {
  assert.deepEqual(parseContentRange("bytes 0-9/100"), {
    start: 0,
    end: 9,
    total: 100,
  });
  assert.deepEqual(parseContentRange("bytes 5-9/*")?.total, undefined);
  assert.equal(parseContentRange("bytes 9-5/100"), undefined);
  assert.equal(parseContentRange("bytes 0-100/100"), undefined);
  assert.equal(parseContentRange("bytes */100"), undefined);
});

Deno.test("a Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.parse("Mon, 01 Jan 2024 00:00:00 GMT");
  assert.equal(parseRetryAfter("3", now), 3000);
  assert.equal(parseRetryAfter("Mon, 01 Jan 2024 00:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Sun, 31 Dec 2023 00:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter("-1", now), undefined);
});

Deno.test("every ranged request asks bytes=a-b with Accept-Encoding identity, and the 206 is written", async () => {
  await using mirror = FaultMirror.start({ files: { [NAME]: FILE } });
  const http = source(mirror.fileUrl(NAME));
  assert.equal(await http.size(), FILE.length);
  const bytes = await fetchRange(http, 1000, 50_000);
  assert.ok(sameBytes(bytes, FILE.subarray(1000, 51_000)));
  assert.deepEqual(mirror.requests.map((r) => r.range), [
    "bytes=0-0",
    "bytes=1000-50999",
  ]);
  for (const request of mirror.requests) {
    assert.equal(request.headers.get("accept-encoding"), "identity");
  }
});

Deno.test("the size of an empty file comes from a 416 with bytes */0", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: new Uint8Array(0) },
  });
  assert.equal(await source(mirror.fileUrl(NAME)).size(), 0);
});

Deno.test("a mirror that ignores ranges reports the size from its 200's Content-Length and serves a range at 0 only", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ ignoreRange: true }),
  });
  const http = source(mirror.fileUrl(NAME));
  assert.equal(await http.size(), FILE.length);
  const first = await fetchRange(http, 0, 30_000);
  assert.ok(sameBytes(first, FILE.subarray(0, 30_000)));
  await assert.rejects(
    fetchRange(http, 30_000, 1000),
    (error) =>
      error instanceof SourceLeftOutError &&
      /ignores Range requests/.test(error.message),
  );
  // Nothing asked for the range past 0.
  assert.equal(mirror.requests.length, 2);
});

Deno.test("a 200 to a range past 0 is never written", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) => index === 0 ? undefined : { ignoreRange: true },
  });
  const http = source(mirror.fileUrl(NAME));
  await http.size();
  await assert.rejects(
    fetchRange(http, 5000, 1000),
    (error) => error instanceof SourceLeftOutError,
  );
  assert.equal(received.length, 0);
});

Deno.test("a 200 whose length is not the file's size is left out, none of it written", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ ignoreRange: true, file: { content: FILE.subarray(1) } }),
  });
  await assert.rejects(
    fetchRange(source(mirror.fileUrl(NAME)), 0, 1000),
    (error) =>
      error instanceof OtherVersionError &&
      error.message === "its file is 99999 bytes, expected 100000",
  );
  assert.equal(received.length, 0);
});

Deno.test("an HTML page sent with 200 is refused and none of it written", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ html: true }),
  });
  const http = source(mirror.fileUrl(NAME));
  await assert.rejects(
    http.size(),
    /it sent an HTML page \(200, text\/html\) instead of the file/,
  );
  await assert.rejects(
    fetchRange(http, 0, 1000),
    (error) => error instanceof SourceLeftOutError,
  );
  assert.equal(received.length, 0);
});

Deno.test("a 206 with another Content-Range is not written", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ contentRange: "bytes 0-999/100000" }),
  });
  await assert.rejects(
    fetchRange(source(mirror.fileUrl(NAME)), 1000, 1000),
    (error) =>
      error instanceof MirrorReplyError &&
      error.message === "it sent bytes 0-999 for bytes 1000-1999",
  );
  assert.equal(received.length, 0);
});

Deno.test("a 206 of a file of another size is another version", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ contentRange: "bytes 1000-1999/100001" }),
  });
  await assert.rejects(
    fetchRange(source(mirror.fileUrl(NAME)), 1000, 1000),
    (error) =>
      error instanceof OtherVersionError &&
      error.message === "its file is 100001 bytes, expected 100000",
  );
});

Deno.test("statuses map to not found, refused, changed and failover", async () => {
  const statuses = [404, 410, 401, 403, 416, 500];
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) => ({ status: statuses[index] }),
  });
  const http = source(mirror.fileUrl(NAME));
  const reasons: string[] = [];
  for (const _ of statuses) {
    await fetchRange(http, 100, 100).then(
      () => assert.fail("served"),
      (error) => {
        reasons.push(
          `${error instanceof SourceLeftOutError} ${
            mirrorFailureReason(error)
          }`,
        );
      },
    );
  }
  assert.deepEqual(reasons, [
    "true not found (404 Not Found)",
    "true not found (410 Gone)",
    "true refused (401 Unauthorized)",
    "true refused (403 Forbidden)",
    "true its file changed: bytes 100-199 are past its end (416), the file has 100000",
    "false server error (500 Internal Server Error)",
  ]);
});

Deno.test("the size lookup tells not found and refused in a few words", async () => {
  const statuses = [404, 403];
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) => ({ status: statuses[index] }),
  });
  const http = source(mirror.fileUrl(NAME));
  const reasons = [];
  for (const _ of statuses) {
    reasons.push(
      await http.size().then(String, (e) => http.describeSizeFailure(e)),
    );
  }
  assert.deepEqual(reasons, [
    `${mirror.fileUrl(NAME)}: not found (404)`,
    `${mirror.fileUrl(NAME)}: refused (403 Forbidden)`,
  ]);
});

Deno.test("while a Retry-After runs the mirror is not asked: it is busy at once, says when it is ready, and is asked again after that, capped", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) =>
      index === 0
        ? { status: 503, retryAfter: "1" }
        : index === 1
        ? { status: 429, retryAfter: "3600" }
        : undefined,
  });
  const http = source(mirror.fileUrl(NAME), { retryAfterCapMs: 300 });
  assert.equal(http.readyAt(), undefined);
  await assert.rejects(
    fetchRange(http, 0, 100),
    (error) =>
      error instanceof HttpStatusError && error.retryAfterMs === 300 &&
      error.message ===
        "busy (503 Service Unavailable), retry after 0.3 s",
  );
  const readyAt = http.readyAt()!;
  assert.ok(readyAt > performance.now() + 200);
  await assert.rejects(
    fetchRange(http, 0, 100),
    (error) =>
      error instanceof SourceBusyError && error.readyAt === readyAt &&
      /^busy: it asked to be left alone for 0\.\d s more \(Retry-After\)$/
        .test(error.message),
  );
  assert.equal(mirror.requests.length, 1);
  await new Promise((resolve) =>
    setTimeout(resolve, readyAt - performance.now() + 10)
  );
  assert.equal(http.readyAt(), undefined);
  await assert.rejects(
    fetchRange(http, 0, 100),
    /busy \(429 Too Many Requests\)/,
  );
  await new Promise((resolve) =>
    setTimeout(resolve, http.readyAt()! - performance.now() + 10)
  );
  const bytes = await fetchRange(http, 0, 100);
  assert.ok(sameBytes(bytes, FILE.subarray(0, 100)));
  const [a, b, c] = mirror.requests.map((r) => r.at);
  assert.ok(b! - a! >= 250, `asked again after ${b! - a!} ms`);
  assert.ok(c! - b! >= 250, `asked again after ${c! - b!} ms`);
});

Deno.test("a size request answered 429 or 503 with Retry-After is asked once more after the wait, capped", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) =>
      index === 0 ? { status: 429, retryAfter: "3600" } : undefined,
  });
  const http = source(mirror.fileUrl(NAME), { retryAfterCapMs: 400 });
  assert.equal(await http.size(), FILE.length);
  const [a, b] = mirror.requests.map((r) => r.at);
  assert.ok(b! - a! >= 350, `asked again after ${b! - a!} ms`);

  await using busy = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ status: 503, retryAfter: "1" }),
  });
  const always = source(busy.fileUrl(NAME), { retryAfterCapMs: 100 });
  await assert.rejects(always.size(), HttpStatusError);
  assert.equal(busy.requests.length, 2);
  // Given up during the wait: no second request.
  await using third = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ status: 503, retryAfter: "1" }),
  });
  const giveUp = new AbortController();
  const asked = source(third.fileUrl(NAME)).size(giveUp.signal);
  setTimeout(() => giveUp.abort(), 100);
  await assert.rejects(asked);
  assert.equal(third.requests.length, 1);
});

Deno.test("redirects are followed, a relative Location resolved, and the URL reached asked from then on", async () => {
  await using target = FaultMirror.start({ files: { [`b/${NAME}`]: FILE } });
  await using mirror = FaultMirror.start({
    files: {},
    hook: ({ recorded }) =>
      recorded.path === `/${NAME}`
        ? { redirect: "/step", redirectStatus: 301 }
        : { redirect: target.fileUrl(`b/${NAME}`), redirectStatus: 307 },
  });
  const http = source(mirror.fileUrl(NAME));
  assert.equal(await http.size(), FILE.length);
  assert.equal(http.url.href, target.fileUrl(`b/${NAME}`));
  const bytes = await fetchRange(http, 500, 500);
  assert.ok(sameBytes(bytes, FILE.subarray(500, 1000)));
  assert.deepEqual(mirror.requests.map((r) => r.path), [`/${NAME}`, "/step"]);
  assert.deepEqual(target.requests.map((r) => r.range), [
    "bytes=0-0",
    "bytes=500-999",
  ]);
});

Deno.test("a redirect loop and more than five redirects are clear errors", async () => {
  await using mirror = FaultMirror.start({
    files: {},
    hook: ({ recorded }) => {
      if (recorded.path.startsWith("/loop")) {
        return { redirect: recorded.path === "/loop1" ? "/loop2" : "/loop1" };
      }
      const n = Number(recorded.path.slice("/hop".length));
      return { redirect: `/hop${n + 1}` };
    },
  });
  await assert.rejects(
    source(`${mirror.url}loop1`).size(),
    (error) =>
      error instanceof MirrorRedirectError &&
      error.message ===
        `redirect loop: ${mirror.url}loop2 redirects back to ${mirror.url}loop1`,
  );
  await assert.rejects(
    source(`${mirror.url}hop0`).size(),
    (error) =>
      error instanceof MirrorRedirectError &&
      error.message ===
        `more than ${MAX_REDIRECTS} redirects (the last to ${mirror.url}hop6)`,
  );
});

Deno.test("a redirect from https to http is refused", async () => {
  // The https mirror is played by a handler: the check needs no TLS.
  const http = source("https://127.0.0.1:1/data.bin");
  const fake = new Response(null, {
    status: 302,
    headers: { location: "http://127.0.0.1:2/data.bin" },
  });
  const realFetch = globalThis.fetch;
  globalThis.fetch = () => Promise.resolve(fake);
  try {
    await assert.rejects(
      http.size(),
      (error) =>
        error instanceof MirrorRedirectError &&
        error.message ===
          "refused a redirect from https to plain http (http://127.0.0.1:2/data.bin)",
    );
  } finally {
    globalThis.fetch = realFetch;
  }
});

Deno.test("the first ETag goes back as If-Range, and a 200 to it means the file changed", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: { content: FILE, etag: '"one"' } },
    hook: ({ index }) =>
      index >= 2 ? { file: { content: FILE, etag: '"two"' } } : undefined,
  });
  const http = source(mirror.fileUrl(NAME));
  await http.size();
  await fetchRange(http, 0, 100);
  await assert.rejects(
    fetchRange(http, 100, 100),
    (error) =>
      error instanceof OtherVersionError &&
      error.message ===
        `its file changed: it sent the whole file (200) to If-Range "one", its ETag is "two" now`,
  );
  assert.equal(received.length, 0);
  assert.deepEqual(mirror.requests.map((r) => r.ifRange), [
    null,
    '"one"',
    '"one"',
  ]);
  assert.equal(http.identity().etag, '"one"');
});

Deno.test("without an ETag, Last-Modified goes back as If-Range", async () => {
  await using mirror = FaultMirror.start({
    files: {
      [NAME]: {
        content: FILE,
        etag: null,
        lastModified: "Tue, 02 Jan 2024 00:00:00 GMT",
      },
    },
  });
  const http = source(mirror.fileUrl(NAME));
  await http.size();
  await fetchRange(http, 0, 100);
  assert.equal(mirror.requests[1]!.ifRange, "Tue, 02 Jan 2024 00:00:00 GMT");
  assert.deepEqual(http.identity(), {
    etag: undefined,
    lastModified: "Tue, 02 Jan 2024 00:00:00 GMT",
    sha256: undefined,
  });
});

Deno.test("identity() gives the mirror's validators and announced SHA-256", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: { content: FILE, etag: '"v"' } },
    hook: () => ({ reprDigest: true }),
  });
  const http = source(mirror.fileUrl(NAME));
  assert.deepEqual(http.identity(), {});
  await http.size();
  const expected = new Uint8Array(
    await crypto.subtle.digest("SHA-256", FILE as Uint8Array<ArrayBuffer>),
  );
  const identity = http.identity();
  assert.equal(identity.etag, '"v"');
  assert.equal(identity.lastModified, "Mon, 01 Jan 2024 00:00:00 GMT");
  assert.deepEqual(identity.sha256, expected);
});

Deno.test("a cut body fails after the bytes received, which are valid", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) => index === 0 ? { cutAfter: 40_000 } : undefined,
  });
  const http = source(mirror.fileUrl(NAME));
  await assert.rejects(fetchRange(http, 10_000, 80_000));
  assert.ok(received.length <= 40_000);
  assert.ok(
    sameBytes(received, FILE.subarray(10_000, 10_000 + received.length)),
  );
});

Deno.test("a mirror that never answers times out after connect and reply deadlines; a stalled body after the stall deadline", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) => index === 0 ? { stall: true } : { stallAfter: 1000 },
  });
  const http = source(mirror.fileUrl(NAME), {
    timeouts: { connectMs: 100, replyMs: 200, stallMs: 300 },
  });
  await assert.rejects(
    fetchRange(http, 0, 50_000),
    (error) =>
      error instanceof TimeoutError &&
      mirrorFailureReason(error) ===
        "timed out after 0.3 s waiting for the mirror's reply",
  );
  await assert.rejects(
    fetchRange(http, 0, 50_000),
    (error) =>
      error instanceof TimeoutError &&
      mirrorFailureReason(error) ===
        "timed out after 0.3 s without progress while receiving data",
  );
});

Deno.test("a refused connection and an untrusted certificate are told in a few words", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const http = source(`http://127.0.0.1:${port}/${NAME}`);
  const refused = await http.size().then(String, (e) => e);
  assert.equal(
    http.describeSizeFailure(refused),
    `http://127.0.0.1:${port}/${NAME}: connection refused`,
  );
  const tls = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (https://x/): client error (Connect): invalid peer certificate: UnknownIssuer",
    ),
  });
  assert.equal(
    mirrorFailureReason(tls),
    "certificate not trusted: invalid peer certificate: UnknownIssuer",
  );
});

/** A TCP server that reads each request and closes the connection
 * without a reply. */
function closingServer(): { port: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const connection of listener) {
      try {
        await connection.read(new Uint8Array(4096));
      } finally {
        connection.close();
      }
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await serving;
    },
  };
}

Deno.test("a failure never shows the query string or credentials of a URL, not even where fetch's own text repeats it", async () => {
  await using closing = closingServer();
  const url =
    `http://bob:PASSWORD@127.0.0.1:${closing.port}/${NAME}?X-Amz-Signature=SECRET123`;
  const http = new HttpSource({
    url: new URL(url),
    label: `http://127.0.0.1:${closing.port}/${NAME}?…`,
    timeouts: DEFAULT_TIMEOUTS,
  });
  const sizeError = await http.size().then(String, (e) => e);
  const rangeError = await fetchRange(http, 0, 1000).then(String, (e) => e);
  const said = [
    http.describeSizeFailure(sizeError),
    http.describeFailure(rangeError),
    mirrorFailureReason(sizeError),
    sizeError instanceof Error ? sizeError.message : "",
    rangeError instanceof Error ? rangeError.message : "",
  ];
  for (const text of said) {
    assert.doesNotMatch(text, /SECRET123|PASSWORD|bob/, text);
  }
  assert.match(said[0]!, new RegExp(`127\\.0\\.0\\.1:${closing.port}/`));
});

Deno.test("URLs in a text lose their credentials and query; the text around them stays", () => {
  assert.equal(
    scrubUrls(
      "error sending request for url (https://u:p@h:1/f.bin?sig=S): eof; see http://x/a?b=c.",
    ),
    "error sending request for url (https://h:1/f.bin?…): eof; see http://x/a?….",
  );
});

Deno.test("a timeout of 0 is no deadline: a reply timeout of 0 lets a slow mirror answer, a connect timeout of 0 leaves the reply deadline", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: async () => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      return undefined;
    },
  });
  const none = source(mirror.fileUrl(NAME), {
    timeouts: { connectMs: 0, replyMs: 0, stallMs: 0 },
  });
  assert.equal(await none.size(), FILE.length);
  assert.ok(sameBytes(await fetchRange(none, 0, 5000), FILE.subarray(0, 5000)));
  const noReply = source(mirror.fileUrl(NAME), {
    timeouts: { connectMs: 100, replyMs: 0, stallMs: 100 },
  });
  assert.equal(await noReply.size(), FILE.length);
  const noConnect = source(mirror.fileUrl(NAME), {
    timeouts: { connectMs: 0, replyMs: 100, stallMs: 0 },
  });
  await assert.rejects(
    noConnect.size(),
    (error) =>
      error instanceof TimeoutError &&
      mirrorFailureReason(error) ===
        "timed out after 0.1 s waiting for the mirror's reply",
  );
});

Deno.test("a size above 2^53-1 in a Content-Range is a malformed reply of that mirror", async () => {
  assert.equal(parseContentRange("bytes 0-0/9007199254740993"), undefined);
  assert.equal(
    parseContentRange("bytes 9007199254740992-9007199254740993/*"),
    undefined,
  );
  for (const total of ["9007199254740993", "99999999999999999999999999"]) {
    await using mirror = FaultMirror.start({
      files: { [NAME]: FILE },
      hook: () => ({ contentRange: `bytes 0-0/${total}` }),
    });
    const http = source(mirror.fileUrl(NAME));
    await assert.rejects(
      http.size(),
      (error) =>
        error instanceof MirrorReplyError &&
        error.message ===
          `its 206 reply has no valid Content-Range: "bytes 0-0/${total}" (a file of more than 2^53-1 bytes cannot be real)`,
    );
  }
});

Deno.test("without an ETag, a changed Last-Modified means the mirror's file changed, none of it written", async () => {
  const other = randomBytes(FILE.length);
  await using mirror = FaultMirror.start({
    files: { [NAME]: { content: FILE, etag: null } },
    // From its third request on, other bytes under another date; it
    // ignores If-Range.
    hook: ({ index }) =>
      index >= 2
        ? {
          file: { content: other, etag: null },
          headers: { "last-modified": "Tue, 02 Jan 2024 00:00:00 GMT" },
        }
        : undefined,
  });
  const http = source(mirror.fileUrl(NAME));
  await http.size();
  await fetchRange(http, 0, 1000);
  await assert.rejects(
    fetchRange(http, 1000, 1000),
    (error) =>
      error instanceof OtherVersionError &&
      error.message ===
        "its file changed: its Last-Modified was Mon, 01 Jan 2024 00:00:00 GMT, now Tue, 02 Jan 2024 00:00:00 GMT",
  );
  assert.equal(received.length, 0);
});

Deno.test("a 206 whose Content-Length is not the range's length, or whose type is multipart, is refused and none of it written", async () => {
  await using longer = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) =>
      index === 0 ? undefined : new Response(FILE.slice(1000, 2010), {
        status: 206,
        headers: { "content-range": `bytes 1000-1999/${FILE.length}` },
      }),
  });
  const http = source(longer.fileUrl(NAME));
  await http.size();
  await assert.rejects(
    fetchRange(http, 1000, 1000),
    (error) =>
      error instanceof MirrorReplyError &&
      error.message ===
        "its 206 reply for bytes 1000-1999 has a Content-Length of 1010, not 1000",
  );
  assert.equal(received.length, 0);

  await using multipart = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: ({ index }) =>
      index === 0 ? undefined : {
        headers: { "content-type": "multipart/byteranges; boundary=B" },
      },
  });
  const parts = source(multipart.fileUrl(NAME));
  await parts.size();
  await assert.rejects(
    fetchRange(parts, 1000, 1000),
    (error) =>
      error instanceof SourceLeftOutError &&
      error.message ===
        "it sent the range as multipart/byteranges; boundary=B, not as bytes of the file",
  );
  assert.equal(received.length, 0);
});

Deno.test("a mirror that sends a Content-Encoding other than identity is left out at once", async () => {
  await using mirror = FaultMirror.start({
    files: { [NAME]: FILE },
    hook: () => ({ headers: { "content-encoding": "gzip" } }),
  });
  const http = source(mirror.fileUrl(NAME));
  await http.size();
  await assert.rejects(
    fetchRange(http, 0, 1000),
    (error) =>
      error instanceof SourceLeftOutError &&
      error.message ===
        "it sent the range encoded (gzip), not as bytes of the file",
  );
  assert.equal(received.length, 0);
});

Deno.test("a redirect to plain http with credentials, or that would send credentials to another host, is refused", async () => {
  await using target = FaultMirror.start({ files: { [NAME]: FILE } });
  const withCredentials = new URL(target.fileUrl(NAME));
  withCredentials.username = "alice";
  withCredentials.password = "SECRETPW";
  await using plain = FaultMirror.start({
    files: {},
    hook: () => ({ redirect: withCredentials.href }),
  });
  await assert.rejects(
    source(plain.fileUrl(NAME)).size(),
    (error) =>
      error instanceof MirrorRedirectError &&
      error.message ===
        `refused a redirect to plain http with credentials (${
          target.fileUrl(NAME)
        })`,
  );
  assert.equal(target.requests.length, 0);
  // Credentials of the URL asked go to its host only.
  const http = source("https://bob:PW@127.0.0.1:1/data.bin");
  const realFetch = globalThis.fetch;
  globalThis.fetch = () =>
    Promise.resolve(
      new Response(null, {
        status: 302,
        headers: { location: "https://bob:PW@127.0.0.2:3/data.bin" },
      }),
    );
  try {
    await assert.rejects(
      http.size(),
      (error) =>
        error instanceof MirrorRedirectError &&
        error.message ===
          "refused a redirect that sends credentials to another host (https://127.0.0.2:3/data.bin)",
    );
  } finally {
    globalThis.fetch = realFetch;
  }
});

Deno.test("reply deadlines that add up past a timer's longest delay do not fire at once", async () => {
  await using mirror = FaultMirror.start({ files: { [NAME]: FILE } });
  const longest = 2_147_483_000;
  const http = source(mirror.fileUrl(NAME), {
    timeouts: { connectMs: longest, replyMs: longest, stallMs: longest },
  });
  assert.equal(await http.size(), FILE.length);
  assert.deepEqual(await fetchRange(http, 10, 1000), FILE.subarray(10, 1010));
});
