import { test } from "node:test";
import assert from "node:assert/strict";
import { pairCount, prng, samplePairs } from "./sample.js";

const names = (n: number) => Array.from({ length: n }, (_, i) => `h${Math.floor(i / 10) + 1}-w${(i % 10) + 1}`);

test("sample: N distinct ordered pairs, never a workload to itself, in matrix order, the same for the same seed", () => {
  const ws = names(500);
  const total = pairCount(500, 0);
  assert.equal(total, 249_500);
  const a = samplePairs(ws, [], 200, 42);
  assert.equal(a.length, 200);
  assert.equal(new Set(a.map((p) => `${p.from} ${p.to}`)).size, 200);
  for (const p of a) assert.notEqual(p.from, p.to);
  const idx = (p: { from: string; to: string }) => ws.indexOf(p.from) * 1000 + ws.indexOf(p.to);
  for (let i = 1; i < a.length; i++) assert.ok(idx(a[i - 1]!) < idx(a[i]!), "sorted by source, then destination");
  assert.deepEqual(samplePairs(ws, [], 200, 42), a, "reproducible from the seed");
  assert.notDeepEqual(samplePairs(ws, [], 200, 43), a, "another seed, other pairs");
});

test("sample: as many as there are pairs (or more) gives the whole matrix, anycast destinations included", () => {
  const ws = names(3);
  const all = samplePairs(ws, ["anycast 10.66.0.1"], 100, 1);
  assert.equal(all.length, pairCount(3, 1));
  assert.deepEqual(all.slice(0, 3), [
    { from: "h1-w1", to: "h1-w2" },
    { from: "h1-w1", to: "h1-w3" },
    { from: "h1-w2", to: "h1-w1" },
  ]);
  assert.deepEqual(all.at(-1), { from: "h1-w3", to: "anycast 10.66.0.1" });
  assert.throws(() => samplePairs(ws, [], 0, 1), { code: "LAB_BAD_SAMPLE" });
});

test("property: every sample size and seed gives distinct valid pairs; the generator stays in [0, 1)", () => {
  const r = prng(7);
  for (let i = 0; i < 10_000; i++) {
    const x = r();
    assert.ok(x >= 0 && x < 1);
  }
  for (let seed = 0; seed < 200; seed++) {
    const n = 2 + (seed % 9);
    const extra = seed % 3 === 0 ? ["anycast a", "anycast b"] : [];
    const total = pairCount(n, extra.length);
    const k = 1 + ((seed * 7) % total);
    const s = samplePairs(names(n), extra, k, seed);
    assert.equal(s.length, Math.min(k, total));
    assert.equal(new Set(s.map((p) => `${p.from} ${p.to}`)).size, s.length);
    for (const p of s) assert.notEqual(p.from, p.to);
  }
});
