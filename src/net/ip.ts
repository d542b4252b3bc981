/**
 * IP addresses for both families, parsed and printed by hand because the textual forms are
 * small, fixed (RFC 4291 §2.2 for input, RFC 5952 canonical form for output) and on hot paths.
 * Pure: no I/O.
 */
import { TabbyError } from "../errors.js";

export type Family = 4 | 6;

export class IP {
  /** 4 or 16 bytes, network order. Treat as immutable. */
  readonly bytes: Uint8Array;
  readonly family: Family;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== 4 && bytes.length !== 16) {
      throw new TabbyError("NET_BAD_IP", `an IP address has 4 or 16 bytes, not ${bytes.length}`);
    }
    this.bytes = bytes;
    this.family = bytes.length === 4 ? 4 : 6;
  }

  toString(): string {
    return this.family === 4 ? formatV4(this.bytes) : formatV6(this.bytes);
  }

  toBigInt(): bigint {
    let n = 0n;
    for (const b of this.bytes) n = (n << 8n) | BigInt(b);
    return n;
  }

  equals(other: IP): boolean {
    if (other.bytes.length !== this.bytes.length) return false;
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] !== other.bytes[i]) return false;
    return true;
  }

  compare(other: IP): number {
    if (this.family !== other.family) return this.family - other.family;
    for (let i = 0; i < this.bytes.length; i++) {
      const d = this.bytes[i]! - other.bytes[i]!;
      if (d !== 0) return d;
    }
    return 0;
  }

  /** True for fe80::/10. */
  isLinkLocal(): boolean {
    return this.family === 6 && this.bytes[0] === 0xfe && (this.bytes[1]! & 0xc0) === 0x80;
  }
}

export function ipFromBigInt(family: Family, n: bigint): IP {
  const len = family === 4 ? 4 : 16;
  if (n < 0n || n >> BigInt(len * 8) !== 0n) {
    throw new TabbyError("NET_BAD_IP", `value out of range for IPv${family}`);
  }
  const bytes = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return new IP(bytes);
}

export function parseIP(text: string): IP {
  const ip = tryParseIP(text);
  if (!ip) throw new TabbyError("NET_BAD_IP", `not an IP address: ${JSON.stringify(text)}`, { input: text });
  return ip;
}

export function tryParseIP(text: string): IP | undefined {
  if (text.includes(":")) {
    const b = parseV6(text);
    return b ? new IP(b) : undefined;
  }
  const b = parseV4(text);
  return b ? new IP(b) : undefined;
}

export function isIP(text: string): boolean {
  return tryParseIP(text) !== undefined;
}

function parseV4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

function parseV6(text: string): Uint8Array | undefined {
  if (text.includes("%")) return undefined; // zone ids are not addresses
  const dbl = text.indexOf("::");
  if (dbl !== -1 && text.indexOf("::", dbl + 1) !== -1) return undefined;
  const head = dbl === -1 ? text : text.slice(0, dbl);
  const tail = dbl === -1 ? "" : text.slice(dbl + 2);
  const groups: number[] = [];
  const tailGroups: number[] = [];
  if (!parseGroups(head, groups, dbl === -1)) return undefined;
  if (dbl !== -1 && !parseGroups(tail, tailGroups, true)) return undefined;
  const total = groups.length + tailGroups.length;
  if (dbl === -1 ? total !== 8 : total > 7) return undefined;
  const all = [...groups, ...new Array<number>(8 - total).fill(0), ...tailGroups];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Parses colon-separated hex groups; the last may be a dotted IPv4 when `mayEndV4`. */
function parseGroups(s: string, into: number[], mayEndV4: boolean): boolean {
  if (s === "") return true;
  const parts = s.split(":");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i === parts.length - 1 && mayEndV4 && p.includes(".")) {
      const v4 = parseV4(p);
      if (!v4) return false;
      into.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false;
    into.push(parseInt(p, 16));
  }
  return true;
}

function formatV4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952: lower case, no leading zeros, longest run (>1) of zero groups as "::", first on ties. */
function formatV6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}
