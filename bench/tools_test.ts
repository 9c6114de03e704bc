import assert from "node:assert/strict";
import type { Installed } from "./peers.ts";
import {
  benchTools,
  type DownloadJob,
  mirrorListText,
  mirrorUrls,
  mixedListText,
  toolsFor,
} from "./tools.ts";

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
  mirrorListPath: "/w/mirror-list.text",
  mixedListPath: "/w/mixed-list.text",
  chunks: 4,
  servers: 2,
  mirrorUrls: mirrorUrls([4001, 4002], "u.bin"),
};

Deno.test("every tool runs when every peer is installed", () => {
  assert.deepEqual(benchTools(ALL).map((tool) => tool.name), [
    "client",
    "client --no-verify",
    "client, a chunk per server",
    "client (nginx)",
    "client (mixed)",
    "aria2c",
    "axel",
    "dd (local copy)",
  ]);
});

Deno.test("aria2c, axel and the client's mirror rows are skipped without nginx", () => {
  assert.deepEqual(
    benchTools({ ...ALL, nginx: false }).map((tool) => tool.name),
    [
      "client",
      "client --no-verify",
      "client, a chunk per server",
      "dd (local copy)",
    ],
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
  const names = tools.map((tool) => tool.name);
  const nginx = names.indexOf("client (nginx)");
  assert.equal(names[nginx + 1], "client (nginx) @baseline");
  const mirrors = tools[nginx + 1]!.command(JOB).args;
  assert.ok(mirrors.includes("/old/client.ts"), mirrors.join(" "));
  assert.deepEqual(
    mirrors.slice(-3),
    tools[nginx]!.command(JOB).args.slice(-3),
  ); // A baseline from before mirrors on the web gets no mirror row.
  assert.ok(
    !benchTools(ALL, "/old", false).some((tool) =>
      tool.name === "client (nginx) @baseline"
    ),
  );
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

Deno.test("the client downloads from the nginx mirrors' list and from a mixed list", () => {
  const tools = benchTools(ALL);
  const nginx = tools.find((tool) => tool.name === "client (nginx)")!;
  const mixed = tools.find((tool) => tool.name === "client (mixed)")!;
  assert.deepEqual(nginx.command(JOB).args.slice(-4), [
    "--force",
    "/w/mirror-list.text",
    "4",
    "u.bin",
  ]);
  assert.deepEqual(
    [nginx.needsNginx, nginx.usesProjectServers, nginx.isClient],
    [true, false, true],
  );
  assert.deepEqual(mixed.command(JOB).args.slice(-4), [
    "--force",
    "/w/mixed-list.text",
    "4",
    "u.bin",
  ]);
  assert.deepEqual(
    [mixed.needsNginx, mixed.usesProjectServers, mixed.isClient],
    [true, true, true],
  );
});

Deno.test("only this checkout's client rows fail the benchmark", () => {
  assert.deepEqual(
    benchTools(ALL, "/old").filter((tool) => tool.isClient).map((tool) =>
      tool.name
    ),
    [
      "client",
      "client --no-verify",
      "client, a chunk per server",
      "client (nginx)",
      "client (mixed)",
    ],
  );
});

Deno.test("the mixed row runs in the uniform scenario only", () => {
  const names = (scenario: "uniform" | "unequal" | "memory") =>
    toolsFor(benchTools(ALL), scenario).map((tool) => tool.name);
  assert.ok(names("uniform").includes("client (mixed)"));
  for (const scenario of ["unequal", "memory"] as const) {
    assert.ok(!names(scenario).includes("client (mixed)"), scenario);
    assert.ok(names(scenario).includes("client (nginx)"), scenario);
  }
});

Deno.test("a mirror list has one folder URL a line", () => {
  assert.equal(
    mirrorListText([4001, 4002]),
    "http://127.0.0.1:4001/\nhttp://127.0.0.1:4002/\n",
  );
});

Deno.test("a mixed list takes the first half from the project's servers and keeps each place", () => {
  assert.equal(
    mixedListText([5001, 5002, 5003, 5004], [4001, 4002, 4003, 4004]),
    "127.0.0.1 5001\n127.0.0.1 5002\n" +
      "http://127.0.0.1:4003/\nhttp://127.0.0.1:4004/\n",
  );
  assert.equal(
    mixedListText([5001, 5002, 5003], [4001, 4002, 4003]),
    "127.0.0.1 5001\n127.0.0.1 5002\nhttp://127.0.0.1:4003/\n",
  );
});

Deno.test("the many chunks' scenario also runs the client with a chunk per server, and no other does", () => {
  const tool = (scenario: "many-chunks" | "uniform") =>
    toolsFor(benchTools(ALL), scenario).find((tool) =>
      tool.name === "client, a chunk per server"
    );
  assert.equal(tool("uniform"), undefined);
  assert.deepEqual(tool("many-chunks")!.command(JOB).args.slice(-4), [
    "--force",
    "/w/server-info.text",
    "2",
    "u.bin",
  ]);
});
