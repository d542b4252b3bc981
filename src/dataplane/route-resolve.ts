/**
 * Recursive next hops for learned routes (what Calico's BIRD does with `gateway recursive`, and
 * the BGP next-hop resolvability check of RFC 4271 §9.1.2.1): a learned route's next hop that is
 * not on a directly connected network is resolved through the longest-matching other route —
 * learned or connected — down to next hops that are, keeping ECMP (every path found is kept,
 * deduplicated). A next hop that resolves to nothing is dropped while others resolve; a route
 * none of whose next hops resolves is handed to the kernel as learned (it may know better: an
 * on-link route this module was not told of; if not, it refuses the route and that is reported),
 * and either way the problem is reported. The kernel can only
 * take next hops on connected networks, so this runs on every programming pass and re-resolves
 * whenever the learned routes or the connected networks change. Pure: no I/O.
 */
import { Prefix, tryParseIP, tryParsePrefix, type IP } from "../net/index.js";

/** How deep a chain of recursive routes may be (BIRD and FRR use small limits too). */
export const MAX_RECURSION = 8;

export interface Unresolved {
  dst: string;
  /** The learned next hops that led nowhere. */
  via: string[];
  reason: string;
}

export interface Resolution {
  /** prefix → next hops on connected networks (sorted, unique), or as learned when none resolved. */
  routes: Map<string, string[]>;
  /** Routes none of whose next hops resolved, and routes that lost some next hops. */
  unresolved: Unresolved[];
}

interface Entry {
  prefix: Prefix;
  key: string;
  via: string[];
}

/**
 * Resolves every learned route's next hops. `connected` lists the networks this host reaches
 * directly (address prefixes of its interfaces, and the peer /32 or /128 of point-to-point
 * addresses).
 */
export function resolveNextHops(learned: Map<string, string[]>, connected: string[]): Resolution {
  const conn = connected.map((c) => tryParsePrefix(c)).filter((p): p is Prefix => p !== undefined);
  const entries: Entry[] = [];
  // longest-prefix match by length: per family, length → network address → route
  const byLen = { 4: new Map<number, Map<string, Entry>>(), 6: new Map<number, Map<string, Entry>>() };
  for (const [key, via] of learned) {
    const prefix = tryParsePrefix(key);
    if (!prefix) continue;
    const e = { prefix, key, via };
    entries.push(e);
    const lens = byLen[prefix.family];
    if (!lens.has(prefix.len)) lens.set(prefix.len, new Map());
    lens.get(prefix.len)!.set(prefix.network().addr.toString(), e);
  }
  const lengths = { 4: [...byLen[4].keys()].sort((a, b) => b - a), 6: [...byLen[6].keys()].sort((a, b) => b - a) };
  entries.sort((a, b) => b.prefix.len - a.prefix.len || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const isConnected = (ip: IP) => conn.some((c) => c.family === ip.family && c.contains(ip));
  const memo = new Map<string, string[]>();

  /** Direct next hops for `nh`, never through a route on `stack` (the chain being resolved). */
  const resolveHop = (nh: string, stack: Set<string>): string[] => {
    const ip = tryParseIP(nh);
    if (!ip) return [];
    if (isConnected(ip)) return [ip.toString()];
    if (stack.size >= MAX_RECURSION) return [];
    for (const len of lengths[ip.family]) {
      const e = byLen[ip.family].get(len)!.get(new Prefix(ip, len).network().addr.toString());
      if (!e || stack.has(e.key)) continue;
      return resolveRoute(e, stack);
    }
    return [];
  };

  const resolveRoute = (e: Entry, stack: Set<string>): string[] => {
    const cached = memo.get(e.key);
    if (cached) return cached;
    const next = new Set(stack).add(e.key);
    const out = new Set<string>();
    for (const nh of e.via) for (const d of resolveHop(nh, next)) out.add(d);
    const result = [...out].sort();
    // a result found inside a cycle depends on the stack: only top-level results are kept
    if (stack.size === 0) memo.set(e.key, result);
    return result;
  };

  const routes = new Map<string, string[]>();
  const unresolved: Unresolved[] = [];
  for (const e of entries) {
    const hops = resolveRoute(e, new Set());
    const dead = e.via.filter((nh) => resolveHop(nh, new Set([e.key])).length === 0);
    if (hops.length > 0) routes.set(e.key, hops);
    if (dead.length === e.via.length) {
      // left to the kernel as learned: it may reach them in a way not known here (and if not, it
      // refuses the route, which is reported in turn)
      routes.set(e.key, [...new Set(e.via)].sort());
      unresolved.push({ dst: e.key, via: [...e.via], reason: `no route to next hop ${dead.join(", ")}; left to the kernel as learned` });
    } else if (dead.length > 0) {
      unresolved.push({ dst: e.key, via: dead, reason: `next hop ${dead.join(", ")} unreachable; installed via the others` });
    }
  }
  unresolved.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
  return { routes, unresolved };
}

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  addr_info?: { family?: string; local?: string; address?: string; prefixlen?: number; scope?: string }[];
}

/**
 * The connected networks from `ip -j addr show`: each global-scope address's network, or for a
 * point-to-point address (`peer`) the peer's prefix. Loopback and link-local addresses are left
 * out (a next hop on them is not a gateway). Pure.
 */
export function connectedFromIpAddr(json: string): string[] {
  const text = json.trim();
  if (!text) return [];
  const out = new Set<string>();
  for (const link of JSON.parse(text) as IpAddrJson[]) {
    if (link.ifname === "lo" || !(link.flags ?? []).includes("UP")) continue;
    for (const a of link.addr_info ?? []) {
      if (a.scope !== "global" || !a.local || a.prefixlen === undefined) continue;
      const base = a.address && a.address !== a.local ? a.address : a.local;
      const p = tryParsePrefix(`${base}/${a.prefixlen}`);
      if (p) out.add(p.network().toString());
    }
  }
  return [...out].sort();
}

interface IpRouteRow {
  type?: string;
  dst?: string;
  gateway?: string;
  nexthops?: unknown[];
  dev?: string;
  scope?: string;
  protocol?: string;
}

/**
 * On-link networks from `ip -j route show table main` (one family): unicast routes through a
 * device with no gateway — the kernel takes a next hop on them as directly reachable (device
 * routes someone added by hand, or another agent's). tabby's own routes are left out. Pure.
 */
export function onLinkFromIpRoute(json: string, fam: 4 | 6): string[] {
  const text = json.trim();
  if (!text) return [];
  const out: string[] = [];
  for (const r of JSON.parse(text) as IpRouteRow[]) {
    if ((r.type && r.type !== "unicast") || r.gateway || r.nexthops || !r.dev || !r.dst || r.dev === "lo") continue;
    if (r.protocol === "152" || r.protocol === "kernel") continue; // ours; kernel ones come from the addresses
    if (fam === 4 && r.scope !== "link") continue;
    const dst = r.dst === "default" ? (fam === 4 ? "0.0.0.0/0" : "::/0") : r.dst.includes("/") ? r.dst : `${r.dst}/${fam === 4 ? 32 : 128}`;
    const p = tryParsePrefix(dst);
    if (p && !(p.family === 6 && p.addr.isLinkLocal())) out.push(p.network().toString());
  }
  return out;
}
