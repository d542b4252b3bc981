/**
 * What routes go where: the import and export policy of each of this host's BGP peers, and the
 * routes it originates, from the routing state (bgp-routing-state.ts). Calico's route policy
 * (confd's `bird.cfg`/`bird_ipam.cfg`: a peer's BGPFilter rules first, in the order the BGPPeer
 * lists its filters, then `calico_export_to_bgp_peers`; import "accept" after the filters) with
 * tabby's safe defaults where Calico is looser:
 *
 * - Export, after the BGPFilter rules: prefixes in pools with `disableBGPExport` are rejected;
 *   routes this node originates are accepted (its blocks, its workloads' addresses from other
 *   nodes' blocks, service cluster IP ranges, and service external/LoadBalancer addresses its
 *   workloads hold); to an iBGP peer, routes learned over iBGP are accepted too, and the speaker
 *   sends them only where RFC 4456 allows (this node reflecting for its clients); everything
 *   else is rejected — above all a route learned from an eBGP peer is never passed on (no
 *   transit), and an eBGP peer never gets routes learned from other nodes.
 * - Import, after the BGPFilter rules: a route for exactly one of this node's blocks or one of
 *   its own addresses is rejected (a peer cannot draw this node's local traffic away);
 *   everything else is accepted. A covering route (a default route from a ToR) is accepted:
 *   longest-prefix match keeps local traffic local. Local workload addresses are not listed:
 *   the kernel route to a local workload always wins over a learned one (mergeKernelRoutes), and
 *   an import policy that changed with every workload would make every peer resend its table
 *   (ROUTE-REFRESH) each time a workload starts.
 * - A peer's received prefixes are capped (per family) at DEFAULT_MAX_PREFIXES unless its
 *   BGPPeer's annotation `tabby.dev/max-prefixes` says otherwise ("0": no cap).
 * - A BGPFilter a peer lists that does not exist, or that tabby cannot enforce, rejects every
 *   route at its place in the list (fail closed).
 *
 * BGPFilter rules (Calico's semantics, first match wins): `matchOperator` Equal (the prefix is
 * `cidr`), NotEqual, In (within `cidr`, lengths `prefixLength.min`..`max`, default the cidr's
 * length..32/128), NotIn; `source: RemotePeers` (learned from a peer, not originated here);
 * `interface` (export only): a route this node originates for a workload whose interface matches
 * the pattern (`*` wildcards); a learned route's interface is not known to tabby, so an
 * `interface` rule never accepts one, and a Reject `interface` rule rejects learned routes its
 * other conditions match (never wider than asked). A rule of exportV4/importV4 matches only
 * IPv4 routes, V6 only IPv6. Pure: no I/O.
 */
import { parsePrefix, type Prefix } from "../net/index.js";
import { compilePolicy, evaluate, type PolicyTermConfig, type PrefixMatchConfig } from "../bgp/policy.js";
import type { DesiredPeer, HostDesired, OriginatedRoute } from "./host-desired.js";
import type { HostState } from "./host-state.js";
import { communityProblem } from "../model/bgp-configuration.js";
import { effectiveConfig, type BgpConfigRouting, type BGPFilterRule, type FilterInfo, type RoutingState } from "./bgp-routing-state.js";

/** Received prefixes per family and peer before the session is reset (Cease, RFC 4486 subcode 1). */
export const DEFAULT_MAX_PREFIXES = 100_000;

/** A route this node originates, with the workload interface it leads to (if any). */
interface LocalRoute {
  prefix: Prefix;
  iface?: string;
}

interface Context {
  localAs: number;
  ownBlocks: Prefix[];
  /** Exact prefixes a peer may not announce to us. */
  protectedPrefixes: Prefix[];
  local: LocalRoute[];
  routing: RoutingState;
}

/**
 * Fills in `desired.originated` (which local addresses are advertised, plus service ranges,
 * with communities) and each peer's `import`, `export` and `maxPrefixes`. Called once at the
 * end of computeHostDesired.
 */
export function applyRoutePolicy(desired: HostDesired, state: HostState, me: string): void {
  const routing = state.routing;
  const cfg = effectiveConfig(routing, me);
  const self = state.nodes.get(me);
  const ownBlocks: Prefix[] = [];
  for (const [cidr, node] of state.blockAffinity) if (node === me) ownBlocks.push(parsePrefix(cidr).network());

  // this node's workload addresses and their interfaces
  const workloads: LocalRoute[] = [];
  for (const ep of state.endpoints.values()) {
    if (ep.node !== me) continue;
    for (const net of ep.ipNetworks) workloads.push({ prefix: parsePrefix(net).network(), iface: ep.interfaceName });
  }
  desired.originated = originate(desired.originated, ownBlocks, workloads, routing, cfg);

  const byPrefix = new Map(workloads.map((w) => [w.prefix.toString(), w.iface]));
  const local: LocalRoute[] = desired.originated.map((o) => {
    const prefix = parsePrefix(o.prefix);
    const iface = byPrefix.get(prefix.toString());
    return iface !== undefined ? { prefix, iface } : { prefix };
  });
  const protectedPrefixes = [...ownBlocks];
  for (const a of [self?.ipv4, self?.ipv6]) if (a) protectedPrefixes.push(parsePrefix(a));
  const ctx: Context = { localAs: state.nodes.get(me)?.asNumber ?? state.asNumber, ownBlocks, protectedPrefixes: dedupe(protectedPrefixes), local, routing };
  // the peers of a mesh mostly share their policies: each distinct one is compiled once
  const checked = new Map<string, PolicyTermConfig[]>();
  const compilesOnce = (terms: PolicyTermConfig[]) => {
    const key = JSON.stringify(terms);
    let out = checked.get(key);
    if (!out) checked.set(key, (out = compiles(terms)));
    return out;
  };
  for (const peer of desired.peers) {
    const pol = peerPolicy(peer, ctx);
    peer.import = compilesOnce(pol.import);
    peer.export = compilesOnce(pol.export);
    if (pol.maxPrefixes !== undefined) peer.maxPrefixes = pol.maxPrefixes;
  }
}

/**
 * The routes to originate: own blocks as they are; a workload address outside them only when it
 * lies in an IP pool (borrowed from another node's block) or in serviceExternalIPs /
 * serviceLoadBalancerIPs (a service address this node serves: anycast when several do); the
 * serviceClusterIPs ranges from every node. Communities from prefixAdvertisements.
 */
function originate(given: OriginatedRoute[], ownBlocks: Prefix[], workloads: LocalRoute[], routing: RoutingState, cfg: BgpConfigRouting): OriginatedRoute[] {
  const pools = [...routing.pools.values()].map((p) => p.cidr);
  const services = [...cfg.serviceExternalIPs, ...cfg.serviceLoadBalancerIPs];
  const isWorkload = new Set(workloads.map((w) => w.prefix.toString()));
  const out: OriginatedRoute[] = [];
  const seen = new Set<string>();
  const add = (prefix: string) => {
    if (seen.has(prefix)) return;
    seen.add(prefix);
    out.push(withCommunities({ prefix }, cfg));
  };
  for (const o of given) {
    const p = parsePrefix(o.prefix);
    const key = p.toString();
    if (isWorkload.has(key) && !ownBlocks.some((b) => b.containsPrefix(p))) {
      const inPool = pools.some((c) => c.containsPrefix(p));
      const isService = services.some((c) => c.containsPrefix(p));
      if (!inPool && !isService) continue; // an address of no pool and no service range: not advertised
    }
    add(key);
  }
  for (const c of cfg.serviceClusterIPs) add(c.toString());
  return out;
}

function withCommunities(r: OriginatedRoute, cfg: BgpConfigRouting): OriginatedRoute {
  if (!cfg.prefixAdvertisements) return r;
  const p = parsePrefix(r.prefix);
  const std = new Set<string>();
  const large = new Set<string>();
  for (const pa of cfg.prefixAdvertisements) {
    if (!pa.cidr.containsPrefix(p)) continue;
    for (const c of pa.communities) {
      const v = cfg.communities.get(c) ?? c;
      if (communityProblem(v) !== undefined) continue; // out of range (the model refuses it): never poison the speaker
      if (/^\d+:\d+$/.test(v)) std.add(v);
      else large.add(v);
    }
  }
  if (std.size > 0) r.communities = [...std].sort();
  if (large.size > 0) r.largeCommunities = [...large].sort();
  return r;
}

function peerPolicy(peer: DesiredPeer, ctx: Context): { import: PolicyTermConfig[]; export: PolicyTermConfig[]; maxPrefixes?: number } {
  const ebgp = peer.asNumber !== ctx.localAs;
  const imp: PolicyTermConfig[] = [];
  const exp: PolicyTermConfig[] = [];
  // the BGPPeer resource behind this session (the peer model names it; the mesh has none)
  const resource = peer.type !== "mesh" && peer.name ? ctx.routing.bgpPeers.get(peer.name) : undefined;
  for (const name of peer.filters ?? []) {
    const f = ctx.routing.filters.get(name);
    imp.push(...filterTerms(f, "import", ctx));
    exp.push(...filterTerms(f, "export", ctx));
  }
  // export defaults
  for (const pool of [...ctx.routing.pools.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (pool.disableBGPExport) exp.push({ match: { prefix: [{ prefix: pool.cidr.toString(), ge: pool.cidr.len, le: pool.cidr.maxLen }] }, action: "reject" });
  }
  exp.push({ match: { source: ["local"] }, action: "accept" });
  if (!ebgp) exp.push({ match: { source: ["ibgp"] }, action: "accept" });
  exp.push({ action: "reject" });
  // import defaults
  if (ctx.protectedPrefixes.length > 0) imp.push({ match: { prefix: ctx.protectedPrefixes.map((p) => ({ prefix: p.toString() })) }, action: "reject" });
  imp.push({ action: "accept" });

  const out: { import: PolicyTermConfig[]; export: PolicyTermConfig[]; maxPrefixes?: number } = { import: imp, export: exp };
  const limit = resource?.maxPrefixes ?? DEFAULT_MAX_PREFIXES;
  if (limit !== 0) out.maxPrefixes = limit;
  return out;
}

const FAMILY_ALL: Record<4 | 6, PrefixMatchConfig> = { 4: { prefix: "0.0.0.0/0", ge: 0, le: 32 }, 6: { prefix: "::/0", ge: 0, le: 128 } };

/** The terms of one filter for one direction, IPv4 rules then IPv6 (their matches never overlap). */
export function filterTerms(f: FilterInfo | undefined, dir: "import" | "export", ctx: Pick<Context, "local">): PolicyTermConfig[] {
  if (!f?.spec) return [{ action: "reject" }]; // missing or unusable: fail closed
  const out: PolicyTermConfig[] = [];
  for (const fam of [4, 6] as const) {
    const rules = f.spec[`${dir}V${fam}`] ?? [];
    for (const r of rules) out.push(...ruleTerms(r, fam, ctx.local));
  }
  return out;
}

function ruleTerms(r: BGPFilterRule, fam: 4 | 6, local: LocalRoute[]): PolicyTermConfig[] {
  const action = r.action === "Accept" ? "accept" : "reject";
  let prefix: PrefixMatchConfig[] = [FAMILY_ALL[fam]];
  let notPrefix: PrefixMatchConfig[] | undefined;
  if (r.cidr !== undefined && r.matchOperator !== undefined) {
    const p = parsePrefix(r.cidr).network();
    const exact: PrefixMatchConfig = { prefix: p.toString() };
    const range: PrefixMatchConfig = { prefix: p.toString(), ge: r.prefixLength?.min ?? p.len, le: r.prefixLength?.max ?? p.maxLen };
    if (r.matchOperator === "Equal") prefix = [exact];
    else if (r.matchOperator === "In") prefix = [range];
    else notPrefix = [r.matchOperator === "NotEqual" ? exact : range];
  }
  const match: NonNullable<PolicyTermConfig["match"]> = notPrefix ? { prefix, notPrefix } : { prefix };
  const remote = r.source === "RemotePeers";
  if (r.interface === undefined) return [{ match: remote ? { ...match, source: ["ibgp", "ebgp"] } : match, action }];
  const terms: PolicyTermConfig[] = [];
  if (!remote) {
    const cond = compilePolicy([{ match, action: "accept" }], false);
    const pattern = globRegExp(r.interface);
    const hits = local.filter((l) => l.iface !== undefined && pattern.test(l.iface) && evaluate(cond, l.prefix, []) !== undefined);
    if (hits.length > 0) terms.push({ match: { prefix: hits.map((h) => ({ prefix: h.prefix.toString() })), source: ["local"] }, action });
  }
  // a learned route's interface is unknown: a Reject rule takes it (narrower), an Accept rule never does
  if (action === "reject") terms.push({ match: { ...match, source: ["ibgp", "ebgp"] }, action });
  return terms;
}

/** The terms, or reject-all if the speaker could not compile them (it must never be handed a policy it refuses). */
function compiles(terms: PolicyTermConfig[]): PolicyTermConfig[] {
  try {
    compilePolicy(terms, false);
    return terms;
  } catch {
    return [{ action: "reject" }];
  }
}

/** BIRD's `ifname ~ "pattern"`: `*` any run of characters, `?` one character, the rest literal. */
function globRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
}

/** Distinct prefixes in a stable order (IPv4 first, by address, then length), whatever the input order. */
function dedupe(ps: Prefix[]): Prefix[] {
  const m = new Map(ps.map((p) => [p.toString(), p]));
  return [...m.values()].sort((a, b) => a.family - b.family || a.addr.compare(b.addr) || a.len - b.len);
}
