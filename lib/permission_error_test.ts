import assert from "node:assert/strict";
import { describeDenied, notCapableIn } from "./permission_error.ts";

const client = {
  flags: "--allow-net --allow-read --allow-write",
  task: "deno task client",
};

Deno.test("a refusal names what was denied and the flag to add", () => {
  const error = new Deno.errors.NotCapable(
    'Requires write access to "out/f.bin", run again with the --allow-write flag',
  );
  assert.equal(
    describeDenied(error, client),
    'no write access to "out/f.bin": run with --allow-write (or deno task client)',
  );
});

Deno.test("a path that needs all permissions is named without a task that lacks them", () => {
  const error = new Deno.errors.NotCapable(
    'Requires all access to "/dev/shm/files", run again with the --allow-all flag',
  );
  assert.equal(
    describeDenied(error, client),
    'Deno opens "/dev/shm/files" only with all permissions (as every path under /dev): run with --allow-all, or use a folder elsewhere',
  );
});

Deno.test("a refusal in another form names every flag the program needs", () => {
  const error = new Deno.errors.NotCapable("Requires something else");
  assert.equal(
    describeDenied(error, client),
    "Requires something else: run with --allow-net --allow-read --allow-write (or deno task client)",
  );
});

Deno.test("a refusal is found behind the errors it caused", () => {
  const denied = new Deno.errors.NotCapable("Requires net access");
  const wrapped = new Error("outer", {
    cause: new Error("middle", { cause: denied }),
  });
  assert.equal(notCapableIn(wrapped), denied);
  assert.equal(notCapableIn(denied), denied);
  assert.equal(notCapableIn(new Error("plain")), undefined);
  assert.equal(notCapableIn("not an error"), undefined);
});
