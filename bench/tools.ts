/**
 * The rows of the benchmark: the command each tool runs for one download.
 *
 * @module
 */

import type { Installed } from "./peers.ts";
import { clientRunArgs, clientScriptArgs } from "./project_servers.ts";
import type { ScenarioName } from "./scenarios.ts";
import type { CommandSpec } from "./timed_run.ts";

/** What a tool's command is built from. */
export interface DownloadJob {
  /** The original file, for the local copy. */
  sourcePath: string;
  /** The file's name on the servers. */
  fileName: string;
  /** The folder the download goes to; emptied between runs. */
  downloadDir: string;
  /** The server-info file listing the project's servers. */
  serverInfoPath: string;
  /** The server list of the nginx mirrors' folder URLs, in list order. */
  mirrorListPath: string;
  /** The server list mixing both kinds: the first half the project's
   * servers, the rest nginx mirrors (each at its own place in the list). */
  mixedListPath: string;
  /** The client's `numchunks`. */
  chunks: number;
  /** How many servers (and as many nginx mirrors) the scenario has. */
  servers: number;
  /** The file's URL on each nginx mirror, in list order. */
  mirrorUrls: readonly string[];
}

/** One row of the table. */
export interface Tool {
  name: string;
  /** Whether it downloads over HTTP from nginx. */
  needsNginx: boolean;
  /** Whether it downloads from the project's servers. */
  usesProjectServers: boolean;
  /** Whether it is this checkout's client, whose failures fail the
   * benchmark. */
  isClient: boolean;
  /** The scenarios it runs in; all when not given. */
  onlyIn?: readonly ScenarioName[];
  command(job: DownloadJob): CommandSpec;
}

/** The name of the row every other row is compared with. */
export const CLIENT = "client";
/** Our client without block verification. */
export const CLIENT_NO_VERIFY = "client --no-verify";
/** Our client downloading from the nginx mirrors only. */
export const CLIENT_NGINX = "client (nginx)";
/** Our client downloading from half the project's servers and half the
 * nginx mirrors. */
export const CLIENT_MIXED = "client (mixed)";

/** Our client with as many chunks as servers: what the servers alone cost
 * a scenario of many chunks, without a range more than the servers. */
export const CLIENT_CHUNK_PER_SERVER = "client, a chunk per server";

/** Which server list a client row downloads from. */
type ClientList = "servers" | "mirrors" | "mixed";

function client(
  name: string,
  options: {
    extra?: string[];
    script?: string;
    list?: ClientList;
    onlyIn?: readonly ScenarioName[];
    /** One chunk per server instead of the scenario's chunk count. */
    chunkPerServer?: boolean;
  } = {},
): Tool {
  const { extra = [], script, list = "servers", onlyIn, chunkPerServer } =
    options;
  return {
    name,
    needsNginx: list !== "servers",
    usesProjectServers: list !== "mirrors",
    isClient: script === undefined,
    onlyIn,
    command: (job) => {
      const listPath = list === "servers"
        ? job.serverInfoPath
        : list === "mirrors"
        ? job.mirrorListPath
        : job.mixedListPath;
      const args = [
        "--force",
        ...extra,
        listPath,
        String(chunkPerServer ? job.servers : job.chunks),
        job.fileName,
      ];
      return {
        command: Deno.execPath(),
        args: script === undefined
          ? clientRunArgs(...args)
          : clientScriptArgs(script, args),
        cwd: job.downloadDir,
      };
    },
  };
}

/** The name of another checkout's client in the results. */
export const CLIENT_BASELINE = "client @baseline";

/** The name of another checkout's client from the nginx mirrors. */
export const CLIENT_NGINX_BASELINE = "client (nginx) @baseline";

/** The most connections aria2c opens to one host (its `-x` limit). */
const ARIA2C_MAX_PER_HOST = 16;

/**
 * aria2c: one connection per mirror, split into as many parts. Its `-x`
 * counts connections per host name, and every mirror is 127.0.0.1, so
 * `-x1` would leave it one connection in all: `-x` is the mirror count
 * (at most 16, its limit) instead.
 */
const ARIA2C: Tool = {
  name: "aria2c",
  needsNginx: true,
  usesProjectServers: false,
  isClient: false,
  command: (job) => ({
    command: "aria2c",
    args: [
      "--no-conf=true",
      `-x${Math.min(job.mirrorUrls.length, ARIA2C_MAX_PER_HOST)}`,
      `-s${job.mirrorUrls.length}`,
      "-k1M",
      "--allow-overwrite=true",
      "--auto-file-renaming=false",
      "--file-allocation=none",
      "--console-log-level=error",
      "--summary-interval=0",
      "--download-result=hide",
      "-d",
      job.downloadDir,
      "-o",
      job.fileName,
      ...job.mirrorUrls,
    ],
    cwd: job.downloadDir,
  }),
};

/** axel: as many connections as mirrors, spread over the mirror URLs. */
const AXEL: Tool = {
  name: "axel",
  needsNginx: true,
  usesProjectServers: false,
  isClient: false,
  command: (job) => ({
    command: "axel",
    args: [
      "-q",
      "-n",
      String(job.mirrorUrls.length),
      "-o",
      `${job.downloadDir}/${job.fileName}`,
      ...job.mirrorUrls,
    ],
    cwd: job.downloadDir,
  }),
};

/** The floor: a local copy of the file on the same file system. */
const DD: Tool = {
  name: "dd (local copy)",
  needsNginx: false,
  usesProjectServers: false,
  isClient: false,
  command: (job) => ({
    command: "dd",
    args: [
      `if=${job.sourcePath}`,
      `of=${job.downloadDir}/${job.fileName}`,
      "bs=1M",
      "status=none",
    ],
    cwd: job.downloadDir,
  }),
};

/**
 * The tools to run, in the order they alternate: our client in both modes,
 * then from the nginx mirrors and from a mixed list (with nginx), then the
 * installed peers.
 *
 * @param installed Which peers are installed.
 * @param baseline Another checkout whose client runs beside ours, if any,
 * and whether it takes mirrors on the web (an older one does not).
 * @returns The tools.
 */
export function benchTools(
  installed: Installed,
  baseline?: string,
  baselineTakesMirrors = true,
): Tool[] {
  const tools = [
    client(CLIENT),
    client(CLIENT_NO_VERIFY, { extra: ["--no-verify"] }),
  ];
  // Where the many chunks' time goes: to the servers, or to the chunks.
  tools.push(
    client(CLIENT_CHUNK_PER_SERVER, {
      chunkPerServer: true,
      onlyIn: ["many-chunks"],
    }),
  );
  if (baseline !== undefined) {
    tools.splice(
      1,
      0,
      client(CLIENT_BASELINE, { script: `${baseline}/client.ts` }),
    );
  }
  if (installed.nginx) {
    tools.push(client(CLIENT_NGINX, { list: "mirrors" }));
    if (baseline !== undefined && baselineTakesMirrors) {
      tools.push(
        client(CLIENT_NGINX_BASELINE, {
          list: "mirrors",
          script: `${baseline}/client.ts`,
        }),
      );
    }
    // Mixed only where the brief asks for it: the uniform 512 MiB.
    tools.push(client(CLIENT_MIXED, { list: "mixed", onlyIn: ["uniform"] }));
  }
  if (installed.nginx && installed.aria2c) tools.push(ARIA2C);
  if (installed.nginx && installed.axel) tools.push(AXEL);
  if (installed.dd) tools.push(DD);
  return tools;
}

/**
 * The file's URL on nginx mirrors of 127.0.0.1.
 *
 * @param ports The mirrors' ports, in list order.
 * @param fileName The file's name in the served folder.
 * @returns One URL per mirror.
 */
export function mirrorUrls(
  ports: readonly number[],
  fileName: string,
): string[] {
  return ports.map((port) =>
    `http://127.0.0.1:${port}/${encodeURIComponent(fileName)}`
  );
}

/**
 * The tools that run in a scenario, in order.
 *
 * @param tools Every tool.
 * @param scenario The scenario's name.
 * @returns Those not limited to other scenarios.
 */
export function toolsFor(
  tools: readonly Tool[],
  scenario: ScenarioName,
): Tool[] {
  return tools.filter((tool) =>
    tool.onlyIn === undefined || tool.onlyIn.includes(scenario)
  );
}

/**
 * A server list of nginx mirrors of 127.0.0.1: one folder URL a line, to
 * which the client appends the file's name.
 *
 * @param ports The mirrors' ports, in list order.
 * @returns The list's text.
 */
export function mirrorListText(ports: readonly number[]): string {
  return ports.map((port) => `http://127.0.0.1:${port}/\n`).join("");
}

/**
 * A server list of both kinds: place `i` holds the project's server
 * `serverPorts[i]` for the first half (rounded up) and the nginx mirror
 * `mirrorPorts[i]` for the rest, so each place keeps its scenario's rate.
 *
 * @param serverPorts The project's servers' ports, in list order.
 * @param mirrorPorts The nginx mirrors' ports, in list order.
 * @returns The list's text.
 */
export function mixedListText(
  serverPorts: readonly number[],
  mirrorPorts: readonly number[],
): string {
  const count = Math.min(serverPorts.length, mirrorPorts.length);
  const servers = Math.ceil(count / 2);
  return Array.from(
    { length: count },
    (_, i) =>
      i < servers
        ? `127.0.0.1 ${serverPorts[i]}\n`
        : `http://127.0.0.1:${mirrorPorts[i]}/\n`,
  ).join("");
}
