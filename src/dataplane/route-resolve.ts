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

/** One route's resolution: its next hops on connected networks, and the learned ones that led nowhere. */
export interface RouteResolution {
  hops: string[];
  dead: string[];
}

/**
 * Learned routes indexed for longest-prefix match (per family: length → network address →
 * route), kept current by `set`/`delete`, so a long-lived user (the FIB installer) resolves the
 * routes that changed without rebuilding anything. Pure.
 */
export class RouteIndex {
  private readonly routes = new Map<string, Entry>();
  private readonly byLen = { 4: new Map<number, Map<string, Entry>>(), 6: new Map<number, Map<string, Entry>>() };
  private lengths: { 4: number[]; 6: number[] } = { 4: [], 6: [] };

  get size(): number {
    return this.routes.size;
  }

  keys(): IterableIterator<string> {
    return this.routes.keys();
  }

  has(key: string): boolean {
    return this.routes.has(key);
  }

  /** The route's learned next hops. */
  via(key: string): string[] | undefined {
    return this.routes.get(key)?.via;
  }

  set(key: string, via: string[]): void {
    const prefix = tryParsePrefix(key);
    if (!prefix) return;
    this.delete(key);
    const e = { prefix, key, via: [...via] };
    this.routes.set(key, e);
    const lens = this.byLen[prefix.family];
    if (!lens.has(prefix.len)) {
      lens.set(prefix.len, new Map());
      this.lengths[prefix.family] = [...lens.keys()].sort((a, b) => b - a);
    }
    lens.get(prefix.len)!.set(prefix.network().addr.toString(), e);
  }

  delete(key: string): void {
    const e = this.routes.get(key);
    if (!e) return;
    this.routes.delete(key);
    const lens = this.byLen[e.prefix.family];
    const m = lens.get(e.prefix.len)!;
    m.delete(e.prefix.network().addr.toString());
    if (m.size === 0) {
      lens.delete(e.prefix.len);
      this.lengths[e.prefix.family] = [...lens.keys()].sort((a, b) => b - a);
    }
  }

  /** The longest route containing `ip` that is not on `stack`. */
  private lookup(ip: IP, stack: Set<string>): Entry | undefined {
    const lens = this.byLen[ip.family];
    for (const len of this.lengths[ip.family]) {
      const e = lens.get(len)!.get(new Prefix(ip, len).network().addr.toString());
      if (e && !stack.has(e.key)) return e;
    }
    return undefined;
  }

  /** Resolves one route's next hops against the connected networks. */
  resolve(key: string, connected: Prefix[]): RouteResolution {
    const e = this.routes.get(key);
    if (!e) return { hops: [], dead: [] };
    const isConnected = (ip: IP) => connected.some((c) => c.family === ip.family && c.contains(ip));
    const resolveHop = (nh: string, stack: Set<string>): string[] => {
      const ip = tryParseIP(nh);
      if (!ip) return [];
      if (isConnected(ip)) return [ip.toString()];
      if (stack.size >= MAX_RECURSION) return [];
      const via = this.lookup(ip, stack);
      if (!via) return [];
      const next = new Set(stack).add(via.key);
      const out = new Set<string>();
      for (const h of via.via) for (const d of resolveHop(h, next)) out.add(d);
      return [...out];
    };
    const hops = new Set<string>();
    const dead: string[] = [];
    for (const nh of e.via) {
      const d = resolveHop(nh, new Set([e.key]));
      if (d.length === 0) dead.push(nh);
      for (const x of d) hops.add(x);
    }
    return { hops: [...hops].sort(), dead };
  }

  /** True when every next hop of the route is on a connected network (nothing to resolve). */
  direct(key: string, connected: Prefix[]): boolean {
    const e = this.routes.get(key);
    if (!e) return true;
    return e.via.every((nh) => {
      const ip = tryParseIP(nh);
      return ip !== undefined && connected.some((c) => c.family === ip.family && c.contains(ip));
    });
  }
}

/**
 * What to install for a resolved route: the resolved next hops, or, when none resolved, the
 * learned ones (left to the kernel, which may reach them in a way not known here and otherwise
 * refuses the route, which is reported in turn); and the problem to report, if any.
 */
export function outcome(key: string, via: string[], r: RouteResolution): { hops: string[]; problem?: Unresolved } {
  if (r.dead.length === 0) return { hops: r.hops };
  if (r.hops.length === 0) {
    return {
      hops: [...new Set(via)].sort(),
      problem: { dst: key, via: [...via], reason: `no route to next hop ${r.dead.join(", ")}; left to the kernel as learned` },
    };
  }
  return { hops: r.hops, problem: { dst: key, via: r.dead, reason: `next hop ${r.dead.join(", ")} unreachable; installed via the others` } };
}

/** Parses the connected networks once for `RouteIndex.resolve`. */
export function parseConnected(connected: string[]): Prefix[] {
  return connected.map((c) => tryParsePrefix(c)).filter((p): p is Prefix => p !== undefined);
}

/**
 * Resolves every learned route's next hops. `connected` lists the networks this host reaches
 * directly (address prefixes of its interfaces, the peer /32 or /128 of point-to-point addresses,
 * device routes without a gateway).
 */
export function resolveNextHops(learned: Map<string, string[]>, connected: string[]): Resolution {
  const conn = parseConnected(connected);
  const index = new RouteIndex();
  for (const [key, via] of learned) index.set(key, via);
  const routes = new Map<string, string[]>();
  const unresolved: Unresolved[] = [];
  for (const [key, via] of learned) {
    if (!index.has(key)) continue;
    const o = outcome(key, via, index.resolve(key, conn));
    routes.set(key, o.hops);
    if (o.problem) unresolved.push(o.problem);
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
export function onLinkFromIpRoute(json: string, fam: 4 | 6, opts: { scopeFiltered?: boolean } = {}): string[] {
  const text = json.trim();
  if (!text) return [];
  const out: string[] = [];
  for (const r of JSON.parse(text) as IpRouteRow[]) {
    if ((r.type && r.type !== "unicast") || r.gateway || r.nexthops || !r.dev || !r.dst || r.dev === "lo") continue;
    if (r.protocol === "152" || r.protocol === "kernel") continue; // ours; kernel ones come from the addresses
    // with `scope link` on its command line, ip leaves the scope out of what it prints
    if (fam === 4 && r.scope !== "link" && !opts.scopeFiltered) continue;
    const dst = r.dst === "default" ? (fam === 4 ? "0.0.0.0/0" : "::/0") : r.dst.includes("/") ? r.dst : `${r.dst}/${fam === 4 ? 32 : 128}`;
    const p = tryParsePrefix(dst);
    if (p && !(p.family === 6 && p.addr.isLinkLocal())) out.push(p.network().toString());
  }
  return out;
}
