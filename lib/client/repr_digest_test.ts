import assert from "node:assert/strict";
import {
  announcedSha256,
  parseDigestHeader,
  parseReprDigest,
} from "./repr_digest.ts";

const DIGEST = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
const BASE64 = btoa(String.fromCharCode(...DIGEST));

Deno.test("a Repr-Digest's sha-256 member is read as 32 bytes", () => {
  assert.deepEqual(parseReprDigest(`sha-256=:${BASE64}:`), DIGEST);
  assert.deepEqual(
    parseReprDigest(`sha-512=:${btoa("x".repeat(64))}:, sha-256=:${BASE64}:`),
    DIGEST,
  );
});

Deno.test("a Repr-Digest without a valid sha-256 gives none", () => {
  assert.equal(parseReprDigest(`sha-512=:${btoa("x".repeat(64))}:`), undefined);
  assert.equal(parseReprDigest(`sha-256=:${btoa("short")}:`), undefined);
  assert.equal(parseReprDigest(`sha-256=${BASE64}`), undefined);
  assert.equal(parseReprDigest("sha-256=:not base64!:"), undefined);
  assert.equal(parseReprDigest(""), undefined);
});

Deno.test("an RFC 3230 Digest's SHA-256 is read in any case", () => {
  assert.deepEqual(parseDigestHeader(`SHA-256=${BASE64}`), DIGEST);
  assert.deepEqual(parseDigestHeader(`md5=abc, sha-256=${BASE64}`), DIGEST);
  assert.equal(parseDigestHeader("MD5=abc"), undefined);
  assert.equal(parseDigestHeader(`SHA-256=${BASE64.slice(4)}`), undefined);
});

Deno.test("a reply's Repr-Digest comes before its Digest", () => {
  const other = new Uint8Array(32).fill(1);
  const otherBase64 = btoa(String.fromCharCode(...other));
  assert.deepEqual(
    announcedSha256(
      new Headers({
        "repr-digest": `sha-256=:${BASE64}:`,
        digest: `SHA-256=${otherBase64}`,
      }),
    ),
    DIGEST,
  );
  assert.deepEqual(
    announcedSha256(new Headers({ digest: `SHA-256=${otherBase64}` })),
    other,
  );
  assert.equal(announcedSha256(new Headers()), undefined);
});
