/**
 * The client's permissions: the flags it needs, what the sandbox refused
 * told in one line, and the check of them before a download starts.
 *
 * @module
 */

import { describeDenied, describeNoAccess } from "../cli/permission_error.ts";

/** The flags the client needs, and the task that runs it with them. */
export const CLIENT_PERMISSIONS = {
  flags: "--allow-net --allow-read --allow-write",
  task: "deno task client",
};

/**
 * What the sandbox denied, in one line with the flag that allows it.
 *
 * @param error The refusal.
 * @returns The line.
 */
export function describeDeniedToClient(error: Deno.errors.NotCapable): string {
  return describeDenied(error, CLIENT_PERMISSIONS);
}

/**
 * What the sandbox will not allow of a download, checked before it starts
 * so the user learns it before any server is asked. Where Deno would ask
 * the user (on a terminal), it asks now, before the progress display is
 * up; where it cannot ask, the permission counts as refused.
 *
 * @param needs The hosts to connect to and the paths to write.
 * @returns One line naming the first refused permission and its flag.
 */
export async function deniedPermission(
  needs: { servers: readonly string[]; writes: readonly string[] },
): Promise<string | undefined> {
  const canPrompt = Deno.stdin.isTerminal() && Deno.stderr.isTerminal();
  const needed: { descriptor: Deno.PermissionDescriptor; what: string }[] = [
    ...needs.servers.map((host) => ({
      descriptor: { name: "net", host } as const,
      what: host,
    })),
    ...needs.writes.map((path) => ({
      descriptor: { name: "write", path } as const,
      what: path,
    })),
  ];
  for (const { descriptor, what } of needed) {
    let { state } = await Deno.permissions.query(descriptor);
    if (state === "prompt" && canPrompt) {
      ({ state } = await Deno.permissions.request(descriptor));
    }
    if (state !== "granted") {
      const kind = descriptor.name;
      const access = { kind, what, flag: `--allow-${kind}` };
      return describeNoAccess(access, CLIENT_PERMISSIONS);
    }
  }
  return undefined;
}
