/**
 * Compiles a selector AST into a tree of closures, specialised for how labels are looked up
 * (plain object, Map, or a lookup function), so matching does no dispatch on node kinds.
 *
 * Semantics are Calico's (libcalico-go/lib/selector/parser/ast.go `Evaluate`):
 * - `==`, `contains`, `starts with`, `ends with`, `in`: false when the label is absent;
 * - `!=` and `not in`: TRUE when the label is absent;
 * - `has(k)`: presence; `all()` and `global()`: always true (global()'s "only non-namespaced
 *   objects" meaning is applied by rewriting it to `!has(projectcalico.org/namespace)` when a rule's
 *   namespaceSelector is converted, exactly as Calico does; see `namespaceSelectorRewrite`);
 * - `&&` / `||` short-circuit left to right.
 */
import type { SelectorNode } from "./ast.js";

/** Labels as a plain object, a Map, or anything Map-like. */
export type Labels = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

/** A label lookup: the value, or undefined when the label is absent. */
export type LabelLookup = (key: string) => string | undefined;

export type Matcher<L> = (labels: L) => boolean;

interface Kit<L> {
  eq(label: string, value: string): Matcher<L>;
  ne(label: string, value: string): Matcher<L>;
  has(label: string): Matcher<L>;
  /** True when the label is present and `pred` holds on its value. */
  present(label: string, pred: (v: string) => boolean): Matcher<L>;
}

type Rec = Readonly<Record<string, string>>;

// Plain objects: a label is present when the object's property of that name is a string. This
// also makes inherited properties ("constructor", "__proto__", …) read as absent.
const recordKit: Kit<Rec> = {
  eq: (k, v) => (l) => l[k] === v,
  ne: (k, v) => (l) => l[k] !== v,
  has: (k) => (l) => typeof l[k] === "string",
  present: (k, p) => (l) => {
    const v = l[k];
    return typeof v === "string" && p(v);
  },
};

const mapKit: Kit<ReadonlyMap<string, string>> = {
  eq: (k, v) => (l) => l.get(k) === v,
  ne: (k, v) => (l) => l.get(k) !== v,
  has: (k) => (l) => l.has(k),
  present: (k, p) => (l) => {
    const v = l.get(k);
    return v !== undefined && p(v);
  },
};

const lookupKit: Kit<LabelLookup> = {
  eq: (k, v) => (get) => get(k) === v,
  ne: (k, v) => (get) => get(k) !== v,
  has: (k) => (get) => get(k) !== undefined,
  present: (k, p) => (get) => {
    const v = get(k);
    return v !== undefined && p(v);
  },
};

const always = (): boolean => true;

function setPredicate(values: readonly string[]): (v: string) => boolean {
  if (values.length === 0) return () => false;
  if (values.length === 1) {
    const only = values[0]!;
    return (v) => v === only;
  }
  if (values.length <= 8) {
    const arr = values.slice();
    return (v) => arr.includes(v);
  }
  const set = new Set(values);
  return (v) => set.has(v);
}

function compileWith<L>(node: SelectorNode, kit: Kit<L>): Matcher<L> {
  switch (node.op) {
    case "all":
    case "global":
      return always;
    case "has":
      return kit.has(node.label);
    case "==":
      return kit.eq(node.label, node.value);
    case "!=":
      return kit.ne(node.label, node.value);
    case "contains": {
      const s = node.value;
      return kit.present(node.label, (v) => v.includes(s));
    }
    case "starts with": {
      const s = node.value;
      return kit.present(node.label, (v) => v.startsWith(s));
    }
    case "ends with": {
      const s = node.value;
      return kit.present(node.label, (v) => v.endsWith(s));
    }
    case "in":
      return kit.present(node.label, setPredicate(node.values));
    case "not in": {
      const inSet = kit.present(node.label, setPredicate(node.values));
      return (l) => !inSet(l);
    }
    case "!": {
      const f = compileWith(node.operand, kit);
      return (l) => !f(l);
    }
    case "&&": {
      const fs = node.operands.map((o) => compileWith(o, kit));
      if (fs.length === 2) {
        const [a, b] = fs as [Matcher<L>, Matcher<L>];
        return (l) => a(l) && b(l);
      }
      return (l) => {
        for (const f of fs) if (!f(l)) return false;
        return true;
      };
    }
    case "||": {
      const fs = node.operands.map((o) => compileWith(o, kit));
      if (fs.length === 2) {
        const [a, b] = fs as [Matcher<L>, Matcher<L>];
        return (l) => a(l) || b(l);
      }
      return (l) => {
        for (const f of fs) if (f(l)) return true;
        return false;
      };
    }
  }
}

export function compileForRecord(node: SelectorNode): Matcher<Rec> {
  return compileWith(node, recordKit);
}

export function compileForMap(node: SelectorNode): Matcher<ReadonlyMap<string, string>> {
  return compileWith(node, mapKit);
}

export function compileForLookup(node: SelectorNode): Matcher<LabelLookup> {
  return compileWith(node, lookupKit);
}
