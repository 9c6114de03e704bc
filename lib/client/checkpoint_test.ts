import assert from "node:assert/strict";
import { withTempDir } from "../../tests/_support/temp_dir.ts";
import { Checkpoints, snapshotOf } from "./checkpoint.ts";
import { loadState } from "./output/download_state.ts";

Deno.test("a state without a digest list has no identity", async () => {
  assert.deepEqual(
    await snapshotOf({
      name: "a.bin",
      size: 10,
      blockSize: 1,
      done: [[0, 4]],
      reference: undefined,
      kept: undefined,
    }),
    {
      name: "a.bin",
      size: 10,
      blockSize: 1,
      identity: null,
      listed: 0,
      done: [[0, 4]],
    },
  );
});

Deno.test("saves asked for while one runs are that one, the partial file synced first", async () => {
  await withTempDir("checkpoint", async (dir) => {
    const order: string[] = [];
    let snapshots = 0;
    using checkpoints = new Checkpoints({
      statePath: `${dir}/a.bin.part.state`,
      snapshot: () => {
        snapshots++;
        order.push("snapshot");
        return Promise.resolve({
          name: "a.bin",
          size: 10,
          blockSize: 1,
          identity: null,
          listed: 0,
          done: [[0, 4]],
        });
      },
      sync: () => {
        order.push("sync");
        return Promise.resolve();
      },
    });
    await Promise.all([checkpoints.save(), checkpoints.save()]);
    await checkpoints.settle();
    assert.equal(snapshots, 1);
    assert.deepEqual(order, ["snapshot", "sync"]);
    const state = await loadState(`${dir}/a.bin.part.state`);
    assert.deepEqual(state?.done, [[0, 4]]);
  });
});
