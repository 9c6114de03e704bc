/**
 * The msfd protocol as a {@linkcode Source}: a server of `server.ts`, asked
 * over TCP, with a connection kept open from one request to the next.
 *
 * @module
 */

import { formatAddress, type ServerAddress } from "../wire/address.ts";
import { describeFailure, sizeFailureReason } from "./failure_reasons.ts";
import {
  fetchRange,
  requestBlockDigests,
  requestRangeDigest,
  requestSize,
} from "./protocol_client.ts";
import { KeptConnection } from "./kept_connection.ts";
import { type RequestOptions, type Timeouts } from "./request_exchange.ts";
import type { DigestListener, Source, SourceFetch } from "./source.ts";

/** What an {@linkcode MsfdSource} needs. */
export interface MsfdSourceOptions {
  /** The server. */
  server: ServerAddress;
  /** The name to ask it for. */
  name: string;
  /** Deadlines for each request. */
  timeouts: Timeouts;
}

/** A server of the msfd protocol, as a source of one file. */
export class MsfdSource implements Source {
  /** The server. */
  readonly server: ServerAddress;
  /** Its address, for messages. */
  readonly label: string;
  #name: string;
  #timeouts: Timeouts;
  /** A connection kept open from one range to the next. */
  #kept = new KeptConnection();

  /**
   * Creates the source; nothing is asked yet.
   *
   * @param options The server, the file's name and the deadlines.
   */
  constructor(options: MsfdSourceOptions) {
    this.server = options.server;
    this.label = formatAddress(options.server);
    this.#name = options.name;
    this.#timeouts = options.timeouts;
  }

  #request(signal: AbortSignal | undefined, keep: boolean): RequestOptions {
    return {
      server: this.server,
      timeouts: this.#timeouts,
      signal,
      kept: keep ? this.#kept : undefined,
    };
  }

  /**
   * Asks the server for the file's size.
   *
   * @param signal Gives the request up.
   * @returns The size in bytes.
   */
  size(signal?: AbortSignal): Promise<number> {
    return requestSize(this.#request(signal, false), this.#name);
  }

  /**
   * Asks the server for the file's digest list.
   *
   * @param request The size the file must have, the block size and signal.
   * @param listener Told of the reply and given the list's bytes.
   */
  blockDigests(
    request: { fileSize: number; blockSize: number; signal?: AbortSignal },
    listener: DigestListener,
  ): Promise<void> {
    return requestBlockDigests(
      this.#request(request.signal, false),
      { name: this.#name, fileSize: request.fileSize },
      request.blockSize,
      listener,
    );
  }

  /**
   * Fetches a range over the kept connection, or a new one.
   *
   * @param request The range, the file's size and the sink.
   */
  fetch(request: SourceFetch): Promise<void> {
    return fetchRange(this.#request(request.signal, true), {
      ...request.sink,
      name: this.#name,
      offset: request.offset,
      length: request.length,
      fileSize: request.fileSize,
    });
  }

  /**
   * Asks the digest of a range, over the kept connection or a new one.
   *
   * @param request The range and the file's size.
   * @returns The digest.
   */
  rangeDigest(
    request: {
      offset: number;
      length: number;
      fileSize: number;
      signal?: AbortSignal;
    },
  ): Promise<Uint8Array> {
    return requestRangeDigest(
      this.#request(request.signal, true),
      { name: this.#name, fileSize: request.fileSize },
      request.offset,
      request.length,
    );
  }

  /**
   * Describes a failed request in one line.
   *
   * @param error What the request threw.
   * @returns `host:port: reason`.
   */
  describeFailure(error: unknown): string {
    return describeFailure(this.server, error);
  }

  /**
   * Describes why the server did not report the size.
   *
   * @param error What {@linkcode MsfdSource.size} threw.
   * @returns `host:port: reason`.
   */
  describeSizeFailure(error: unknown): string {
    return `${this.label}: ${sizeFailureReason(error)}`;
  }

  /** Closes the kept connection, if any. */
  release(): void {
    this.#kept[Symbol.dispose]();
  }
}
