import assert from "node:assert/strict";
import { ProtocolError, Status } from "../wire/protocol.ts";
import { TimeoutError } from "../wire/watchdog.ts";
import {
  describeFailure,
  sizeFailureReason,
  withoutLabel,
} from "./failure_reasons.ts";
import { ServerReplyError } from "./request_exchange.ts";

const SERVER = { hostname: "127.0.0.1", port: 1 };

Deno.test("a failure is described in words, never as the system's socket error", () => {
  const cases: [unknown, string][] = [
    [
      new Deno.errors.ConnectionRefused("Connection refused (os error 111)"),
      "connection refused",
    ],
    [
      new Deno.errors.ConnectionReset(
        "Connection reset by peer (os error 104)",
      ),
      "the server closed the connection",
    ],
    [
      new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
      "the server closed the connection",
    ],
    [
      new Deno.errors.BadResource("Bad resource ID"),
      "the request was given up",
    ],
    [
      new Deno.errors.Interrupted("operation canceled"),
      "the request was given up",
    ],
    [
      new DOMException("The signal has been aborted", "AbortError"),
      "the request was given up",
    ],
  ];
  for (const [error, reason] of cases) {
    assert.equal(describeFailure(SERVER, error), `127.0.0.1:1: ${reason}`);
  }
});

Deno.test("why a server did not report a size is said in a few words", () => {
  const cases: [unknown, string][] = [
    [new ServerReplyError("not found: f.bin", Status.NOT_FOUND), "not found"],
    [
      new ServerReplyError("forbidden: outside the folder", Status.FORBIDDEN),
      "refused: outside the folder",
    ],
    [
      new ServerReplyError("server-error: disk failed", Status.SERVER_ERROR),
      "server-error: disk failed",
    ],
    [
      new ProtocolError("bad-magic", "Bad magic"),
      'wrong protocol: its reply does not start with "MSFD" (it speaks another protocol)',
    ],
    [
      new ProtocolError("bad-length", "Bad length"),
      "wrong protocol: bad length",
    ],
    [
      new Deno.errors.ConnectionRefused("Connection refused (os error 111)"),
      "connection refused",
    ],
    [new Deno.errors.ConnectionReset("reset"), "connection reset"],
    [
      new Deno.errors.UnexpectedEof("early eof"),
      "closed the connection before its reply was complete",
    ],
    [
      new TimeoutError("Timed out after 5 s while connecting"),
      "timed out after 5 s while connecting",
    ],
    [
      new Error("failed to lookup address information: nowhere"),
      "unknown host: failed to lookup address information: nowhere",
    ],
  ];
  for (const [error, reason] of cases) {
    assert.equal(sizeFailureReason(error), reason);
  }
});

Deno.test("a failure's line loses its source's label, and only that", () => {
  assert.equal(withoutLabel("h:1", "h:1: not found"), "not found");
  assert.equal(withoutLabel("h:1", "h:2: not found"), "h:2: not found");
});
