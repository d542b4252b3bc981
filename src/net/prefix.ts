/**
 * IP prefixes (CIDRs) for both families: parsing, masking, containment and enumeration.
 * Pure: no I/O.
 */
import { TabbyError } from "../errors.js";
import { IP, type Family, ipFromBigInt, tryParseIP } from "./ip.js";

export class Prefix {
  /** The address as written; `network()` masks off host bits. */
  readonly addr: IP;
  readonly len: number;

  constructor(addr: IP, len: number) {
    const max = addr.family === 4 ? 32 : 128;
    if (!Number.isInteger(len) || len < 0 || len > max) {
      throw new TabbyError("NET_BAD_PREFIX", `prefix length ${len} is out of range 0-${max}`);
    }
    this.addr = addr;
    this.len = len;
  }

  get family(): Family {
    return this.addr.family;
  }

  get maxLen(): number {
    return this.addr.family === 4 ? 32 : 128;
  }

  /** True when the address has no bits set past the prefix length. */
  isNetwork(): boolean {
    return this.addr.equals(this.network().addr);
  }

  /** The same prefix with the host bits cleared. */
  network(): Prefix {
    const bytes = new Uint8Array(this.addr.bytes);
    for (let bit = this.len; bit < bytes.length * 8; bit++) {
      bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
    }
    return new Prefix(new IP(bytes), this.len);
  }

  /** Number of addresses covered. */
  size(): bigint {
    return 1n << BigInt(this.maxLen - this.len);
  }

  /** The i-th address of the prefix (0 = network address). */
  nth(i: bigint | number): IP {
    const n = BigInt(i);
    if (n < 0n || n >= this.size()) throw new TabbyError("NET_BAD_PREFIX", `offset ${n} outside ${this}`);
    return ipFromBigInt(this.family, this.network().addr.toBigInt() + n);
  }

  /** Offset of `ip` within this prefix, or -1n when outside. */
  offsetOf(ip: IP): bigint {
    if (!this.contains(ip)) return -1n;
    return ip.toBigInt() - this.network().addr.toBigInt();
  }

  contains(ip: IP): boolean {
    if (ip.family !== this.family) return false;
    const a = this.addr.bytes;
    const b = ip.bytes;
    const full = this.len >> 3;
    for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
    const rem = this.len & 7;
    if (rem === 0) return true;
    const mask = (0xff << (8 - rem)) & 0xff;
    return (a[full]! & mask) === (b[full]! & mask);
  }

  /** True when `other` lies entirely within this prefix. */
  containsPrefix(other: Prefix): boolean {
    return other.family === this.family && other.len >= this.len && this.contains(other.addr);
  }

  overlaps(other: Prefix): boolean {
    return this.containsPrefix(other) || other.containsPrefix(this);
  }

  equals(other: Prefix): boolean {
    return this.len === other.len && this.addr.equals(other.addr);
  }

  toString(): string {
    return `${this.addr}/${this.len}`;
  }

  /** The sub-prefixes of length `len` in address order (lazily). */
  *subnets(len: number): Generator<Prefix> {
    if (len < this.len || len > this.maxLen) {
      throw new TabbyError("NET_BAD_PREFIX", `cannot split ${this} into /${len}`);
    }
    const base = this.network().addr.toBigInt();
    const step = 1n << BigInt(this.maxLen - len);
    const count = 1n << BigInt(len - this.len);
    for (let i = 0n; i < count; i++) yield new Prefix(ipFromBigInt(this.family, base + i * step), len);
  }
}

/**
 * Parses "addr/len". With `strict`, host bits must be zero (a network, like an IPPool cidr);
 * without it they may be set (an interface address, like a Node's `ipv4Address`).
 * A bare address parses as a host prefix (/32 or /128) unless `requireLength` is set.
 */
export function parsePrefix(text: string, opts: { strict?: boolean; requireLength?: boolean } = {}): Prefix {
  const p = tryParsePrefix(text, opts);
  if (!p) {
    throw new TabbyError("NET_BAD_PREFIX", `not a CIDR${opts.strict ? " network" : ""}: ${JSON.stringify(text)}`, {
      input: text,
    });
  }
  return p;
}

export function tryParsePrefix(text: string, opts: { strict?: boolean; requireLength?: boolean } = {}): Prefix | undefined {
  const slash = text.indexOf("/");
  if (slash === -1 && opts.requireLength) return undefined;
  const ip = tryParseIP(slash === -1 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  let len = max;
  if (slash !== -1) {
    const l = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(l)) return undefined;
    len = Number(l);
    if (len > max) return undefined;
  }
  const p = new Prefix(ip, len);
  if (opts.strict && !p.isNetwork()) return undefined;
  return p;
}

/** The host prefix (/32 or /128) of an address. */
export function hostPrefix(ip: IP): Prefix {
  return new Prefix(ip, ip.family === 4 ? 32 : 128);
}
