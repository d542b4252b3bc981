// The BGP modules import each other without a cycle (issue 18: the speaker split by ownership must
// not become a loop of files that need each other). Reads the TypeScript sources beside dist/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const SRC = [resolve(here, "../../../src/bgp"), resolve(here)].find((d) => existsSync(join(d, "speaker.ts")));

/** Strongly connected components of more than one file (or a file importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

test("no import cycle among src/bgp's modules (type-only imports included)", (t) => {
  if (!SRC) return t.skip("TypeScript sources not found beside dist/");
  const graph = new Map<string, string[]>();
  for (const f of readdirSync(SRC, { recursive: true }).map(String)) {
    if (!f.endsWith(".ts") || f.endsWith(".test.ts")) continue;
    const file = join(SRC, f);
    const deps = [...readFileSync(file, "utf8").matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.[^"]+)\.js"/gms)].map((m) =>
      relative(SRC, resolve(dirname(file), `${m[1]}.ts`)),
    );
    graph.set(f, deps);
  }
  assert.ok(graph.has("speaker.ts") && graph.size > 30);
  assert.deepEqual(cycles(graph), []);
  // and the check sees one when there is one
  assert.deepEqual(
    cycles(
      new Map([
        ["a.ts", ["b.ts"]],
        ["b.ts", ["a.ts"]],
        ["c.ts", ["a.ts"]],
      ]),
    ),
    [["a.ts", "b.ts"]],
  );
});
