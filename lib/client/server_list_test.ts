import assert from "node:assert/strict";
import {
  dropRepeats,
  MAX_SERVERS,
  parsePort,
  parseServerList,
  ServerListError,
} from "./server_list.ts";
import { protocolServer, type ServerEntry } from "./server_entry.ts";

function server(hostname: string, port: number): ServerEntry {
  return protocolServer({ hostname, port });
}

function addressOf(entry: ServerEntry) {
  assert.equal(entry.kind, "server");
  return (entry as { address: { hostname: string; port: number } }).address;
}

function assertListError(
  text: string,
  expected: { message: string; line: number | undefined },
): void {
  assert.throws(() => parseServerList(text), (error: unknown) => {
    assert.ok(
      error instanceof ServerListError,
      `not a ServerListError: ${error}`,
    );
    assert.equal(error.name, "ServerListError");
    assert.equal(error.message, expected.message);
    assert.equal(error.line, expected.line);
    return true;
  });
}

Deno.test("a server list gives hosts and ports in file order", () => {
  const list = parseServerList(
    "127.0.0.1 30001\nlocalhost 30002\nfiles.example.com 8080\n",
  );
  assert.deepEqual(list, {
    servers: [
      server("127.0.0.1", 30001),
      server("localhost", 30002),
      server("files.example.com", 8080),
    ],
    ignored: 0,
    repeated: [],
  });
});

Deno.test("a line that repeats an earlier server or URL is dropped, and named", () => {
  const list = parseServerList(
    "127.0.0.1 30001\nhttp://m.example/f.bin\n127.0.0.1 30001\nhttp://m.example/f.bin\nhttp://m.example/\n",
  );
  assert.equal(list.servers.length, 3);
  assert.deepEqual(list.repeated, [
    { line: 3, first: 1, label: "127.0.0.1:30001" },
    { line: 4, first: 2, label: "http://m.example/f.bin" },
  ]);
});

Deno.test("a server list skips comments and blank lines", () => {
  const text = [
    "# servers for the demo",
    "",
    "   ",
    "\t",
    "  # indented comment",
    "localhost 30001   # trailing comment",
    "localhost\t30002",
    "   localhost    30003   ",
    "#localhost 30004",
  ].join("\n");
  assert.deepEqual(parseServerList(text).servers, [
    server("localhost", 30001),
    server("localhost", 30002),
    server("localhost", 30003),
  ]);
});

Deno.test("a server list accepts IPv6 with and without brackets", () => {
  const text = [
    "::1 30001",
    "[::1] 30002",
    "fe80::1%eth0 30003",
    "[2001:db8::42] 30004",
    "::ffff:127.0.0.1 30005",
  ].join("\n");
  assert.deepEqual(parseServerList(text).servers, [
    server("::1", 30001),
    server("::1", 30002),
    server("fe80::1%eth0", 30003),
    server("2001:db8::42", 30004),
    server("::ffff:127.0.0.1", 30005),
  ]);
});

Deno.test("a server list accepts host names", () => {
  const text = [
    "localhost 1",
    "a 2",
    "my-host 3",
    "srv1.example.org. 4",
    "EXAMPLE.COM 65535",
  ].join("\n");
  assert.deepEqual(
    parseServerList(text).servers.map((s) => addressOf(s).hostname),
    ["localhost", "a", "my-host", "srv1.example.org.", "EXAMPLE.COM"],
  );
});

Deno.test("a server list with CRLF line ends parses like one with LF", () => {
  const text = "# windows\r\nlocalhost 30001\r\n\r\n::1 30002\r\n";
  assert.deepEqual(parseServerList(text).servers, [
    server("localhost", 30001),
    server("::1", 30002),
  ]);
  assert.deepEqual(parseServerList("localhost 30001").servers, [
    server("localhost", 30001),
  ]);
});

Deno.test("a malformed line is reported with its line number", () => {
  const cases: [line: string, shown: string][] = [
    ["localhost", "localhost"],
    ["localhost 30001 extra", "localhost 30001 extra"],
    ["  bad_host! 30001  ", "bad_host! 30001"],
    ["-leading 30001", "-leading 30001"],
    ["[::1 30001", "[::1 30001"],
  ];
  for (const [line, shown] of cases) {
    // The bad line is line 4: after a comment, a blank line and a good line.
    const text = `# list\n\nlocalhost 1\n${line}\nlocalhost 2\n`;
    assertListError(text, {
      message:
        `Cannot parse server list: line 4 is not "host port" or a URL: received "${shown}"`,
      line: 4,
    });
  }
});

Deno.test("a malformed line is counted the same with CRLF line ends", () => {
  assertListError("localhost 1\r\n\r\nlocalhost\r\n", {
    message:
      'Cannot parse server list: line 3 is not "host port" or a URL: received "localhost"',
    line: 3,
  });
});

Deno.test("a bad port is reported with its line number", () => {
  for (
    const port of ["0", "65536", "abc", "1.5", "-1", "+80", "99999999", "0x50"]
  ) {
    assertListError(`localhost 1\nlocalhost ${port}\n`, {
      message:
        `Cannot parse server list: line 2: Port must be an integer from 1 to 65535: received "${port}"`,
      line: 2,
    });
  }
});

Deno.test("parsePort accepts 1 to 65535 and nothing else", () => {
  assert.equal(parsePort("1"), 1);
  assert.equal(parsePort("80"), 80);
  assert.equal(parsePort("65535"), 65535);
  for (const text of ["", "0", "65536", "abc", "1.5", " 80", "80 ", "1e3"]) {
    assert.throws(() => parsePort(text), {
      name: "RangeError",
      message: `Port must be an integer from 1 to 65535: received "${text}"`,
    });
  }
});

Deno.test("a server list that names no server is refused", () => {
  for (const text of ["", "\n\n", "# only a comment\n   \n", "\r\n"]) {
    assertListError(text, {
      message: "Cannot parse server list: it names no server",
      line: undefined,
    });
  }
});

Deno.test("a server list keeps the first MAX_SERVERS and counts the rest as ignored", () => {
  const lines = (count: number) =>
    Array.from({ length: count }, (_, i) => `localhost ${30001 + i}`).join(
      "\n",
    );

  const exact = parseServerList(lines(MAX_SERVERS));
  assert.equal(exact.servers.length, MAX_SERVERS);
  assert.equal(exact.ignored, 0);

  const over = parseServerList(lines(MAX_SERVERS + 7));
  assert.equal(over.servers.length, MAX_SERVERS);
  assert.equal(over.ignored, 7);
  assert.deepEqual(
    over.servers.map((s) => addressOf(s).port),
    Array.from({ length: MAX_SERVERS }, (_, i) => 30001 + i),
  );
});

Deno.test("parseServerList rejects host:port written as a host", () => {
  for (const line of ["1.2.3.4:80 30001", ": 30001", "localhost:30001 1"]) {
    assert.throws(
      () => parseServerList(`${line}\n`),
      (error: unknown) => error instanceof ServerListError && error.line === 1,
      line,
    );
  }
});

Deno.test("a server list's lines may end in LF, CR LF or CR alone", () => {
  for (const end of ["\n", "\r\n", "\r"]) {
    const list = parseServerList(
      `# servers${end}localhost 1${end}${end}::1 2${end}`,
    );
    assert.deepEqual(list.servers, [
      server("localhost", 1),
      server("::1", 2),
    ], JSON.stringify(end));
  }
  assert.throws(() => parseServerList("localhost 1\rlocalhost x\r"), {
    message:
      'Cannot parse server list: line 2: Port must be an integer from 1 to 65535: received "x"',
  });
});

function urlOf(entry: ServerEntry): string {
  assert.equal(entry.kind, "mirror");
  return (entry as { url: URL }).url.href;
}

Deno.test("a server list takes http and https URLs as mirrors, folders and files, beside host port lines", () => {
  const list = parseServerList(
    [
      "https://mirror.example.org/pub/",
      "localhost 30001",
      "http://127.0.0.1:8080/files/big.iso",
      "  https://[::1]:8443/dist/   # a comment",
      "HTTPS://Cdn.Example.COM/a%20b/c.bin?X-Amz-Signature=abc",
    ].join("\n"),
  );
  assert.deepEqual(
    list.servers.map((s) => s.kind === "server" ? addressOf(s) : urlOf(s)),
    [
      "https://mirror.example.org/pub/",
      { hostname: "localhost", port: 30001 },
      "http://127.0.0.1:8080/files/big.iso",
      "https://[::1]:8443/dist/",
      "https://cdn.example.com/a%20b/c.bin?X-Amz-Signature=abc",
    ],
  );
});

Deno.test("a URL's fragment is dropped, and https may carry credentials", () => {
  const [mirror] = parseServerList("https://user:secret@h.example/f.bin\n")
    .servers;
  assert.equal(urlOf(mirror!), "https://user:secret@h.example/f.bin");
  // Text after `#` is a comment, in a URL too.
  assert.equal(
    urlOf(parseServerList("http://h.example/f.bin#part\n").servers[0]!),
    "http://h.example/f.bin",
  );
});

Deno.test("a bad URL line is an error naming its line and what is wrong", () => {
  const cases: [line: string, message: string][] = [
    ["http://", 'line 2: not a valid URL: "http://"'],
    ["https://[::1/f", 'line 2: not a valid URL: "https://[::1/f"'],
    ["http://exa%mple.com/", 'line 2: not a valid URL: "http://exa%mple.com/"'],
    [
      "ftp://ftp.example.org/pub/f.iso",
      'line 2: "ftp" URLs are not supported (only http and https): "ftp://ftp.example.org/pub/f.iso"',
    ],
    [
      "file:///srv/files/f.iso",
      'line 2: "file" URLs are not supported (only http and https): "file:///srv/files/f.iso"',
    ],
    [
      "ftp://user:secret@ftp.example.org/f.iso",
      'line 2: "ftp" URLs are not supported (only http and https): "ftp://ftp.example.org/f.iso"',
    ],
    [
      "http://user:secret@h.example/f.iso",
      'line 2: "http://h.example/f.iso" has credentials, which plain http would send readable; use https',
    ],
    [
      "http://user@h.example/f.iso?token=x",
      'line 2: "http://h.example/f.iso?…" has credentials, which plain http would send readable; use https',
    ],
    [
      "https://h.example/files/ 8080",
      'line 2 holds more than a URL (a space in a URL is written %20): received "https://h.example/files/ 8080"',
    ],
    [
      "https://h.example/my file.iso",
      'line 2 holds more than a URL (a space in a URL is written %20): received "https://h.example/my file.iso"',
    ],
  ];
  for (const [line, message] of cases) {
    assertListError(`localhost 1\n${line}\nhttps://ok.example/\n`, {
      message: `Cannot parse server list: ${message}`,
      line: 2,
    });
  }
});

Deno.test("a line that only looks like a URL is not a host port line either", () => {
  for (const line of ["http:/h.example/f", "mailto:x@h.example"]) {
    assertListError(`${line}\n`, {
      message:
        `Cannot parse server list: line 1 is not "host port" or a URL: received "${line}"`,
      line: 1,
    });
  }
});

Deno.test("a repeated entry is dropped, with where it and the one it repeats were given", () => {
  const a = server("127.0.0.1", 1);
  const b = server("127.0.0.1", 2);
  const { distinct, repeated } = dropRepeats([
    { at: 1, entry: a },
    { at: 2, entry: b },
    { at: 3, entry: server("127.0.0.1", 1) },
  ]);
  assert.deepEqual(distinct, [a, b]);
  assert.deepEqual(repeated, [{ at: 3, first: 1, entry: a }]);
});
