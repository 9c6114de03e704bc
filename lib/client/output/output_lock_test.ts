import assert from "node:assert/strict";
import { OutputLock, OutputLockedError } from "./output_lock.ts";
import { UnusableOutputError } from "./side_files.ts";
import { withTempDir } from "../../../tests/_support/temp_dir.ts";

function files(dir: string) {
  return { output: `${dir}/f.bin`, lock: `${dir}/f.bin.part.lock` };
}

Deno.test("a held output lock refuses a second holder at once, and is free again once released", async () => {
  await withTempDir("output_lock_test_", async (dir) => {
    const first = await OutputLock.acquire(files(dir));
    try {
      await assert.rejects(
        OutputLock.acquire(files(dir)),
        (error: unknown) => {
          assert.ok(error instanceof OutputLockedError);
          assert.ok(error instanceof UnusableOutputError);
          assert.equal(
            error.message,
            `Another download to "${dir}/f.bin", or to one of its side files, is running (it holds "${dir}/f.bin.part.lock"): wait for it to end, or name another output with -o`,
          );
          return true;
        },
      );
    } finally {
      await first.release();
    }
    // Its file is gone with it.
    await assert.rejects(Deno.lstat(files(dir).lock), Deno.errors.NotFound);
    await using second = await OutputLock.acquire(files(dir));
    assert.equal(second.path, files(dir).lock);
  });
});

Deno.test("a lock file left by a run that crashed is taken over", async () => {
  await withTempDir("output_lock_test_", async (dir) => {
    await Deno.writeTextFile(files(dir).lock, "");
    await using lock = await OutputLock.acquire(files(dir));
    assert.equal((await Deno.lstat(lock.path)).isFile, true);
  });
});

Deno.test("a lock file removed while held blocks no later run, which locks a new one", async () => {
  await withTempDir("output_lock_test_", async (dir) => {
    // A lock on a file that lost its name must not block the file now at
    // the path.
    await using first = await OutputLock.acquire(files(dir));
    await Deno.remove(first.path);
    await using second = await OutputLock.acquire(files(dir));
    await assert.rejects(OutputLock.acquire(files(dir)), OutputLockedError);
    assert.equal((await Deno.lstat(second.path)).isFile, true);
  });
});

Deno.test("a lock in a folder that cannot take it says why", async () => {
  await withTempDir("output_lock_test_", async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "");
    await Deno.mkdir(`${dir}/f.bin.part.lock`);
    const cases: [{ output: string; lock: string }, string][] = [
      [
        files(`${dir}/missing`),
        `Cannot write into "${dir}/missing": no such folder`,
      ],
      [
        files(`${dir}/file`),
        `Cannot write into "${dir}/file": it is not a folder`,
      ],
      [
        files(dir),
        `"${dir}/f.bin.part.lock" is a folder, where the lock of a running download goes: move it away, or name another output with -o`,
      ],
    ];
    for (const [where, message] of cases) {
      await assert.rejects(OutputLock.acquire(where), (error: unknown) => {
        assert.ok(error instanceof UnusableOutputError);
        assert.equal(error.message, message);
        return true;
      });
    }
  });
});

Deno.test("a file at the lock's name that is not empty or has other names is refused and left alone", async () => {
  await withTempDir("output_lock_test_", async (dir) => {
    const { lock } = files(dir);
    await Deno.writeTextFile(lock, "mine\n");
    await assert.rejects(
      OutputLock.acquire(files(dir)),
      (error: unknown) => {
        assert.ok(error instanceof UnusableOutputError);
        assert.equal(
          error.message,
          `"${lock}" is a file that is not empty, where the (empty) lock of a running download goes: move it away, or name another output with -o`,
        );
        return true;
      },
    );
    assert.equal(await Deno.readTextFile(lock), "mine\n");
    await Deno.remove(lock);
    await Deno.writeTextFile(`${dir}/other`, "");
    await Deno.link(`${dir}/other`, lock);
    await assert.rejects(
      OutputLock.acquire(files(dir)),
      (error: unknown) => {
        assert.ok(error instanceof UnusableOutputError);
        assert.equal(
          error.message,
          `"${lock}" has other names (hard links), where the lock of a running download goes: move it away, or name another output with -o`,
        );
        return true;
      },
    );
    assert.equal((await Deno.lstat(lock)).nlink, 2);
  });
});

Deno.test("releasing a lock leaves a file that took the lock's name meanwhile", async () => {
  await withTempDir("output_lock_test_", async (dir) => {
    const lock = await OutputLock.acquire(files(dir));
    await Deno.writeTextFile(`${dir}/new`, "someone else's");
    await Deno.rename(`${dir}/new`, lock.path);
    await lock.release();
    assert.equal(await Deno.readTextFile(lock.path), "someone else's");
  });
});
