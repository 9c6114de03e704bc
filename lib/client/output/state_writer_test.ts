import assert from "node:assert/strict";
import { encodeState, loadState, STATE_SUFFIX } from "./download_state.ts";
import { saveState, StateWriter } from "./state_writer.ts";
import { withTempDir } from "../../../tests/_support/temp_dir.ts";
import { namesIn } from "../../../tests/_support/file_system.ts";
import { UNVERIFIED, VERIFIED } from "../../../tests/_support/sample_states.ts";

Deno.test("a saved state is loaded back and no temporary file stays", async () => {
  await withTempDir("state_writer_test_", async (dir) => {
    const path = `${dir}/file.bin.part${STATE_SUFFIX}`;
    await saveState(path, VERIFIED);
    assert.deepEqual(await loadState(path), VERIFIED);
    assert.deepEqual(await namesIn(dir), [`file.bin.part${STATE_SUFFIX}`]);
    assert.equal(await Deno.readTextFile(path), encodeState(VERIFIED));

    // Saving again replaces the state, also with a shorter text.
    await saveState(path, UNVERIFIED);
    assert.deepEqual(await loadState(path), UNVERIFIED);
    assert.deepEqual(await namesIn(dir), [`file.bin.part${STATE_SUFFIX}`]);
  });
});

Deno.test("saving a state into a missing folder fails and leaves nothing", async () => {
  await withTempDir("state_writer_test_", async (dir) => {
    await assert.rejects(
      saveState(`${dir}/no/such/state`, UNVERIFIED),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await namesIn(dir), []);
  });
});

Deno.test("a state writer replaces the state and keeps its temporary file allocated for the next save", async () => {
  await withTempDir("state_writer_test_", async (dir) => {
    const path = `${dir}/file.bin.part${STATE_SUFFIX}`;
    {
      using writer = new StateWriter(path);
      await writer.save(VERIFIED);
      assert.deepEqual(await loadState(path), VERIFIED);
      assert.deepEqual(await namesIn(dir), [
        `file.bin.part${STATE_SUFFIX}`,
        `file.bin.part${STATE_SUFFIX}.tmp`,
      ]);
      // The state and its reserve take the same whole units of space.
      const size = (await Deno.stat(path)).size;
      assert.equal(size % 4096, 0);
      assert.equal((await Deno.stat(`${path}.tmp`)).size, size);
      const text = await Deno.readTextFile(path);
      assert.ok(text.startsWith(encodeState(VERIFIED)));
      assert.match(text.slice(encodeState(VERIFIED).length), /^ *\n$/);

      await writer.save(UNVERIFIED);
      assert.deepEqual(await loadState(path), UNVERIFIED);
      assert.equal((await Deno.stat(path)).size, size);

      // A state longer than the reserve takes more space.
      const long = {
        ...VERIFIED,
        done: Array.from(
          { length: 300 },
          (_, i) => [i * 3000, i * 3000 + 1000] as const,
        ),
      };
      await writer.save(long);
      assert.deepEqual(await loadState(path), long);
      assert.ok((await Deno.stat(path)).size > size);
    }
    // Disposed: the reserve is gone, the state stays.
    assert.deepEqual(await namesIn(dir), [`file.bin.part${STATE_SUFFIX}`]);
  });
});

Deno.test("a state writer whose save fails leaves the previous state", async () => {
  await withTempDir("state_writer_test_", async (dir) => {
    const path = `${dir}/file${STATE_SUFFIX}`;
    using writer = new StateWriter(path);
    await writer.save(VERIFIED);
    await Deno.remove(`${path}.tmp`);
    await Deno.mkdir(`${path}.tmp/inner`, { recursive: true });
    await assert.rejects(writer.save(UNVERIFIED));
    assert.deepEqual(await loadState(path), VERIFIED);
    await Deno.remove(`${path}.tmp`, { recursive: true });
    await writer.save(UNVERIFIED);
    assert.deepEqual(await loadState(path), UNVERIFIED);
  });
});

Deno.test("saving a state never writes through a hard link at the temporary name", async () => {
  await withTempDir("state_writer_test_", async (dir) => {
    const path = `${dir}/file.bin.part${STATE_SUFFIX}`;
    await Deno.writeTextFile(`${dir}/precious`, "precious\n");
    await Deno.link(`${dir}/precious`, `${path}.tmp`);
    await saveState(path, VERIFIED);
    assert.deepEqual(await loadState(path), VERIFIED);
    assert.equal(await Deno.readTextFile(`${dir}/precious`), "precious\n");

    await Deno.link(`${dir}/precious`, `${path}.tmp`);
    {
      using writer = new StateWriter(path);
      await writer.save(UNVERIFIED);
      assert.deepEqual(await loadState(path), UNVERIFIED);
      // The reserve made by the first save, swapped for a hard link.
      await Deno.remove(`${path}.tmp`);
      await Deno.link(`${dir}/precious`, `${path}.tmp`);
      await writer.save(VERIFIED);
      assert.deepEqual(await loadState(path), VERIFIED);
      // Or given a second name.
      await Deno.link(`${path}.tmp`, `${dir}/second`);
      await writer.save(UNVERIFIED);
      assert.deepEqual(await loadState(path), UNVERIFIED);
      assert.match(await Deno.readTextFile(`${dir}/second`), /^ *\n$/);
    }
    assert.equal(await Deno.readTextFile(`${dir}/precious`), "precious\n");
    assert.equal((await Deno.lstat(`${dir}/precious`)).nlink, 1);
  });
});
