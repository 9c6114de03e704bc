/**
 * The wire format shared by the server and the client: its constants,
 * operations, statuses, the fields of requests and responses, and the error
 * for a frame that does not follow it. Documented in PROTOCOL.md; the frames
 * themselves are encoded and decoded in `frame_codec.ts`.
 *
 * Every message starts with a fixed 24-byte header in network byte order,
 * followed by a bounded UTF-8 text (the file name in a request, the error
 * message in a response) and, for a successful range response, the payload.
 *
 * @module
 */

/** The four bytes every message starts with: "MSFD". */
export const MAGIC: Uint8Array = new Uint8Array([0x4d, 0x53, 0x46, 0x44]);
/** The protocol version of responses, and of requests that close after
 * their reply. */
export const VERSION = 1;
/**
 * The version of a request that asks the server to keep the connection open
 * after an OK reply, for the client's next request. Frames are the same.
 */
export const KEEP_OPEN_VERSION = 2;
/** Length of the fixed part of every request and response. */
export const HEADER_LENGTH = 24;
/** Longest file name a request may carry, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 4096;
/** Longest error message a response may carry, in UTF-8 bytes. */
export const MAX_MESSAGE_BYTES = 1024;
/** Length of one SHA-256 digest. */
export const DIGEST_BYTES = 32;
/** Largest block size a {@linkcode Op.BLOCK_HASHES} request may name. */
export const MAX_BLOCK_BYTES = 2 ** 30;
/** Longest digest list a {@linkcode Op.BLOCK_HASHES} reply may carry. */
export const MAX_HASH_LIST_BYTES = 64 * 1024 * 1024;

/**
 * The length of the digest list for a file, or `undefined` when the block
 * size is not a power of two from 1 to {@linkcode MAX_BLOCK_BYTES} or the
 * list would be longer than {@linkcode MAX_HASH_LIST_BYTES}.
 *
 * @param fileSize The file size.
 * @param blockSize The block size.
 * @returns The number of payload bytes of the reply.
 */
export function hashListLength(
  fileSize: number,
  blockSize: number,
): number | undefined {
  if (
    !Number.isSafeInteger(blockSize) || blockSize < 1 ||
    blockSize > MAX_BLOCK_BYTES || (blockSize & (blockSize - 1)) !== 0
  ) {
    return undefined;
  }
  const length = Math.ceil(fileSize / blockSize) * DIGEST_BYTES;
  return length > MAX_HASH_LIST_BYTES ? undefined : length;
}

/** Operations a client may ask for. */
export const Op = {
  /** Learn a file's size; the response carries no payload. */
  SIZE: 1,
  /** Fetch `length` bytes of a file starting at `offset`. */
  RANGE: 2,
  /**
   * The SHA-256 digest of every block of a file, in order; `length` is the
   * block size (a power of two), `offset` must be 0.
   */
  BLOCK_HASHES: 3,
  /** The SHA-256 digest of `length` bytes of a file starting at `offset`. */
  RANGE_HASH: 4,
} as const;
/** One of the {@linkcode Op} values. */
export type Op = typeof Op[keyof typeof Op];

/** Response status codes. */
export const Status = {
  OK: 0,
  NOT_FOUND: 1,
  FORBIDDEN: 2,
  BAD_REQUEST: 3,
  RANGE: 4,
  SERVER_ERROR: 5,
} as const;
/** One of the {@linkcode Status} values. */
export type Status = typeof Status[keyof typeof Status];

const STATUS_NAMES: Record<Status, string> = {
  0: "ok",
  1: "not found",
  2: "forbidden",
  3: "bad request",
  4: "range not satisfiable",
  5: "server error",
};

const OP_NAMES: Record<Op, string> = {
  [Op.SIZE]: "SIZE",
  [Op.RANGE]: "RANGE",
  [Op.BLOCK_HASHES]: "BLOCK_HASHES",
  [Op.RANGE_HASH]: "RANGE_HASH",
};

/**
 * The name of an operation, for logs.
 *
 * @param op An operation.
 * @returns Its upper-case name, such as `"RANGE"`.
 */
export function opName(op: Op): string {
  return OP_NAMES[op];
}

/**
 * The name of a status code, for messages and logs.
 *
 * @param status A status code.
 * @returns A short lower-case name such as `"not found"`.
 */
export function statusName(status: Status): string {
  return STATUS_NAMES[status];
}

/**
 * Whether a number read from a frame is one of the {@linkcode Status}
 * codes.
 *
 * @param code The status byte of a response.
 * @returns Whether it is a known status.
 */
export function isStatus(code: number): code is Status {
  return code in STATUS_NAMES;
}

/** A decoded request. */
export interface Request {
  /** What the client asks for. */
  op: Op;
  /** Path of the file relative to the served folder, `/`-separated. */
  name: string;
  /** First byte wanted; 0 for {@linkcode Op.SIZE}. */
  offset: number;
  /** Number of bytes wanted; 0 for {@linkcode Op.SIZE}. */
  length: number;
  /**
   * Whether the connection stays open after an OK reply for another
   * request (version {@linkcode KEEP_OPEN_VERSION}). Default false.
   */
  keepOpen?: boolean;
}

/** A decoded response header and its message. */
export interface Response {
  /** Whether the request succeeded, and if not, why. */
  status: Status;
  /** Human-readable detail; empty when the status is OK. */
  message: string;
  /** Size of the whole file; 0 when the status is not OK. */
  fileSize: number;
  /** Number of payload bytes that follow the header and message. */
  payloadLength: number;
}

/** Why a frame was rejected; the server maps it to a status or a disconnect. */
export type ProtocolErrorCode =
  | "bad-magic"
  | "bad-version"
  | "bad-op"
  | "bad-status"
  | "bad-length"
  | "bad-number"
  | "bad-name"
  | "bad-message"
  | "truncated";

/** A frame that does not follow the protocol. */
export class ProtocolError extends Error {
  /** Machine-readable reason. */
  readonly code: ProtocolErrorCode;

  /**
   * Creates the error for a rejected frame.
   *
   * @param code Machine-readable reason.
   * @param message Human-readable detail.
   */
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}
