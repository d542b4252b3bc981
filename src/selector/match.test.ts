import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSelector } from "./index.js";

type L = Record<string, string>;
/** (selector, labels, expected). Includes the cases of Calico's parser_test.go selectorTests. */
const cases: [string, L, boolean][] = [
  // ==
  [`a == "b"`, { a: "b" }, true],
  [`a == "b"`, { a: "b", c: "d" }, true],
  [`a == "b"`, {}, false],
  [`a == "b"`, { a: "c" }, false],
  [`a == "b"`, { c: "d" }, false],
  [`a == 'a'`, { a: "a" }, true],
  [`a == 'a'`, { a: "b" }, false],
  [`a == 'a'`, {}, false],
  [`a == ""`, { a: "" }, true],
  [`a == ""`, {}, false],
  // != is true when absent
  [`a != "b"`, { a: "a" }, true],
  [`a != "a"`, {}, true],
  [`a != "a"`, { a: "a" }, false],
  [`a != 'a'`, { a: "a" }, false],
  [`a != ""`, {}, true],
  [`a != ""`, { a: "" }, false],
  // contains / starts with / ends with are false when absent
  [`a contains "a"`, { a: "a" }, true],
  [`a contains "a"`, { a: "bab" }, true],
  [`a contains "a"`, { a: "aaa", b: "c" }, true],
  [`a contains "a"`, {}, false],
  [`a contains "a"`, { a: "b" }, false],
  [`a contains "a"`, { b: "aaa" }, false],
  [`a contains ""`, { a: "" }, true],
  [`a contains ""`, {}, false],
  [`a starts with "a"`, { a: "a" }, true],
  [`a starts with "a"`, { a: "abb" }, true],
  [`a starts with "a"`, { a: "baa" }, false],
  [`a starts with "a"`, { b: "aaa" }, false],
  [`a startswith "ab"`, { a: "abc" }, true],
  [`a ends with "a"`, { a: "bba" }, true],
  [`a ends with "a"`, { a: "aab" }, false],
  [`a ends with "a"`, {}, false],
  [`a endswith "bc"`, { a: "abc" }, true],
  // in / not in
  [`a in {"'", '"', "c"}`, { a: "c" }, true],
  [`a in {"'", '"', "c"}`, { a: `"` }, true],
  [`a in {"'", '"', "c"}`, { a: `'` }, true],
  [`a in {"'", '"', "c"}`, {}, false],
  [`a in {"'", '"', "c"}`, { a: "e" }, false],
  [`a not in {"'", '"', "c"}`, {}, true],
  [`a not in {"'", '"', "c"}`, { a: "e" }, true],
  [`a not in {"'", '"', "c"}`, { a: "c" }, false],
  [`a not in {"'", '"', "c"}`, { a: `"` }, false],
  [`a in {"a"}`, { a: "a" }, true],
  [`a in {"a"}`, { a: "b" }, false],
  [`!a in {"a"}`, { a: "b" }, true],
  [`a in {"a", "b"}`, { a: "b" }, true],
  [`a in {"a", "b"}`, { a: "c" }, false],
  [`a not in {"d", "e"}`, { a: "a" }, true],
  [`a not in {"a"}`, { a: "a" }, false],
  [`a in {}`, {}, false],
  [`a in {}`, { a: "" }, false],
  [`a not in {}`, {}, true],
  [`a not in {}`, { a: "x" }, true],
  [`a in {"a",}`, { a: "a" }, true],
  [`a in {"1","2","3","4","5","6","7","8","9","10"}`, { a: "10" }, true],
  [`a in {"1","2","3","4","5","6","7","8","9","10"}`, { a: "11" }, false],
  [`a not in {"1","2","3","4","5","6","7","8","9","10"}`, { a: "9" }, false],
  // has
  [`has(a)`, { a: "b" }, true],
  [`has(a)`, { a: "" }, true],
  [`has(b)`, { a: "b" }, false],
  [`!has(a)`, { b: "b" }, true],
  [`!has(a)`, { a: "b" }, false],
  [`! has(a)`, { a: "b" }, false],
  [`!!has(b)`, { a: "b" }, false],
  [`!!has(a)`, { a: "b" }, true],
  [`!!! has(a)`, { a: "b" }, false],
  [`!!!has(a)`, { a: "b" }, false],
  [`!! ! has(a)`, { a: "b" }, false],
  [`! !!has(a)`, { a: "b" }, false],
  [`has( a )`, { a: "x" }, true],
  // all(), global(), empty
  [``, {}, true],
  [` `, {}, true],
  [`\t`, { a: "b" }, true],
  [``, { a: "b" }, true],
  [`all()`, {}, true],
  [` all( )`, { a: "b" }, true],
  [`!all()`, { a: "b" }, false],
  [`global()`, {}, true],
  [` global()`, { a: "b" }, true],
  [`!global()`, {}, false],
  // boolean expressions
  [`a == "b" && c == "d"`, { a: "b", c: "d" }, true],
  [`a == "b" && c == "d"`, { a: "b", c: "e" }, false],
  [`a == "b" && c == "d"`, { c: "d" }, false],
  [`a == "b" || c == "d"`, { a: "b" }, true],
  [`a == "b" || c == "d"`, { c: "d" }, true],
  [`a == "b" || c == "d"`, { a: "e", c: "e" }, false],
  [`a == 'a1' && b != 'b1'`, { a: "a1", b: "b1" }, false],
  [`a != 'a1' && !b == 'b1'`, { a: "a1", b: "b1" }, false],
  [`!a == 'a1' && b == 'b1'`, { a: "a1", b: "b1" }, false],
  [`has(a) && !has(b)`, { a: "a" }, true],
  [`!has(b) && has(a)`, { a: "a" }, true],
  [`!(!has(a) || has(b))`, { a: "a" }, true],
  [`!(has(b) || !has(a))`, { a: "a" }, true],
  [`a == 'a1' || b != 'b1'`, { a: "a1", b: "b1" }, true],
  [`a != 'a1' || b != 'b1'`, { a: "a1", b: "b1" }, false],
  [`! a == 'a1' || ! b == 'b1'`, { a: "a1", b: "b1" }, false],
  // precedence: && binds tighter than ||
  [`has(x) || has(y) && has(z)`, { x: "1" }, true],
  [`(has(x) || has(y)) && has(z)`, { x: "1" }, false],
  [`has(y) && has(z) || has(x)`, { x: "1" }, true],
  [`has(y) && (has(z) || has(x))`, { x: "1" }, false],
  [`!has(x) || has(y)`, { x: "1" }, false],
  [`!(has(x) || has(y))`, { y: "1" }, false],
  [`!has(x) && !has(y) || has(z)`, { z: "1", x: "1" }, true],
  // nested parentheses
  [`((((a == "b"))))`, { a: "b" }, true],
  [`((a == "b" || (c == "d" && (e == "f" || !has(g)))))`, { c: "d", e: "x" }, true],
  [`((a == "b" || (c == "d" && (e == "f" || !has(g)))))`, { c: "d", e: "x", g: "" }, false],
  [`!(!(!(has(a))))`, { a: "1" }, false],
  // keys Calico allows
  [`projectcalico.org/namespace == "default"`, { "projectcalico.org/namespace": "default" }, true],
  [`has(projectcalico.org/orchestrator)`, { "projectcalico.org/orchestrator": "k8s" }, true],
  [`calico/k8s_ns == "kube-system" && k8s-app == "kube-dns"`, { "calico/k8s_ns": "kube-system", "k8s-app": "kube-dns" }, true],
  [`has(calico/k8s_NS-.1/role)`, { "calico/k8s_NS-.1/role": "x" }, true],
  [`contains contains "contains"`, { contains: "notcontainsx" }, true],
  [`in in {"in"}`, { in: "in" }, true],
  [`has == "has"`, { has: "has" }, true],
  [`all == "x"`, { all: "x" }, true],
  [`123 == "456"`, { "123": "456" }, true],
  // quoting: each kind can hold the other
  [`a == "'"`, { a: "'" }, true],
  [`a == '"'`, { a: '"' }, true],
  [`a contains '"x'`, { a: 'y"xz' }, true],
  [`a == "with space && || ( )"`, { a: "with space && || ( )" }, true],
  [`a == "ünï"`, { a: "ünï" }, true],
  // inherited object properties are not labels
  [`has(constructor)`, {}, false],
  [`has(__proto__)`, {}, false],
  [`toString != "x"`, {}, true],
  [`constructor not in {"x"}`, {}, true],
];

test("selector matching table (Calico semantics)", () => {
  for (const [sel, labels, want] of cases) {
    const s = parseSelector(sel);
    assert.equal(s.matches(labels), want, `${sel} on ${JSON.stringify(labels)} (record)`);
    assert.equal(s.matches(new Map(Object.entries(labels))), want, `${sel} on ${JSON.stringify(labels)} (map)`);
    assert.equal(
      s.matchesLookup((k) => (Object.hasOwn(labels, k) ? labels[k] : undefined)),
      want,
      `${sel} on ${JSON.stringify(labels)} (lookup)`,
    );
    // And after canonicalising (Calico's own tests check this too).
    assert.equal(parseSelector(s.toString()).matches(labels), want, `${sel} → ${s.toString()} on ${JSON.stringify(labels)}`);
  }
});

test("own __proto__ label in a JSON-made record is a label", () => {
  const labels = JSON.parse(`{"__proto__": "x", "a": "b"}`) as Record<string, string>;
  assert.equal(parseSelector(`__proto__ == "x"`).matches(labels), true);
  assert.equal(parseSelector(`has(__proto__)`).matches(labels), true);
});

test("Object.create(null) records work", () => {
  const labels = Object.create(null) as Record<string, string>;
  labels["a"] = "b";
  assert.equal(parseSelector(`a == "b" && !has(c)`).matches(labels), true);
});
