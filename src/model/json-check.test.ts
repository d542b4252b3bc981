import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { jsonProblem } from "./json-check.js";

test("property: jsonProblem agrees with JSON.parse on what is valid JSON", () => {
  fc.assert(fc.property(fc.json(), (text) => assert.equal(jsonProblem(text), undefined)));
  const alphabet = fc.constantFrom(...'{}[],:"\\ 0123456789-.eE+truefalsnul\n\tab'.split(""));
  fc.assert(
    fc.property(fc.string({ unit: alphabet, maxLength: 30 }), (text) => {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      const p = jsonProblem(text);
      assert.equal(p === undefined, valid, JSON.stringify(text));
      if (p) assert.ok(p.offset >= 0 && p.offset <= text.length);
    }),
    { numRuns: 5000 },
  );
});

test("jsonProblem points at the first error", () => {
  assert.deepEqual(jsonProblem('{"a": }'), { offset: 6, message: 'expected a value, found "}"' });
  assert.deepEqual(jsonProblem('{"a": 1,}'), { offset: 8, message: 'expected a property name in double quotes, found "}"' });
  assert.deepEqual(jsonProblem("[1 2]"), { offset: 3, message: 'expected "," or "]", found "2"' });
  assert.deepEqual(jsonProblem('{"a": "x'), { offset: 8, message: "unterminated string" });
  assert.deepEqual(jsonProblem("{} x"), { offset: 3, message: 'expected the end of the input, found "x"' });
});
