import assert from "node:assert/strict";
import { placeOf } from "./source_place.ts";

Deno.test("a mirror's place is the URL it reached, a server's its label", () => {
  const reached = { label: "http://a/f", url: new URL("http://b/f#x") };
  assert.equal(placeOf(reached), "http://b/f");
  assert.equal(placeOf({ label: "127.0.0.1:9000" }), "127.0.0.1:9000");
  assert.equal(
    placeOf({ label: "x", url: new URL("http://b/f") }),
    placeOf(reached),
  );
});
