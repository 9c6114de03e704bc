import assert from "node:assert/strict";
import { formatAddress } from "./address.ts";

Deno.test("formatAddress brackets IPv6 literals only", () => {
  assert.equal(
    formatAddress({ hostname: "localhost", port: 30001 }),
    "localhost:30001",
  );
  assert.equal(
    formatAddress({ hostname: "10.0.0.1", port: 80 }),
    "10.0.0.1:80",
  );
  assert.equal(formatAddress({ hostname: "::1", port: 30001 }), "[::1]:30001");
  assert.equal(
    formatAddress({ hostname: "2001:db8::42", port: 443 }),
    "[2001:db8::42]:443",
  );
});
