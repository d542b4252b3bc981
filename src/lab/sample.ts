/**
 * `tabby lab check --sample N [--seed S]`: which ordered pairs a check probes. The full matrix is
 * quadratic (a 50 × 10 lab has 249,500 ordered pairs of workloads), so above FULL_MATRIX_MAX
 * workloads the check probes a random sample of pairs; the sample is a pure function of the
 * seed and the lab's workload names, so a failure is reproduced by running the check again with
 * the seed it printed. Pure: the seed is a parameter, the caller picks one when none is given.
 */
import { TabbyError } from "../errors.js";

/** Up to this many workloads, `lab check` without --sample probes every ordered pair. */
export const FULL_MATRIX_MAX = 40;
/** Pairs sampled by default above FULL_MATRIX_MAX workloads. */
export const DEFAULT_SAMPLE = 200;

export interface Pair {
  from: string;
  /** A workload's name, or an anycast address's destination label. */
  to: string;
}

/** mulberry32: a small, well-mixed 32-bit PRNG, enough to pick pairs reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Every ordered pair (`from` ≠ `to` among `names`, then each name to each of `extra`, the
 * anycast destinations), in a fixed order; `pairAt` reads the i-th without building the list.
 */
export function pairCount(names: number, extra: number): number {
  return names * (names - 1) + names * extra;
}

function pairAt(names: readonly string[], extra: readonly string[], i: number): Pair {
  const n = names.length;
  const mesh = n * (n - 1);
  if (i < mesh) {
    const from = Math.floor(i / (n - 1));
    let to = i % (n - 1);
    if (to >= from) to++;
    return { from: names[from]!, to: names[to]! };
  }
  const j = i - mesh;
  return { from: names[Math.floor(j / extra.length)]!, to: extra[j % extra.length]! };
}

/**
 * `count` distinct ordered pairs drawn with `seed` (all of them, in order, when `count` is at
 * least their number), sorted by source then destination as the full matrix is.
 */
export function samplePairs(names: readonly string[], extra: readonly string[], count: number, seed: number): Pair[] {
  if (!Number.isInteger(count) || count < 1) throw new TabbyError("LAB_BAD_SAMPLE", `--sample takes a positive whole number of pairs, got ${count}`);
  const total = pairCount(names.length, extra.length);
  if (count >= total) return Array.from({ length: total }, (_, i) => pairAt(names, extra, i));
  // Floyd's algorithm: `count` distinct indices in `count` draws
  const rand = prng(seed);
  const chosen = new Set<number>();
  for (let j = total - count; j < total; j++) {
    const t = Math.floor(rand() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b).map((i) => pairAt(names, extra, i));
}
