import assert from "node:assert/strict";
import { fileSystemOf } from "./tmpfs.ts";

Deno.test("the file system of a path is that of its longest mount point", () => {
  const mounts = [
    "/dev/vda / ext4 rw 0 0",
    "tmpfs /tmp/msfd_bench_x tmpfs rw 0 0",
    "tmpfs /tmp/with\\040space tmpfs rw 0 0",
  ].join("\n");
  assert.equal(fileSystemOf("/tmp/msfd_bench_x", mounts), "tmpfs");
  assert.equal(fileSystemOf("/tmp/msfd_bench_x/data", mounts), "tmpfs");
  assert.equal(fileSystemOf("/tmp/msfd_bench_xy", mounts), "ext4");
  assert.equal(fileSystemOf("/tmp/with space/a", mounts), "tmpfs");
});
