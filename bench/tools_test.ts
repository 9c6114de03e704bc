import assert from "node:assert/strict";
import type { Installed } from "./peers.ts";
import { benchTools, type DownloadJob, mirrorUrls } from "./tools.ts";

const ALL: Installed = {
  nginx: true,
  aria2c: true,
  axel: true,
  dd: true,
  cmp: true,
  gnuTime: "/usr/bin/time",
};

const JOB: DownloadJob = {
  sourcePath: "/w/data/u.bin",
  fileName: "u.bin",
  downloadDir: "/w/downloads",
  serverInfoPath: "/w/server-info.text",
  chunks: 4,
  mirrorUrls: mirrorUrls([4001, 4002], "u.bin"),
};

Deno.test("every tool runs when every peer is installed", () => {
  assert.deepEqual(benchTools(ALL).map((tool) => tool.name), [
    "client",
    "client --no-verify",
    "aria2c",
    "axel",
    "dd (local copy)",
  ]);
});

Deno.test("aria2c and axel are skipped without nginx", () => {
  assert.deepEqual(
    benchTools({ ...ALL, nginx: false }).map((tool) => tool.name),
    ["client", "client --no-verify", "dd (local copy)"],
  );
});

Deno.test("the client gets --force, the server list, chunks and name", () => {
  const [client, noVerify] = benchTools(ALL);
  const args = client!.command(JOB).args;
  assert.deepEqual(args.slice(-4), [
    "--force",
    "/w/server-info.text",
    "4",
    "u.bin",
  ]);
  assert.equal(client!.command(JOB).cwd, "/w/downloads");
  assert.ok(noVerify!.command(JOB).args.includes("--no-verify"));
});

Deno.test("a baseline checkout's client runs beside ours, against the same servers", () => {
  const tools = benchTools(ALL, "/old");
  assert.deepEqual(tools.map((tool) => tool.name).slice(0, 3), [
    "client",
    "client @baseline",
    "client --no-verify",
  ]);
  const { args } = tools[1]!.command(JOB);
  assert.ok(args.includes("/old/client.ts"), args.join(" "));
  assert.deepEqual(args.slice(-4), [
    "--force",
    "/w/server-info.text",
    "4",
    "u.bin",
  ]);
});

Deno.test("aria2c uses one connection per mirror and every mirror URL", () => {
  const aria2c = benchTools(ALL).find((tool) => tool.name === "aria2c")!;
  const { command, args } = aria2c.command(JOB);
  assert.equal(command, "aria2c");
  for (
    const flag of [
      "-x2",
      "-s2",
      "-k1M",
      "--allow-overwrite=true",
      "--file-allocation=none",
    ]
  ) {
    assert.ok(args.includes(flag), flag);
  }
  assert.deepEqual(args.slice(-2), [
    "http://127.0.0.1:4001/u.bin",
    "http://127.0.0.1:4002/u.bin",
  ]);
});

Deno.test("axel and dd write to the download folder", () => {
  const tools = benchTools(ALL);
  const axel = tools.find((tool) => tool.name === "axel")!.command(JOB);
  assert.deepEqual(axel.args.slice(0, 5), [
    "-q",
    "-n",
    "2",
    "-o",
    "/w/downloads/u.bin",
  ]);
  const dd = tools.find((tool) => tool.name === "dd (local copy)")!.command(
    JOB,
  );
  assert.deepEqual(dd.args, [
    "if=/w/data/u.bin",
    "of=/w/downloads/u.bin",
    "bs=1M",
    "status=none",
  ]);
});

Deno.test("aria2c opens at most 16 connections to 127.0.0.1", () => {
  const aria2c = benchTools(ALL).find((tool) => tool.name === "aria2c")!;
  const ports = Array.from({ length: 20 }, (_, i) => 4000 + i);
  const { args } = aria2c.command({
    ...JOB,
    mirrorUrls: mirrorUrls(ports, "u.bin"),
  });
  assert.ok(args.includes("-x16"));
  assert.ok(args.includes("-s20"));
});
