import assert from "node:assert/strict";
import { exists, namesIn, waitFor, waitUntil } from "./file_system.ts";
import { withTempDir } from "./temp_dir.ts";

Deno.test("exists sees files, folders and dangling links, and not what is missing", async () => {
  await withTempDir("file_system_test_", async (dir) => {
    await Deno.writeTextFile(`${dir}/a`, "");
    await Deno.symlink(`${dir}/nowhere`, `${dir}/link`);
    assert.equal(await exists(`${dir}/a`), true);
    assert.equal(await exists(dir), true);
    assert.equal(await exists(`${dir}/link`), true);
    assert.equal(await exists(`${dir}/b`), false);
  });
});

Deno.test("namesIn lists a folder's names sorted", async () => {
  await withTempDir("file_system_test_", async (dir) => {
    for (const name of ["b", "c", "a"]) {
      await Deno.writeTextFile(`${dir}/${name}`, "");
    }
    assert.deepEqual(await namesIn(dir), ["a", "b", "c"]);
  });
});

Deno.test("waitFor returns once a file appears", async () => {
  await withTempDir("file_system_test_", async (dir) => {
    const timer = setTimeout(() => Deno.writeTextFileSync(`${dir}/a`, ""), 100);
    try {
      await waitFor(`${dir}/a`);
    } finally {
      clearTimeout(timer);
    }
  });
});

Deno.test("waitUntil names what never happened once the time is up", async () => {
  await assert.rejects(
    () => waitUntil(() => Promise.resolve(false), "the sky falling", 100),
    { message: "the sky falling never happened" },
  );
});
