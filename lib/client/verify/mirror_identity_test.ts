import assert from "node:assert/strict";
import { MirrorsDisagreeError } from "../download_errors.ts";
import {
  compareValidators,
  identityOf,
  settleFileDigest,
  validatorsOf,
} from "./mirror_identity.ts";

const A = "http://a/f";
const B = "http://b/f";
const C = "http://c/f";
const X = "aa".repeat(32);
const Y = "bb".repeat(32);

Deno.test("a source that says nothing of its identity has none", () => {
  assert.equal(identityOf({}), undefined);
  assert.deepEqual(identityOf({ identity: () => ({ etag: '"1"' }) }), {
    etag: '"1"',
  });
});

Deno.test("a mirror's validators are its strong ETag, Last-Modified and digest; a weak ETag is dropped", () => {
  assert.deepEqual(
    validatorsOf(A, {
      etag: '"1"',
      lastModified: "Tue, 01 Jul 2025 10:00:00 GMT",
      sha256: new Uint8Array(32).fill(0xaa),
    }),
    {
      label: A,
      etag: '"1"',
      lastModified: "Tue, 01 Jul 2025 10:00:00 GMT",
      sha256: X,
    },
  );
  assert.deepEqual(validatorsOf(A, { etag: 'W/"1"', lastModified: "T" }), {
    label: A,
    lastModified: "T",
  });
  assert.equal(validatorsOf(A, { etag: 'W/"1"' }), undefined);
  assert.equal(validatorsOf(A, {}), undefined);
});

Deno.test("validators that match on the same mirror mean the same file", () => {
  assert.deepEqual(
    compareValidators([{ label: A, etag: '"1"' }, { label: B, etag: '"9"' }], [
      { label: A, etag: '"1"' },
    ]),
    { verdict: "same" },
  );
  assert.deepEqual(
    compareValidators([{ label: A, lastModified: "T" }], [
      { label: A, lastModified: "T", etag: '"1"' },
    ]),
    { verdict: "same" },
  );
});

Deno.test("any validator that differs means the file changed, naming the mirror", () => {
  assert.deepEqual(
    compareValidators([{ label: A, etag: '"1"' }, { label: B, etag: '"2"' }], [
      { label: A, etag: '"1"' },
      { label: B, etag: '"3"' },
    ]),
    { verdict: "changed", reason: `${B}: ETag "3" (was "2")` },
  );
  assert.deepEqual(
    compareValidators([{ label: A, etag: '"1"', sha256: X }], [
      { label: A, etag: '"1"', sha256: Y },
    ]),
    { verdict: "changed", reason: `${A}: SHA-256 ${Y} (was ${X})` },
  );
  assert.deepEqual(
    compareValidators([{ label: A, lastModified: "T1" }], [
      { label: A, lastModified: "T2" },
    ]),
    { verdict: "changed", reason: `${A}: Last-Modified T2 (was T1)` },
  );
});

Deno.test("without a validator in common on some mirror, nothing is known", () => {
  assert.deepEqual(compareValidators(undefined, [{ label: A, etag: '"1"' }]), {
    verdict: "unknown",
  });
  assert.deepEqual(
    compareValidators([{ label: A, etag: '"1"' }], [{ label: B, etag: '"1"' }]),
    { verdict: "unknown" },
  );
  assert.deepEqual(
    compareValidators([{ label: A, etag: '"1"' }], [
      { label: A, lastModified: "T" },
    ]),
    { verdict: "unknown" },
  );
  assert.deepEqual(compareValidators([{ label: A, etag: '"1"' }], []), {
    verdict: "unknown",
  });
});

Deno.test("mirrors' digests that agree settle the file's digest", () => {
  assert.deepEqual(
    settleFileDigest({
      name: "f",
      labels: [A, B, C],
      digests: [X, undefined, X],
    }),
    {
      sha256: X,
      places: 2,
      from: `the Repr-Digest of ${A}, ${C}`,
      leftOut: [],
    },
  );
  assert.deepEqual(
    settleFileDigest({ name: "f", labels: [A], digests: [undefined] }),
    { leftOut: [] },
  );
});

Deno.test("a mirror whose digest the others outvote is left out", () => {
  assert.deepEqual(
    settleFileDigest({ name: "f", labels: [A, B, C], digests: [X, Y, X] }),
    {
      sha256: X,
      places: 2,
      from: `the Repr-Digest of ${A}, ${C}`,
      leftOut: [{
        index: 1,
        reason:
          `its Repr-Digest SHA-256 is ${Y}, not the ${X} of 2 other mirrors`,
      }],
    },
  );
});

Deno.test("mirrors' digests without a majority end the download", () => {
  assert.throws(
    () => settleFileDigest({ name: "f", labels: [A, B], digests: [X, Y] }),
    (error: unknown) => {
      assert.ok(error instanceof MirrorsDisagreeError);
      assert.deepEqual(error.groups, [[A], [B]]);
      assert.match(
        error.message,
        /no majority agrees on one \(their whole-file SHA-256 digests \(Repr-Digest\) differ\)/,
      );
      return true;
    },
  );
});

Deno.test("the user's --sha256 decides: a mirror that sent another digest is left out", () => {
  assert.deepEqual(
    settleFileDigest({
      name: "f",
      labels: [A, B],
      digests: [X, Y],
      sha256: Y.toUpperCase(),
    }),
    {
      leftOut: [{
        index: 0,
        reason:
          `its Repr-Digest SHA-256 is ${X}, not the ${Y} given with --sha256`,
      }],
    },
  );
});

Deno.test("mirrors at the same place send one Repr-Digest vote: one listed twice cannot outvote another", () => {
  assert.throws(
    () =>
      settleFileDigest({
        name: "f",
        labels: [A, B, C],
        places: ["L", "L", "G"],
        digests: [X, X, Y],
      }),
    (error: unknown) => {
      assert.ok(error instanceof MirrorsDisagreeError);
      assert.deepEqual(error.groups, [[A, B], [C]]);
      return true;
    },
  );
});
