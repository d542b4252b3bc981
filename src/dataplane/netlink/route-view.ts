/**
 * tabby's routes (routes.ts's `Route`) to and from rtnetlink's (route-codec.ts): which of a dump's
 * routes are tabby's (protocol 152 in the main table, calico-spec §4.5's own-protocol rule) and
 * what they look like as `Route`s — exactly what routes.ts's parseIpRoutes makes of `ip -j route
 * show`, IPv6 ECMP split over several entries merged —; the directly connected networks, exactly
 * as route-resolve.ts reads them from `ip -j addr show` and `ip -j route show`; and the message
 * fields that write a `Route` as `ip route replace|del … proto 152` would. Pure: no I/O.
 */
import { tryParsePrefix } from "../../net/prefix.js";
import { normalizeRoute, RT_PROTO_TABBY, type Route } from "../routes.js";
import type { NlLink } from "./codec.js";
import { type Family, type NlAddr, type NlRoute, RTM_F_CLONED } from "./route-codec.js";
import { RTN_BLACKHOLE, RTN_UNICAST, RTPROT_KERNEL, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN } from "./constants.js";

/** A route of the main table proper (not a cached clone). */
const inMain = (r: NlRoute) => r.table === RT_TABLE_MAIN && !(r.flags & RTM_F_CLONED);

/** tabby's routes among a dump's, as `Route`s (device names from `name`). */
export function ownedRoutes(routes: NlRoute[], name: (index: number) => string | undefined): Route[] {
  const out: Route[] = [];
  const byDst = new Map<string, Route>();
  for (const r of routes) {
    if (!inMain(r) || r.protocol !== RT_PROTO_TABBY) continue;
    if (r.type === RTN_BLACKHOLE) {
      out.push({ dst: r.dst, type: "blackhole" });
      continue;
    }
    if (r.type !== RTN_UNICAST) continue; // unreachable/prohibit/...: not ours to model
    const via: string[] = [];
    let dev = r.oif ? name(r.oif) : undefined;
    if (r.gateway) via.push(r.gateway);
    for (const nh of r.multipath ?? []) {
      if (nh.gateway) via.push(nh.gateway);
      dev ??= nh.oif ? name(nh.oif) : undefined;
    }
    const prev = byDst.get(r.dst);
    if (prev && r.family === 6 && via.length && prev.via?.length) {
      prev.via.push(...via); // old-style v6 ECMP: one entry per next hop
      continue;
    }
    const route: Route = { dst: r.dst, type: "unicast" };
    if (dev) route.dev = dev;
    if (via.length) route.via = via;
    if (r.scope === RT_SCOPE_LINK) route.scope = "link";
    out.push(route);
    byDst.set(r.dst, route);
  }
  return out;
}

/**
 * The networks this namespace reaches directly: the networks of global addresses on links that
 * are up (not lo), a point-to-point address's peer, and on-link device routes that neither tabby
 * nor the kernel made (IPv4: link scope; IPv6: any, bar link-local). Sorted, unique.
 */
export function connectedNetworks(addrs: NlAddr[], links: Map<number, NlLink>, routes: NlRoute[]): string[] {
  const all = new Set<string>();
  for (const a of addrs) {
    const link = links.get(a.index);
    if (!link || link.name === "lo" || !link.up || a.scope !== RT_SCOPE_UNIVERSE) continue;
    const local = a.local ?? a.address;
    if (!local) continue;
    const base = a.address && a.address !== local ? a.address : local;
    const p = tryParsePrefix(`${base}/${a.prefixlen}`);
    if (p) all.add(p.network().toString());
  }
  for (const r of routes) {
    if (!inMain(r) || r.type !== RTN_UNICAST || r.gateway || r.multipath || !r.oif) continue;
    const dev = links.get(r.oif)?.name;
    if (!dev || dev === "lo") continue;
    if (r.protocol === RT_PROTO_TABBY || r.protocol === RTPROT_KERNEL) continue; // ours; kernel ones come from the addresses
    if (r.family === 4 && r.scope !== RT_SCOPE_LINK) continue;
    const p = tryParsePrefix(r.dst);
    if (p && !(p.family === 6 && p.addr.isLinkLocal())) all.add(p.network().toString());
  }
  return [...all].sort();
}

const familyOf = (dst: string): Family => (dst.includes(":") ? 6 : 4);

/**
 * The message fields that put `r` in the main table with protocol 152 (as `ip route replace`
 * does: a route without a gateway gets link scope), or the device `index` does not know.
 */
export function writeOf(r: Route, index: (dev: string) => number | undefined): NlRoute | { missingDev: string } {
  const n = normalizeRoute(r);
  const family = familyOf(n.dst);
  const base = { family, dst: n.dst, table: RT_TABLE_MAIN, protocol: RT_PROTO_TABBY, flags: 0 };
  if (n.type === "blackhole") return { ...base, scope: RT_SCOPE_UNIVERSE, type: RTN_BLACKHOLE };
  let oif: number | undefined;
  if (n.dev !== undefined) {
    oif = index(n.dev);
    if (oif === undefined) return { missingDev: n.dev };
  }
  const via = n.via ?? [];
  const out: NlRoute = { ...base, scope: n.scope === "link" || via.length === 0 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, type: RTN_UNICAST };
  if (via.length === 1) out.gateway = via[0]!;
  if (via.length > 1) out.multipath = via.map((gateway) => ({ oif: oif ?? 0, gateway, flags: 0, hops: 0 }));
  else if (oif !== undefined) out.oif = oif;
  return out;
}

/** The message fields that delete tabby's route for `r`'s destination (any scope; of its type when a blackhole). */
export function deleteOf(r: Route): NlRoute {
  const n = normalizeRoute(r);
  return {
    family: familyOf(n.dst),
    dst: n.dst,
    table: RT_TABLE_MAIN,
    protocol: RT_PROTO_TABBY,
    scope: RT_SCOPE_NOWHERE,
    type: n.type === "blackhole" ? RTN_BLACKHOLE : 0,
    flags: 0,
  };
}
