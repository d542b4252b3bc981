/**
 * A Map keyed by PrefixKey that stays fast at a million IPv4 prefixes. A plain Map keyed by the
 * IPv4 key (address × 64 + length, beyond the small-integer range) hashes heap numbers and is
 * about four times slower than small-integer keys (measured on Node 20: 2.3 s vs 0.6 s per
 * million inserts); so IPv4 entries live in one Map per prefix length keyed by the address as a
 * signed 32-bit integer, IPv6 entries in a Map keyed by their string. Pure.
 */
import type { PrefixKey } from "./types.js";

export class PrefixMap<V> {
  private readonly v4: (Map<number, V> | undefined)[] = [];
  private readonly other = new Map<string, V>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: PrefixKey): V | undefined {
    if (typeof key === "string") return this.other.get(key);
    const len = key % 64;
    return this.v4[len]?.get(((key - len) / 64) | 0);
  }

  has(key: PrefixKey): boolean {
    return this.get(key) !== undefined;
  }

  set(key: PrefixKey, value: V): this {
    if (typeof key === "string") {
      const before = this.other.size;
      this.other.set(key, value);
      this.count += this.other.size - before;
      return this;
    }
    const len = key % 64;
    let m = this.v4[len];
    if (!m) this.v4[len] = m = new Map();
    const before = m.size;
    m.set(((key - len) / 64) | 0, value);
    this.count += m.size - before;
    return this;
  }

  delete(key: PrefixKey): boolean {
    let gone: boolean;
    if (typeof key === "string") gone = this.other.delete(key);
    else {
      const len = key % 64;
      gone = this.v4[len]?.delete(((key - len) / 64) | 0) ?? false;
    }
    if (gone) this.count--;
    return gone;
  }

  clear(): void {
    this.v4.length = 0;
    this.other.clear();
    this.count = 0;
  }

  /** Removes every IPv4 (number-keyed) or every other entry. */
  clearKind(kind: "ipv4" | "other"): void {
    if (kind === "ipv4") {
      for (const m of this.v4) this.count -= m?.size ?? 0;
      this.v4.length = 0;
    } else {
      this.count -= this.other.size;
      this.other.clear();
    }
  }

  /** Calls `f` for every IPv4 (number-keyed) or every other entry, without allocating per entry. */
  forEachOf(kind: "ipv4" | "other", f: (value: V, key: PrefixKey) => void): void {
    if (kind === "other") {
      this.other.forEach(f);
      return;
    }
    for (let len = 0; len < this.v4.length; len++) this.v4[len]?.forEach((v, a) => f(v, (a >>> 0) * 64 + len));
  }

  *values(): Generator<V> {
    for (const m of this.v4) if (m) yield* m.values();
    yield* this.other.values();
  }

  *entries(): Generator<[PrefixKey, V]> {
    for (let len = 0; len < this.v4.length; len++) {
      const m = this.v4[len];
      if (m) for (const [a, v] of m) yield [(a >>> 0) * 64 + len, v];
    }
    yield* this.other.entries();
  }

  [Symbol.iterator](): Generator<[PrefixKey, V]> {
    return this.entries();
  }
}
