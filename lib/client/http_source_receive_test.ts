import assert from "node:assert/strict";
import { HttpSource } from "./http_source.ts";
import {
  FaultMirror,
  type MirrorBehaviour,
} from "../../tests/_support/fault_mirror.ts";

const TIMEOUTS = { connectMs: 5_000, replyMs: 10_000, stallMs: 10_000 };

function fileBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 9)) & 0xff;
  return bytes;
}

/** Serves `file` on 127.0.0.1 with `206` replies to `Range` requests, each
 * body sent in writes of `writeBytes`. */
function serveRanges(file: Uint8Array<ArrayBuffer>, writeBytes: number) {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.get("range")!)!;
      const first = Number(match[1]);
      const last = Number(match[2]);
      const range = file.subarray(first, last + 1);
      let at = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= range.length) return controller.close();
          controller.enqueue(range.slice(at, at + writeBytes));
          at += writeBytes;
        },
      });
      return new Response(body, {
        status: 206,
        headers: {
          "content-range": `bytes ${first}-${last}/${file.length}`,
          "content-length": String(range.length),
        },
      });
    },
  );
}

/** A mirror whose reply to every request is `file`'s, cut or stalled as
 * `behaviour` says. */
function shortBody(file: Uint8Array, behaviour: MirrorBehaviour) {
  return FaultMirror.start({ files: { "f.bin": file }, hook: () => behaviour });
}

function source(port: number): HttpSource {
  return new HttpSource({
    url: new URL(`http://127.0.0.1:${port}/f.bin`),
    label: `127.0.0.1:${port}`,
    timeouts: TIMEOUTS,
  });
}

Deno.test("a range sent in odd-sized writes arrives whole, in pieces ending on multiples of the piece size", async () => {
  const file = fileBytes(3 * 1024 * 1024 + 777);
  await using server = serveRanges(file, 100_003);
  const offset = 12_345;
  const length = file.length - offset - 1_000;
  const received = new Uint8Array(length);
  const pieceEnds: number[] = [];
  let at = 0;
  let reads = 0;
  await source(server.addr.port).fetch({
    offset,
    length,
    fileSize: file.length,
    sink: {
      pieceBytes: 512 * 1024,
      onRead: (bytes) => reads += bytes,
      onData: (piece) => {
        received.set(piece, at);
        at += piece.length;
        pieceEnds.push(offset + at);
        return Promise.resolve();
      },
    },
  });
  assert.equal(at, length);
  assert.equal(reads, length);
  assert.deepEqual(received, file.subarray(offset, offset + length));
  for (const end of pieceEnds.slice(0, -1)) {
    assert.equal(end % (512 * 1024), 0, `a piece ends at ${end}`);
  }
});

Deno.test("a body cut short hands over the bytes that arrived before the cut, none after it, and fails the fetch", async () => {
  const file = fileBytes(1024 * 1024);
  await using server = shortBody(file, { cutAfter: 300_000 });
  let at = 0;
  const received = new Uint8Array(file.length);
  await assert.rejects(
    source(server.port).fetch({
      offset: 0,
      length: file.length,
      fileSize: file.length,
      sink: {
        pieceBytes: 256 * 1024,
        onData: (piece) => {
          received.set(piece, at);
          at += piece.length;
          return Promise.resolve();
        },
      },
    }),
    // fetch reports a body shorter than its Content-Length as an error
    // of the read.
    { name: "TypeError", message: "error reading a body from connection" },
  );
  assert.ok(at <= 300_000, `${at} bytes handed over`);
  assert.ok(at >= 256 * 1024, `${at} bytes handed over`);
  assert.deepEqual(received.subarray(0, at), file.subarray(0, at));
});

/** A sink collecting what it is handed, for a file of `size` bytes. */
function collector(size: number, pieceBytes: number) {
  const received = new Uint8Array(size);
  const state = { at: 0, read: 0 };
  const sink = {
    pieceBytes,
    onRead: (bytes: number) => state.read += bytes,
    onData: (piece: Uint8Array) => {
      received.set(piece, state.at);
      state.at += piece.length;
      return Promise.resolve();
    },
  };
  return { received, state, sink };
}

Deno.test("a fetch given up while its read waits for a silent mirror ends at once, the bytes before handed over", async () => {
  const file = fileBytes(1024 * 1024);
  await using server = shortBody(file, { stallAfter: 100_000 });
  const { received, state, sink } = collector(file.length, 64 * 1024);
  const giveUp = new AbortController();
  const fetching = source(server.port).fetch({
    offset: 0,
    length: file.length,
    fileSize: file.length,
    sink: {
      ...sink,
      onRead: (bytes) => {
        sink.onRead(bytes);
        // Everything sent has arrived: the next read waits.
        if (state.read === 100_000) setTimeout(() => giveUp.abort(), 50);
      },
    },
    signal: giveUp.signal,
  });
  const started = performance.now();
  await assert.rejects(fetching, { name: "AbortError" });
  const ms = performance.now() - started;
  // The stall deadline is 10 s: ending well before it is the abort's doing.
  assert.ok(ms < 3_000, `the fetch ended ${ms} ms after it started`);
  assert.equal(state.read, 100_000);
  assert.equal(state.at, 100_000);
  assert.deepEqual(received.subarray(0, 100_000), file.subarray(0, 100_000));
});

Deno.test("a range whose end a thief moves down ends there, without waiting for the rest of the body", async () => {
  const file = fileBytes(1024 * 1024);
  await using server = shortBody(file, { stallAfter: 300_000 });
  const { received, state, sink } = collector(file.length, 64 * 1024);
  let end = file.length;
  const started = performance.now();
  await source(server.port).fetch({
    offset: 0,
    length: file.length,
    fileSize: file.length,
    sink: {
      ...sink,
      // Moved below what has arrived already, as a thief may.
      end: () => end,
      onRead: (bytes) => {
        sink.onRead(bytes);
        if (state.read >= 200_000) end = 150_000;
      },
    },
  });
  const ms = performance.now() - started;
  assert.ok(ms < 3_000, `the fetch took ${ms} ms`);
  // Pieces are handed over whole (the sink cuts them at the range's end):
  // none starts past the new end.
  assert.ok(state.at >= 150_000, `${state.at} bytes handed over`);
  assert.ok(state.at < 150_000 + 64 * 1024, `${state.at} bytes handed over`);
  assert.deepEqual(
    received.subarray(0, state.at),
    file.subarray(0, state.at),
  );
});

Deno.test("a mirror that goes silent in the middle of a body times out after the stall deadline", async () => {
  const file = fileBytes(1024 * 1024);
  await using server = shortBody(file, { stallAfter: 300_000 });
  const { received, state, sink } = collector(file.length, 64 * 1024);
  const mirror = new HttpSource({
    url: new URL(`http://127.0.0.1:${server.port}/f.bin`),
    label: `127.0.0.1:${server.port}`,
    timeouts: { ...TIMEOUTS, stallMs: 300 },
  });
  const started = performance.now();
  await assert.rejects(
    mirror.fetch({
      offset: 0,
      length: file.length,
      fileSize: file.length,
      sink,
    }),
    {
      name: "TimeoutError",
      message: "Timed out after 0.3 s without progress while receiving data",
    },
  );
  const ms = performance.now() - started;
  assert.ok(ms >= 300 && ms < 5_000, `it timed out after ${ms} ms`);
  assert.equal(state.at, 300_000);
  assert.deepEqual(received.subarray(0, 300_000), file.subarray(0, 300_000));
});
