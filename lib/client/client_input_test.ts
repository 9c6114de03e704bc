import assert from "node:assert/strict";
import { InputError, nameFromFileUrls, onlyFileUrls } from "./client_input.ts";
import { parseServerList } from "./server_list.ts";

function list(text: string) {
  return parseServerList(text).servers;
}

Deno.test("only a list of file URLs needs no file name", () => {
  assert.equal(
    onlyFileUrls(list("https://a.example/f.iso\nhttp://127.0.0.1:1/g.iso\n")),
    true,
  );
  assert.equal(
    onlyFileUrls(list("https://a.example/f.iso\nhttps://b.example/pub/\n")),
    false,
  );
  assert.equal(
    onlyFileUrls(list("https://a.example/f.iso\nlocalhost 30001\n")),
    false,
  );
  assert.equal(onlyFileUrls(list("https://a.example\n")), false);
  assert.equal(onlyFileUrls([]), false);
});

Deno.test("a list of file URLs is named after the first URL's last segment, decoded", () => {
  assert.equal(
    nameFromFileUrls(
      list("https://a.example/pub/big%20file.iso?sig=x\nhttps://b/other.iso\n"),
    ),
    "big file.iso",
  );
  assert.equal(
    nameFromFileUrls(list("https://a.example/%E2%9C%93.bin\n")),
    "✓.bin",
  );
});

Deno.test("a first URL whose last segment decodes to no usable name is a clear error", () => {
  const cases: [url: string, why: string][] = [
    [
      "https://a.example/pub/%FF.bin",
      'Cannot name the file after the URL "https://a.example/pub/%FF.bin": its last path segment is not valid percent-encoded UTF-8; give the file name after <numchunks>',
    ],
    [
      "https://a.example/pub/%2F",
      'Cannot name the file after the URL "https://a.example/pub/%2F": its last path segment decodes to "/", not a usable file name; give the file name after <numchunks>',
    ],
    [
      "https://user:pw@a.example/a%2F..?token=secret",
      'Cannot name the file after the URL "https://a.example/a%2F..?…": its last path segment decodes to "a/..", not a usable file name; give the file name after <numchunks>',
    ],
    [
      "https://a.example/%00",
      'Cannot name the file after the URL "https://a.example/%00": its last path segment decodes to "\\u0000", which holds control or invisible characters; give the file name after <numchunks>',
    ],
    [
      "https://a.example/a%0Ab.bin",
      'Cannot name the file after the URL "https://a.example/a%0Ab.bin": its last path segment decodes to "a\\nb.bin", which holds control or invisible characters; give the file name after <numchunks>',
    ],
    [
      "https://a.example/%E2%80%AEgnp.exe",
      'Cannot name the file after the URL "https://a.example/%E2%80%AEgnp.exe": its last path segment decodes to "\\u202egnp.exe", which holds control or invisible characters; give the file name after <numchunks>',
    ],
  ];
  for (const [url, message] of cases) {
    assert.throws(
      () => nameFromFileUrls(list(`${url}\n`)),
      (error: unknown) =>
        error instanceof InputError && error.message === message ||
        assert.fail(`${url}: ${error}`),
    );
  }
});
