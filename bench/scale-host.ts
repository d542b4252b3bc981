/**
 * The simulated hosts of the scale bench (bench/scale.ts, issue #15): what one host of a tabby
 * cluster announces to its route reflectors, as a real agent does (RFC 4271 iBGP with RFC 4760
 * MP-BGP for IPv6 on the same session): one IPv4 /26 block, two borrowed /32 addresses, one IPv6
 * /122 block and one borrowed /128; and, for the received side, a scanner that walks an UPDATE's
 * bytes (withdrawn routes, NLRI, MP_REACH/MP_UNREACH) without decoding attributes, so one process
 * can keep thousands of sessions' tables. Pure: bytes in, bytes and counts out.
 *
 * Address plan (host i of H, i < 16 384):
 *   session address   10.200.0.0/16 + 256 + i          (RRs are 10.200.0.1–4)
 *   IPv4 block        10.64.0.0 + 64·i /26             (an extra block later: index H + i)
 *   IPv4 borrowed     10.192.0.0 + 4·i + j /32, j < 2
 *   IPv6 next hop     fd00:200::(256 + i)
 *   IPv6 block        fd00:64::(64·i) /122
 *   IPv6 borrowed     fd00:65::(4·i) /128
 * A route's index is host·SLOTS + slot, so a received prefix maps to its host and slot by arithmetic.
 */
import { IP } from "../src/net/ip.js";
import { Prefix } from "../src/net/prefix.js";
import { encodeMessage } from "../src/bgp/wire/messages.js";
import { endOfRib, type UpdateMessage } from "../src/bgp/wire/update.js";
import { AttrType } from "../src/bgp/wire/constants.js";
import type { Nlri } from "../src/bgp/wire/nlri.js";

export const AS = 65000;
/** Per host: v4 block, two v4 /32, v6 block, one v6 /128, and the extra v4 block (announced later). */
export const SLOTS = 6;
export const ROUTES_PER_HOST = 5;
export const EXTRA_SLOT = 5;
export const MAX_HOSTS = 16_384;

const V4_BLOCKS = 0x0a400000; // 10.64.0.0
const V4_BORROWED = 0x0ac00000; // 10.192.0.0
const SESSION_BASE = 0x0ac80000 + 256; // 10.200.1.0

function v4(n: number): IP {
  return new IP(Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255));
}
/** fd00:GROUP::LOW32 */
function v6(group: number, low: number): IP {
  const b = new Uint8Array(16);
  b[0] = 0xfd;
  b[2] = group >> 8;
  b[3] = group & 255;
  b[12] = low >>> 24;
  b[13] = (low >>> 16) & 255;
  b[14] = (low >>> 8) & 255;
  b[15] = low & 255;
  return new IP(b);
}

export function sessionAddress(i: number): string {
  return v4(SESSION_BASE + i).toString();
}
export function nextHop6(i: number): IP {
  return v6(0x200, 256 + i);
}

/** The host's routes by slot (the extra block only when `extra`). */
export function hostPrefixes(i: number, hosts: number, extra = false): { v4: Prefix[]; v6: Prefix[] } {
  const out = {
    v4: [new Prefix(v4(V4_BLOCKS + 64 * i), 26), new Prefix(v4(V4_BORROWED + 4 * i), 32), new Prefix(v4(V4_BORROWED + 4 * i + 1), 32)],
    v6: [new Prefix(v6(0x64, 64 * i), 122), new Prefix(v6(0x65, 4 * i), 128)],
  };
  if (extra) out.v4.push(new Prefix(v4(V4_BLOCKS + 64 * (hosts + i)), 26));
  return out;
}

function attrs() {
  return { origin: 0, asPath: [], localPref: 100 };
}

const nlri = (ps: Prefix[]): Nlri[] => ps.map((prefix) => ({ prefix, pathId: 0 }));

/** What host i sends once Established: its IPv4 routes, its IPv6 routes, End-of-RIB for both. */
export function hostAnnouncement(i: number, hosts: number): Uint8Array[] {
  const p = hostPrefixes(i, hosts);
  const u4: UpdateMessage = { type: "update", withdrawn: [], attributes: { ...attrs(), nextHop: v4(SESSION_BASE + i) }, nlri: nlri(p.v4) };
  const u6: UpdateMessage = {
    type: "update",
    withdrawn: [],
    attributes: { ...attrs(), mpReach: { family: "ipv6", nextHop: nextHop6(i), nlri: nlri(p.v6) } },
    nlri: [],
  };
  return [u4, u6, endOfRib("ipv4"), endOfRib("ipv6")].map((u) => encodeMessage(u));
}

/** Host i's extra /26, as a new block an agent would announce after an IPAM allocation. */
export function extraBlock(i: number, hosts: number): Uint8Array {
  return encodeMessage({
    type: "update",
    withdrawn: [],
    attributes: { ...attrs(), nextHop: v4(SESSION_BASE + i) },
    nlri: [{ prefix: new Prefix(v4(V4_BLOCKS + 64 * (hosts + i)), 26), pathId: 0 }],
  });
}

/** The OPEN host i sends: iBGP AS 65000, IPv4 and IPv6 unicast, 4-byte AS, route refresh. */
export function hostOpen(i: number, holdTime = 240): Uint8Array {
  return encodeMessage({
    type: "open",
    version: 4,
    myAs: AS,
    holdTime,
    routerId: sessionAddress(i),
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, { code: 2 }, { code: 65, asNumber: AS }],
  });
}

export const KEEPALIVE = encodeMessage({ type: "keepalive" });

/**
 * The route index (host·SLOTS + slot) of a received prefix, or -1 when it is not one of the plan's.
 * IPv4: `a` is the address; IPv6: `a` is its first 32 bits, `low` its last 32.
 */
export function routeIndex(v6fam: boolean, a: number, low: number, len: number, hosts: number): number {
  if (!v6fam) {
    if (len === 26 && (a & 0xffc00000) === V4_BLOCKS) {
      const n = (a - V4_BLOCKS) / 64;
      if (n < hosts) return n * SLOTS;
      if (n < 2 * hosts) return (n - hosts) * SLOTS + EXTRA_SLOT;
      return -1;
    }
    if (len === 32 && (a & 0xffff0000) >>> 0 === V4_BORROWED) {
      const off = a - V4_BORROWED;
      const host = off >>> 2;
      const j = off & 3;
      return host < hosts && j < 2 ? host * SLOTS + 1 + j : -1;
    }
    return -1;
  }
  if (a === 0xfd000064 && len === 122 && low % 64 === 0 && low / 64 < hosts) return (low / 64) * SLOTS + 3;
  if (a === 0xfd000065 && len === 128 && low % 4 === 0 && low / 4 < hosts) return (low / 4) * SLOTS + 4;
  return -1;
}

/** Calls `visit` for each prefix of an NLRI field (no ADD-PATH): IPv4 or IPv6. */
function walkNlri(m: Uint8Array, from: number, to: number, v6fam: boolean, visit: (v6fam: boolean, a: number, low: number, len: number) => void): void {
  let p = from;
  while (p < to) {
    const len = m[p++]!;
    const n = (len + 7) >> 3;
    let a = 0;
    let low = 0;
    for (let k = 0; k < 4; k++) a = (a << 8) | (k < n ? m[p + k]! : 0);
    if (v6fam) for (let k = 12; k < 16; k++) low = (low << 8) | (k < n ? m[p + k]! : 0);
    visit(v6fam, a >>> 0, low >>> 0, len);
    p += n;
  }
}

/**
 * Walks a whole UPDATE message (header included): `gone` for each withdrawn prefix (classic and
 * MP_UNREACH), `got` for each announced one (classic NLRI and MP_REACH). IPv4/IPv6 unicast only.
 */
export function scanUpdate(
  m: Uint8Array,
  got: (v6fam: boolean, a: number, low: number, len: number) => void,
  gone: (v6fam: boolean, a: number, low: number, len: number) => void,
): void {
  let p = 19;
  const wlen = (m[p]! << 8) | m[p + 1]!;
  p += 2;
  walkNlri(m, p, p + wlen, false, gone);
  p += wlen;
  const alen = (m[p]! << 8) | m[p + 1]!;
  p += 2;
  const aend = p + alen;
  while (p < aend) {
    const flags = m[p]!;
    const type = m[p + 1]!;
    const ext = (flags & 0x10) !== 0;
    const len = ext ? (m[p + 2]! << 8) | m[p + 3]! : m[p + 2]!;
    const v = p + (ext ? 4 : 3);
    if (type === AttrType.MP_REACH_NLRI || type === AttrType.MP_UNREACH_NLRI) {
      const afi = (m[v]! << 8) | m[v + 1]!;
      const fam6 = afi === 2;
      if (type === AttrType.MP_REACH_NLRI) {
        const nhLen = m[v + 3]!;
        walkNlri(m, v + 4 + nhLen + 1, v + len, fam6, got);
      } else walkNlri(m, v + 3, v + len, fam6, gone);
    }
    p = v + len;
  }
  walkNlri(m, aend, m.length, false, got);
}

/**
 * Which routes each simulated session holds, and over all sessions how many hold each route
 * (`holders`), kept current as UPDATEs arrive. `complete` counts routes held by every session
 * that should hold them (all sessions but the route's own host's): the table has converged when
 * it equals the number of routes announced.
 */
export class HeldRoutes {
  /** per session: one byte per route index */
  private readonly held: Uint8Array[] = [];
  readonly holders: Int32Array;
  complete = 0;

  constructor(
    readonly hosts: number,
    /** sessions per host (one per route reflector) */
    readonly perHost: number,
  ) {
    for (let s = 0; s < hosts * perHost; s++) this.held.push(new Uint8Array(hosts * SLOTS));
    this.holders = new Int32Array(hosts * SLOTS);
  }

  /** How many sessions must hold a route for it to count as everywhere. */
  get everywhere(): number {
    return (this.hosts - 1) * this.perHost;
  }

  /** Applies one UPDATE received on session `s` (host s / perHost). Returns the prefixes it touched. */
  apply(s: number, m: Uint8Array): number {
    const held = this.held[s]!;
    const own = Math.floor(s / this.perHost);
    let touched = 0;
    const set = (on: boolean) => (v6fam: boolean, a: number, low: number, len: number) => {
      touched++;
      const idx = routeIndex(v6fam, a, low, len, this.hosts);
      if (idx < 0 || Math.floor(idx / SLOTS) === own) return;
      if ((held[idx] === 1) === on) return;
      held[idx] = on ? 1 : 0;
      const before = this.holders[idx]!;
      const after = before + (on ? 1 : -1);
      this.holders[idx] = after;
      if (after === this.everywhere) this.complete++;
      else if (before === this.everywhere) this.complete--;
    };
    scanUpdate(m, set(true), set(false));
    return touched;
  }

  /** Session `s` went down: it holds nothing now. */
  clearSession(s: number): void {
    const held = this.held[s]!;
    for (let idx = 0; idx < held.length; idx++) {
      if (held[idx] !== 1) continue;
      held[idx] = 0;
      if (this.holders[idx] === this.everywhere) this.complete--;
      this.holders[idx]!--;
    }
  }

  /** Forgets every session's routes. */
  reset(): void {
    for (const h of this.held) h.fill(0);
    this.holders.fill(0);
    this.complete = 0;
  }

  /** Routes session `s` holds. */
  count(s: number): number {
    let n = 0;
    for (const b of this.held[s]!) n += b;
    return n;
  }

  /** Sessions holding route (host, slot). */
  holding(host: number, slot: number): number {
    return this.holders[host * SLOTS + slot]!;
  }
}
