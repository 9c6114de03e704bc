import assert from "node:assert/strict";
import {
  DIGEST_BYTES,
  hashListLength,
  isStatus,
  Op,
  opName,
  Status,
  statusName,
} from "./protocol.ts";

Deno.test("every status has a name", () => {
  assert.equal(statusName(Status.OK), "ok");
  assert.equal(statusName(Status.NOT_FOUND), "not found");
  assert.equal(statusName(Status.FORBIDDEN), "forbidden");
  assert.equal(statusName(Status.BAD_REQUEST), "bad request");
  assert.equal(statusName(Status.RANGE), "range not satisfiable");
  assert.equal(statusName(Status.SERVER_ERROR), "server error");
});

Deno.test("every operation has the name the server's log shows", () => {
  assert.equal(opName(Op.SIZE), "SIZE");
  assert.equal(opName(Op.RANGE), "RANGE");
  assert.equal(opName(Op.BLOCK_HASHES), "BLOCK_HASHES");
  assert.equal(opName(Op.RANGE_HASH), "RANGE_HASH");
});

Deno.test("hashListLength accepts power-of-two block sizes within the limits", () => {
  assert.equal(hashListLength(0, 1024), 0);
  assert.equal(hashListLength(7, 1), 7 * DIGEST_BYTES);
  assert.equal(hashListLength(1024 * 1024 + 1, 1024 * 1024), 2 * DIGEST_BYTES);
  assert.equal(hashListLength(100, 3), undefined);
  assert.equal(hashListLength(100, 0), undefined);
  assert.equal(hashListLength(100, 2 ** 31), undefined);
  assert.equal(hashListLength(2 ** 40, 1), undefined);
});

Deno.test("only the protocol's status codes are statuses", () => {
  for (const status of Object.values(Status)) assert.ok(isStatus(status));
  assert.equal(isStatus(6), false);
  assert.equal(isStatus(255), false);
});
