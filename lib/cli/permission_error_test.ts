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
    'Deno opens "/dev/shm/files" only with all permissions (as paths under /dev): run with --allow-all, or use a folder elsewhere',
  );
});

Deno.test("a path under /proc or /sys that needs all permissions is said to be under that folder", () => {
  for (const [path, folder] of [["/proc/x", "/proc"], ["/sys", "/sys"]]) {
    const error = new Deno.errors.NotCapable(
      `Requires all access to "${path}", run again with the --allow-all flag`,
    );
    assert.equal(
      describeDenied(error, client),
      `Deno opens "${path}" only with all permissions (as paths under ${folder}): run with --allow-all, or use a folder elsewhere`,
    );
  }
  const elsewhere = new Deno.errors.NotCapable(
    'Requires all access to "x", run again with the --allow-all flag',
  );
  assert.equal(
    describeDenied(elsewhere, client),
    'Deno opens "x" only with all permissions (as paths under /dev, /proc and /sys): run with --allow-all, or use a folder elsewhere',
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
