import assert from "node:assert/strict";
import { UsageError } from "../cli/cli_args.ts";
import { parseConfig } from "./client_args.ts";
import { DEFAULT_TIMEOUTS } from "./request_exchange.ts";

Deno.test("the client's command line gives its settings, with defaults", () => {
  assert.deepEqual(parseConfig(["servers.txt", "4", "a.bin"]), {
    serverInfo: "servers.txt",
    numChunks: 4,
    filename: "a.bin",
    retries: 3,
    verify: true,
    sha256: undefined,
    force: false,
    output: undefined,
    json: false,
    quiet: false,
    timeouts: { ...DEFAULT_TIMEOUTS },
  });
  assert.equal(parseConfig(["--help"]), "help");
  assert.equal(parseConfig(["--version"]), "version");
});

Deno.test("a bad numchunks, retries or digest is a usage error naming the value", () => {
  assert.throws(
    () => parseConfig(["s", "0"]),
    new UsageError(
      'numchunks must be a whole number from 1 to 10000: received "0"',
    ),
  );
  assert.throws(() => parseConfig(["s", "2", "--retries", "x"]), UsageError);
  assert.throws(() => parseConfig(["s", "2", "--sha256", "ab"]), UsageError);
  assert.throws(() => parseConfig(["s"]), UsageError);
});
