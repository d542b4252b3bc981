/** Data types shared by the RIB modules. Pure. */
import { IP } from "../../net/ip.js";
import { Prefix } from "../../net/prefix.js";
import type { AddressFamily } from "../wire/constants.js";
import type { AsPathSegment, RawAttribute } from "../wire/attributes.js";

/** Who a path came from (or goes to). */
export interface PeerInfo {
  /** Stable id: the peer's configured address. */
  id: string;
  address: IP;
  asNumber: number;
  routerId: string;
  ibgp: boolean;
  /** This speaker reflects routes for the peer (RFC 4456 client). */
  rrClient: boolean;
  /** How many times our AS may appear in a path from this peer before it is a loop (default 0). */
  allowOwnAs?: number;
}

/** Normalised attributes of a stored path. */
export interface RouteAttrs {
  origin: number;
  asPath: AsPathSegment[];
  /** Absent only on a locally originated path that uses the session address (next-hop self). */
  nextHop?: IP;
  linkLocal?: IP;
  med?: number;
  localPref?: number;
  communities: number[];
  largeCommunities: [number, number, number][];
  originatorId?: string;
  clusterList: string[];
  atomicAggregate?: boolean;
  aggregator?: { asNumber: number; address: IP };
  unknown?: RawAttribute[];
}

export interface Path {
  family: AddressFamily;
  prefix: Prefix;
  /** prefixKey(prefix), when the path carries it (RibPath does: it keeps no Prefix object). */
  readonly key?: PrefixKey;
  /** ADD-PATH path identifier as received (0 without ADD-PATH). */
  pathId: number;
  attrs: RouteAttrs;
  /** undefined = locally originated. */
  source: PeerInfo | undefined;
  /** When the path was learned (ms), for status and tie-breaks. */
  learnedAt: number;
  /** Kept across a graceful restart of its peer (RFC 4724) until refreshed or flushed. */
  stale?: boolean;
}

/**
 * A prefix as a Map key, computed without allocating: IPv4 as the number address × 64 + length
 * (exact in a double), IPv6 as a 9-character string (eight 16-bit groups and the length). The
 * prefix must be in network form (host bits clear), as decoded NLRI and parsed config are.
 */
export type PrefixKey = number | string;

export function prefixKey(p: Prefix): PrefixKey {
  const b = p.addr.bytes;
  if (b.length === 4) return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) * 64 + p.len;
  let s = "";
  for (let i = 0; i < 16; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
  return s + String.fromCharCode(p.len);
}

/** The prefix a key stands for (the inverse of prefixKey). */
export function prefixFromKey(key: PrefixKey): Prefix {
  if (typeof key === "number") {
    const len = key % 64;
    const a = (key - len) / 64;
    return new Prefix(new IP(Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff)), len);
  }
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = key.charCodeAt(i);
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 0xff;
  }
  return new Prefix(new IP(b), key.charCodeAt(8));
}

/** The key of a path's prefix, without making its Prefix object when the path has the key. */
export function pathKey(p: Path): PrefixKey {
  return p.key ?? prefixKey(p.prefix);
}

/**
 * A path as the RIB keeps it for a learned route: the prefix as its key only (a `Prefix` with its
 * `IP` and byte view costs ~150 bytes per route; it is made again when asked for, which only
 * policy, status and FIB output do), the family read from the key, the time in whole seconds (a
 * small integer, not a boxed double). ~70 bytes.
 */
export class RibPath implements Path {
  declare stale?: boolean;
  private readonly learnedS: number;
  constructor(
    readonly key: PrefixKey,
    readonly pathId: number,
    readonly attrs: RouteAttrs,
    readonly source: PeerInfo | undefined,
    learnedAt: number,
  ) {
    this.learnedS = Math.floor(learnedAt / 1000);
  }
  get family(): AddressFamily {
    return typeof this.key === "number" ? "ipv4" : "ipv6";
  }
  get prefix(): Prefix {
    return prefixFromKey(this.key);
  }
  get learnedAt(): number {
    return this.learnedS * 1000;
  }
}

/** The same path with other attributes (import policy `set`). */
export function withAttrs(p: Path, attrs: RouteAttrs): Path {
  if (p instanceof RibPath) return new RibPath(p.key, p.pathId, attrs, p.source, p.learnedAt);
  return { ...p, attrs };
}
