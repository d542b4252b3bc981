import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Backoff, backoffBase, jittered } from "./backoff.js";

const take = (b: Backoff, n: number) => Array.from({ length: n }, () => b.next());

test("backoff: doubles from initialMs and stays at maxMs; without jitter the delays are the bases", () => {
  assert.deepEqual(take(new Backoff({ initialMs: 1000, maxMs: 8000, jitter: 0 }), 6), [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.deepEqual(take(new Backoff({ initialMs: 500, maxMs: 8000, factor: 3, jitter: 0 }), 5), [500, 1500, 4500, 8000, 8000]);
  assert.deepEqual(take(new Backoff({ initialMs: 2000, maxMs: 2000, factor: 1, jitter: 0 }), 3), [2000, 2000, 2000]);
});

test("backoff: jitter takes up to its fraction away, never adds (RFC 4271 §10: 0.75 to 1.0 by default)", () => {
  assert.deepEqual(take(new Backoff({ initialMs: 1000, maxMs: 8000 }, () => 0), 4), [1000, 2000, 4000, 8000]);
  assert.deepEqual(take(new Backoff({ initialMs: 1000, maxMs: 8000 }, () => 0.5), 4), [875, 1750, 3500, 7000]);
  assert.deepEqual(take(new Backoff({ initialMs: 1000, maxMs: 8000, jitter: 0.5 }, () => 0.999999), 2), [500, 1000]);
  assert.equal(
    jittered(30_000, 0.25, () => 0.2),
    28_500,
  );
});

test("backoff: reset starts again from initialMs; failures counts the attempts since", () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
  assert.deepEqual(take(b, 3), [100, 200, 400]);
  assert.equal(b.failures, 3);
  b.reset();
  assert.equal(b.failures, 0);
  assert.deepEqual(take(b, 2), [100, 200]);
});

test("backoff: a huge attempt number is still maxMs (no overflow to Infinity)", () => {
  assert.equal(backoffBase({ initialMs: 1, maxMs: 30_000 }, 1e6), 30_000);
  assert.equal(backoffBase({ initialMs: 1, maxMs: Number.MAX_VALUE, factor: 10 }, 400), Number.MAX_VALUE);
});

test("backoff: options that make no sense are refused with NET_BAD_BACKOFF", () => {
  for (const bad of [
    { initialMs: 0, maxMs: 10 },
    { initialMs: -1, maxMs: 10 },
    { initialMs: Number.NaN, maxMs: 10 },
    { initialMs: 10, maxMs: 5 },
    { initialMs: 10, maxMs: Number.POSITIVE_INFINITY },
    { initialMs: 10, maxMs: 20, factor: 0.5 },
    { initialMs: 10, maxMs: 20, jitter: 1.5 },
    { initialMs: 10, maxMs: 20, jitter: -0.1 },
  ]) {
    assert.throws(() => new Backoff(bad), { code: "NET_BAD_BACKOFF" }, JSON.stringify(bad));
  }
});

test("property: every delay lies in [base × (1 − jitter), base], bases never shrink and never pass maxMs", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.double({ min: 1, max: 4, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 40 }),
      (initialMs, extra, factor, jitter, randoms) => {
        const opts = { initialMs, maxMs: initialMs + extra, factor, jitter };
        let i = 0;
        const b = new Backoff(opts, () => randoms[i]!);
        let prev = 0;
        for (i = 0; i < randoms.length; i++) {
          const base = backoffBase(opts, i);
          const d = b.next();
          assert.ok(base >= prev && base <= opts.maxMs && base >= initialMs, `base ${base}`);
          assert.ok(d <= Math.round(base) && d >= Math.floor(base * (1 - jitter)), `delay ${d} for base ${base}`);
          prev = base;
        }
      },
    ),
  );
});
