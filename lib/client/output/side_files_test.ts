import assert from "node:assert/strict";
import {
  checkOutputPath,
  NAME_MAX_BYTES,
  ownerLockPath,
  sideBaseName,
  sideFilePaths,
  UnusableOutputError,
} from "./side_files.ts";
import {
  ignoresFileModes,
  withTempDir,
} from "../../../tests/_support/temp_dir.ts";

const utf8 = (text: string) => new TextEncoder().encode(text).length;

/** The base names of every side file of an output. */
function sideNames(output: string): string[] {
  const { partial, state, stateTemporary, lock } = sideFilePaths(output);
  return [partial, state, stateTemporary, lock].map((path) =>
    path.slice(path.lastIndexOf("/") + 1)
  );
}

Deno.test("the side files of a short name are named after it", () => {
  assert.deepEqual(sideFilePaths("dir/sub/f.bin"), {
    output: "dir/sub/f.bin",
    partial: "dir/sub/f.bin.part",
    state: "dir/sub/f.bin.part.state",
    stateTemporary: "dir/sub/f.bin.part.state.tmp",
    lock: "dir/sub/f.bin.part.lock",
  });
  assert.equal(sideFilePaths("f.bin").partial, "f.bin.part");
  assert.equal(sideFilePaths("/f.bin").lock, "/f.bin.part.lock");
  // The longest name whose side files all fit keeps its own name.
  const longest = "x".repeat(NAME_MAX_BYTES - ".part.state.tmp".length);
  assert.equal(sideBaseName(longest), longest);
});

Deno.test("the side files of a name too long for them fit in 255 bytes, whole characters only", () => {
  const names = [
    "n".repeat(241),
    "n".repeat(251) + ".bin",
    "é".repeat(127) + "x", // 255 bytes, two per character
    "語".repeat(85), // 255 bytes, three per character
    "😀".repeat(63) + "abc", // 255 bytes, four per character (a surrogate pair)
  ];
  for (const name of names) {
    const base = sideBaseName(name);
    assert.notEqual(base, name);
    for (const side of sideNames(`dir/${name}`)) {
      assert.ok(utf8(side) <= NAME_MAX_BYTES, `${utf8(side)} bytes: ${side}`);
      // No character was cut in two.
      assert.ok(name.startsWith(base.slice(0, base.lastIndexOf("~"))));
      assert.ok(side.isWellFormed(), side);
    }
    assert.match(base, /~[0-9a-f]{16}$/);
    assert.equal(sideFilePaths(`dir/${name}`).output, `dir/${name}`);
  }
});

Deno.test("two long names that start alike get side files of their own", () => {
  const start = "s".repeat(240);
  const a = sideFilePaths(`${start}-first.bin`);
  const b = sideFilePaths(`${start}-second.bin`);
  assert.notEqual(a.partial, b.partial);
  assert.notEqual(a.lock, b.lock);
  // And the same name always gets the same ones, so a later run resumes.
  assert.deepEqual(sideFilePaths(`${start}-first.bin`), a);
});

/** Runs `checkOutputPath` on `name` in `dir`, and gives its message. */
async function refusal(
  dir: string,
  name: string,
  force = false,
): Promise<string> {
  const error = await checkOutputPath(sideFilePaths(`${dir}/${name}`), {
    force,
  }).then(() => undefined, (error) => error);
  assert.ok(error instanceof UnusableOutputError, String(error));
  return error.message.replaceAll(`${dir}/`, "");
}

Deno.test("checkOutputPath passes a free name, and side files that are regular files", async () => {
  await withTempDir("side_files_test_", async (dir) => {
    assert.deepEqual(
      await checkOutputPath(sideFilePaths(`${dir}/f.bin`), { force: false }),
      { partial: null },
    );
    for (const side of ["part", "part.state", "part.state.tmp", "part.lock"]) {
      await Deno.writeTextFile(`${dir}/f.bin.${side}`, "");
    }
    // Which file the partial one is, so no other is written into later.
    const { dev, ino } = await Deno.lstat(`${dir}/f.bin.part`);
    assert.deepEqual(
      await checkOutputPath(sideFilePaths(`${dir}/f.bin`), { force: false }),
      { partial: { dev, ino } },
    );
    await Deno.writeTextFile(`${dir}/f.bin`, "");
    await checkOutputPath(sideFilePaths(`${dir}/f.bin`), { force: true });
  });
});

Deno.test("checkOutputPath refuses an output that is a folder even with --force, or exists without it", async () => {
  await withTempDir("side_files_test_", async (dir) => {
    await Deno.mkdir(`${dir}/folder`);
    for (const force of [false, true]) {
      assert.equal(
        await refusal(dir, "folder", force),
        `"folder" is a folder: name another output with -o`,
      );
    }
    await Deno.writeTextFile(`${dir}/f.bin`, "");
    assert.equal(
      await refusal(dir, "f.bin"),
      `"f.bin" exists already: remove it, or pass --force to replace it`,
    );
  });
});

Deno.test("checkOutputPath refuses an output name longer than a file name may be", async () => {
  await withTempDir("side_files_test_", async (dir) => {
    assert.equal(
      await refusal(dir, "é".repeat(128)),
      `Cannot name the output "${
        "é".repeat(128)
      }": the name is 256 bytes long, and a file name has at most 255`,
    );
  });
});

Deno.test("checkOutputPath refuses side files that are not regular files", async () => {
  await withTempDir("side_files_test_", async (dir) => {
    const cases: [string, () => Promise<void>, string][] = [
      [
        "f.bin.part",
        () => Deno.mkdir(`${dir}/f.bin.part`),
        `"f.bin.part" is a folder, where the partial download goes: move it away, or name another output with -o`,
      ],
      [
        "f.bin.part",
        () => Deno.symlink(`${dir}/elsewhere`, `${dir}/f.bin.part`),
        `"f.bin.part" is a symbolic link, where the partial download goes: move it away, or name another output with -o`,
      ],
      [
        "f.bin.part.state",
        () => Deno.mkdir(`${dir}/f.bin.part.state`),
        `"f.bin.part.state" is a folder, where the download state goes: move it away, or name another output with -o`,
      ],
      [
        "f.bin.part.state.tmp",
        () => Deno.mkdir(`${dir}/f.bin.part.state.tmp`),
        `"f.bin.part.state.tmp" is a folder, where the download state's temporary copy goes: move it away, or name another output with -o`,
      ],
    ];
    for (const [path, make, message] of cases) {
      await make();
      assert.equal(await refusal(dir, "f.bin"), message);
      await Deno.remove(`${dir}/${path}`);
    }
  });
});

Deno.test({
  name: "checkOutputPath refuses a state file it cannot read",
  // Root reads any file.
  ignore: ignoresFileModes(),
  fn: async () => {
    await withTempDir("side_files_test_", async (dir) => {
      await Deno.writeTextFile(`${dir}/f.bin.part.state`, "{}");
      await Deno.chmod(`${dir}/f.bin.part.state`, 0o000);
      assert.equal(
        await refusal(dir, "f.bin"),
        `Cannot read the download state "f.bin.part.state": permission denied`,
      );
    });
  },
});

Deno.test("checkOutputPath refuses a partial file with other names, which a fresh start would truncate", async () => {
  await withTempDir("side_files_test_", async (dir) => {
    await Deno.writeTextFile(`${dir}/precious`, "keep me");
    await Deno.link(`${dir}/precious`, `${dir}/f.bin.part`);
    assert.equal(
      await refusal(dir, "f.bin"),
      `"f.bin.part" has other names (hard links), where the partial download goes: move it away, or name another output with -o`,
    );
  });
});

Deno.test("an output named like another download's side file takes that download's lock too", () => {
  assert.equal(ownerLockPath("dir/x.part"), "dir/x.part.lock");
  assert.equal(ownerLockPath("dir/x.part.state"), "dir/x.part.lock");
  assert.equal(ownerLockPath("x.part.state.tmp"), "x.part.lock");
  // Each is a side file of the download to x, and each of those runs holds
  // the lock the download to x holds.
  for (const side of ["partial", "state", "stateTemporary"] as const) {
    assert.equal(
      ownerLockPath(sideFilePaths("dir/x")[side]),
      sideFilePaths("dir/x").lock,
    );
  }
  // The side files of a long name, shortened.
  const long = "n".repeat(250);
  assert.equal(
    ownerLockPath(sideFilePaths(long).partial),
    sideFilePaths(long).lock,
  );
  for (
    const name of [
      "x",
      "x.bin",
      "x.part.lock",
      "x.partial",
      "x.part.tmp",
      ".part",
      "dir/.part.state",
      // No download's partial file: its side files' names would not fit.
      "n".repeat(241) + ".part",
    ]
  ) {
    assert.equal(ownerLockPath(name), undefined, name);
  }
});
