import assert from "node:assert/strict";
import { PieceReader } from "../../tests/_support/piece_reader.ts";
import { concatBytes } from "./byte_arrays.ts";
import {
  HEADER_LENGTH,
  KEEP_OPEN_VERSION,
  MAGIC,
  MAX_MESSAGE_BYTES,
  MAX_NAME_BYTES,
  Op,
  ProtocolError,
  type ProtocolErrorCode,
  type Request,
  type Response,
  Status,
  VERSION,
} from "./protocol.ts";
import {
  checkMagic,
  decodeName,
  decodeRequestHeader,
  decodeResponseHeader,
  encodeName,
  encodeRequest,
  encodeResponse,
  readRequest,
  readResponse,
} from "./frame_codec.ts";

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const FOUR_GIB = 2 ** 32;

/** A raw header with every field chosen by the test, valid or not. */
function rawHeader(
  fields: {
    magic?: Uint8Array;
    version?: number;
    code: number;
    textLength: number;
    a: bigint;
    b: bigint;
  },
): Uint8Array {
  const header = new Uint8Array(HEADER_LENGTH);
  const view = new DataView(header.buffer);
  header.set(fields.magic ?? MAGIC);
  view.setUint8(4, fields.version ?? VERSION);
  view.setUint8(5, fields.code);
  view.setUint16(6, fields.textLength);
  view.setBigUint64(8, fields.a);
  view.setBigUint64(16, fields.b);
  return header;
}

function requestHeader(
  overrides: Partial<Parameters<typeof rawHeader>[0]> = {},
): Uint8Array {
  return rawHeader({
    code: Op.RANGE,
    textLength: 5,
    a: 0n,
    b: 10n,
    ...overrides,
  });
}

function responseHeader(
  overrides: Partial<Parameters<typeof rawHeader>[0]> = {},
): Uint8Array {
  return rawHeader({
    code: Status.OK,
    textLength: 0,
    a: 100n,
    b: 10n,
    ...overrides,
  });
}

function isProtocolError(code: ProtocolErrorCode) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error}`);
    assert.equal(error.name, "ProtocolError");
    assert.equal(error.code, code);
    return true;
  };
}

function assertProtocolError(fn: () => unknown, code: ProtocolErrorCode) {
  assert.throws(fn, isProtocolError(code));
}

function isUnexpectedEof(error: unknown): boolean {
  assert.ok(
    error instanceof Deno.errors.UnexpectedEof,
    `not UnexpectedEof: ${error}`,
  );
  return true;
}

function decodeRequest(frame: Uint8Array): Request {
  const header = decodeRequestHeader(frame.subarray(0, HEADER_LENGTH));
  assert.equal(frame.length, HEADER_LENGTH + header.nameLength);
  const name = decodeName(frame.subarray(HEADER_LENGTH));
  return {
    op: header.op,
    name,
    offset: header.offset,
    length: header.length,
  };
}

const REQUESTS: Request[] = [
  { op: Op.SIZE, name: "a.txt", offset: 0, length: 0 },
  { op: Op.RANGE, name: "a.txt", offset: 0, length: 1 },
  { op: Op.RANGE, name: "folder/sub/file.bin", offset: 12345, length: 678 },
  { op: Op.RANGE, name: "big.iso", offset: FOUR_GIB + 7, length: FOUR_GIB },
  { op: Op.RANGE, name: "big.iso", offset: MAX_SAFE, length: 0 },
  { op: Op.RANGE, name: "big.iso", offset: 0, length: MAX_SAFE },
  { op: Op.RANGE, name: "big.iso", offset: MAX_SAFE - 10, length: 10 },
  { op: Op.RANGE, name: "Grüße/日本語 😀.txt", offset: 1, length: 2 },
  { op: Op.SIZE, name: "n".repeat(MAX_NAME_BYTES), offset: 0, length: 0 },
];

const RESPONSES: Response[] = [
  { status: Status.OK, message: "", fileSize: 0, payloadLength: 0 },
  { status: Status.OK, message: "", fileSize: 100, payloadLength: 10 },
  {
    status: Status.OK,
    message: "",
    fileSize: 5 * FOUR_GIB + 3,
    payloadLength: FOUR_GIB + 1,
  },
  {
    status: Status.OK,
    message: "",
    fileSize: MAX_SAFE,
    payloadLength: MAX_SAFE,
  },
  {
    status: Status.NOT_FOUND,
    message: 'No such file: "x"',
    fileSize: 0,
    payloadLength: 0,
  },
  {
    status: Status.FORBIDDEN,
    message: "Nicht erlaubt: «x»",
    fileSize: 0,
    payloadLength: 0,
  },
  {
    status: Status.BAD_REQUEST,
    message: "The file name is empty",
    fileSize: 0,
    payloadLength: 0,
  },
  {
    status: Status.RANGE,
    message: "Range past the end",
    fileSize: MAX_SAFE,
    payloadLength: 0,
  },
  {
    status: Status.SERVER_ERROR,
    message: "m".repeat(MAX_MESSAGE_BYTES),
    fileSize: 0,
    payloadLength: 0,
  },
];

Deno.test("requests survive an encode and decode round trip", () => {
  for (const request of REQUESTS) {
    const frame = encodeRequest(request);
    assert.deepEqual(frame.subarray(0, 4), MAGIC);
    assert.equal(frame[4], VERSION);
    assert.deepEqual(decodeRequest(frame), request);
  }
});

Deno.test("a request header is laid out in network byte order", () => {
  const frame = encodeRequest({
    op: Op.RANGE,
    name: "ab",
    offset: 0x0102030405,
    length: 0x0a0b,
  });
  assert.deepEqual(
    frame,
    new Uint8Array([
      ...[0x4d, 0x53, 0x46, 0x44, VERSION, Op.RANGE, 0, 2],
      ...[0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05],
      ...[0, 0, 0, 0, 0, 0, 0x0a, 0x0b],
      ...[0x61, 0x62],
    ]),
  );
});

Deno.test("a header is decoded from a view that does not start its buffer", () => {
  const frame = encodeRequest({
    op: Op.RANGE,
    name: "x",
    offset: FOUR_GIB,
    length: 9,
  });
  const shifted = concatBytes([new Uint8Array(7).fill(0xff), frame]);
  const header = decodeRequestHeader(
    shifted.subarray(7, 7 + HEADER_LENGTH),
  );
  assert.deepEqual(header, {
    op: Op.RANGE,
    nameLength: 1,
    offset: FOUR_GIB,
    length: 9,
  });
  const response = concatBytes([
    new Uint8Array(3),
    encodeResponse({
      status: Status.OK,
      message: "",
      fileSize: FOUR_GIB * 3,
      payloadLength: 4,
    }),
  ]);
  assert.deepEqual(decodeResponseHeader(response.subarray(3)), {
    status: Status.OK,
    messageLength: 0,
    fileSize: FOUR_GIB * 3,
    payloadLength: 4,
  });
});

Deno.test("responses with every status survive an encode and decode round trip", () => {
  const seen = new Set<number>();
  for (const response of RESPONSES) {
    seen.add(response.status);
    const frame = encodeResponse(response);
    const header = decodeResponseHeader(frame.subarray(0, HEADER_LENGTH));
    assert.deepEqual(header, {
      status: response.status,
      messageLength: new TextEncoder().encode(response.message).length,
      fileSize: response.fileSize,
      payloadLength: response.payloadLength,
    });
    assert.equal(frame.length, HEADER_LENGTH + header.messageLength);
    assert.equal(
      new TextDecoder().decode(frame.subarray(HEADER_LENGTH)),
      response.message,
    );
  }
  assert.deepEqual([...seen].sort(), Object.values(Status).sort());
});

Deno.test("a request name is checked before it is encoded", async (t) => {
  await t.step("an empty name is refused", () => {
    assertProtocolError(() => encodeName(""), "bad-name");
    assertProtocolError(
      () => encodeRequest({ op: Op.SIZE, name: "", offset: 0, length: 0 }),
      "bad-name",
    );
  });
  await t.step("a name with a NUL is refused", () => {
    assertProtocolError(() => encodeName("a\0b"), "bad-name");
  });
  await t.step("a name longer than the limit in bytes is refused", () => {
    assert.equal(encodeName("x".repeat(MAX_NAME_BYTES)).length, MAX_NAME_BYTES);
    assertProtocolError(
      () => encodeName("x".repeat(MAX_NAME_BYTES + 1)),
      "bad-name",
    );
    // 2048 characters but 4098 bytes: the limit counts bytes.
    assertProtocolError(
      () => encodeName("x" + "é".repeat(MAX_NAME_BYTES / 2)),
      "bad-name",
    );
  });
});

Deno.test("encodeRequest refuses offsets and lengths that are not safe non-negative integers", () => {
  const bad = [-1, 1.5, NaN, Infinity, -Infinity, MAX_SAFE + 1, 2 ** 64];
  for (const value of bad) {
    assert.throws(
      () =>
        encodeRequest({ op: Op.RANGE, name: "a", offset: value, length: 1 }),
      RangeError,
      `offset ${value}`,
    );
    assert.throws(
      () =>
        encodeRequest({ op: Op.RANGE, name: "a", offset: 1, length: value }),
      RangeError,
      `length ${value}`,
    );
  }
  assert.throws(
    () => encodeRequest({ op: Op.RANGE, name: "a", offset: -1, length: 1 }),
    {
      name: "RangeError",
      message:
        "Cannot encode offset: expected an integer from 0 to 2^53-1: received -1",
    },
  );
});

Deno.test("encodeResponse refuses sizes that are not safe non-negative integers", () => {
  for (const value of [-1, 0.5, NaN, MAX_SAFE + 1]) {
    assert.throws(
      () =>
        encodeResponse({
          status: Status.OK,
          message: "",
          fileSize: value,
          payloadLength: 0,
        }),
      RangeError,
    );
    assert.throws(
      () =>
        encodeResponse({
          status: Status.OK,
          message: "",
          fileSize: 0,
          payloadLength: value,
        }),
      RangeError,
    );
  }
});

Deno.test("an overlong message is cut at a character boundary on encode", () => {
  const cases: [message: string, kept: string][] = [
    ["a".repeat(2000), "a".repeat(MAX_MESSAGE_BYTES)],
    // 1 + 341 * 3 = 1024 bytes: the cut falls exactly between characters.
    ["a" + "€".repeat(400), "a" + "€".repeat(341)],
    // 2 + 340 * 3 = 1022 bytes; the 341st euro sign would end at 1025.
    ["ab" + "€".repeat(400), "ab" + "€".repeat(340)],
    // 1 + 255 * 4 = 1021 bytes; the next emoji would end at 1025.
    ["a" + "😀".repeat(300), "a" + "😀".repeat(255)],
    ["ab" + "😀".repeat(300), "ab" + "😀".repeat(255)],
    ["abc" + "😀".repeat(300), "abc" + "😀".repeat(255)],
    // Exactly at the limit: nothing is cut.
    ["😀".repeat(256), "😀".repeat(256)],
  ];
  for (const [message, kept] of cases) {
    const frame = encodeResponse({
      status: Status.SERVER_ERROR,
      message,
      fileSize: 0,
      payloadLength: 0,
    });
    const header = decodeResponseHeader(frame.subarray(0, HEADER_LENGTH));
    assert.ok(header.messageLength <= MAX_MESSAGE_BYTES);
    assert.equal(header.messageLength, frame.length - HEADER_LENGTH);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      frame.subarray(HEADER_LENGTH),
    );
    assert.equal(text, kept);
  }
});

Deno.test("a frame shorter than a header is reported as truncated", () => {
  for (const length of [0, 4, 23]) {
    const bytes = requestHeader().subarray(0, length);
    assertProtocolError(() => decodeRequestHeader(bytes), "truncated");
    assertProtocolError(() => decodeResponseHeader(bytes), "truncated");
  }
});

Deno.test("a frame with the wrong magic bytes is refused", () => {
  for (const magic of ["MSFE", "msfd", "GET ", "\0\0\0\0"]) {
    const bytes = new TextEncoder().encode(magic);
    assertProtocolError(() => checkMagic(bytes), "bad-magic");
    assertProtocolError(
      () => decodeRequestHeader(requestHeader({ magic: bytes })),
      "bad-magic",
    );
    assertProtocolError(
      () => decodeResponseHeader(responseHeader({ magic: bytes })),
      "bad-magic",
    );
  }
  assertProtocolError(() => checkMagic(MAGIC.subarray(0, 3)), "bad-magic");
  checkMagic(MAGIC);
});

Deno.test("a frame with another protocol version is refused", () => {
  for (const version of [0, KEEP_OPEN_VERSION + 1, 255]) {
    assertProtocolError(
      () => decodeRequestHeader(requestHeader({ version })),
      "bad-version",
    );
    assertProtocolError(
      () => decodeResponseHeader(responseHeader({ version })),
      "bad-version",
    );
  }
});

Deno.test("a request with an unknown operation is refused", () => {
  for (const code of [0, 5, 255]) {
    assertProtocolError(
      () => decodeRequestHeader(requestHeader({ code })),
      "bad-op",
    );
  }
});

Deno.test("a response with an unknown status is refused", () => {
  for (const code of [6, 7, 128, 255]) {
    assertProtocolError(
      () => decodeResponseHeader(responseHeader({ code, b: 0n })),
      "bad-status",
    );
  }
});

Deno.test("a request name length of 0 or past the limit is refused", () => {
  for (const textLength of [0, MAX_NAME_BYTES + 1, 0xffff]) {
    assertProtocolError(
      () => decodeRequestHeader(requestHeader({ textLength })),
      "bad-length",
    );
  }
  assert.equal(
    decodeRequestHeader(requestHeader({ textLength: MAX_NAME_BYTES }))
      .nameLength,
    MAX_NAME_BYTES,
  );
});

Deno.test("a request number past 2^53-1 is refused", () => {
  const tooBig = [BigInt(MAX_SAFE) + 1n, 2n ** 63n, 2n ** 64n - 1n];
  for (const value of tooBig) {
    assertProtocolError(
      () => decodeRequestHeader(requestHeader({ a: value, b: 0n })),
      "bad-number",
    );
    assertProtocolError(
      () => decodeRequestHeader(requestHeader({ a: 0n, b: value })),
      "bad-number",
    );
  }
});

Deno.test("a request whose offset plus length passes 2^53-1 is refused", () => {
  const max = BigInt(MAX_SAFE);
  const pairs: [bigint, bigint][] = [
    [max, 1n],
    [1n, max],
    [max, max],
    [2n ** 52n, 2n ** 52n],
  ];
  for (const [a, b] of pairs) {
    assertProtocolError(
      () => decodeRequestHeader(requestHeader({ a, b })),
      "bad-number",
    );
  }
  assert.deepEqual(
    decodeRequestHeader(requestHeader({ a: max - 5n, b: 5n })),
    { op: Op.RANGE, nameLength: 5, offset: MAX_SAFE - 5, length: 5 },
  );
});

Deno.test("a response number past 2^53-1 is refused", () => {
  const tooBig = BigInt(MAX_SAFE) + 1n;
  assertProtocolError(
    () => decodeResponseHeader(responseHeader({ a: tooBig })),
    "bad-number",
  );
  assertProtocolError(
    () => decodeResponseHeader(responseHeader({ b: tooBig })),
    "bad-number",
  );
});

Deno.test("a response message length past the limit is refused", () => {
  for (const textLength of [MAX_MESSAGE_BYTES + 1, 0xffff]) {
    assertProtocolError(
      () =>
        decodeResponseHeader(
          responseHeader({ code: Status.NOT_FOUND, textLength, b: 0n }),
        ),
      "bad-length",
    );
  }
});

Deno.test("an error response with a nonzero payload length is refused", () => {
  for (const status of Object.values(Status)) {
    if (status === Status.OK) continue;
    assertProtocolError(
      () => decodeResponseHeader(responseHeader({ code: status, b: 1n })),
      "bad-length",
    );
  }
});

Deno.test("a request name that is not valid UTF-8 or holds a NUL is refused", () => {
  const invalid = [
    [0xff],
    [0x61, 0x80],
    [0xc3], // first byte of a two-byte character, cut short
    [0xed, 0xa0, 0x80], // an encoded surrogate
    [0xc0, 0xaf], // an overlong "/"
  ];
  for (const bytes of invalid) {
    assertProtocolError(() => decodeName(new Uint8Array(bytes)), "bad-name");
  }
  assertProtocolError(
    () => decodeName(new Uint8Array([0x61, 0x00, 0x62])),
    "bad-name",
  );
  assert.equal(decodeName(new TextEncoder().encode("ü/ß")), "ü/ß");
});

Deno.test("readRequest reads a request that arrives a few bytes at a time", async () => {
  for (const request of REQUESTS) {
    const frame = encodeRequest(request);
    const trailing = new Uint8Array([9, 9, 9]);
    const reader = new PieceReader(concatBytes([frame, trailing]));
    assert.deepEqual(await readRequest(reader), request);
    assert.equal(reader.consumed, frame.length, "read past the request");
  }
});

Deno.test("readRequest reads requests back to back on one stream", async () => {
  const reader = new PieceReader(concatBytes(REQUESTS.map(encodeRequest)));
  for (const request of REQUESTS) {
    assert.deepEqual(await readRequest(reader), request);
  }
  await assert.rejects(readRequest(reader), isUnexpectedEof);
});

Deno.test("readRequest rejects bad magic after reading only the first four bytes", async () => {
  const http = new TextEncoder().encode(
    "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
  );
  for (const pieces of [[1], [2, 3], [3], [100]]) {
    const reader = new PieceReader(http, pieces);
    await assert.rejects(readRequest(reader), isProtocolError("bad-magic"));
    assert.equal(reader.consumed, 4);
  }
});

Deno.test("readRequest rejects a declared name length before reading the name", async () => {
  const header = requestHeader({ textLength: MAX_NAME_BYTES + 1 });
  const reader = new PieceReader(
    concatBytes([header, new Uint8Array(MAX_NAME_BYTES + 1).fill(0x61)]),
  );
  await assert.rejects(readRequest(reader), isProtocolError("bad-length"));
  assert.equal(reader.consumed, HEADER_LENGTH);
});

Deno.test("readRequest rejects other malformed requests", async () => {
  const cases: [bytes: Uint8Array, code: ProtocolErrorCode][] = [
    [
      concatBytes([requestHeader({ version: 3 }), new Uint8Array(5)]),
      "bad-version",
    ],
    [concatBytes([requestHeader({ code: 9 }), new Uint8Array(5)]), "bad-op"],
    [
      concatBytes([
        requestHeader({ a: BigInt(MAX_SAFE), b: 1n }),
        new Uint8Array(5),
      ]),
      "bad-number",
    ],
    [
      concatBytes([
        requestHeader({ textLength: 2 }),
        new Uint8Array([0xe2, 0x82]),
      ]),
      "bad-name",
    ],
    [
      concatBytes([requestHeader({ textLength: 1 }), new Uint8Array([0])]),
      "bad-name",
    ],
  ];
  for (const [bytes, code] of cases) {
    await assert.rejects(
      readRequest(new PieceReader(bytes)),
      isProtocolError(code),
    );
  }
});

Deno.test("readRequest reports a stream that ends mid-request as UnexpectedEof", async () => {
  const frame = encodeRequest({
    op: Op.RANGE,
    name: "some/file.txt",
    offset: FOUR_GIB,
    length: 100,
  });
  // Every cut: inside the magic, inside the header, inside the name.
  for (let cut = 0; cut < frame.length; cut++) {
    await assert.rejects(
      readRequest(new PieceReader(frame.subarray(0, cut))),
      isUnexpectedEof,
      `cut at ${cut}`,
    );
  }
});

Deno.test("readResponse reads a response a few bytes at a time and leaves the payload", async () => {
  for (const response of RESPONSES) {
    const frame = encodeResponse(response);
    const payload = new Uint8Array([1, 2, 3, 4, 5]);
    const reader = new PieceReader(concatBytes([frame, payload]));
    assert.deepEqual(await readResponse(reader), response);
    assert.equal(reader.consumed, frame.length, "read into the payload");
  }
});

Deno.test("readResponse rejects malformed responses", async () => {
  const cases: [bytes: Uint8Array, code: ProtocolErrorCode][] = [
    [responseHeader({ magic: new Uint8Array([1, 2, 3, 4]) }), "bad-magic"],
    [responseHeader({ version: 0 }), "bad-version"],
    [responseHeader({ code: 42, b: 0n }), "bad-status"],
    [
      responseHeader({ code: Status.FORBIDDEN, textLength: 2000, b: 0n }),
      "bad-length",
    ],
    [responseHeader({ code: Status.NOT_FOUND, b: 7n }), "bad-length"],
    [responseHeader({ a: 2n ** 53n }), "bad-number"],
    [
      concatBytes([
        responseHeader({ code: Status.NOT_FOUND, textLength: 3, b: 0n }),
        new Uint8Array([0x61, 0xff, 0x62]),
      ]),
      "bad-message",
    ],
  ];
  for (const [bytes, code] of cases) {
    await assert.rejects(
      readResponse(new PieceReader(bytes)),
      isProtocolError(code),
    );
  }
});

Deno.test("readResponse reports a stream that ends mid-response as UnexpectedEof", async () => {
  const frame = encodeResponse({
    status: Status.NOT_FOUND,
    message: "No such file",
    fileSize: 0,
    payloadLength: 0,
  });
  for (let cut = 0; cut < frame.length; cut++) {
    await assert.rejects(
      readResponse(new PieceReader(frame.subarray(0, cut))),
      isUnexpectedEof,
      `cut at ${cut}`,
    );
  }
});

Deno.test("a request that asks to keep the connection open is version 2 and reads back so", async () => {
  const request = {
    op: Op.RANGE,
    name: "f.bin",
    offset: 5,
    length: 7,
    keepOpen: true,
  };
  const frame = encodeRequest(request);
  assert.equal(frame[4], KEEP_OPEN_VERSION);
  assert.deepEqual(await readRequest(new PieceReader(frame)), request);
  // Without it, version 1 and no field.
  const plain = encodeRequest({ ...request, keepOpen: false });
  assert.equal(plain[4], VERSION);
  assert.deepEqual(await readRequest(new PieceReader(plain)), {
    op: Op.RANGE,
    name: "f.bin",
    offset: 5,
    length: 7,
  });
});

Deno.test("decodeName keeps a leading U+FEFF: names are exact bytes", () => {
  const bytes = new TextEncoder().encode("\ufeffbom.txt");
  assert.equal(bytes.length, 10);
  assert.equal(decodeName(bytes), "\ufeffbom.txt");
});
