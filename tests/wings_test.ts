/**
 * The house's rule: the wings import downwards only. `lib/wire/` imports no
 * other wing; `lib/cli/` imports only `wire/`; `lib/server/` and
 * `lib/client/` import `wire/` and `cli/`, never each other; nothing in
 * `lib/` but its unit tests imports the tests' support.
 */

import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";

const LIB = new URL("../lib/", import.meta.url).pathname;

/** What each wing may import, besides itself. */
const ALLOWED: Record<string, readonly string[]> = {
  wire: [],
  cli: ["wire"],
  server: ["wire", "cli"],
  client: ["wire", "cli"],
};

async function* modules(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* modules(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The relative modules a source imports or re-exports. */
function importsOf(source: string): string[] {
  const specifiers = source.matchAll(
    /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
  );
  return [...specifiers].map((match) => match[1]!);
}

Deno.test("every module in lib/ sits in a wing and imports only the wings below it", async () => {
  const crossings: string[] = [];
  for await (const path of modules(LIB)) {
    const from = relative(LIB, path);
    const wing = from.split("/")[0]!;
    assert.ok(wing in ALLOWED, `${from} is in no wing`);
    for (const specifier of importsOf(await Deno.readTextFile(path))) {
      const target = relative(LIB, join(dirname(path), specifier));
      const targetWing = target.split("/")[0]!;
      if (target.startsWith("..")) {
        // Unit tests take their helpers from the tests' support.
        const support = target.startsWith("../tests/_support/");
        if (!(support && from.endsWith("_test.ts"))) {
          crossings.push(`${from} imports ${specifier}, outside lib/`);
        }
      } else if (
        targetWing !== wing && !ALLOWED[wing]!.includes(targetWing)
      ) {
        crossings.push(`${from} (${wing}) imports ${target} (${targetWing})`);
      }
    }
  }
  assert.deepEqual(crossings, []);
});

Deno.test("the wing rule catches an import across wings", () => {
  assert.deepEqual(
    importsOf(
      'import { a } from "../client/x.ts";\nexport { b } from "./y.ts";\n' +
        'import {\n  c,\n} from "../wire/z.ts";\n',
    ),
    ["../client/x.ts", "./y.ts", "../wire/z.ts"],
  );
});
