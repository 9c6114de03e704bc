/**
 * Requests and responses as bytes: each encoded into a frame, decoded from
 * one, and read whole from a stream. Every frame starts with a fixed 24-byte
 * header in network byte order, followed by a bounded UTF-8 text (the file
 * name in a request, the error message in a response) and, for a successful
 * range response, the payload. Documented in PROTOCOL.md.
 *
 * @module
 */

import { type ByteReader, readExact } from "./exact_io.ts";
import {
  HEADER_LENGTH,
  isStatus,
  KEEP_OPEN_VERSION,
  MAGIC,
  MAX_MESSAGE_BYTES,
  MAX_NAME_BYTES,
  Op,
  ProtocolError,
  type Request,
  type Response,
  Status,
  VERSION,
} from "./protocol.ts";

export type { ByteReader };

const encoder = new TextEncoder();
// Names are exact bytes: a leading U+FEFF is part of a name, not a mark.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The numbers in the fixed part of a frame, request or response alike. */
interface HeaderFields {
  version: number;
  /** The op of a request, the status of a response. */
  code: number;
  /** A request's offset, a response's file size. */
  first: number;
  /** A request's length, a response's payload length. */
  second: number;
}

/** A frame: the header, then the text (a request's name, a response's message). */
function encodeFrame(fields: HeaderFields, text: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_LENGTH + text.length);
  const view = new DataView(frame.buffer);
  frame.set(MAGIC);
  view.setUint8(4, fields.version);
  view.setUint8(5, fields.code);
  view.setUint16(6, text.length);
  view.setBigUint64(8, BigInt(fields.first));
  view.setBigUint64(16, BigInt(fields.second));
  frame.set(text, HEADER_LENGTH);
  return frame;
}

function checkUint(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot encode ${what}: expected an integer from 0 to 2^53-1: received ${value}`,
    );
  }
}

function readUint64(
  view: DataView,
  { at, what }: { at: number; what: string },
): number {
  const value = view.getBigUint64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ProtocolError(
      "bad-number",
      `The ${what} is larger than 2^53-1: received ${value}`,
    );
  }
  return Number(value);
}

function checkMagicAndVersion(
  header: Uint8Array,
  versions: readonly number[],
): void {
  if (header.length < HEADER_LENGTH) {
    throw new ProtocolError(
      "truncated",
      `The header is ${header.length} bytes, expected ${HEADER_LENGTH}`,
    );
  }
  checkMagic(header);
  if (!versions.includes(header[4]!)) {
    throw new ProtocolError(
      "bad-version",
      `Unsupported protocol version: received ${header[4]}, expected ${
        versions.join(" or ")
      }`,
    );
  }
}

/**
 * Checks that the first four bytes of a frame are {@linkcode MAGIC}.
 *
 * @param bytes At least the first four bytes of a frame.
 * @throws {ProtocolError} With code `"bad-magic"` if they are not.
 */
export function checkMagic(bytes: Uint8Array): void {
  if (
    bytes.length < MAGIC.length || MAGIC.some((byte, i) => bytes[i] !== byte)
  ) {
    throw new ProtocolError(
      "bad-magic",
      "Not a request of this protocol: the magic bytes do not match",
    );
  }
}

/**
 * Checks a file name before it is sent or looked up: non-empty, valid
 * UTF-8 when encoded, no NUL byte, at most {@linkcode MAX_NAME_BYTES}.
 *
 * @param name The file name.
 * @returns The name encoded as UTF-8.
 * @throws {ProtocolError} With code `"bad-name"` if the name is unusable.
 */
export function encodeName(name: string): Uint8Array {
  if (name.length === 0) {
    throw new ProtocolError("bad-name", "The file name is empty");
  }
  if (name.includes("\0")) {
    throw new ProtocolError("bad-name", "The file name contains a NUL byte");
  }
  const bytes = encoder.encode(name);
  if (bytes.length > MAX_NAME_BYTES) {
    throw new ProtocolError(
      "bad-name",
      `The file name is ${bytes.length} bytes long, the limit is ${MAX_NAME_BYTES}`,
    );
  }
  return bytes;
}

/**
 * Encodes a request.
 *
 * @param request The request to encode.
 * @returns The header followed by the file name.
 * @throws {ProtocolError} If the name is unusable.
 * @throws {RangeError} If the offset or length is not a safe non-negative integer.
 */
export function encodeRequest(request: Request): Uint8Array {
  const name = encodeName(request.name);
  checkUint(request.offset, "offset");
  checkUint(request.length, "length");
  return encodeFrame({
    version: request.keepOpen ? KEEP_OPEN_VERSION : VERSION,
    code: request.op,
    first: request.offset,
    second: request.length,
  }, name);
}

/** The fixed part of a request, before its name has been read. */
export interface RequestHeader {
  /** What the client asks for. */
  op: Op;
  /** Length of the file name that follows the header, in UTF-8 bytes. */
  nameLength: number;
  /** First byte wanted; 0 for {@linkcode Op.SIZE}. */
  offset: number;
  /** Number of bytes wanted; 0 for {@linkcode Op.SIZE}. */
  length: number;
  /** Whether the client asks to keep the connection open after the reply;
   * set only when it does. */
  keepOpen?: boolean;
}

/**
 * Decodes the fixed part of a request.
 *
 * @param header The first {@linkcode HEADER_LENGTH} bytes of a request.
 * @returns The decoded fields; the name is still to be read.
 * @throws {ProtocolError} If any field is invalid.
 */
export function decodeRequestHeader(header: Uint8Array): RequestHeader {
  checkMagicAndVersion(header, [VERSION, KEEP_OPEN_VERSION]);
  const view = new DataView(header.buffer, header.byteOffset, HEADER_LENGTH);
  const op = view.getUint8(5);
  if (op < Op.SIZE || op > Op.RANGE_HASH) {
    throw new ProtocolError("bad-op", `Unknown operation: received ${op}`);
  }
  const nameLength = view.getUint16(6);
  if (nameLength === 0 || nameLength > MAX_NAME_BYTES) {
    throw new ProtocolError(
      "bad-length",
      `The name length must be from 1 to ${MAX_NAME_BYTES}: received ${nameLength}`,
    );
  }
  const offset = readUint64(view, { at: 8, what: "offset" });
  const length = readUint64(view, { at: 16, what: "length" });
  if (offset + length > Number.MAX_SAFE_INTEGER) {
    throw new ProtocolError(
      "bad-number",
      `The range end is larger than 2^53-1: offset ${offset}, length ${length}`,
    );
  }
  const fields = { op: op as Op, nameLength, offset, length };
  return header[4] === KEEP_OPEN_VERSION
    ? { ...fields, keepOpen: true }
    : fields;
}

/**
 * Decodes the name that follows a request header.
 *
 * @param bytes Exactly the name bytes announced by the header.
 * @returns The name.
 * @throws {ProtocolError} With code `"bad-name"` for invalid UTF-8 or a NUL byte.
 */
export function decodeName(bytes: Uint8Array): string {
  let name: string;
  try {
    name = decoder.decode(bytes);
  } catch {
    throw new ProtocolError("bad-name", "The file name is not valid UTF-8");
  }
  if (name.includes("\0")) {
    throw new ProtocolError("bad-name", "The file name contains a NUL byte");
  }
  return name;
}

/**
 * Encodes a response header and its message. The payload, if any, is sent
 * after it separately.
 *
 * @param response The response to encode.
 * @returns The header followed by the message.
 * @throws {RangeError} If a number is not a safe non-negative integer.
 */
export function encodeResponse(response: Response): Uint8Array {
  checkUint(response.fileSize, "file size");
  checkUint(response.payloadLength, "payload length");
  let message = encoder.encode(response.message);
  if (message.length > MAX_MESSAGE_BYTES) {
    // Cut at a character boundary so the peer can still decode it.
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(
      message.subarray(0, MAX_MESSAGE_BYTES),
    ).replace(/\uFFFD$/, "");
    message = encoder.encode(text);
  }
  return encodeFrame({
    version: VERSION,
    code: response.status,
    first: response.fileSize,
    second: response.payloadLength,
  }, message);
}

/** The fixed part of a response, before its message has been read. */
export interface ResponseHeader {
  /** Whether the request succeeded, and if not, why. */
  status: Status;
  /** Length of the message that follows the header, in UTF-8 bytes. */
  messageLength: number;
  /** Size of the whole file; 0 when the status is not OK. */
  fileSize: number;
  /** Number of payload bytes that follow the header and message. */
  payloadLength: number;
}

/**
 * Decodes the fixed part of a response.
 *
 * @param header The first {@linkcode HEADER_LENGTH} bytes of a response.
 * @returns The decoded fields; the message is still to be read.
 * @throws {ProtocolError} If any field is invalid.
 */
export function decodeResponseHeader(header: Uint8Array): ResponseHeader {
  checkMagicAndVersion(header, [VERSION]);
  const view = new DataView(header.buffer, header.byteOffset, HEADER_LENGTH);
  const status = view.getUint8(5);
  if (!isStatus(status)) {
    throw new ProtocolError("bad-status", `Unknown status: received ${status}`);
  }
  const messageLength = view.getUint16(6);
  if (messageLength > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(
      "bad-length",
      `The message length must be at most ${MAX_MESSAGE_BYTES}: received ${messageLength}`,
    );
  }
  const fileSize = readUint64(view, { at: 8, what: "file size" });
  const payloadLength = readUint64(view, { at: 16, what: "payload length" });
  if (status !== Status.OK && payloadLength !== 0) {
    throw new ProtocolError(
      "bad-length",
      `An error response carries no payload: received length ${payloadLength}`,
    );
  }
  return { status, messageLength, fileSize, payloadLength };
}

/**
 * Reads and decodes one request from a connection.
 *
 * @param reader The connection.
 * @returns The request.
 * @throws {ProtocolError} If the bytes are not a valid request; a stranger's
 * bytes are rejected after the first four.
 * @throws {Deno.errors.UnexpectedEof} If the peer closes mid-request.
 */
export async function readRequest(reader: ByteReader): Promise<Request> {
  const header = new Uint8Array(HEADER_LENGTH);
  await readExact(reader, header.subarray(0, MAGIC.length));
  checkMagic(header);
  await readExact(reader, header.subarray(MAGIC.length));
  const { nameLength, ...fields } = decodeRequestHeader(header);
  const name = decodeName(await readExact(reader, new Uint8Array(nameLength)));
  return { ...fields, name };
}

/**
 * Reads and decodes one response header and its message from a connection.
 * The payload, if any, is left to the caller.
 *
 * @param reader The connection.
 * @returns The response.
 * @throws {ProtocolError} If the bytes are not a valid response.
 * @throws {Deno.errors.UnexpectedEof} If the peer closes mid-header.
 */
export async function readResponse(reader: ByteReader): Promise<Response> {
  const header = await readExact(reader, new Uint8Array(HEADER_LENGTH));
  const { status, messageLength, fileSize, payloadLength } =
    decodeResponseHeader(header);
  let message = "";
  if (messageLength > 0) {
    const bytes = await readExact(reader, new Uint8Array(messageLength));
    try {
      message = decoder.decode(bytes);
    } catch {
      throw new ProtocolError("bad-message", "The message is not valid UTF-8");
    }
  }
  return { status, message, fileSize, payloadLength };
}
