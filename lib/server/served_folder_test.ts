import assert from "node:assert/strict";
import { readExact } from "../wire/exact_io.ts";
import { Status } from "../wire/protocol.ts";
import { FileAccessError, ServedFolder } from "./served_folder.ts";

/**
 * Builds `base/served` (the served folder) next to `base/outside`, runs `fn`
 * and removes both.
 */
async function withFolder(
  fn: (
    folder: ServedFolder,
    dirs: { root: string; base: string },
  ) => void | Promise<void>,
): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "served_folder_test_" });
  try {
    const root = `${base}/served`;
    await Deno.mkdir(`${root}/sub/deeper`, { recursive: true });
    await Deno.mkdir(`${root}/dir`);
    await Deno.mkdir(`${base}/outside`);
    await Deno.writeTextFile(`${root}/a.txt`, "hello");
    await Deno.writeTextFile(`${root}/empty.txt`, "");
    await Deno.writeTextFile(`${root}/..data`, "dots");
    await Deno.writeTextFile(`${root}/sub/b.txt`, "world!");
    await Deno.writeTextFile(`${root}/sub/deeper/c.txt`, "deep");
    await Deno.writeTextFile(`${base}/outside/secret.txt`, "secret");
    await Deno.symlink("a.txt", `${root}/link-in`);
    await Deno.symlink(`${root}/sub/b.txt`, `${root}/link-in-absolute`);
    await Deno.symlink("../a.txt", `${root}/sub/link-up`);
    await Deno.symlink("sub", `${root}/link-sub`);
    await Deno.symlink("../outside/secret.txt", `${root}/link-out`);
    await Deno.symlink(`${base}/outside`, `${root}/link-out-dir`);
    await Deno.symlink(
      `${base}/outside/secret.txt`,
      `${root}/link-out-absolute`,
    );
    // A sibling whose path starts with the served folder's path.
    await Deno.mkdir(`${base}/served-other`);
    await Deno.writeTextFile(`${base}/served-other/secret.txt`, "secret");
    await Deno.symlink("../served-other/secret.txt", `${root}/link-sibling`);
    await Deno.symlink("dir", `${root}/link-dir`);
    await Deno.symlink("missing.txt", `${root}/link-broken`);
    await Deno.symlink("loop-b", `${root}/loop-a`);
    await Deno.symlink("loop-a", `${root}/loop-b`);
    await fn(await ServedFolder.open(root), { root, base });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

async function assertServes(
  folder: ServedFolder,
  name: string,
  content: string,
): Promise<void> {
  using served = folder.openFile(name);
  assert.equal(served.size, new TextEncoder().encode(content).length, name);
  const bytes = await readExact(served.file, new Uint8Array(served.size));
  assert.equal(new TextDecoder().decode(bytes), content, name);
  assert.equal(await served.file.read(new Uint8Array(1)), null, name);
}

function assertRefused(
  folder: ServedFolder,
  name: string,
  status: Status,
  message?: string,
): void {
  assert.throws(() => folder.openFile(name), (error: unknown) => {
    assert.ok(error instanceof FileAccessError, `${name}: ${error}`);
    assert.equal(error.name, "FileAccessError");
    assert.equal(error.status, status, `status for "${name}"`);
    if (message !== undefined) assert.equal(error.message, message);
    return true;
  });
}

Deno.test("a served folder is opened at its canonical path", async () => {
  await withFolder(async (folder, { root }) => {
    assert.equal(folder.root, await Deno.realPath(root));
    const again = await ServedFolder.open(`${root}/sub/..`);
    assert.equal(again.root, folder.root);
  });
});

Deno.test("a served folder must be an existing folder", async () => {
  await withFolder(async (_, { root }) => {
    await assert.rejects(
      ServedFolder.open(`${root}/a.txt`),
      {
        name: "TypeError",
        message: `"${root}/a.txt" is not a folder`,
      },
    );
    await assert.rejects(
      ServedFolder.open(`${root}/nothing`),
      Deno.errors.NotFound,
    );
  });
});

Deno.test("a served folder serves regular files, also in subfolders", async () => {
  await withFolder(async (folder) => {
    await assertServes(folder, "a.txt", "hello");
    await assertServes(folder, "empty.txt", "");
    await assertServes(folder, "sub/b.txt", "world!");
    await assertServes(folder, "sub/deeper/c.txt", "deep");
    await assertServes(folder, "sub//b.txt", "world!");
    await assertServes(folder, "./a.txt", "hello");
    // Starts with two dots but is not a ".." segment.
    await assertServes(folder, "..data", "dots");
  });
});

Deno.test("a served folder follows symbolic links that stay inside it", async () => {
  await withFolder(async (folder) => {
    await assertServes(folder, "link-in", "hello");
    await assertServes(folder, "link-in-absolute", "world!");
    await assertServes(folder, "sub/link-up", "hello");
    await assertServes(folder, "link-sub/b.txt", "world!");
  });
});

Deno.test("a served folder refuses absolute names", async () => {
  await withFolder((folder, { root }) => {
    assertRefused(
      folder,
      "/etc/passwd",
      Status.FORBIDDEN,
      'Absolute names are not served: "/etc/passwd"',
    );
    // Even one that leads to a file inside the folder.
    assertRefused(folder, `${root}/a.txt`, Status.FORBIDDEN);
  });
});

Deno.test("a served folder refuses names with .. segments", async () => {
  await withFolder((folder) => {
    for (
      const name of ["..", "../outside/secret.txt", "sub/../a.txt", "sub/.."]
    ) {
      assertRefused(
        folder,
        name,
        Status.FORBIDDEN,
        `Names with ".." segments are not served: "${name}"`,
      );
    }
  });
});

Deno.test("a served folder refuses symbolic links that lead outside it", async () => {
  await withFolder((folder) => {
    const outside = [
      "link-out",
      "link-out-absolute",
      "link-out-dir/secret.txt",
      "link-sibling",
    ];
    for (const name of outside) {
      assertRefused(
        folder,
        name,
        Status.FORBIDDEN,
        `Not inside the served folder: "${name}"`,
      );
    }
  });
});

Deno.test("a served folder refuses folders", async () => {
  await withFolder((folder) => {
    for (const name of ["dir", "sub", "sub/", "link-dir", "sub/deeper"]) {
      assertRefused(
        folder,
        name,
        Status.FORBIDDEN,
        `Not a regular file: "${name}"`,
      );
    }
    // The folder itself resolves to its root, which is not inside it.
    for (const name of ["", "."]) {
      assertRefused(folder, name, Status.FORBIDDEN);
    }
  });
});

Deno.test("a served folder refuses a FIFO without blocking on it", async () => {
  await withFolder(async (folder, { root }) => {
    const { success } = await new Deno.Command("mkfifo", {
      args: [`${root}/fifo`],
      stdout: "null",
      stderr: "inherit",
    }).output();
    assert.ok(success, "mkfifo failed");
    await Deno.symlink("fifo", `${root}/link-fifo`);
    // Opening a FIFO for reading would wait for a writer forever.
    assertRefused(
      folder,
      "fifo",
      Status.FORBIDDEN,
      'Not a regular file: "fifo"',
    );
    assertRefused(folder, "link-fifo", Status.FORBIDDEN);
  });
});

Deno.test("a served folder reports missing files as not found", async () => {
  await withFolder((folder) => {
    for (
      const name of [
        "missing.txt",
        "sub/missing.txt",
        "nowhere/file.txt",
        "a.txt/inside-a-file",
        "link-broken",
      ]
    ) {
      assertRefused(
        folder,
        name,
        Status.NOT_FOUND,
        `No such file: "${name}"`,
      );
    }
  });
});

Deno.test("a served folder refuses a name that leads through a symbolic link loop", async () => {
  await withFolder((folder) => {
    for (const name of ["loop-a", "loop-b/file.txt"]) {
      assertRefused(
        folder,
        name,
        Status.FORBIDDEN,
        `Leads through a symbolic link loop: "${name}"`,
      );
    }
  });
});

Deno.test("a name ending in / or /. names a folder: a file under it is not found", async () => {
  await withFolder((folder) => {
    for (
      const name of [
        "a.txt/",
        "a.txt/.",
        "a.txt//",
        "a.txt/./",
        "./a.txt/",
        "sub/b.txt/",
        "sub/b.txt/.",
        "link-in/",
        "link-sub/b.txt/",
      ]
    ) {
      assertRefused(
        folder,
        name,
        Status.NOT_FOUND,
        `No such file: "${name}"`,
      );
    }
    // A folder named so is still a folder, refused as one.
    for (const name of ["sub/", "sub/.", "link-sub/", "sub/deeper//"]) {
      assertRefused(
        folder,
        name,
        Status.FORBIDDEN,
        `Not a regular file: "${name}"`,
      );
    }
  });
});

Deno.test("a name longer than the system allows is not found", async () => {
  await withFolder((folder) => {
    for (const name of ["x".repeat(300), `sub/${"d/".repeat(2100)}f`]) {
      assertRefused(folder, name, Status.NOT_FOUND, `No such file: "${name}"`);
    }
  });
});

Deno.test("a served folder refuses a name with a NUL byte as a bad request", async () => {
  await withFolder((folder) => {
    assertRefused(folder, "a.txt\0.jpg", Status.BAD_REQUEST);
  });
});
