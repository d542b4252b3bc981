import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseSelector, rewriteNamespaceSelector, makeUniqueId, selectorFromAst, SelectorError } from "./index.js";
import { CANONICAL_CASES, REJECTED } from "../testkit/selector/calico-cases.js";

test("canonical form and unique ID match Calico's, byte for byte", () => {
  assert.ok(CANONICAL_CASES.length >= 30);
  for (const [input, canonical, id] of CANONICAL_CASES) {
    const s = parseSelector(input);
    assert.equal(s.toString(), canonical, `canonical of ${JSON.stringify(input)}`);
    assert.equal(s.uniqueId(), id, `uniqueId of ${JSON.stringify(input)}`);
    // Round trip: the canonical form is a fixed point with the same ID (no case here holds "!!").
    const again = parseSelector(canonical);
    assert.equal(again.toString(), canonical);
    assert.equal(again.uniqueId(), id);
    assert.ok(again.equals(s));
  }
});

test("the unique ID is SHA-224 of 's:' + canonical, base64url without padding", () => {
  const canonical = `a == "b"`;
  const digest = createHash("sha224").update(`s:${canonical}`).digest();
  const b64 = digest.toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  assert.equal(parseSelector(canonical).uniqueId(), `s:${b64}`);
  assert.equal(makeUniqueId("s", canonical), `s:${b64}`);
  assert.doesNotMatch(b64, /=/);
  // The three IDs in Calico's parser_test.go.
  assert.equal(parseSelector("").uniqueId(), "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug");
  assert.equal(parseSelector("! (has( b)||! has(a ))").uniqueId(), "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q");
  assert.equal(parseSelector(`! (a == "b"&&! c != "d")`).uniqueId(), "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w");
});

test("Calico's canonical form is not always a fixed point: '!(!x)' prints as '!!x'", () => {
  // Values from Calico's parser: the negation of a parenthesised negation keeps both '!', which
  // then collapse when the canonical text is parsed again.
  const s = parseSelector("!((!all()))");
  assert.equal(s.toString(), "!!all()");
  assert.equal(s.uniqueId(), "s:EyKmoYQmPYA24f8b6a_T1enASNw6XoJ9mWYAuw");
  assert.equal(s.matches({}), true);
  const again = parseSelector(s.toString());
  assert.equal(again.toString(), "all()");
  assert.equal(again.uniqueId(), "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug");
  const h = parseSelector("!(!has(a))");
  assert.equal(h.toString(), "!!has(a)");
  assert.equal(h.uniqueId(), "s:VZFYmDV_Drir7seXQB5vQXF8-34s2nf1b8ItRA");
  assert.equal(h.matches({ a: "x" }), true);
});

test("Calico rejects these; so do we, with SelectorError", () => {
  for (const input of REJECTED) {
    assert.throws(
      () => parseSelector(input),
      (e: unknown) => e instanceof SelectorError && e.code === "SELECTOR_PARSE",
      JSON.stringify(input),
    );
  }
});

test("label prefixing as Calico's PrefixVisitor (parser_test.go Visitor table)", () => {
  const cases: [string, string][] = [
    ["k == 'v'", `visited/k == "v"`],
    ["k != 'v'", `visited/k != "v"`],
    ["k contains 'v'", `visited/k contains "v"`],
    ["k starts with 'v'", `visited/k starts with "v"`],
    ["k ends with 'v'", `visited/k ends with "v"`],
    ["k == 'v' && x == 'y'", `(visited/k == "v" && visited/x == "y")`],
    ["k == 'v' || has(x)", `(visited/k == "v" || has(visited/x))`],
    ["!(k == 'v')", `!visited/k == "v"`],
    ["k in {'v'}", `visited/k in {"v"}`],
    ["k not in {'v'}", `visited/k not in {"v"}`],
    ["!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))", `!(!((visited/k == "v" && has(visited/t)) || all()) && visited/a in {"b", "c"})`],
  ];
  for (const [input, want] of cases) {
    const s = parseSelector(input);
    assert.equal(s.withLabelPrefix("visited/").toString(), want);
    assert.equal(s.toString(), parseSelector(input).toString(), "original untouched");
  }
});

test("namespaceSelector rewriting gives global() its meaning (updateprocessors/rules.go)", () => {
  assert.equal(rewriteNamespaceSelector("all()"), "has(projectcalico.org/namespace)");
  assert.equal(rewriteNamespaceSelector(""), "has(projectcalico.org/namespace)");
  assert.equal(rewriteNamespaceSelector("global()"), "!has(projectcalico.org/namespace)");
  assert.equal(rewriteNamespaceSelector("team == 'a' || global()"), `(pcns.team == "a" || !has(projectcalico.org/namespace))`);
  const g = parseSelector(rewriteNamespaceSelector("global()"));
  assert.equal(g.matches({ "projectcalico.org/namespace": "default" }), false);
  assert.equal(g.matches({ role: "host" }), true);
  // Calico replaces text, so a literal "all()" is rewritten too; we keep that quirk.
  assert.equal(rewriteNamespaceSelector(`x == "all()"`), `pcns.x == "has(projectcalico.org/namespace)"`);
});

test("selectorFromAst sorts and de-duplicates set members like the parser", () => {
  const s = selectorFromAst({
    op: "&&",
    operands: [
      { op: "in", label: "a", values: ["z", "b", "z"] },
      { op: "!", operand: { op: "not in", label: "c", values: ["y", "x"] } },
    ],
  });
  assert.equal(s.toString(), `(a in {"b", "z"} && !c not in {"x", "y"})`);
  assert.equal(s.uniqueId(), parseSelector(s.toString()).uniqueId());
  assert.equal(s.matches({ a: "z", c: "x" }), true);
});
