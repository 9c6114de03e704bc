import assert from "node:assert/strict";
import {
  entryLabel,
  entryNetHost,
  type MirrorEntry,
  mirrorFileUrl,
  nameFromUrl,
  protocolServer,
  urlLabel,
} from "./server_entry.ts";

function mirror(url: string): MirrorEntry {
  return { kind: "mirror", url: new URL(url) };
}

Deno.test("a folder mirror's label with the file's name is the file's URL, each segment encoded", () => {
  const folder = mirror("https://mirror.example.org/pub/");
  assert.equal(entryLabel(folder), "https://mirror.example.org/pub/");
  assert.equal(
    entryLabel(folder, "iso/big file#1.iso"),
    "https://mirror.example.org/pub/iso/big%20file%231.iso",
  );
  assert.equal(
    mirrorFileUrl(folder.url, "iso/big file#1.iso").href,
    "https://mirror.example.org/pub/iso/big%20file%231.iso",
  );
});

Deno.test("a file mirror's label is its URL, whatever the file's name", () => {
  const file = mirror("http://127.0.0.1:8080/files/a.bin");
  assert.equal(
    entryLabel(file, "other.bin"),
    "http://127.0.0.1:8080/files/a.bin",
  );
  assert.equal(
    entryLabel(protocolServer({ hostname: "::1", port: 30001 }), "a.bin"),
    "[::1]:30001",
  );
});

Deno.test("labels never show credentials or a query's secrets", () => {
  const presigned = mirror(
    "https://user:secret@bucket.example.com/f.bin?X-Amz-Signature=deadbeef",
  );
  assert.equal(entryLabel(presigned), "https://bucket.example.com/f.bin?…");
  const folder = mirror("https://user:secret@h.example/pub/?token=abc");
  assert.equal(entryLabel(folder, "a.bin"), "https://h.example/pub/a.bin?…");
  assert.equal(
    urlLabel(new URL("https://h.example:8443/x")),
    "https://h.example:8443/x",
  );
});

Deno.test("a mirror needs --allow-net for its host and port, the scheme's default port when none is written", () => {
  assert.equal(entryNetHost(mirror("http://h.example/f")), "h.example:80");
  assert.equal(entryNetHost(mirror("https://h.example/f")), "h.example:443");
  assert.equal(entryNetHost(mirror("http://h.example:443/f")), "h.example:443");
  assert.equal(entryNetHost(mirror("https://h.example:80/")), "h.example:80");
  assert.equal(entryNetHost(mirror("https://[::1]:8443/")), "[::1]:8443");
  assert.equal(
    entryNetHost(mirror("http://[2001:db8::1]/")),
    "[2001:db8::1]:80",
  );
  assert.equal(
    entryNetHost(protocolServer({ hostname: "127.0.0.1", port: 30001 })),
    "127.0.0.1:30001",
  );
});

Deno.test("a file URL's name is its last path segment, decoded", () => {
  assert.equal(
    nameFromUrl(new URL("https://h/pub/big%20file.iso")),
    "big file.iso",
  );
  assert.equal(nameFromUrl(new URL("https://h/a.bin?x=1")), "a.bin");
  assert.equal(nameFromUrl(new URL("https://h/pub/")), undefined);
  assert.equal(nameFromUrl(new URL("https://h/pub/%FF.bin")), undefined);
  assert.equal(nameFromUrl(new URL("https://h/%2F")), "/");
});
