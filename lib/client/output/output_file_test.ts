import assert from "node:assert/strict";
import { toHex } from "../../wire/sha256.ts";
import {
  localName,
  OutputError,
  OutputExistsError,
  OutputFile,
  PARTIAL_SUFFIX,
  pathExists,
} from "./output_file.ts";
import { sideFilePaths } from "./side_files.ts";
import { withTempDir } from "../../../tests/_support/temp_dir.ts";

function pattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + 3) % 256);
}

Deno.test("localName keeps the base name of the requested file", () => {
  assert.equal(localName("c.txt"), "c.txt");
  assert.equal(localName("a/b/c.txt"), "c.txt");
  assert.equal(localName("folder/archive.tar.gz"), "archive.tar.gz");
  assert.equal(localName(".hidden"), ".hidden");
  assert.equal(localName("..data"), "..data");
  assert.equal(localName("x/..."), "...");
  assert.equal(localName("日本/語.txt"), "語.txt");
});

Deno.test("localName refuses names without a file name part", () => {
  for (
    const name of ["", "dir/", "a/b/", "/", ".", "..", "a/.", "a/..", "../.."]
  ) {
    assert.throws(() => localName(name), {
      name: "TypeError",
      message:
        `Cannot name the output after "${name}": it has no file name part`,
    });
  }
});

Deno.test("an output file is written out of order, on this thread or not, and renamed when committed", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/download.bin`;
    const expected = pattern(10_000);
    const output = (await OutputFile.open(path, expected.length)).output;
    try {
      assert.equal(output.path, path);
      assert.equal(output.partialPath, path + PARTIAL_SUFFIX);
      assert.equal((await Deno.stat(output.partialPath)).size, expected.length);
      assert.equal(await pathExists(path), false);

      // Ranges of 1500 bytes, written last first and concurrently.
      const starts = [];
      for (let start = 0; start < expected.length; start += 1500) {
        starts.push(start);
      }
      // Half of them on this thread.
      await Promise.all(
        starts.reverse().map((start, i) =>
          output.writeAt(start, expected.slice(start, start + 1500), {
            onThisThread: i % 2 === 0,
          })
        ),
      );
      await output.commit();
    } finally {
      output.close();
    }
    assert.deepEqual(await Deno.readFile(path), expected);
    assert.equal(await pathExists(path + PARTIAL_SUFFIX), false);
  });
});

Deno.test("an output file is sized on creation and unwritten bytes stay zero", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/sparse.bin`;
    const output = (await OutputFile.open(path, 100)).output;
    await output.writeAt(90, new Uint8Array(10).fill(0xaa));
    await output.commit();
    const bytes = await Deno.readFile(path);
    assert.equal(bytes.length, 100);
    assert.deepEqual(bytes.subarray(0, 90), new Uint8Array(90));
    assert.deepEqual(bytes.subarray(90), new Uint8Array(10).fill(0xaa));
  });
});

Deno.test("creating an output file truncates a stale partial file", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/again.bin`;
    await Deno.writeFile(path + PARTIAL_SUFFIX, pattern(5000));
    const output = (await OutputFile.open(path, 10)).output;
    output.close();
    assert.deepEqual(
      await Deno.readFile(path + PARTIAL_SUFFIX),
      new Uint8Array(10),
    );
  });
});

Deno.test("an empty output file is committed", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/empty.bin`;
    const output = (await OutputFile.open(path, 0)).output;
    await output.commit();
    assert.equal((await Deno.stat(path)).size, 0);
  });
});

Deno.test("closing an output file without committing leaves the partial file", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/abandoned.bin`;
    const output = (await OutputFile.open(path, 4)).output;
    await output.writeAt(0, new Uint8Array([1, 2, 3, 4]));
    output.close();
    output.close();
    assert.equal(await pathExists(path), false);
    assert.deepEqual(
      await Deno.readFile(path + PARTIAL_SUFFIX),
      new Uint8Array([1, 2, 3, 4]),
    );
  });
});

Deno.test("writing to a closed output file is an OutputError", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const output = (await OutputFile.open(`${dir}/closed.bin`, 4)).output;
    output.close();
    await assert.rejects(
      output.writeAt(2, new Uint8Array([1])),
      (error: unknown) => {
        assert.ok(error instanceof OutputError);
        assert.equal(error.name, "OutputError");
        assert.match(
          error.message,
          /^Cannot write to ".*closed\.bin\.part" at byte 2: /,
        );
        assert.ok(error.cause instanceof Error);
        return true;
      },
    );
  });
});

Deno.test("an output file in a missing folder cannot be created", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/no/such/folder/file.bin`;
    await assert.rejects(
      OutputFile.open(path, 10),
      (error: unknown) => {
        assert.ok(error instanceof OutputError);
        assert.match(error.message, /^Cannot create ".*file\.bin\.part": /);
        assert.ok(error.cause instanceof Deno.errors.NotFound);
        return true;
      },
    );
  });
});

Deno.test("a partial file that cannot be sized is not left behind, empty", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/file.bin`;
    await assert.rejects(
      OutputFile.open(path, Number.MAX_SAFE_INTEGER),
      (error: unknown) => {
        assert.ok(error instanceof OutputError);
        assert.match(error.message, /^Cannot size ".*file\.bin\.part" to /);
        return true;
      },
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  });
});

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return toHex(digest);
}

Deno.test("resuming keeps a partial file of the right size", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/resume.bin`;
    const before = pattern(3000);
    await Deno.writeFile(path + PARTIAL_SUFFIX, before);
    const { output, resumed } = await OutputFile.open(path, 3000, {
      resume: true,
    });
    try {
      assert.equal(resumed, true);
      assert.equal(output.partialPath, path + PARTIAL_SUFFIX);
      assert.deepEqual(await Deno.readFile(output.partialPath), before);
      // Writing goes on over the kept bytes.
      await output.writeAt(1000, new Uint8Array(10).fill(0xee));
      await output.sync();
    } finally {
      output.close();
    }
    const after = before.slice();
    after.fill(0xee, 1000, 1010);
    assert.deepEqual(await Deno.readFile(path + PARTIAL_SUFFIX), after);
  });
});

Deno.test("resuming recreates a partial file of another size", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/resize.bin`;
    for (const size of [10, 5000, 0]) {
      await Deno.writeFile(path + PARTIAL_SUFFIX, pattern(3000));
      const { output, resumed } = await OutputFile.open(path, size, {
        resume: true,
      });
      output.close();
      assert.equal(resumed, false, `size ${size}`);
      assert.deepEqual(
        await Deno.readFile(path + PARTIAL_SUFFIX),
        new Uint8Array(size),
        `size ${size}`,
      );
    }
  });
});

Deno.test("resuming without a partial file creates one", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/fresh.bin`;
    const { output, resumed } = await OutputFile.open(path, 100, {
      resume: true,
    });
    output.close();
    assert.equal(resumed, false);
    assert.deepEqual(
      await Deno.readFile(path + PARTIAL_SUFFIX),
      new Uint8Array(100),
    );
  });
});

Deno.test("opening without resume truncates a partial file of the right size", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/restart.bin`;
    await Deno.writeFile(path + PARTIAL_SUFFIX, pattern(100));
    for (const resume of [false, undefined]) {
      const { output, resumed } = await OutputFile.open(path, 100, { resume });
      output.close();
      assert.equal(resumed, false);
      assert.deepEqual(
        await Deno.readFile(path + PARTIAL_SUFFIX),
        new Uint8Array(100),
      );
    }
  });
});

Deno.test("resuming over a folder named like the partial file is an OutputError", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/folder.bin`;
    await Deno.mkdir(path + PARTIAL_SUFFIX);
    await assert.rejects(
      OutputFile.open(path, 10, { resume: true }),
      (error: unknown) => {
        assert.ok(error instanceof OutputError);
        assert.match(error.message, /^Cannot open ".*folder\.bin\.part": /);
        return true;
      },
    );
  });
});

Deno.test("sync flushes what was written", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/synced.bin`;
    const output = (await OutputFile.open(path, 8)).output;
    try {
      await output.writeAt(2, new Uint8Array([1, 2, 3]));
      await output.sync();
      assert.deepEqual(
        await Deno.readFile(output.partialPath),
        new Uint8Array([0, 0, 1, 2, 3, 0, 0, 0]),
      );
      await output.sync();
    } finally {
      output.close();
    }
  });
});

Deno.test("syncing a closed output file is an OutputError", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const output = (await OutputFile.open(`${dir}/closed.bin`, 4)).output;
    output.close();
    await assert.rejects(output.sync(), (error: unknown) => {
      assert.ok(error instanceof OutputError);
      assert.match(error.message, /^Cannot flush ".*closed\.bin\.part": /);
      assert.ok(error.cause instanceof Error);
      return true;
    });
  });
});

Deno.test("sha256 gives the hex digest of the file as written", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/hashed.bin`;
    // Larger than the read buffer, so it is read in several pieces.
    const expected = pattern(2 * 1024 * 1024 + 17);
    const output = (await OutputFile.open(path, expected.length)).output;
    try {
      assert.equal(
        await output.sha256(),
        await sha256Hex(new Uint8Array(expected.length)),
      );
      await output.writeAt(1_000_000, expected.subarray(1_000_000));
      await output.writeAt(0, expected.subarray(0, 1_000_000));
      assert.equal(await output.sha256(), await sha256Hex(expected));
      // Writing after hashing still goes where it is told.
      await output.writeAt(0, new Uint8Array([expected[0]! ^ 1]));
      const changed = expected.slice();
      changed[0] = expected[0]! ^ 1;
      assert.equal(await output.sha256(), await sha256Hex(changed));
    } finally {
      output.close();
    }
  });
});

Deno.test("sha256 of an empty output file is the digest of nothing", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const output = (await OutputFile.open(`${dir}/empty.bin`, 0)).output;
    try {
      assert.equal(
        await output.sha256(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      );
    } finally {
      output.close();
    }
  });
});

Deno.test("sha256 of a resumed file covers the kept bytes", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/kept.bin`;
    const bytes = pattern(4096);
    await Deno.writeFile(path + PARTIAL_SUFFIX, bytes);
    const { output, resumed } = await OutputFile.open(path, bytes.length, {
      resume: true,
    });
    try {
      assert.equal(resumed, true);
      assert.equal(await output.sha256(), await sha256Hex(bytes));
    } finally {
      output.close();
    }
  });
});

Deno.test("hashing a closed output file is an OutputError", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const output = (await OutputFile.open(`${dir}/closed.bin`, 4)).output;
    output.close();
    await assert.rejects(output.sha256(), (error: unknown) => {
      assert.ok(error instanceof OutputError);
      assert.match(error.message, /^Cannot read back ".*closed\.bin\.part": /);
      return true;
    });
  });
});

Deno.test("committing never replaces a file that took the final name, unless told to", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/download.bin`;
    const output = (await OutputFile.open(path, 4)).output;
    try {
      await output.writeAt(0, pattern(4));
      await Deno.writeTextFile(path, "someone else's");
      await assert.rejects(output.commit(), (error: unknown) => {
        assert.ok(error instanceof OutputExistsError);
        assert.equal(
          error.message,
          `"${path}" appeared while the file was downloaded`,
        );
        assert.equal(error.partialPath, `${path}${PARTIAL_SUFFIX}`);
        return true;
      });
      assert.equal(await Deno.readTextFile(path), "someone else's");
      assert.deepEqual(await Deno.readFile(output.partialPath), pattern(4));
    } finally {
      output.close();
    }
    const again = (await OutputFile.open(path, 4, { resume: true })).output;
    try {
      await again.commit({ replace: true });
    } finally {
      again.close();
    }
    assert.deepEqual(await Deno.readFile(path), pattern(4));
    assert.equal(await pathExists(`${path}${PARTIAL_SUFFIX}`), false);
  });
});

Deno.test("a committed file has one name: the partial one is gone", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/download.bin`;
    const output = (await OutputFile.open(path, 3)).output;
    await output.commit();
    assert.equal((await Deno.stat(path)).nlink, 1);
    assert.equal(await pathExists(`${path}${PARTIAL_SUFFIX}`), false);
  });
});

Deno.test("the partial file of a name too long for its side files has a shortened name", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/${"語".repeat(85)}`;
    const output = (await OutputFile.open(path, 5)).output;
    try {
      assert.equal(output.partialPath, sideFilePaths(path).partial);
      await output.writeAt(0, pattern(5));
      await output.commit();
    } finally {
      output.close();
    }
    assert.deepEqual(await Deno.readFile(path), pattern(5));
  });
});

Deno.test("committing refuses a partial file that was replaced or removed during the download", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/download.bin`;
    for (const replace of [false, true]) {
      const output = (await OutputFile.open(path, 4)).output;
      try {
        await output.writeAt(0, pattern(4));
        await Deno.writeTextFile(`${dir}/other`, "another run's");
        await Deno.rename(`${dir}/other`, output.partialPath);
        await assert.rejects(output.commit({ replace }), {
          name: "OutputError",
          message:
            `Cannot finish "${path}": "${output.partialPath}" was replaced by another file during the download`,
        });
        assert.equal(await pathExists(path), false);
        assert.equal(
          await Deno.readTextFile(output.partialPath),
          "another run's",
        );
      } finally {
        output.close();
      }
    }
    const output = (await OutputFile.open(path, 4)).output;
    try {
      await Deno.remove(output.partialPath);
      await assert.rejects(output.commit(), {
        name: "OutputError",
        message:
          `Cannot finish "${path}": "${output.partialPath}" was removed during the download`,
      });
      assert.equal(await pathExists(path), false);
    } finally {
      output.close();
    }
  });
});

Deno.test("a partial file that appeared after the checks is never written into", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/f.bin`;
    const partial = sideFilePaths(path).partial;
    const appeared = (file: string) =>
      `"${file}" appeared during the download, where the partial download goes: it is left alone; move it away, and run the same command again`;
    // The checks found none.
    await Deno.writeTextFile(partial, "saved by another run");
    for (const resume of [false, true]) {
      await assert.rejects(OutputFile.open(path, 20, { resume, found: null }), {
        name: "OutputError",
        message: appeared(partial),
      });
    }
    assert.equal(await Deno.readTextFile(partial), "saved by another run");
    // The checks found another file.
    await Deno.writeTextFile(`${dir}/checked`, "");
    const { dev, ino } = await Deno.lstat(`${dir}/checked`);
    for (const resume of [false, true]) {
      await assert.rejects(
        OutputFile.open(path, 20, { resume, found: { dev, ino } }),
        { name: "OutputError", message: appeared(partial) },
      );
    }
    assert.equal(await Deno.readTextFile(partial), "saved by another run");
  });
});

Deno.test("the partial file the checks found is emptied on a fresh start, kept on resume, and refused once it has other names", async () => {
  await withTempDir("output_file_test_", async (dir) => {
    const path = `${dir}/f.bin`;
    const partial = sideFilePaths(path).partial;
    await Deno.writeFile(partial, pattern(8));
    const { dev, ino } = await Deno.lstat(partial);
    const found = { dev, ino };
    {
      const { output, resumed } = await OutputFile.open(path, 8, {
        resume: true,
        found,
      });
      output.close();
      assert.equal(resumed, true);
      assert.deepEqual(await Deno.readFile(partial), pattern(8));
    }
    {
      const { output, resumed } = await OutputFile.open(path, 8, { found });
      output.close();
      assert.equal(resumed, false);
      assert.deepEqual(await Deno.readFile(partial), new Uint8Array(8));
      assert.equal((await Deno.lstat(partial)).ino, ino);
    }
    await Deno.writeFile(partial, pattern(8));
    await Deno.link(partial, `${dir}/other name`);
    for (const resume of [false, true]) {
      await assert.rejects(OutputFile.open(path, 8, { resume, found }), {
        name: "OutputError",
        message:
          `"${partial}" has other names (hard links), where the partial download goes: it is left alone; move it away, and run the same command again`,
      });
    }
    assert.deepEqual(await Deno.readFile(`${dir}/other name`), pattern(8));
    // Gone since the checks: a new one is made.
    await Deno.remove(partial);
    const { output } = await OutputFile.open(path, 8, { found });
    output.close();
    assert.deepEqual(await Deno.readFile(partial), new Uint8Array(8));
  });
});
