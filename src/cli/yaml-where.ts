/**
 * Where a value is in a YAML file, for config errors a person can act on ("tabby.yaml:3:5:
 * peers[0].pasive: unknown key; did you mean passive?"). Parses once with the `yaml` package's
 * CST positions; `at(path)` is the line and column (from 1) of the key at `path` (of the value
 * for list items), `syntax` the first parse error with its position. Also the nearest known key
 * for a misspelt one. Pure: takes the text, does no I/O.
 *
 * The `yaml` package (some 70 files, ~40 ms of CPU to load) is required on the first parse, not
 * imported: a command that is given its datastore never reads the config file (config-file.ts),
 * and `tabby node run` then starts without it (docs/benchmarks.md "What a start costs").
 */
import { createRequire } from "node:module";
import type * as Yaml from "yaml";
import type { Node } from "yaml";

let yamlLib: typeof Yaml | undefined;
const yaml = (): typeof Yaml => (yamlLib ??= createRequire(import.meta.url)("yaml") as typeof Yaml);

export type YamlPath = readonly (string | number)[];

export interface Located {
  /** The parsed value (plain JS), undefined if the text did not parse. */
  value: unknown;
  /** The first syntax error, with its position. */
  syntax?: { message: string; line: number; col: number };
  /** Position of the key (or list item) at `path`; the nearest enclosing one found. */
  at(path: YamlPath): { line: number; col: number } | undefined;
}

export function locateYaml(text: string): Located {
  const { isMap, isScalar, isSeq, LineCounter, parseDocument } = yaml();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const err = doc.errors[0];
  const at = (path: YamlPath) => {
    let node: unknown = doc.contents;
    let found: { line: number; col: number } | undefined = doc.contents?.range ? pos(doc.contents.range[0]) : undefined;
    for (const step of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === step);
        if (!pair) return found;
        const k = pair.key as Node | null;
        if (k?.range) found = pos(k.range[0]);
        node = pair.value;
      } else if (isSeq(node) && typeof step === "number") {
        const item = node.items[step] as Node | undefined;
        if (!item) return found;
        if (item.range) found = pos(item.range[0]);
        node = item;
      } else return found;
    }
    return found;
  };
  if (err) {
    const p = err.linePos?.[0] ?? pos(err.pos[0]);
    return { value: undefined, syntax: { message: err.message.split("\n")[0]!, line: p.line, col: p.col }, at };
  }
  return { value: doc.toJS(), at };
}

/** "peers[0].bfd.minRx" */
export function formatPath(path: YamlPath): string {
  let s = "";
  for (const step of path) s += typeof step === "number" ? `[${step}]` : s ? `.${step}` : step;
  return s;
}

/** Edit distance with adjacent transpositions counting one (optimal string alignment): "prot" is 1 from "port". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key closest to `key` (case-insensitive edit distance at most a third of its length), if any. */
export function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) (best = k), (bestD = d);
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.max(key.length, best.length) / 3)) ? best : undefined;
}
