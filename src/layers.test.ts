/**
 * The layers, enforced (docs/design.md "Layers"): every import in src/ is parsed from the source
 * and checked against the order below. A module may import its own unit and units of a lower
 * rank, never a higher rank nor a sibling of the same rank; a pure module (no I/O: codecs, FSMs,
 * RIB, calculation graph, IPAM maths) imports only pure modules and no I/O builtin; tabby's code
 * never imports the test support in src/testkit/; and no two modules import each other at run
 * time, however indirectly. A file is in the unit of the longest path below that starts it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

interface Unit {
  rank: number;
  unit: string;
  paths: string[];
  pure?: boolean;
}

/** The layer order, lowest first (keep docs/design.md "Layers" in step). */
export const LAYERS: Unit[] = [
  { rank: 0, unit: "errors", paths: ["errors.ts"], pure: true },
  { rank: 0, unit: "clock", paths: ["clock.ts"], pure: true },
  { rank: 0, unit: "version", paths: ["version.ts"] },
  { rank: 0, unit: "ports", paths: ["ports.ts"], pure: true },
  { rank: 0, unit: "node-http", paths: ["node-http.ts"] },
  { rank: 1, unit: "net", paths: ["net/"], pure: true },
  { rank: 1, unit: "selector", paths: ["selector/"], pure: true },
  { rank: 2, unit: "model", paths: ["model/"], pure: true },
  { rank: 3, unit: "bgp-core", paths: ["bgp/errors.ts", "bgp/wire/", "bgp/rib/", "bgp/fsm.ts", "bgp/negotiate.ts", "bgp/policy.ts"], pure: true },
  { rank: 3, unit: "bfd-core", paths: ["bfd/errors.ts", "bfd/wire/", "bfd/session.ts"], pure: true },
  {
    rank: 3,
    unit: "ipam-core",
    paths: ["ipam/api.ts", "ipam/block.ts", "ipam/gc.ts", "ipam/keys.ts", "ipam/pools.ts", "ipam/prng.ts", "ipam/reservations.ts"],
    pure: true,
  },
  {
    rank: 3,
    unit: "dataplane-core",
    paths: [
      "dataplane/netlink/constants.ts",
      "dataplane/netlink/codec.ts",
      "dataplane/netlink/route-codec.ts",
      "dataplane/netlink/link-events.ts",
      "dataplane/route-resolve.ts",
    ],
    pure: true,
  },
  {
    rank: 3,
    unit: "dhcp-core",
    paths: ["dhcp/errors.ts", "dhcp/bpf.ts", "dhcp/dhcp4.ts", "dhcp/dhcp6.ts", "dhcp/ip-packet.ts", "dhcp/ra.ts", "dhcp/responder.ts"],
    pure: true,
  },
  { rank: 3, unit: "vm-core", paths: ["vm/workload.ts", "vm/cpio.ts", "vm/init-script.ts", "vm/qemu.ts"], pure: true },
  { rank: 4, unit: "calc", paths: ["calc/"], pure: true },
  { rank: 4, unit: "datastore", paths: ["datastore/"] },
  { rank: 5, unit: "bgp", paths: ["bgp/"] },
  { rank: 5, unit: "bfd", paths: ["bfd/"] },
  { rank: 5, unit: "ipam", paths: ["ipam/"] },
  { rank: 5, unit: "dataplane", paths: ["dataplane/"] },
  { rank: 5, unit: "dhcp", paths: ["dhcp/"] },
  {
    rank: 5,
    unit: "dataplane",
    paths: [
      "dataplane/nft/render.ts",
      "dataplane/nft/match.ts",
      "dataplane/nft/state.ts",
      "dataplane/nft/names.ts",
      "dataplane/nft/readback.ts",
      "dataplane/nft/fastpath.ts",
      "dataplane/nft/released.ts",
      "dataplane/nft/iface-match.ts",
      "dataplane/nft/table.ts",
      "dataplane/nft/policy-rules.ts",
      "dataplane/nft/sets.ts",
      "dataplane/nft/endpoints.ts",
      "dataplane/nft/base-chains.ts",
      "dataplane/nft/script.ts",
    ],
    pure: true,
  },
  { rank: 6, unit: "agent", paths: ["agent/"] },
  { rank: 6, unit: "cni", paths: ["cni/"] },
  { rank: 7, unit: "health", paths: ["health/"] },
  { rank: 7, unit: "docker", paths: ["docker/"] },
  { rank: 7, unit: "flows", paths: ["flows/"] },
  { rank: 7, unit: "vm", paths: ["vm/"] },
  { rank: 8, unit: "metrics", paths: ["metrics/"] },
  { rank: 8, unit: "lab", paths: ["lab/"] },
  { rank: 9, unit: "explain", paths: ["explain/"] },
  { rank: 10, unit: "ui", paths: ["ui/"] },
  { rank: 11, unit: "cli", paths: ["cli/"] },
  { rank: 11, unit: "index", paths: ["index.ts"] },
];

/** Builtins that do I/O: a pure module imports none of them. */
const IO_BUILTINS =
  /^node:(fs|fs\/promises|net|child_process|dgram|http|https|http2|tls|dns|dns\/promises|os|worker_threads|cluster|readline|tty|inspector|process)$/;
/** Packages a pure module may use (pure themselves). */
const pureModule = (spec: string) => spec === "yaml" || spec.startsWith("@noble/hashes/");

/**
 * Cycles of runtime imports that exist today, each in an area another change is rewriting; the
 * test fails on any other cycle, and when one of these is gone (then delete it here).
 */
const KNOWN_CYCLES: string[][] = [
  ["cli/apply.ts", "cli/file-command.ts"], // the CLI's argument parsing, replaced by one parser (issue #12)
];

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

export function unitOf(file: string): Unit | undefined {
  let best: Unit | undefined;
  let bestLen = -1;
  for (const u of LAYERS) {
    for (const p of u.paths) {
      const hit = p.endsWith("/") ? file.startsWith(p) : file === p;
      if (hit && p.length > bestLen) {
        best = u;
        bestLen = p.length;
      }
    }
  }
  return best;
}

/** The module specifiers a TypeScript source imports (static, re-exports, side-effect, dynamic), with line numbers. */
export function importsOf(source: string): { spec: string; line: number; typeOnly: boolean }[] {
  const out: { spec: string; line: number; typeOnly: boolean }[] = [];
  const lineAt = (i: number) => source.slice(0, i).split("\n").length;
  const statement = /^(?:import|export)\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\}|\w+(?:\s*,\s*(?:\{[^}]*\}|\*\s+as\s+\w+))?)\s+from\s+"([^"]+)"/gm;
  const bare = /^import\s+"([^"]+)"/gm;
  const typeOnly = (text: string) => {
    if (/^(?:import|export)\s+type\s/.test(text)) return true;
    const names = /\{([^}]*)\}/
      .exec(text)?.[1]
      ?.split(",")
      .map((n) => n.trim())
      .filter(Boolean);
    return !!names && names.length > 0 && !/^(?:import|export)\s+(?:\w+\s*,|\*)/.test(text) && names.every((n) => n.startsWith("type "));
  };
  for (const re of [statement, bare]) for (const m of source.matchAll(re)) out.push({ spec: m[1]!, line: lineAt(m.index), typeOnly: typeOnly(m[0]) });
  const dynamic = /\bimport\(\s*"([^"]+)"\s*\)/g;
  for (const m of source.matchAll(dynamic)) {
    const lineStart = source.lastIndexOf("\n", m.index) + 1;
    const before = source.slice(lineStart, m.index).trim();
    if (before.startsWith("*") || before.startsWith("//") || before.startsWith("/*")) continue; // in a comment
    out.push({ spec: m[1]!, line: lineAt(m.index), typeOnly: false });
  }
  return out;
}

interface Edge {
  from: string;
  to: string;
  line: number;
  typeOnly: boolean;
}

function scan(): { files: string[]; edges: Edge[]; external: Edge[] } {
  const files = readdirSync(SRC, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .sort();
  const edges: Edge[] = [];
  const external: Edge[] = [];
  for (const f of files) {
    for (const { spec, line, typeOnly } of importsOf(readFileSync(join(SRC, f), "utf8"))) {
      if (spec.startsWith(".")) edges.push({ from: f, to: normalize(join(dirname(f), spec)).replace(/\.js$/, ".ts"), line, typeOnly });
      else external.push({ from: f, to: spec, line, typeOnly });
    }
  }
  return { files, edges, external };
}

const isTest = (f: string) => f.endsWith(".test.ts");
const isTestkit = (f: string) => f.startsWith("testkit/");
const shipped = (f: string) => !isTest(f) && !isTestkit(f);

test("the import parser finds static, type-only, re-exported, multi-line and dynamic imports, and none in comments", () => {
  const src = [
    'import { a } from "./a.js";',
    'import type { B } from "../b.js";',
    'import { type B2, type C2 } from "./b2.js";',
    "import {",
    "  c,",
    "  type D,",
    '} from "./c.js";',
    'import * as e from "node:net";',
    'import f, { g } from "yaml";',
    'export * from "./h.js";',
    'export { i } from "./i.js";',
    'import "./side.js";',
    '/** import("./doc.js") is no import */',
    'const j = await import("./j.js");',
    'const s = "from \\"./str.js\\"";',
  ].join("\n");
  assert.deepEqual(
    importsOf(src)
      .map((i) => `${i.line}:${i.spec}${i.typeOnly ? " (type)" : ""}`)
      .sort(),
    ["1:./a.js", "2:../b.js (type)", "3:./b2.js (type)", "4:./c.js", "8:node:net", "9:yaml", "10:./h.js", "11:./i.js", "12:./side.js", "14:./j.js"].sort(),
  );
});

test("every module of src/ is in a layer, and every relative import names a file that exists", () => {
  const { files, edges } = scan();
  assert.ok(files.length > 300, `found ${files.length} modules under ${SRC}`);
  const known = new Set(files);
  assert.deepEqual(
    files.filter((f) => shipped(f) && !unitOf(f)),
    [],
    "modules in no layer: add their folder to LAYERS",
  );
  assert.deepEqual(
    edges.filter((e) => shipped(e.from) && !known.has(e.to)).map((e) => `${e.from}:${e.line} -> ${e.to}`),
    [],
  );
});

test("no module imports a higher layer or a sibling of its own rank", () => {
  const bad: string[] = [];
  for (const e of scan().edges) {
    if (!shipped(e.from) || !shipped(e.to)) continue;
    const a = unitOf(e.from)!;
    const b = unitOf(e.to)!;
    if (a.unit === b.unit || b.rank < a.rank) continue;
    bad.push(`${e.from}:${e.line} (${a.unit}, rank ${a.rank}) imports ${e.to} (${b.unit}, rank ${b.rank})`);
  }
  assert.deepEqual(bad, [], "an import against the layer order (src/layers.test.ts LAYERS, docs/design.md)");
});

test("pure modules import only pure modules and no I/O builtin", () => {
  const { edges, external } = scan();
  const pure = (f: string) => unitOf(f)?.pure === true;
  const bad: string[] = [];
  for (const e of edges) if (shipped(e.from) && pure(e.from) && !pure(e.to)) bad.push(`${e.from}:${e.line} imports ${e.to}, which is not pure`);
  for (const e of external) {
    if (!shipped(e.from) || !pure(e.from)) continue;
    if (e.to.startsWith("node:") ? IO_BUILTINS.test(e.to) : !pureModule(e.to)) bad.push(`${e.from}:${e.line} imports ${e.to}`);
  }
  assert.deepEqual(bad, []);
});

test("tabby's code never imports the test support (src/testkit/)", () => {
  const bad = scan()
    .edges.filter((e) => shipped(e.from) && isTestkit(e.to))
    .map((e) => `${e.from}:${e.line} imports ${e.to}`);
  assert.deepEqual(bad, []);
});

test("no cycle of runtime imports between modules (type-only imports vanish when compiled)", () => {
  const graph = new Map<string, string[]>();
  for (const e of scan().edges) {
    if (!shipped(e.from) || !shipped(e.to) || e.typeOnly) continue;
    const l = graph.get(e.from) ?? [];
    l.push(e.to);
    graph.set(e.from, l);
  }
  // Tarjan's strongly connected components: any component of more than one module is a cycle
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) cycles.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  assert.deepEqual(cycles.sort(), KNOWN_CYCLES.map((c) => [...c].sort()).sort());
});
