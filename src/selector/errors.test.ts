import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSelector, SelectorError } from "./index.js";
import { TabbyError } from "../errors.js";

/** [input, position, a fragment the message must contain] */
const cases: [string, number, string][] = [
  [`a == b`, 5, "expected a quoted string"],
  [`a ==`, 4, "expected a quoted string"],
  [`a = "b"`, 2, "expected '=='"],
  [`a == "b" & c == "d"`, 9, "expected '&&'"],
  [`a == "b" | c == "d"`, 9, "expected '||'"],
  [`a == "b`, 5, "unterminated string"],
  [`a == 'b`, 5, "unterminated string"],
  [`"FOO'`, 0, "unterminated string"],
  [`(a == "b"`, 9, "expected '&&', '||' or ')'"],
  [`((a == "b") && c == "d"`, 23, "')'"],
  [`)`, 0, "expected a label"],
  [`()`, 1, "expected a label"],
  [`!`, 1, "expected a label"],
  [`%`, 0, "unexpected '%'"],
  [`a == "b" && %`, 12, "unexpected '%'"],
  [`a == "b" && \n`, 12, "U+000A"],
  [`a`, 1, "expected an operator"],
  [`a `, 2, "expected an operator"],
  [`a b`, 2, "expected an operator"],
  [`label squiggles "v"`, 6, "expected an operator"],
  [`label inf "v"`, 6, "expected an operator"],
  [`a "x"`, 2, "expected an operator"],
  [`'b1' == b`, 0, "expected a label"],
  [`has(foo) &&`, 11, "expected a label"],
  [`has(foo) == "x"`, 9, "expected '&&', '||' or end of selector"],
  [`a == "b" c == "d"`, 9, "expected '&&', '||' or end of selector"],
  [`has()`, 4, "expected a label name"],
  [`has( foo `, 9, "expected ')' to close has("],
  [`has(a b)`, 6, "expected ')' to close has("],
  [`all(`, 4, "expected ')' to close all("],
  [`global( x)`, 8, "expected ')' to close global("],
  [`a in ""`, 5, "expected a set literal"],
  [`a in {"x" "y"}`, 10, "expected ',' or '}'"],
  [`a in {,}`, 6, "expected a quoted string or '}'"],
  [`a in {"x",,}`, 10, "expected a quoted string or '}'"],
  [`a in {"x"`, 9, "expected ',' or '}'"],
  ["a".repeat(513) + ` == "v"`, 0, "label too long"],
  [`x == "y" && ` + "b".repeat(600), 12, "label too long"],
  // As in Calico, the whole input is tokenized first: a lexical error wins over an earlier syntax error.
  [`== "b" && %`, 10, "unexpected '%'"],
];

test("parse errors: code, position and what was expected", () => {
  for (const [input, pos, fragment] of cases) {
    assert.throws(
      () => parseSelector(input),
      (e: unknown) => {
        assert.ok(e instanceof SelectorError, `${JSON.stringify(input)}: ${String(e)}`);
        assert.ok(e instanceof TabbyError);
        assert.equal(e.code, "SELECTOR_PARSE");
        assert.equal(e.details?.["position"], pos, `${JSON.stringify(input)}: ${e.message}`);
        assert.equal(e.position, pos);
        assert.ok(e.message.includes(fragment), `${JSON.stringify(input)}: "${e.message}" lacks "${fragment}"`);
        return true;
      },
    );
  }
});

test("deep nesting: 256 levels parse, deeper is a SelectorError, never a stack overflow", () => {
  const ok = "(".repeat(256) + `a == "b"` + ")".repeat(256);
  assert.equal(parseSelector(ok).toString(), `a == "b"`);
  assert.throws(() => parseSelector("(".repeat(100_000)), { code: "SELECTOR_PARSE" });
  // Negations collapse without recursion.
  assert.equal(parseSelector("!".repeat(100_001) + "all()").toString(), "!all()");
  // Long flat chains are not nesting.
  const chain = Array.from({ length: 5000 }, (_, i) => `has(k${i})`).join(" && ");
  assert.equal(parseSelector(chain).matches({ k0: "x" }), false);
});
