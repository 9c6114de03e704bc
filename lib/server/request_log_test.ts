import assert from "node:assert/strict";
import { describeEnd, formatLogLine } from "./request_log.ts";
import { Op } from "../wire/protocol.ts";
import { TimeoutError } from "../wire/watchdog.ts";

const NOW = new Date("2000-01-01T00:00:00.000Z");

Deno.test("a log line names the peer, the request, the bytes sent and how it ended", () => {
  assert.equal(
    formatLogLine({
      request: { op: Op.RANGE, name: "a b", offset: 5, length: 10 },
      bytesSent: 10,
      replied: true,
      end: { ok: true, cached: false },
    }, { peer: "127.0.0.1:4000", elapsedMs: 12.4, now: NOW }),
    '2000-01-01T00:00:00.000Z 127.0.0.1:4000 RANGE "a b" 5+10 sent=10 ok 12ms',
  );
});

Deno.test("a log line shows a size request without a range, and a cached list as cached", () => {
  const context = { peer: "[::1]:9", elapsedMs: 0, now: NOW };
  assert.equal(
    formatLogLine({
      request: { op: Op.SIZE, name: "f", offset: 0, length: 0 },
      bytesSent: 0,
      replied: true,
      end: { ok: true, cached: false },
    }, context),
    '2000-01-01T00:00:00.000Z [::1]:9 SIZE "f" sent=0 ok 0ms',
  );
  assert.equal(
    formatLogLine({
      request: { op: Op.BLOCK_HASHES, name: "f", offset: 0, length: 4096 },
      bytesSent: 32,
      replied: true,
      end: { ok: true, cached: true },
    }, context),
    '2000-01-01T00:00:00.000Z [::1]:9 BLOCK_HASHES "f" 0+4096 sent=32 ok (cached) 0ms',
  );
});

Deno.test("a log line escapes a line break in the system's message", () => {
  assert.equal(
    formatLogLine({
      bytesSent: 0,
      replied: false,
      end: { ok: false, detail: "server error: a\nb" },
    }, { peer: "127.0.0.1:1", elapsedMs: 3, now: NOW }),
    "2000-01-01T00:00:00.000Z 127.0.0.1:1 - sent=0 server error: a\\u000ab 3ms",
  );
});

Deno.test("describeEnd tells a stop, a deadline and a client leaving apart", () => {
  const request = { op: Op.RANGE, name: "f", offset: 0, length: 1 };
  const peer = "127.0.0.1:7";
  const gone = new Deno.errors.BrokenPipe("Broken pipe");
  assert.equal(
    describeEnd(gone, {
      request: undefined,
      replied: false,
      peer,
      stopping: true,
    }),
    "stopped while waiting for the request of 127.0.0.1:7",
  );
  assert.equal(
    describeEnd(gone, { request, replied: false, peer, stopping: true }),
    "stopped before replying to 127.0.0.1:7",
  );
  assert.equal(
    describeEnd(gone, { request, replied: true, peer, stopping: true }),
    "stopped during a transfer to 127.0.0.1:7",
  );
  assert.equal(
    describeEnd(new TimeoutError("Timed out after 1 s reading the request"), {
      request: undefined,
      replied: false,
      peer,
      stopping: false,
    }),
    "disconnected: Timed out after 1 s reading the request",
  );
  assert.equal(
    describeEnd(gone, {
      request: undefined,
      replied: false,
      peer,
      stopping: false,
    }),
    "disconnected: the client closed the connection before its request was complete",
  );
  assert.equal(
    describeEnd(gone, { request, replied: false, peer, stopping: false }),
    "disconnected: the client closed the connection before the reply",
  );
  assert.equal(
    describeEnd(gone, { request, replied: true, peer, stopping: false }),
    "disconnected: the client closed the connection during the transfer",
  );
});
