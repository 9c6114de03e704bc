import assert from "node:assert/strict";
import { UsageError } from "../cli/cli_args.ts";
import { type ClientConfig, parseConfig } from "./client_args.ts";
import { DEFAULT_TIMEOUTS } from "./request_exchange.ts";

Deno.test("the client's command line gives its settings, with defaults", () => {
  assert.deepEqual(parseConfig(["servers.txt", "4", "a.bin"]), {
    serverInfo: "servers.txt",
    mirrors: [],
    connectionsPerMirror: 1,
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

function config(args: string[]): ClientConfig {
  const parsed = parseConfig(args);
  assert.ok(typeof parsed === "object", `not settings: ${parsed}`);
  return parsed;
}

Deno.test("--mirror URLs take the place of <server-info>, in the order given", () => {
  const parsed = config([
    "--mirror",
    "https://a.example/pub/",
    "4",
    "--mirror=http://127.0.0.1:8080/f.bin",
    "f.bin",
  ]);
  assert.equal(parsed.serverInfo, undefined);
  assert.deepEqual(parsed.mirrors.map((m) => m.url.href), [
    "https://a.example/pub/",
    "http://127.0.0.1:8080/f.bin",
  ]);
  assert.equal(parsed.numChunks, 4);
  assert.equal(parsed.filename, "f.bin");
  const noName = config(["--mirror", "https://a.example/f.bin", "2"]);
  assert.equal(noName.filename, undefined);
  assert.equal(noName.numChunks, 2);
});

Deno.test("--mirror with a server list as well, or a bad URL, is a usage error saying so", () => {
  const both = new UsageError(
    "--mirror takes the place of <server-info>: give the servers in a list or as --mirror URLs, not both",
  );
  assert.throws(
    () => parseConfig(["--mirror", "https://a.example/", "list.txt", "4"]),
    both,
  );
  assert.throws(
    () => parseConfig(["--mirror", "https://a.example/", "list.txt", "4", "f"]),
    both,
  );
  assert.throws(
    () => parseConfig(["--mirror", "https://a.example/f"]),
    new UsageError(
      "Expected --mirror URL ... <numchunks> [filename]: received none",
    ),
  );
  assert.throws(
    () => parseConfig(["--mirror", "ftp://a.example/f", "4"]),
    new UsageError(
      '--mirror: "ftp" URLs are not supported (only http and https): "ftp://a.example/f"',
    ),
  );
  assert.throws(
    () => parseConfig(["--mirror", "a.example", "4"]),
    new UsageError('--mirror: not a valid URL: "a.example"'),
  );
  assert.throws(
    () => parseConfig(["--mirror", "http://u:p@a.example/f", "4"]),
    new UsageError(
      '--mirror: "http://a.example/f" has credentials, which plain http would send readable; use https',
    ),
  );
  assert.throws(
    () => parseConfig(["4", "--mirror"]),
    UsageError,
  );
});

Deno.test("--connections-per-mirror takes 1 to 16, and nothing else", () => {
  assert.equal(
    config(["--connections-per-mirror", "1", "s", "4"]).connectionsPerMirror,
    1,
  );
  assert.equal(
    config(["--connections-per-mirror=16", "s", "4"]).connectionsPerMirror,
    16,
  );
  for (const bad of ["0", "17", "-1", "1.5", "x", "", "016", "4 "]) {
    assert.throws(
      () => parseConfig([`--connections-per-mirror=${bad}`, "s", "4"]),
      new UsageError(
        `--connections-per-mirror takes a whole number from 1 to 16: received "${bad}"`,
      ),
    );
  }
});

Deno.test("an option given without its value is blamed, not the positional arguments it shifted", () => {
  assert.throws(
    () => parseConfig(["--retries", "servers.txt", "4", "f.bin"]),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message ===
        '--retries takes a whole number from 0 to 999: received "servers.txt"',
  );
  assert.throws(
    () => parseConfig(["--stall-timeout", "servers.txt", "4", "f.bin"]),
    (error: unknown) =>
      error instanceof UsageError &&
      error.message.startsWith("--stall-timeout takes a number of seconds"),
  );
});
