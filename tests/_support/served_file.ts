/**
 * The usual stage of a download test: a file `f.bin` in a served folder,
 * real servers serving it (each behind a fault proxy, when faults are
 * given), and a work folder whose `servers.txt` lists them. Internal to the
 * tests.
 *
 * @module
 */

import { type Fault, FaultProxy } from "./fault_proxy.ts";
import { ServerProcess, tempDir, writeServerList } from "./harness.ts";

/** What a proxy does to its connections, by their index. */
export type FaultPlan = (connection: number) => Fault | undefined;

/** Options for {@linkcode serveFile}. */
export interface ServeFileOptions {
  /** The bytes of `f.bin`. */
  bytes: Uint8Array;
  /** How many servers, when there are no `faults`; default 1. */
  servers?: number;
  /** One server for each, behind a proxy that does this to it. */
  faults?: FaultPlan[];
  /** Extra arguments for each server. */
  serverArgs?: string[];
}

/** A served `f.bin`, its servers, and a work folder; all gone on dispose. */
export interface ServedFile extends AsyncDisposable {
  /** The served folder. */
  served: string;
  /** The work folder, where `servers.txt` lists the servers (or proxies). */
  work: string;
  servers: ServerProcess[];
  /** The proxies, one for each server, when faults were given. */
  proxies: FaultProxy[];
}

/**
 * Serves `f.bin` and writes `servers.txt` listing its servers, or the
 * proxies in front of them.
 *
 * @param options The file, the servers and what their proxies do.
 * @returns The stage, to be disposed.
 */
export async function serveFile(
  options: ServeFileOptions,
): Promise<ServedFile> {
  const served = await tempDir();
  const work = await tempDir();
  await Deno.writeFile(`${served.path}/f.bin`, options.bytes);
  const count = options.faults?.length ?? options.servers ?? 1;
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () => ServerProcess.start(served.path, options.serverArgs),
    ),
  );
  const proxies = (options.faults ?? []).map((fault, i) =>
    FaultProxy.start({ upstreamPort: servers[i]!.port, fault })
  );
  await writeServerList(
    work.path,
    (proxies.length > 0 ? proxies : servers).map((p) => p.port),
  );
  return {
    served: served.path,
    work: work.path,
    servers,
    proxies,
    async [Symbol.asyncDispose]() {
      await Promise.all(proxies.map((p) => p[Symbol.asyncDispose]()));
      await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
      await work[Symbol.asyncDispose]();
      await served[Symbol.asyncDispose]();
    },
  };
}
