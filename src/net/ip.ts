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

// The parsers scan characters rather than split and match (no arrays or strings per address):
// addresses are parsed on every routing pass (routes, peers, policies), so their garbage counts.

function parseV4(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  return v4Into(text, 0, text.length, out, 0) ? out : undefined;
}

/** The dotted quad text[start, end) into out[at..at+3]: four decimals of 1-3 digits, no leading zero, ≤ 255. */
function v4Into(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let part = 0;
  let digits = 0;
  let value = 0;
  let first = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : text.charCodeAt(i); // the end closes the last part like a dot
    if (c === 46) {
      if (digits === 0 || (digits > 1 && first === 0) || value > 255 || part === 4) return false;
      out[at + part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 3) return false;
      if (digits === 0) first = c - 48;
      value = value * 10 + (c - 48);
      digits++;
    } else return false;
  }
  return part === 4;
}

/** A hex digit's value, -1 for any other character. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * RFC 4291 §2.2: eight groups of 1-4 hex digits, one run of them shortened to "::", the last
 * two may be written as a dotted quad. Groups are written in order, then those after "::"
 * moved to the end.
 */
function parseV6(text: string): Uint8Array | undefined {
  const len = text.length;
  const out = new Uint8Array(16);
  let n = 0; // groups written
  let gap = -1; // the group index where "::" stands
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return undefined;
    gap = 0;
    i = 2;
  }
  while (i < len) {
    let v = 0;
    let j = i;
    while (j < len && j - i < 5) {
      const d = hexValue(text.charCodeAt(j));
      if (d < 0) break;
      v = v * 16 + d;
      j++;
    }
    if (j < len && text.charCodeAt(j) === 46) {
      // a dotted quad: the last two groups, up to the end
      if (n > 6 || !v4Into(text, i, len, out, n * 2)) return undefined;
      n += 2;
      break;
    }
    if (j === i || j - i > 4 || n === 8) return undefined;
    out[n * 2] = v >> 8;
    out[n * 2 + 1] = v & 0xff;
    n++;
    if (j === len) break;
    if (text.charCodeAt(j) !== 58) return undefined;
    if (text.charCodeAt(j + 1) === 58) {
      if (gap !== -1) return undefined;
      gap = n;
      i = j + 2;
    } else {
      if (j + 1 === len) return undefined; // a trailing single colon
      i = j + 1;
    }
  }
  if (gap === -1) return n === 8 ? out : undefined;
  if (n > 7) return undefined;
  const tail = (n - gap) * 2;
  out.copyWithin(16 - tail, gap * 2, n * 2);
  out.fill(0, gap * 2, 16 - tail);
  return out;
}

function formatV4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952: lower case, no leading zeros, longest run (>1) of zero groups as "::", first on ties. */
function formatV6(b: Uint8Array): string {
  const group = (i: number) => (b[i * 2]! << 8) | b[i * 2 + 1]!;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (group(i) !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && group(j) === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (out !== "" && !out.endsWith(":")) out += ":";
    out += group(i).toString(16);
  }
  return out;
}
