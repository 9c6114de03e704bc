import { concatBytes } from "../../lib/wire/byte_arrays.ts";
import assert from "node:assert/strict";
import { writeAll } from "../../lib/wire/exact_io.ts";
import { HEADER_LENGTH, Op, Status } from "../../lib/wire/protocol.ts";
import {
  encodeRequest,
  encodeResponse,
  readResponse,
} from "../../lib/wire/frame_codec.ts";
import { type Fault, FaultProxy } from "./fault_proxy.ts";
import {
  closedPort,
  randomBytes,
  sameBytes,
  ServerProcess,
  tempDir,
} from "./harness.ts";

const FILE_BYTES = 100_000;
const FILE_NAME = "data.bin";

/** How a connection ended, as seen by the client. */
type End = "eof" | "reset" | "deadline";

interface Exchange {
  bytes: Uint8Array;
  end: End;
  /** Milliseconds from the connect to the end. */
  elapsedMs: number;
  /** Milliseconds from the last byte received (or the connect) to the end. */
  quietMs: number;
}

/**
 * Connects to 127.0.0.1:`port`, sends `request` and reads until the peer
 * closes or `deadlineMs` passes; then closes the connection.
 */
async function exchange(
  port: number,
  request: Uint8Array,
  deadlineMs: number,
): Promise<Exchange> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"deadline">((resolve) => {
    timer = setTimeout(() => resolve("deadline"), deadlineMs);
  });
  const chunks: Uint8Array[] = [];
  let lastByteAt = started;
  let end: End;
  let closed = false;
  try {
    await writeAll(conn, request);
    const buffer = new Uint8Array(65536);
    while (true) {
      const read = conn.read(buffer);
      const n = await Promise.race([read, deadline]);
      if (n === "deadline") {
        conn.close();
        closed = true;
        // The close cancels the read; it must settle before the test ends.
        await read.catch(() => null);
        end = "deadline";
        break;
      }
      if (n === null) {
        end = "eof";
        break;
      }
      chunks.push(buffer.slice(0, n));
      lastByteAt = performance.now();
    }
  } catch (error) {
    // A peer that closes early may make the write fail, too.
    if (
      !(error instanceof Deno.errors.ConnectionReset ||
        error instanceof Deno.errors.BrokenPipe)
    ) {
      throw error;
    }
    end = "reset";
  } finally {
    clearTimeout(timer);
    if (!closed) conn.close();
  }
  const now = performance.now();
  return {
    bytes: concatBytes(chunks),
    end,
    elapsedMs: now - started,
    quietMs: now - lastByteAt,
  };
}

/** A reader over bytes already received, for `readResponse`. */
function bytesReader(bytes: Uint8Array) {
  let at = 0;
  return {
    get rest(): Uint8Array {
      return bytes.subarray(at);
    },
    read(p: Uint8Array): Promise<number | null> {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, bytes.length - at);
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

/** A server with one file, the request for all of it and the exact reply. */
interface Fixture {
  server: ServerProcess;
  file: Uint8Array;
  request: Uint8Array;
  reply: Uint8Array;
}

async function withServer(
  run: (fixture: Fixture) => Promise<void>,
): Promise<void> {
  await using root = await tempDir();
  const file = randomBytes(FILE_BYTES);
  await Deno.writeFile(`${root.path}/${FILE_NAME}`, file);
  await using server = await ServerProcess.start(root.path);
  const request = encodeRequest({
    op: Op.RANGE,
    name: FILE_NAME,
    offset: 0,
    length: FILE_BYTES,
  });
  const reply = concatBytes([
    encodeResponse({
      status: Status.OK,
      message: "",
      fileSize: FILE_BYTES,
      payloadLength: FILE_BYTES,
    }),
    file,
  ]);
  await run({ server, file, request, reply });
}

function proxyFor(
  server: ServerProcess,
  fault: (connectionIndex: number) => Fault | undefined,
): FaultProxy {
  return FaultProxy.start({ upstreamPort: server.port, fault });
}

Deno.test("proxy without a fault passes the reply through byte for byte", async () => {
  await withServer(async ({ server, file, request, reply }) => {
    await using proxy = proxyFor(server, () => undefined);
    const direct = await exchange(server.port, request, 10_000);
    const proxied = await exchange(proxy.port, request, 10_000);
    assert.equal(direct.end, "eof");
    assert.equal(proxied.end, "eof");
    assert.ok(sameBytes(direct.bytes, reply), "direct reply differs");
    assert.ok(sameBytes(proxied.bytes, direct.bytes), "proxied reply differs");
    const reader = bytesReader(proxied.bytes);
    const response = await readResponse(reader);
    assert.equal(response.status, Status.OK);
    assert.equal(response.payloadLength, FILE_BYTES);
    assert.ok(sameBytes(reader.rest, file));
    assert.equal(proxy.connections, 1);
    assert.equal(proxy.bytesToClient, reply.length);
  });
});

Deno.test("proxy passes a client's half-close on and still delivers the reply", async () => {
  await withServer(async ({ server, request, reply }) => {
    await using proxy = proxyFor(server, () => undefined);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: proxy.port,
    });
    try {
      await writeAll(conn, request);
      await conn.closeWrite();
      const chunks: Uint8Array[] = [];
      const buffer = new Uint8Array(65536);
      for (let n; (n = await conn.read(buffer)) !== null;) {
        chunks.push(buffer.slice(0, n));
      }
      assert.ok(sameBytes(concatBytes(chunks), reply));
    } finally {
      conn.close();
    }
  });
});

Deno.test("proxy lets go of the server when the client leaves mid-transfer", async () => {
  await using root = await tempDir();
  await Deno.writeFile(`${root.path}/${FILE_NAME}`, randomBytes(FILE_BYTES));
  // 100_000 bytes at 20 KiB/s would hold the serial server for 5 s.
  await using server = await ServerProcess.start(root.path, [
    "--rate-limit",
    "20K",
  ]);
  await using proxy = proxyFor(server, () => undefined);
  const request = encodeRequest({
    op: Op.RANGE,
    name: FILE_NAME,
    offset: 0,
    length: FILE_BYTES,
  });
  {
    using conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: proxy.port,
    });
    await writeAll(conn, request);
    assert.ok((await conn.read(new Uint8Array(100))) !== null);
  }
  const size = encodeRequest({
    op: Op.SIZE,
    name: FILE_NAME,
    offset: 0,
    length: 0,
  });
  const next = await exchange(server.port, size, 10_000);
  assert.equal(next.end, "eof");
  assert.equal(next.bytes[5], Status.OK);
  assert.ok(next.elapsedMs < 2500, `served after ${next.elapsedMs} ms`);
});

Deno.test("proxy numbers connections from 0 and faults only the ones it is told to", async () => {
  await withServer(async ({ server, request, reply }) => {
    const seen: number[] = [];
    await using proxy = proxyFor(server, (index) => {
      seen.push(index);
      return index === 1 ? { kind: "cut", after: 100 } : undefined;
    });
    const lengths: number[] = [];
    for (let i = 0; i < 3; i++) {
      lengths.push((await exchange(proxy.port, request, 10_000)).bytes.length);
    }
    assert.deepEqual(seen, [0, 1, 2]);
    assert.deepEqual(lengths, [reply.length, 100, reply.length]);
    assert.equal(proxy.connections, 3);
    assert.equal(proxy.bytesToClient, 2 * reply.length + 100);
  });
});

Deno.test("cut delivers exactly the bytes before it and then ends the connection", async () => {
  await withServer(async ({ server, request, reply }) => {
    const cuts = [HEADER_LENGTH + 1000, 0, 10, HEADER_LENGTH + 70_000];
    await using proxy = proxyFor(server, (index) => ({
      kind: "cut",
      after: cuts[index]!,
    }));
    for (const after of cuts) {
      const result = await exchange(proxy.port, request, 10_000);
      assert.notEqual(result.end, "deadline", `cut at ${after} did not end`);
      assert.equal(result.bytes.length, after);
      assert.ok(sameBytes(result.bytes, reply.subarray(0, after)));
      if (after < HEADER_LENGTH) {
        await assert.rejects(
          readResponse(bytesReader(result.bytes)),
          Deno.errors.UnexpectedEof,
        );
      }
    }
  });
});

Deno.test("stall delivers the bytes before it and then nothing while the connection stays open", async () => {
  await withServer(async ({ server, request, reply }) => {
    const after = HEADER_LENGTH + 5000;
    await using proxy = proxyFor(
      server,
      (index) => index === 0 ? { kind: "stall", after } : undefined,
    );
    const result = await exchange(proxy.port, request, 1000);
    assert.equal(result.end, "deadline");
    assert.equal(result.bytes.length, after);
    assert.ok(sameBytes(result.bytes, reply.subarray(0, after)));
    assert.ok(result.quietMs >= 300, `quiet for only ${result.quietMs} ms`);
    // The client left, so the proxy let go of the serial server.
    const next = await exchange(proxy.port, request, 10_000);
    assert.equal(next.end, "eof");
    assert.ok(sameBytes(next.bytes, reply));
  });
});

Deno.test("silent proxy accepts the client and never sends or connects upstream", async () => {
  await withServer(async ({ server, request }) => {
    await using proxy = proxyFor(server, () => ({ kind: "silent" }));
    const result = await exchange(proxy.port, request, 500);
    assert.equal(result.end, "deadline");
    assert.equal(result.bytes.length, 0);
    assert.equal(proxy.connections, 1);
    assert.equal(proxy.bytesToClient, 0);
    await proxy[Symbol.asyncDispose]();
    // The server logs every connection it accepts; it got none.
    assert.doesNotMatch(await server.log(), /127\.0\.0\.1:\d+ /);
  });
});

Deno.test("flip changes exactly the one byte at the offset", async () => {
  await withServer(async ({ server, request, reply }) => {
    // The second offset lies past the proxy's first 64 KiB read.
    const offsets = [HEADER_LENGTH + 777, HEADER_LENGTH + 70_001];
    await using proxy = proxyFor(server, (index) => ({
      kind: "flip",
      at: offsets[index]!,
    }));
    for (const at of offsets) {
      const result = await exchange(proxy.port, request, 10_000);
      assert.equal(result.end, "eof");
      assert.equal(result.bytes.length, reply.length);
      const differing: number[] = [];
      for (let i = 0; i < reply.length; i++) {
        if (result.bytes[i] !== reply[i]) differing.push(i);
      }
      assert.deepEqual(differing, [at]);
      assert.equal(result.bytes[at], reply[at]! ^ 0xff);
    }
  });
});

Deno.test("trickle forwards every byte at about the given rate", async () => {
  await withServer(async ({ server, request, reply }) => {
    await using proxy = proxyFor(
      server,
      () => ({ kind: "trickle", bytesPerSecond: 200_000 }),
    );
    const result = await exchange(proxy.port, request, 10_000);
    assert.equal(result.end, "eof");
    assert.ok(sameBytes(result.bytes, reply));
    // 100_024 bytes at 200_000 B/s: about half a second.
    assert.ok(
      result.elapsedMs >= 300 && result.elapsedMs <= 3000,
      `took ${Math.round(result.elapsedMs)} ms`,
    );
  });
});

Deno.test("trickle with after forwards that many bytes at once, then the rest at the given rate", async () => {
  await withServer(async ({ server, request, reply }) => {
    await using proxy = proxyFor(
      server,
      () => ({ kind: "trickle", after: 90_024, bytesPerSecond: 20_000 }),
    );
    const result = await exchange(proxy.port, request, 10_000);
    assert.equal(result.end, "eof");
    assert.ok(sameBytes(result.bytes, reply));
    // The last 10_000 bytes at 20_000 B/s: about half a second; all of it
    // at that rate would take 5 s.
    assert.ok(
      result.elapsedMs >= 300 && result.elapsedMs <= 3000,
      `took ${Math.round(result.elapsedMs)} ms`,
    );
  });
});

Deno.test("disposing the proxy closes the connections it holds open", async () => {
  await withServer(async ({ server, request }) => {
    const proxy = proxyFor(
      server,
      (index) =>
        index === 0 ? { kind: "stall", after: 100 } : { kind: "silent" },
    );
    const stalled = exchange(proxy.port, request, 10_000);
    const silent = exchange(proxy.port, request, 10_000);
    while (proxy.bytesToClient < 100 || proxy.connections < 2) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await proxy[Symbol.asyncDispose]();
    const [a, b] = await Promise.all([stalled, silent]);
    assert.notEqual(a.end, "deadline");
    assert.equal(a.bytes.length, 100);
    assert.notEqual(b.end, "deadline");
    assert.equal(b.bytes.length, 0);
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port: proxy.port }),
      Deno.errors.ConnectionRefused,
    );
  });
});

Deno.test("proxy closes the client when the server cannot be reached", async () => {
  await using proxy = FaultProxy.start({
    upstreamPort: closedPort(),
    fault: () => undefined,
  });
  const request = encodeRequest({
    op: Op.SIZE,
    name: FILE_NAME,
    offset: 0,
    length: 0,
  });
  const result = await exchange(proxy.port, request, 5000);
  assert.notEqual(result.end, "deadline");
  assert.equal(result.bytes.length, 0);
});
