import assert from "node:assert/strict";
import {
  localName,
  OutputError,
  OutputFile,
  PARTIAL_SUFFIX,
} from "./output_file.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "output_file_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

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

Deno.test("an output file is written out of order and renamed when committed", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/download.bin`;
    const expected = pattern(10_000);
    const output = await OutputFile.create(path, expected.length);
    try {
      assert.equal(output.path, path);
      assert.equal(output.partialPath, path + PARTIAL_SUFFIX);
      assert.equal((await Deno.stat(output.partialPath)).size, expected.length);
      assert.equal(await exists(path), false);

      // Ranges of 1500 bytes, written last first and concurrently.
      const starts = [];
      for (let start = 0; start < expected.length; start += 1500) {
        starts.push(start);
      }
      await Promise.all(
        starts.reverse().map((start) =>
          output.writeAt(start, expected.slice(start, start + 1500))
        ),
      );
      await output.commit();
    } finally {
      output.close();
    }
    assert.deepEqual(await Deno.readFile(path), expected);
    assert.equal(await exists(path + PARTIAL_SUFFIX), false);
  });
});

Deno.test("an output file is sized on creation and unwritten bytes stay zero", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/sparse.bin`;
    const output = await OutputFile.create(path, 100);
    await output.writeAt(90, new Uint8Array(10).fill(0xaa));
    await output.commit();
    const bytes = await Deno.readFile(path);
    assert.equal(bytes.length, 100);
    assert.deepEqual(bytes.subarray(0, 90), new Uint8Array(90));
    assert.deepEqual(bytes.subarray(90), new Uint8Array(10).fill(0xaa));
  });
});

Deno.test("creating an output file truncates a stale partial file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/again.bin`;
    await Deno.writeFile(path + PARTIAL_SUFFIX, pattern(5000));
    const output = await OutputFile.create(path, 10);
    output.close();
    assert.deepEqual(
      await Deno.readFile(path + PARTIAL_SUFFIX),
      new Uint8Array(10),
    );
  });
});

Deno.test("an empty output file is committed", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/empty.bin`;
    const output = await OutputFile.create(path, 0);
    await output.commit();
    assert.equal((await Deno.stat(path)).size, 0);
  });
});

Deno.test("closing an output file without committing leaves the partial file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/abandoned.bin`;
    const output = await OutputFile.create(path, 4);
    await output.writeAt(0, new Uint8Array([1, 2, 3, 4]));
    output.close();
    output.close();
    assert.equal(await exists(path), false);
    assert.deepEqual(
      await Deno.readFile(path + PARTIAL_SUFFIX),
      new Uint8Array([1, 2, 3, 4]),
    );
  });
});

Deno.test("writing to a closed output file is an OutputError", async () => {
  await withTempDir(async (dir) => {
    const output = await OutputFile.create(`${dir}/closed.bin`, 4);
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
  await withTempDir(async (dir) => {
    const path = `${dir}/no/such/folder/file.bin`;
    await assert.rejects(OutputFile.create(path, 10), (error: unknown) => {
      assert.ok(error instanceof OutputError);
      assert.match(error.message, /^Cannot create ".*file\.bin\.part": /);
      assert.ok(error.cause instanceof Deno.errors.NotFound);
      return true;
    });
  });
});
