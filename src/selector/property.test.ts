import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseSelector, SelectorError } from "./index.js";

// A reference model, independent of the implementation: its own AST, renderer (with random
// spacing, quote choice and operator spellings), canonical printer and evaluator.
type Node =
  | { k: "all" | "global" }
  | { k: "has"; l: string }
  | { k: "cmp"; op: "==" | "!=" | "contains" | "starts with" | "ends with"; l: string; v: string }
  | { k: "set"; op: "in" | "not in"; l: string; vs: string[] }
  | { k: "not"; n: Node; bangs: number }
  | { k: "bool"; op: "&&" | "||"; ns: Node[] }
  | { k: "paren"; n: Node };

const KEYS = ["a", "b", "app", "projectcalico.org/namespace", "k8s-app", "x_y.z", "in", "has", "contains", "not", "global"];
const VALUES = ["", "a", "b", "ab", "ba", "abc", "'", '"', "x y", "&& ||", "é", "\u{1F600}", "\uE000", "()"];

const key = fc.constantFrom(...KEYS);
const val = fc.constantFrom(...VALUES);

const { node } = fc.letrec<{ node: Node; leaf: Node; not: Node; bool: Node; paren: Node }>((tie) => ({
  node: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("not"), tie("bool"), tie("paren")),
  leaf: fc.oneof(
    fc.constantFrom<Node>({ k: "all" }, { k: "global" }),
    key.map((l): Node => ({ k: "has", l })),
    fc.record({
      k: fc.constant("cmp" as const),
      op: fc.constantFrom("==" as const, "!=" as const, "contains" as const, "starts with" as const, "ends with" as const),
      l: key,
      v: val,
    }),
    fc.record({ k: fc.constant("set" as const), op: fc.constantFrom("in" as const, "not in" as const), l: key, vs: fc.array(val, { maxLength: 5 }) }),
  ),
  not: fc.record({ k: fc.constant("not" as const), n: tie("node"), bangs: fc.integer({ min: 1, max: 4 }) }),
  bool: fc.record({
    k: fc.constant("bool" as const),
    op: fc.constantFrom("&&" as const, "||" as const),
    ns: fc.array(tie("node"), { minLength: 2, maxLength: 4 }),
  }),
  paren: fc.record({ k: fc.constant("paren" as const), n: tie("node") }),
}));

/** Deterministic pseudo-random choices for rendering, from a seed. */
function chooser(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

function render(n: Node, pick: (n: number) => number): string {
  const w = () => ["", " ", "\t", "  "][pick(4)]!;
  const w1 = () => [" ", "\t", "  "][pick(3)]!; // at least one blank: needed between words
  const q = (v: string) => {
    if (v.includes('"')) return `'${v}'`;
    if (v.includes("'")) return `"${v}"`;
    return pick(2) ? `'${v}'` : `"${v}"`;
  };
  // A primary must be wrapped when it is an && / || group inside && / ! (precedence).
  const prim = (c: Node) => (c.k === "bool" ? `(${w()}${render(c, pick)}${w()})` : render(c, pick));
  switch (n.k) {
    case "all":
      return pick(2) ? "all()" : `all(${w()})`;
    case "global":
      return pick(2) ? "global()" : `global(${w()})`;
    case "has":
      return `has(${w()}${n.l}${w()})`;
    case "cmp": {
      const spell =
        n.op === "starts with"
          ? ["starts with", "startswith", "starts  with"][pick(3)]!
          : n.op === "ends with"
            ? ["ends with", "endswith", "ends \twith"][pick(3)]!
            : n.op;
      const sym = n.op === "==" || n.op === "!=";
      return sym ? `${n.l}${w()}${n.op}${w()}${q(n.v)}` : `${n.l}${w1()}${spell}${w()}${q(n.v)}`;
    }
    case "set": {
      const spell = n.op === "in" ? "in" : ["not in", "notin", "not  in"][pick(3)]!;
      const items = n.vs.map(q).join(`${w()},${w()}`);
      const trailing = n.vs.length > 0 && pick(4) === 0 ? "," : "";
      return `${n.l}${w1()}${spell}${w()}{${w()}${items}${trailing}${w()}}`;
    }
    case "not":
      // A directly nested negation is parenthesised: "! !x" would collapse into one run of '!'.
      return `${"!".repeat(n.bangs)}${w()}${n.n.k === "not" ? `(${w()}${render(n.n, pick)}${w()})` : prim(n.n)}`;
    case "bool": {
      // A nested group is always parenthesised: otherwise "a || b || c" would be one flat group.
      const parts = n.ns.map((c) => prim(c));
      return parts.join(`${w()}${n.op}${w()}`);
    }
    case "paren":
      return `(${w()}${render(n.n, pick)}${w()})`;
  }
}

function utf8Sort(vs: string[]): string[] {
  const uniq = [...new Set(vs)];
  return uniq.sort((x, y) => Buffer.compare(Buffer.from(x, "utf8"), Buffer.from(y, "utf8")));
}

function canon(n: Node): string {
  const q = (v: string) => (v.includes('"') ? `'${v}'` : `"${v}"`);
  switch (n.k) {
    case "all":
      return "all()";
    case "global":
      return "global()";
    case "has":
      return `has(${n.l})`;
    case "cmp":
      return `${n.l} ${n.op} ${q(n.v)}`;
    case "set":
      return `${n.l} ${n.op} {${utf8Sort(n.vs).map(q).join(", ")}}`;
    case "not":
      return n.bangs % 2 === 1 ? `!${canon(n.n)}` : canon(n.n);
    case "bool":
      return `(${n.ns.map(canon).join(` ${n.op} `)})`;
    case "paren":
      return canon(n.n);
  }
}

function evaluate(n: Node, l: Map<string, string>): boolean {
  switch (n.k) {
    case "all":
    case "global":
      return true;
    case "has":
      return l.has(n.l);
    case "cmp": {
      const v = l.get(n.l);
      if (v === undefined) return n.op === "!=";
      if (n.op === "==") return v === n.v;
      if (n.op === "!=") return v !== n.v;
      if (n.op === "contains") return v.includes(n.v);
      if (n.op === "starts with") return v.startsWith(n.v);
      return v.endsWith(n.v);
    }
    case "set": {
      const v = l.get(n.l);
      const inSet = v !== undefined && n.vs.includes(v);
      return n.op === "in" ? inSet : !inSet;
    }
    case "not":
      return n.bangs % 2 === 1 ? !evaluate(n.n, l) : evaluate(n.n, l);
    case "bool":
      return n.op === "&&" ? n.ns.every((c) => evaluate(c, l)) : n.ns.some((c) => evaluate(c, l));
    case "paren":
      return evaluate(n.n, l);
  }
}

const labelSets = fc.array(fc.dictionary(key, val, { maxKeys: 6 }), { minLength: 1, maxLength: 8 });

test("property: parse(render(ast)) has the reference canonical form and reference matching", () => {
  fc.assert(
    fc.property(node, fc.integer(), labelSets, (ast, seed, sets) => {
      const text = render(ast, chooser(seed));
      const s = parseSelector(text);
      assert.equal(s.toString(), canon(ast), text);
      for (const labels of sets) {
        const want = evaluate(ast, new Map(Object.entries(labels)));
        assert.equal(s.matches(labels), want, `${text} on ${JSON.stringify(labels)}`);
        assert.equal(s.matches(new Map(Object.entries(labels))), want);
      }
    }),
    { numRuns: 2000 },
  );
});

test("property: the canonical form re-parses to the same matching, and to itself unless it holds '!!'", () => {
  // Calico prints a negated parenthesised negation, "!(!x)", as "!!x", which re-parses as "x"
  // (see canonical.test.ts). Everything else is a fixed point, and one more round always is.
  fc.assert(
    fc.property(node, fc.integer(), labelSets, (ast, seed, sets) => {
      const s = parseSelector(render(ast, chooser(seed)));
      const again = parseSelector(s.toString());
      if (!s.toString().includes("!!")) {
        assert.equal(again.toString(), s.toString());
        assert.equal(again.uniqueId(), s.uniqueId());
      }
      assert.equal(parseSelector(again.toString()).toString(), again.toString());
      for (const labels of sets) assert.equal(again.matches(labels), s.matches(labels));
    }),
    { numRuns: 1000 },
  );
});

const fragments = fc.constantFrom(
  "a",
  "b.c/d",
  " ",
  "\t",
  "==",
  "!=",
  "=",
  "!",
  "&&",
  "&",
  "||",
  "|",
  "(",
  ")",
  "{",
  "}",
  ",",
  `"x"`,
  `'y'`,
  `"`,
  `'`,
  "in",
  "not",
  "not in",
  "contains",
  "starts",
  "with",
  "ends",
  "has(",
  "has(a)",
  "all()",
  "global()",
  "all(",
  "global(",
  "%",
  "\n",
  "é",
);

test("property: arbitrary text either parses or throws SelectorError with a position inside the input", () => {
  const check = (text: string) => {
    try {
      const s = parseSelector(text);
      // Whatever parses has a canonical form that parses (a fixed point after at most two rounds).
      const again = parseSelector(s.toString()).toString();
      assert.equal(parseSelector(again).toString(), again);
    } catch (e) {
      if (!(e instanceof SelectorError)) throw e;
      assert.equal(e.code, "SELECTOR_PARSE");
      assert.ok(e.position >= 0 && e.position <= text.length, `${JSON.stringify(text)}: position ${e.position}`);
    }
  };
  fc.assert(fc.property(fc.string({ maxLength: 40, unit: "binary" }), check), { numRuns: 3000 });
  fc.assert(
    fc.property(
      fc.array(fragments, { maxLength: 16 }).map((xs) => xs.join("")),
      check,
    ),
    { numRuns: 5000 },
  );
});
