import assert from "node:assert/strict";
import { ACCESS_LOG_FORMAT, nginxConfig, parseAccessLog } from "./nginx.ts";
import { MIB } from "./stats.ts";

Deno.test("nginx gets one server block per port, each with its rate", () => {
  const text = nginxConfig({
    prefix: "/tmp/n",
    root: "/tmp/data",
    ports: [4001, 4002],
    rates: [4 * MIB, 40 * MIB],
    user: "root",
  });
  assert.match(text, /^daemon off;$/m);
  assert.match(text, /^user root;$/m);
  assert.match(text, /^pid "\/tmp\/n\/nginx.pid";$/m);
  assert.match(text, /^ {2}sendfile on;$/m);
  assert.match(
    text,
    /listen 127\.0\.0\.1:4001;\n {4}root "\/tmp\/data";\n {4}limit_rate 4m;/,
  );
  assert.match(text, /listen 127\.0\.0\.1:4002;[^}]*limit_rate 40m;/);
});

Deno.test("nginx without rates has no limit_rate and, not root, no user", () => {
  const text = nginxConfig({
    prefix: "/tmp/n",
    root: "/tmp/data",
    ports: [4001],
    rates: [],
    user: undefined,
  });
  assert.doesNotMatch(text, /limit_rate/);
  assert.doesNotMatch(text, /^user /m);
});

Deno.test("nginx config refuses paths it cannot quote", () => {
  assert.throws(
    () =>
      nginxConfig({
        prefix: "/tmp/n",
        root: '/tmp/"x"',
        ports: [1],
        rates: [],
        user: undefined,
      }),
    TypeError,
  );
});

Deno.test("nginx has no access log unless asked for, then one naming each request's connection", () => {
  const base = {
    prefix: "/tmp/n",
    root: "/tmp/data",
    ports: [4001],
    rates: [],
    user: undefined,
  };
  assert.match(nginxConfig(base), /^ {2}access_log off;$/m);
  const text = nginxConfig({ ...base, accessLog: "/tmp/n/access.log" });
  assert.match(
    text,
    /^ {2}log_format msfd '\$server_port \$connection \$connection_requests \$status \$body_bytes_sent \$http_range';$/m,
  );
  assert.match(text, /^ {2}access_log "\/tmp\/n\/access.log" msfd;$/m);
  assert.doesNotMatch(text, /access_log off/);
});

Deno.test("nginx serves each block's own root where given, the common root past them", () => {
  const text = nginxConfig({
    prefix: "/tmp/n",
    root: "/tmp/data",
    roots: ["/tmp/other"],
    ports: [4001, 4002],
    rates: [],
    user: undefined,
  });
  assert.match(text, /listen 127\.0\.0\.1:4001;\n {4}root "\/tmp\/other";/);
  assert.match(text, /listen 127\.0\.0\.1:4002;\n {4}root "\/tmp\/data";/);
});

Deno.test("nginx with a certificate serves HTTPS on every block", () => {
  const text = nginxConfig({
    prefix: "/tmp/n",
    root: "/tmp/data",
    ports: [4001, 4002],
    rates: [],
    user: undefined,
    tls: { certificate: "/tmp/c/server.pem", key: "/tmp/c/server.key" },
  });
  for (const port of [4001, 4002]) {
    assert.match(
      text,
      new RegExp(
        `listen 127\\.0\\.0\\.1:${port} ssl;\\n {4}root "/tmp/data";\\n {4}ssl_certificate "/tmp/c/server\\.pem";\\n {4}ssl_certificate_key "/tmp/c/server\\.key";`,
      ),
    );
  }
});

Deno.test("the access log reads back as one entry per request, a missing Range as none", () => {
  assert.equal(
    ACCESS_LOG_FORMAT.split(" ").length,
    6,
    "the parser reads six fields",
  );
  assert.deepEqual(
    parseAccessLog("4001 7 2 206 1048576 bytes=0-1048575\n4001 8 1 200 5 -\n"),
    [
      {
        port: 4001,
        connection: 7,
        connectionRequests: 2,
        status: 206,
        bodyBytes: 1048576,
        range: "bytes=0-1048575",
      },
      {
        port: 4001,
        connection: 8,
        connectionRequests: 1,
        status: 200,
        bodyBytes: 5,
        range: undefined,
      },
    ],
  );
  assert.throws(() => parseAccessLog("127.0.0.1 - - [date]\n"), SyntaxError);
});
