/**
 * The selector AST and its canonical string, as Calico renders it
 * (libcalico-go/lib/selector/parser/ast.go, `collectFragments`):
 * - `label == "v"`, `label != "v"`, `label contains "v"`, `label starts with "v"`, `label ends with "v"`;
 * - `label in {"a", "b"}` / `label not in {…}` with members sorted (byte order of UTF-8, i.e. code
 *   point order) and de-duplicated at parse time; `{}` when empty;
 * - values in double quotes unless they contain a double quote, then in single quotes (a literal
 *   can never contain both, since there are no escapes);
 * - `has(label)`, `all()`, `global()`, `!` directly before its operand (no parentheses of its own);
 * - every && / || group of two or more operands in parentheses: `(a && b && c)`, `(a || (b && c))`.
 */

export type SelectorNode =
  | { readonly op: "all" }
  | { readonly op: "global" }
  | { readonly op: "has"; readonly label: string }
  | { readonly op: "==" | "!=" | "contains" | "starts with" | "ends with"; readonly label: string; readonly value: string }
  | { readonly op: "in" | "not in"; readonly label: string; readonly values: readonly string[] }
  | { readonly op: "!"; readonly operand: SelectorNode }
  | { readonly op: "&&" | "||"; readonly operands: readonly SelectorNode[] };

/** Compares two strings in Unicode code point order (= Go's byte order on their UTF-8 forms). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only between surrogates (D800–DFFF) and
    // U+E000–U+FFFF: lift surrogates above the BMP's top range.
    if (x >= 0xd800 && x <= 0xdfff) x += 0x2000;
    else if (x >= 0xe000) x -= 0x800;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x2000;
    else if (y >= 0xe000) y -= 0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** Sorts and de-duplicates set members the way Calico's StringSet does. */
export function toSortedSet(values: readonly string[]): string[] {
  const out = [...values].sort(compareCodePoints);
  let w = 0;
  for (let r = 0; r < out.length; r++) {
    if (w === 0 || out[r] !== out[w - 1]) out[w++] = out[r]!;
  }
  out.length = w;
  return out;
}

function quote(v: string): string {
  return v.includes('"') ? `'${v}'` : `"${v}"`;
}

/** Calico's canonical string for a node. */
export function canonicalString(node: SelectorNode): string {
  switch (node.op) {
    case "all":
      return "all()";
    case "global":
      return "global()";
    case "has":
      return `has(${node.label})`;
    case "==":
    case "!=":
    case "contains":
    case "starts with":
    case "ends with":
      return `${node.label} ${node.op} ${quote(node.value)}`;
    case "in":
    case "not in":
      return `${node.label} ${node.op} {${node.values.map(quote).join(", ")}}`;
    case "!":
      return `!${canonicalString(node.operand)}`;
    case "&&":
    case "||":
      return `(${node.operands.map(canonicalString).join(` ${node.op} `)})`;
  }
}
