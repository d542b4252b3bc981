import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseSelector } from "../../selector/index.js";
import { LabelIndex, restrictionOf } from "./label-index.js";

test("restrictionOf: the most selective required label", () => {
  const r = (s: string) => restrictionOf(parseSelector(s).ast);
  assert.deepEqual(r("app == 'web'"), { label: "app", values: ["web"] });
  assert.deepEqual(r("projectcalico.org/namespace == 'p' && app in {'a', 'b'}"), { label: "app", values: ["a", "b"] });
  assert.deepEqual(r("has(x) && projectcalico.org/namespace == 'p'"), { label: "projectcalico.org/namespace", values: ["p"] });
  assert.deepEqual(r("has(x) && y starts with 'a'"), { label: "x" });
  assert.deepEqual(r("a == '1' || a == '2'"), { label: "a", values: ["1", "2"] });
  assert.equal(r("a == '1' || b == '2'"), undefined);
  assert.equal(r("!has(a)"), undefined);
  assert.equal(r("a != 'x'"), undefined);
  assert.equal(r("all()"), undefined);
});

// Property: whatever the order of operations, the index reports exactly the matches a brute-force
// evaluation of every selector against every item's effective labels finds.
const KEYS = ["a", "b", "c"];
const VALS = ["1", "2"];
const labelsArb = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALS), { maxKeys: 3 });
const SELECTORS = [
  "a == '1'",
  "a == '2' && b == '1'",
  "has(b)",
  "!has(c)",
  "a in {'1', '2'} && c != '1'",
  "all()",
  "a == '1' || a == '2'",
  "b == '1' || c == '2'",
  "has(a) || a == '1'",
  "a starts with '1'",
  "p == 'x' && a == '1'",
  "has(p)",
];
type Op =
  | { t: "item"; id: number; labels: Record<string, string> | null; parents: number[] }
  | { t: "sel"; id: number; sel: number | null }
  | { t: "parent"; id: number; labels: Record<string, string> | null };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant("item" as const), id: fc.nat(5), labels: fc.option(labelsArb), parents: fc.array(fc.nat(2), { maxLength: 2 }) }),
  fc.record({ t: fc.constant("sel" as const), id: fc.nat(4), sel: fc.option(fc.nat(SELECTORS.length - 1)) }),
  fc.record({
    t: fc.constant("parent" as const),
    id: fc.nat(2),
    labels: fc.option(fc.dictionary(fc.constantFrom("a", "p"), fc.constantFrom("1", "x"), { maxKeys: 2 })),
  }),
);

test("property: LabelIndex matches equal brute force (restrictions, inheritance, profile changes)", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const reported = new Set<string>();
      // Each item update files new data; every report carries the item's latest data (an item
      // going away: the data it had), which is what the IP set index counts addresses with.
      const data = new Map<string, string>();
      let version = 0;
      const idx = new LabelIndex({
        onMatchStarted: (s, i, d) => {
          assert.ok(!reported.has(`${s}|${i}`), "start reported twice");
          assert.equal(d, data.get(i));
          reported.add(`${s}|${i}`);
        },
        onMatchStopped: (s, i, d) => {
          assert.equal(d, data.get(i));
          assert.ok(reported.delete(`${s}|${i}`), "stop without start");
        },
      });
      const items = new Map<string, { labels: Record<string, string>; parents: string[] }>();
      const sels = new Map<string, string>();
      const parents = new Map<string, Record<string, string>>();
      for (const op of ops) {
        if (op.t === "item") {
          const id = `i${op.id}`;
          const ps = op.parents.map((p) => `p${p}`);
          if (op.labels) items.set(id, { labels: op.labels, parents: ps });
          else items.delete(id);
          if (op.labels) data.set(id, `${id}@${++version}`);
          idx.updateItem(id, op.labels ? { ...op.labels } : undefined, ps, false, op.labels ? data.get(id) : undefined);
          assert.equal(idx.dataOf(id), op.labels ? data.get(id) : undefined);
        } else if (op.t === "sel") {
          const id = `s${op.id}`;
          if (op.sel === null) sels.delete(id);
          else sels.set(id, SELECTORS[op.sel]!);
          idx.updateSelector(id, op.sel === null ? undefined : parseSelector(SELECTORS[op.sel]!));
        } else {
          const id = `p${op.id}`;
          if (op.labels) parents.set(id, op.labels);
          else parents.delete(id);
          idx.updateParentLabels(id, op.labels ?? undefined);
        }
      }
      const expected = new Set<string>();
      for (const [iid, it] of items) {
        const eff: Record<string, string> = {};
        for (const p of [...it.parents].reverse()) Object.assign(eff, parents.get(p) ?? {});
        Object.assign(eff, it.labels);
        for (const [sid, text] of sels) if (parseSelector(text).matches(eff)) expected.add(`${sid}|${iid}`);
      }
      assert.deepEqual([...reported].sort(), [...expected].sort());
    }),
    { numRuns: 500 },
  );
});
