/**
 * A small seeded pseudo-random generator for IPAM's per-host block order (Calico seeds Go's
 * math/rand with a hash of the hostname; tabby needs the same property, not the same numbers):
 * FNV-1a (32-bit) of the seed string, then mulberry32. Written by hand because it is a dozen
 * lines and must be stable forever (a host's block order must not change across versions).
 * Not for anything security-related. Pure.
 */

/** FNV-1a, 32-bit, over the UTF-8 bytes of `s`. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(s)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A generator of uint32s from a 32-bit seed (mulberry32). */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  static fromString(seed: string): Prng {
    return new Prng(fnv1a32(seed));
  }

  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniformly distributed bigint of `bits` random bits. */
  nextBits(bits: number): bigint {
    let n = 0n;
    for (let have = 0; have < bits; have += 32) n = (n << 32n) | BigInt(this.nextUint32());
    return bits <= 0 ? 0n : n & ((1n << BigInt(bits)) - 1n);
  }
}
