/**
 * The client's command line: its usage text, its options, and their
 * parsing into settings.
 *
 * @module
 */

import {
  countArguments,
  parseCommandLine,
  parseSeconds,
  UsageError,
} from "../cli/cli_args.ts";
import { quoteName } from "../wire/quoted_name.ts";
import { DEFAULT_TIMEOUTS, type Timeouts } from "./request_exchange.ts";
import { MAX_SERVERS, parseMirrorUrl } from "./server_list.ts";
import type { MirrorEntry } from "./server_entry.ts";
import { DEFAULT_RETRY_POLICY } from "./retry_policy.ts";

/** The most ranges a download is split into: each is a request at least,
 * and with many more the client spends its time and memory on them (a
 * million took over 4 GB). */
export const MAX_CHUNKS = 10_000;

/** The most connections a mirror on the web may be asked to open at once. */
export const MAX_CONNECTIONS_PER_MIRROR = 16;

/** What `--help` prints. */
export const USAGE =
  `Usage: client.ts [options] <server-info> <numchunks> [filename]
       client.ts [options] --mirror URL ... <numchunks> [filename]

Downloads a file from the servers listed in <server-info> (one "host port"
of a server.ts, or one http:// or https:// URL of a mirror, per line; at
most ${MAX_SERVERS} used; - reads the list from standard input) or given with
--mirror, split into <numchunks> ranges (1 to ${MAX_CHUNKS}) fetched at once.
A URL ending in / is a folder holding [filename]; any other URL is the file
itself. Without [filename] it asks for one on standard input, unless every
URL is a file's: the file is then named after the first URL's last path
segment, and [filename] names the output instead. The file is written to
the current folder under its base name.

Options:
  --mirror URL               a mirror on the web, in place of <server-info>;
                             give it once per mirror
  --connections-per-mirror N requests a mirror on the web serves at once, 1
                             to ${MAX_CONNECTIONS_PER_MIRROR} (default: 1; a server.ts serves one)
  -o, --output PATH          where to write: a file name, or an existing folder
                             (default: the current folder, under the file's
                             base name)
  --force                    replace the output file if it exists
  --json                     print a summary of the download as one JSON
                             object on standard output
  --retries N                rounds over all servers after the first, per
                             chunk, with backoff (default: 3)
  --no-verify                do not check blocks against SHA-256 digests
  --sha256 HEX               check the finished file's SHA-256
  --connect-timeout SECONDS  time to establish a connection (default: ${
    DEFAULT_TIMEOUTS.connectMs / 1000
  })
  --reply-timeout SECONDS    time to wait for a server's reply (default: ${
    DEFAULT_TIMEOUTS.replyMs / 1000
  })
  --stall-timeout SECONDS    time a transfer may receive nothing (default: ${
    DEFAULT_TIMEOUTS.stallMs / 1000
  })
  --quiet                    print errors only (no progress, no summary)
  -h, --help                 show this help
  --version                  show the version and the protocol version

On a terminal, standard error shows the progress live: the whole file, and
each chunk with its server, percent and failovers. A summary follows.

Exit codes:
  0  the file was downloaded
  1  unexpected internal error
  2  bad command line, server list, file name, or output path (its folder
     is missing or not writable, it is a folder, it exists, or another
     download to it is running); or a permission Deno's sandbox denied
     (run with the flag it names)
  3  Cannot transfer this file: no server reported the file's size
  4  not all chunks are downloaded: the partial file is kept
  5  the output file could not be written (for example, no space left)
  6  the finished file does not match --sha256 (or the mirrors' digest)
  7  the mirrors hold different files and no majority agrees on one
130  interrupted (SIGINT/SIGTERM); run the same command again to resume

An interrupted or failed download keeps <name>.part and <name>.part.state;
the same command continues it, fetching only the missing bytes.`;

/** The client's options, as `parseArgs` takes them. */
const OPTIONS = {
  mirror: { type: "string", multiple: true },
  "connections-per-mirror": { type: "string" },
  force: { type: "boolean", default: false },
  retries: { type: "string" },
  "no-verify": { type: "boolean", default: false },
  output: { type: "string", short: "o" },
  json: { type: "boolean", default: false },
  sha256: { type: "string" },
  "connect-timeout": { type: "string" },
  "reply-timeout": { type: "string" },
  "stall-timeout": { type: "string" },
  quiet: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", default: false },
} as const;

/** Settings taken from the command line. */
export interface ClientConfig {
  /** The server list's path, or `-` for standard input; none with
   * `--mirror`. */
  serverInfo: string | undefined;
  /** The mirrors given with `--mirror`, in order; empty without. */
  mirrors: MirrorEntry[];
  /** `--connections-per-mirror`: requests at once to each mirror on the
   * web. */
  connectionsPerMirror: number;
  /** How many chunks to split the file into. */
  numChunks: number;
  /** The file to fetch, if given. */
  filename: string | undefined;
  /** `--force`: replace the output. */
  force: boolean;
  /** `--quiet`: errors only. */
  quiet: boolean;
  /** `-o`: where to write. */
  output: string | undefined;
  /** `--json`: print a summary as JSON. */
  json: boolean;
  /** The request deadlines. */
  timeouts: Timeouts;
  /** Rounds over all servers after the first, per chunk. */
  retries: number;
  /** Whether blocks are checked. */
  verify: boolean;
  /** The expected digest of the whole file, lower-case. */
  sha256: string | undefined;
}

/**
 * Parses the client's command line.
 *
 * @param args The arguments, without the program name.
 * @returns The settings, or what to print instead of downloading.
 * @throws {UsageError} If the command line cannot be used.
 */
export function parseConfig(
  args: string[],
): ClientConfig | "help" | "version" {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (values.help) return "help";
  if (values.version) return "version";
  // The options' values first: an option given without its value took the
  // next argument, and its message says so better than the positionals'.
  const seconds = (flag: keyof typeof OPTIONS, fallback: number) => {
    const text = values[flag];
    return typeof text === "string"
      ? parseSeconds(text, `--${flag}`)
      : fallback;
  };
  const retries = values.retries === undefined
    ? DEFAULT_RETRY_POLICY.rounds
    : /^\d{1,3}$/.test(values.retries)
    ? Number(values.retries)
    : NaN;
  if (Number.isNaN(retries)) {
    throw new UsageError(
      `--retries takes a whole number from 0 to 999: received ${
        quoteName(values.retries ?? "")
      }`,
    );
  }
  if (values.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(values.sha256)) {
    throw new UsageError(
      `--sha256 takes 64 hexadecimal digits: received ${
        quoteName(values.sha256)
      }`,
    );
  }
  const timeouts = {
    connectMs: seconds("connect-timeout", DEFAULT_TIMEOUTS.connectMs),
    replyMs: seconds("reply-timeout", DEFAULT_TIMEOUTS.replyMs),
    stallMs: seconds("stall-timeout", DEFAULT_TIMEOUTS.stallMs),
  };
  const connectionsPerMirror = parseConnections(
    values["connections-per-mirror"],
  );
  const mirrors = parseMirrors(values.mirror ?? []);
  if (mirrors.length > 0) checkMirrorPositionals(positionals);
  else if (positionals.length < 2 || positionals.length > 3) {
    throw new UsageError(
      `Expected <server-info> <numchunks> [filename]: received ${
        countArguments(positionals.length)
      }`,
    );
  }
  const [serverInfo, chunksText, filename] = mirrors.length > 0
    ? [undefined, ...positionals as [string, string | undefined]]
    : positionals as [string, string, string | undefined];
  const numChunks = /^\d+$/.test(chunksText) ? Number(chunksText) : NaN;
  if (!(numChunks >= 1 && numChunks <= MAX_CHUNKS)) {
    throw new UsageError(
      `numchunks must be a whole number from 1 to ${MAX_CHUNKS}: received ${
        quoteName(chunksText)
      }`,
    );
  }
  return {
    serverInfo,
    mirrors,
    connectionsPerMirror,
    numChunks,
    filename,
    retries,
    verify: !values["no-verify"],
    sha256: values.sha256?.toLowerCase(),
    force: values.force,
    output: values.output,
    json: values.json,
    quiet: values.quiet,
    timeouts,
  };
}

/** The `--mirror` URLs as mirrors; a bad one is a usage error naming it. */
function parseMirrors(urls: readonly string[]): MirrorEntry[] {
  return urls.map((url) => {
    try {
      return parseMirrorUrl(url);
    } catch (error) {
      throw new UsageError(`--mirror: ${(error as Error).message}`);
    }
  });
}

/** With `--mirror`, the positionals are `<numchunks> [filename]`: a
 * `<server-info>` as well is refused, not guessed at. */
function checkMirrorPositionals(positionals: readonly string[]): void {
  const whole = (text: string | undefined) =>
    text !== undefined && /^\d+$/.test(text);
  if (
    positionals.length === 3 ||
    (positionals.length === 2 && !whole(positionals[0]) &&
      whole(positionals[1]))
  ) {
    throw new UsageError(
      "--mirror takes the place of <server-info>: give the servers in a list or as --mirror URLs, not both",
    );
  }
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError(
      `Expected --mirror URL ... <numchunks> [filename]: received ${
        countArguments(positionals.length)
      }`,
    );
  }
}

/** The `--connections-per-mirror` value: 1 when not given. */
function parseConnections(text: string | undefined): number {
  if (text === undefined) return 1;
  const count = /^\d{1,2}$/.test(text) ? Number(text) : NaN;
  if (!(count >= 1 && count <= MAX_CONNECTIONS_PER_MIRROR)) {
    throw new UsageError(
      `--connections-per-mirror takes a whole number from 1 to ${MAX_CONNECTIONS_PER_MIRROR}: received ${
        quoteName(text)
      }`,
    );
  }
  return count;
}
