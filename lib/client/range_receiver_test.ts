import assert from "node:assert/strict";
import { pieceSizeFor } from "./range_receiver.ts";

const KIB = 1024;
const MIB = 1024 * KIB;

Deno.test("pieces share 16 MiB of receive buffers, two per server, from 1 MiB to 4 MiB", () => {
  const blockSize = 256 * KIB;
  const length = 128 * MIB;
  assert.equal(pieceSizeFor({ blockSize, servers: 1, length }), 4 * MIB);
  assert.equal(pieceSizeFor({ blockSize, servers: 4, length }), 2 * MIB);
  assert.equal(pieceSizeFor({ blockSize, servers: 20, length }), MIB);
});

Deno.test("a piece is whole blocks, and a quarter of a short transfer at most", () => {
  assert.equal(
    pieceSizeFor({ blockSize: 256 * KIB, servers: 4, length: MIB }),
    256 * KIB,
  );
  assert.equal(
    pieceSizeFor({ blockSize: 4 * MIB, servers: 4, length: 128 * MIB }),
    4 * MIB,
  );
  assert.equal(
    pieceSizeFor({ blockSize: 64 * KIB, servers: 8, length: 128 * MIB }),
    MIB,
  );
});
