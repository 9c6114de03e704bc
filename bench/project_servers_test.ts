import assert from "node:assert/strict";
import { parseServingPort, serverInfoText } from "./project_servers.ts";

Deno.test("the server's port is read from its start line", () => {
  assert.equal(parseServingPort('Serving "/tmp/d" on 127.0.0.1:4321\n'), 4321);
  assert.equal(parseServingPort('Serving "/tmp/d" on 127.0.0.1:43'), undefined);
  assert.equal(serverInfoText([1, 2]), "127.0.0.1 1\n127.0.0.1 2\n");
});
