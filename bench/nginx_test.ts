import assert from "node:assert/strict";
import { nginxConfig } from "./nginx.ts";
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
