import assert from "node:assert/strict";
import {
  type DownloadState,
  encodeState,
  loadState,
  MAX_STATE_BYTES,
  parseState,
  removeState,
  STATE_SUFFIX,
  UnreadableStateError,
} from "./download_state.ts";
import { saveState } from "./state_writer.ts";
import { withTempDir } from "../../../tests/_support/temp_dir.ts";
import { namesIn } from "../../../tests/_support/file_system.ts";
import { UNVERIFIED, VERIFIED } from "../../../tests/_support/sample_states.ts";

/** The state a text holds, or `undefined` where it holds none. */
function decodeState(text: string): DownloadState | undefined {
  const parsed = parseState(text);
  return "state" in parsed ? parsed.state : undefined;
}

/** The stored form of a state, as an object to spoil field by field. */
function stored(state: DownloadState = VERIFIED): Record<string, unknown> {
  return JSON.parse(encodeState(state));
}

Deno.test("a state survives encoding and decoding", () => {
  const states: DownloadState[] = [
    VERIFIED,
    UNVERIFIED,
    { ...UNVERIFIED, size: 0 },
    { ...VERIFIED, name: '日本語 "quoted"\n', done: [[5, 5]] },
    { ...VERIFIED, size: 2 ** 40 + 3, done: [[0, 2 ** 40 + 3]] },
  ];
  for (const state of states) {
    assert.deepEqual(decodeState(encodeState(state)), state);
  }
});

Deno.test("an encoded state is one line of JSON with a format tag", () => {
  const text = encodeState(UNVERIFIED);
  assert.ok(text.endsWith("\n"));
  assert.equal(text.indexOf("\n"), text.length - 1);
  assert.equal(stored(UNVERIFIED).format, "msfd-state-2");
});

Deno.test("a state of the first format is read with its identity covering the whole list", () => {
  const { listed: _, ...rest } = stored();
  for (const [identity, listed] of [["ab".repeat(32), 16], [null, 0]]) {
    const text = JSON.stringify({ ...rest, format: "msfd-state-1", identity });
    assert.deepEqual(decodeState(text), {
      ...VERIFIED,
      identity,
      listed,
    });
  }
});

Deno.test("decodeState refuses a listed count that does not fit the identity or the file", () => {
  const spoiled: [unknown, unknown][] = [
    [null, 3],
    ["ab".repeat(32), 0],
    ["ab".repeat(32), 17],
    ["ab".repeat(32), -1],
    ["ab".repeat(32), 1.5],
    ["ab".repeat(32), "3"],
    ["ab".repeat(32), undefined],
  ];
  for (const [identity, listed] of spoiled) {
    const text = JSON.stringify({ ...stored(), identity, listed });
    assert.equal(decodeState(text), undefined, `${identity} ${listed}`);
  }
});

Deno.test("decodeState ignores fields it does not know", () => {
  assert.deepEqual(
    decodeState(JSON.stringify({ ...stored(), extra: 1 })),
    VERIFIED,
  );
});

Deno.test("a state keeps each mirror's validators and digest, and one without them reads as before", () => {
  const withMirrors: DownloadState = {
    ...UNVERIFIED,
    mirrors: [
      { label: "http://a/f", etag: '"5f-1a"', lastModified: "Tue, 1 Jul 2025" },
      { label: "http://b/f", sha256: "cd".repeat(32) },
      { label: "http://c/f" },
    ],
  };
  assert.deepEqual(decodeState(encodeState(withMirrors)), withMirrors);
  assert.equal(stored(withMirrors).format, "msfd-state-2");
  assert.equal("mirrors" in decodeState(encodeState(UNVERIFIED))!, false);
});

Deno.test("decodeState refuses mirrors that are not labels with validators", () => {
  for (
    const [mirrors, problem] of [
      [{}, "its mirrors are not a list"],
      [[null], "its mirror 1 is not a label with validators"],
      [
        [{ label: "a" }, { etag: "x" }],
        "its mirror 2 is not a label with validators",
      ],
      [
        [{ label: "a", etag: 3 }],
        "its mirror 1 is not a label with validators",
      ],
      [
        [{ label: "a", sha256: "xy" }],
        "its mirror 1 is not a label with validators",
      ],
    ] as const
  ) {
    assert.deepEqual(parseState(JSON.stringify({ ...stored(), mirrors })), {
      problem,
    });
  }
});

Deno.test("decodeState refuses text that is not JSON", () => {
  for (const text of ["", "{", "not json", '{"format": }', "\u0000"]) {
    assert.equal(decodeState(text), undefined, JSON.stringify(text));
  }
});

Deno.test("decodeState refuses JSON that is not an object", () => {
  for (const text of ["null", "1", '"msfd-state-1"', "[]", "true"]) {
    assert.equal(decodeState(text), undefined, text);
  }
});

Deno.test("decodeState refuses a wrong or missing format tag", () => {
  for (const format of ["msfd-state-3", "msfd-state-0", "", 1, null]) {
    const text = JSON.stringify({ ...stored(), format });
    assert.equal(decodeState(text), undefined, String(format));
  }
});

Deno.test("decodeState refuses a state with a field missing", () => {
  for (
    const field of ["format", "name", "size", "blockSize", "identity", "done"]
  ) {
    const value = stored();
    delete value[field];
    assert.equal(decodeState(JSON.stringify(value)), undefined, field);
  }
});

Deno.test("decodeState refuses fields of the wrong type", () => {
  const spoiled: [string, unknown][] = [
    ["name", 5],
    ["name", null],
    ["size", "100"],
    ["blockSize", "1"],
    ["identity", 5],
    ["identity", false],
    ["identity", ["ab"]],
    ["identity", {}],
    ["done", {}],
    ["done", "[]"],
    ["done", null],
  ];
  for (const [field, bad] of spoiled) {
    const text = JSON.stringify({ ...stored(), [field]: bad });
    assert.equal(decodeState(text), undefined, `${field}: ${bad}`);
  }
});

Deno.test("decodeState refuses negative and fractional numbers", () => {
  const spoiled: [string, unknown][] = [
    ["size", -1],
    ["size", 1.5],
    ["size", 2 ** 53],
    ["blockSize", -1],
    ["blockSize", 0.5],
    ["blockSize", 0],
  ];
  for (const [field, bad] of spoiled) {
    const text = JSON.stringify({ ...stored(), [field]: bad });
    assert.equal(decodeState(text), undefined, `${field}: ${bad}`);
  }
});

Deno.test("decodeState refuses malformed done intervals", () => {
  const size = VERIFIED.size;
  const spoiled: unknown[] = [
    [[0, size + 1]],
    [[size + 1, size + 2]],
    [[10, 5]],
    [[-1, 5]],
    [[0, 5.5]],
    [[0.5, 5]],
    [[0, "5"]],
    [[0, null]],
    [[0]],
    [[0, 1, 2]],
    [[]],
    [5],
    [null],
    ["0-5"],
    [{ start: 0, end: 5 }],
    [[0, 5], [7, 3]],
  ];
  for (const done of spoiled) {
    const text = JSON.stringify({ ...stored(), done });
    assert.equal(decodeState(text), undefined, JSON.stringify(done));
  }
});

Deno.test("loading a missing state file gives undefined", async () => {
  await withTempDir("download_state_test_", async (dir) => {
    assert.equal(await loadState(`${dir}/missing${STATE_SUFFIX}`), undefined);
  });
});

Deno.test("loading a corrupt state file says what is wrong with it", async () => {
  await withTempDir("download_state_test_", async (dir) => {
    const path = `${dir}/corrupt${STATE_SUFFIX}`;
    await Deno.writeTextFile(path, encodeState(VERIFIED).slice(0, 30));
    await assert.rejects(loadState(path), (error: unknown) => {
      assert.ok(error instanceof UnreadableStateError);
      assert.equal(error.path, path);
      assert.equal(error.problem, "it is not JSON");
      assert.equal(error.newerFormat, undefined);
      assert.equal(
        error.message,
        `The download state ${
          JSON.stringify(path)
        } cannot be read: it is not JSON`,
      );
      return true;
    });
  });
});

Deno.test("a state file larger than a state can be is refused without reading it", async () => {
  await withTempDir("download_state_test_", async (dir) => {
    const path = `${dir}/huge${STATE_SUFFIX}`;
    // Sparse: 1.5 GiB of nothing, which would not fit in a string.
    using file = await Deno.open(path, { write: true, create: true });
    await file.truncate(1536 * 1024 * 1024);
    await assert.rejects(loadState(path), (error: unknown) => {
      assert.ok(error instanceof UnreadableStateError);
      assert.equal(
        error.problem,
        "it is larger than the 64 MiB a download state can be",
      );
      return true;
    });
    await file.truncate(MAX_STATE_BYTES + 1);
    await assert.rejects(loadState(path), UnreadableStateError);
    // At the limit it is read, and is not a state.
    await file.truncate(MAX_STATE_BYTES);
    await assert.rejects(loadState(path), /it is not JSON/);
  });
});

Deno.test("parseState says what is wrong with a state that cannot be used", () => {
  const cases: [Record<string, unknown> | string, string][] = [
    ["[1, 2]", "it is not a JSON object"],
    [{ ...stored(), format: undefined }, "it has no format tag"],
    [
      { ...stored(), format: "other" },
      'its format tag is "other", not "msfd-state-2"',
    ],
    [{ ...stored(), name: 5 }, "its name is not a string"],
    [{ ...stored(), size: -1 }, "its size is not a whole number of bytes"],
    [
      { ...stored(), blockSize: 0 },
      "its block size is not a positive whole number",
    ],
    [
      { ...stored(), identity: "ab".repeat(31) },
      "its identity is neither null nor 64 hexadecimal digits",
    ],
    [
      { ...stored(), identity: "AB".repeat(32) },
      "its identity is neither null nor 64 hexadecimal digits",
    ],
    [
      { ...stored(), listed: 100_000 },
      "its listed count 100000 does not fit its identity and its 16 blocks",
    ],
    [
      { ...stored(), done: [[0, 5], [7, 1_000_004]] },
      "its done interval 2 is not a pair of offsets from 0 to 1000003",
    ],
  ];
  for (const [value, problem] of cases) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    assert.deepEqual(parseState(text), { problem }, text);
  }
});

Deno.test("parseState tells a state of a newer version from a broken one", () => {
  for (const format of ["msfd-state-3", "msfd-state-12"]) {
    assert.deepEqual(parseState(JSON.stringify({ ...stored(), format })), {
      problem:
        `it was written by a newer version of the client (format "${format}")`,
      newerFormat: format,
    });
  }
  // Even with fields this version does not know the meaning of.
  assert.deepEqual(
    parseState(JSON.stringify({ format: "msfd-state-3", parts: {} })),
    {
      problem:
        'it was written by a newer version of the client (format "msfd-state-3")',
      newerFormat: "msfd-state-3",
    },
  );
  for (const format of ["msfd-state-0", "msfd-state-03", "msfd-state-x"]) {
    const parsed = parseState(JSON.stringify({ ...stored(), format }));
    assert.ok(!("state" in parsed) && parsed.newerFormat === undefined);
  }
});

Deno.test("removeState deletes a state file and ignores a missing one", async () => {
  await withTempDir("download_state_test_", async (dir) => {
    const path = `${dir}/file${STATE_SUFFIX}`;
    await saveState(path, UNVERIFIED);
    await removeState(path);
    assert.deepEqual(await namesIn(dir), []);
    await removeState(path);
    await removeState(`${dir}/never/there`);
    assert.equal(await loadState(path), undefined);
  });
});
