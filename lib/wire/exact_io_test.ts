import assert from "node:assert/strict";
import {
  type ByteReader,
  type ByteWriter,
  isDisconnect,
  readExact,
  writeAll,
  writeAllSync,
} from "./exact_io.ts";
import { PieceReader } from "../../tests/_support/piece_reader.ts";

/** Accepts at most a few bytes per call and keeps what it got. */
class PieceWriter implements ByteWriter {
  #pieces: number[];
  #writes = 0;
  received: number[] = [];

  constructor(pieces: number[]) {
    this.#pieces = pieces;
  }

  write(p: Uint8Array): Promise<number> {
    const piece = this.#pieces[this.#writes++ % this.#pieces.length]!;
    const n = Math.min(p.length, piece);
    this.received.push(...p.subarray(0, n));
    return Promise.resolve(n);
  }

  get calls(): number {
    return this.#writes;
  }
}

function sequence(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i % 251);
}

Deno.test("readExact fills the buffer across short reads", async () => {
  const bytes = sequence(1000);
  for (const pieces of [[1], [1, 2, 3], [7], [999], [4096]]) {
    const reader = new PieceReader(bytes, pieces);
    const buffer = new Uint8Array(600);
    const result = await readExact(reader, buffer);
    assert.equal(result, buffer);
    assert.deepEqual(buffer, bytes.subarray(0, 600));
    assert.equal(reader.consumed, 600, "read past the buffer");
  }
});

Deno.test("readExact of an empty buffer reads nothing", async () => {
  const reader = new PieceReader(sequence(10), [1]);
  assert.deepEqual(
    await readExact(reader, new Uint8Array(0)),
    new Uint8Array(),
  );
  assert.equal(reader.calls, 0);
});

Deno.test("readExact reports a stream that ends early as UnexpectedEof", async () => {
  for (const available of [0, 1, 9]) {
    const reader = new PieceReader(sequence(available), [2]);
    await assert.rejects(
      readExact(reader, new Uint8Array(10)),
      (error: unknown) => {
        assert.ok(error instanceof Deno.errors.UnexpectedEof);
        assert.match(
          error.message,
          new RegExp(`after ${available} of 10 bytes`),
        );
        return true;
      },
    );
  }
});

Deno.test("readExact passes on the reader's own errors", async () => {
  const reader: ByteReader = {
    read: () => Promise.reject(new Deno.errors.ConnectionReset("reset")),
  };
  await assert.rejects(
    readExact(reader, new Uint8Array(4)),
    Deno.errors.ConnectionReset,
  );
});

Deno.test("writeAll writes everything across short writes", async () => {
  const bytes = sequence(1000);
  for (const pieces of [[1], [3, 1, 2], [64], [5000]]) {
    const writer = new PieceWriter(pieces);
    await writeAll(writer, bytes);
    assert.deepEqual(new Uint8Array(writer.received), bytes);
  }
  const oneByOne = new PieceWriter([1]);
  await writeAll(oneByOne, bytes.subarray(0, 17));
  assert.equal(oneByOne.calls, 17);
});

Deno.test("writeAll of nothing does not call write", async () => {
  const writer = new PieceWriter([1]);
  await writeAll(writer, new Uint8Array(0));
  assert.equal(writer.calls, 0);
});

Deno.test("writeAll passes on the writer's own errors", async () => {
  const writer: ByteWriter = {
    write: () => Promise.reject(new Deno.errors.BrokenPipe("gone")),
  };
  await assert.rejects(
    writeAll(writer, new Uint8Array(4)),
    Deno.errors.BrokenPipe,
  );
});

Deno.test("isDisconnect recognizes the errors of a peer that went away", () => {
  const disconnects = [
    new Deno.errors.BrokenPipe(),
    new Deno.errors.ConnectionReset(),
    new Deno.errors.ConnectionAborted(),
    new Deno.errors.NotConnected(),
    new Deno.errors.BadResource(),
    new Deno.errors.Interrupted(),
    new Deno.errors.UnexpectedEof(),
  ];
  for (const error of disconnects) {
    assert.equal(isDisconnect(error), true, error.name);
  }
});

Deno.test("isDisconnect rejects local failures and non-errors", () => {
  const others = [
    new Error("boom"),
    new TypeError("bad"),
    new RangeError("far"),
    new Deno.errors.NotFound(),
    new Deno.errors.PermissionDenied(),
    new Deno.errors.TimedOut(),
    new Deno.errors.ConnectionRefused(),
    new Deno.errors.AddrInUse(),
    "BrokenPipe",
    { name: "BrokenPipe" },
    null,
    undefined,
  ];
  for (const error of others) {
    assert.equal(isDisconnect(error), false, String(error));
  }
});

Deno.test("writeAllSync writes everything, however little each call takes", () => {
  const written: number[] = [];
  const writer = {
    calls: 0,
    writeSync(p: Uint8Array): number {
      this.calls++;
      const n = Math.min(p.length, 3);
      written.push(...p.subarray(0, n));
      return n;
    },
  };
  const bytes = Uint8Array.from({ length: 10 }, (_, i) => i);
  writeAllSync(writer, bytes);
  assert.deepEqual(written, [...bytes]);
  assert.equal(writer.calls, 4);
  writeAllSync(writer, new Uint8Array());
  assert.equal(writer.calls, 4);
});
