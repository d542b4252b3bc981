/**
 * What one host needs, computed from the HostState: the kernel routes it owns (a /32 or /128
 * per local workload, a blackhole per affine block so traffic to unallocated addresses is
 * dropped rather than sent to the default route), the prefixes its BGP speaker originates
 * (whole affine blocks as aggregates; borrowed addresses as host routes, as Calico/BIRD do),
 * and its BGP peers (bgp-peers.ts: the mesh, BGPPeers, route reflection). Pure: no I/O.
 */
import { parsePrefix, type Prefix } from "../net/index.js";
import type { HostState } from "./host-state.js";
import type { PolicyTermConfig } from "../bgp/policy.js";
import { applyRoutePolicy } from "./bgp-peer-policy.js";
import { computePeerPlan, type RefusedPeer, type SecretLookup } from "./bgp-peers.js";

export interface KernelRoute {
  dst: string;
  type: "unicast" | "blackhole";
  dev?: string;
  via?: string[];
  scope?: "link";
}

export interface OriginatedRoute {
  prefix: string;
  /** BGPConfiguration prefixAdvertisements: standard ("aa:nn") and large ("a:b:c") communities. */
  communities?: string[];
  largeCommunities?: string[];
}

export interface DesiredPeer {
  address: string;
  asNumber: number;
  port?: number;
  passive: boolean;
  localAddress?: string;
  localIPv6?: string;
  /** BGPPeer nextHopMode: Self → true, Keep (or keepOriginalNextHop) → false, Auto → absent. */
  nextHopSelf?: boolean;
  /**
   * Why this session exists, for status and for the export defaults: the node-to-node mesh, a
   * BGPPeer naming this node (`node`), a BGPPeer selecting it (`nodeSelector`, or neither = global),
   * or another tabby node chosen by `peerSelector`; `rrClient` when this node reflects for the peer.
   */
  type?: "mesh" | "node-specific" | "global" | "node-peer";
  /** The BGPPeer this session comes from ("node-mesh" for the mesh). */
  name?: string;
  /** This node reflects routes for the peer (RFC 4456 client; Calico's in-cluster RR rule). */
  routeReflectorClient?: boolean;
  /** TCP-MD5 password, read from the secret `password.secretKeyRef` (or `nodeMeshPassword`) names. */
  password?: string;
  /** BGPPeer `keepaliveTime` (seconds). */
  keepaliveTime?: number;
  /** BGPPeer `maxRestartTime` / BGPConfiguration `nodeMeshMaxRestartTime` (seconds). */
  gracefulRestartTime?: number;
  /** BGPPeer `numAllowedLocalASNumbers`. */
  allowOwnAs?: number;
  /**
   * BGPPeer `failureDetectionMode: BFDIfDirectlyConnected`: the agent runs single-hop BFD to the
   * peer when its address is on one of the node's connected networks (agent/bfd-peers.ts), and
   * no BFD otherwise (shown in `node status`), as Calico Enterprise documents.
   */
  bfdIfDirectlyConnected?: boolean;
  /** BGPPeer `ttlSecurity` (GTSM hops). */
  ttlSecurity?: number;
  /** The BGP identifier the peer must present: set when the peer is a tabby node. */
  expectedRouterId?: string;
  /** Names of the BGPFilters the BGPPeer lists (`spec.filters`), in order. */
  filters?: string[];
  /** Import and export policy terms (bgp/policy.ts) computed from filters and tabby's safe defaults. */
  import?: PolicyTermConfig[];
  export?: PolicyTermConfig[];
  /** Received prefixes accepted per family before the session is reset (bgp-peer-policy.ts). */
  maxPrefixes?: number;
}

export interface HostDesired {
  /** Routes for local workloads and blackholes for affine blocks. */
  localRoutes: KernelRoute[];
  originated: OriginatedRoute[];
  peers: DesiredPeer[];
  /** Peerings refused, with the reason (an unreadable secret, an invalid BGPPeer, ...). */
  refusedPeers: RefusedPeer[];
  /** Host-side interfaces of local workloads (for per-interface sysctls). */
  interfaces: string[];
}

export function computeHostDesired(state: HostState, me: string, secrets?: SecretLookup): HostDesired {
  const ownBlocks: Prefix[] = [];
  for (const [cidr, node] of state.blockAffinity) if (node === me) ownBlocks.push(parsePrefix(cidr));
  ownBlocks.sort(comparePrefix);

  const localRoutes: KernelRoute[] = [];
  const originated: OriginatedRoute[] = ownBlocks.map((b) => ({ prefix: b.toString() }));
  const interfaces = new Set<string>();
  const endpoints = [...state.endpoints.values()].filter((e) => e.node === me).sort((a, b) => (a.key < b.key ? -1 : 1));
  for (const ep of endpoints) {
    interfaces.add(ep.interfaceName);
    for (const net of ep.ipNetworks) {
      const p = parsePrefix(net);
      localRoutes.push({ dst: p.toString(), type: "unicast", dev: ep.interfaceName, scope: "link" });
      if (!ownBlocks.some((b) => b.contains(p.addr))) originated.push({ prefix: p.toString() });
    }
  }
  for (const b of ownBlocks) {
    if (b.len < b.maxLen) localRoutes.push({ dst: b.toString(), type: "blackhole" });
  }

  const plan = computePeerPlan(state, me, secrets);
  localRoutes.push(...plan.routes);
  const desired: HostDesired = { localRoutes, originated, peers: plan.peers, refusedPeers: plan.refused, interfaces: [...interfaces].sort() };
  applyRoutePolicy(desired, state, me);
  return desired;
}

/**
 * The prefixes of this host's own workload routes (one per address of each local endpoint): what
 * a "workload added" convergence event is about.
 */
export function localWorkloadPrefixes(state: HostState, me: string): Set<string> {
  const out = new Set<string>();
  for (const ep of state.endpoints.values()) if (ep.node === me) for (const net of ep.ipNetworks) out.add(parsePrefix(net).toString());
  return out;
}

/** The AS this host speaks as: its Node's own, else the global BGPConfiguration's. */
export function localAsNumber(state: HostState, me: string): number {
  return state.nodes.get(me)?.asNumber ?? state.asNumber;
}

function comparePrefix(a: Prefix, b: Prefix): number {
  return a.addr.compare(b.addr) || a.len - b.len;
}

/**
 * The kernel routes to program: local routes win over learned ones for the same prefix;
 * learned routes go via their ECMP next-hop sets.
 */
export function mergeKernelRoutes(local: KernelRoute[], learned: Map<string, string[]>): KernelRoute[] {
  const out = [...local];
  const taken = new Set(local.map((r) => r.dst));
  for (const [prefix, nextHops] of [...learned].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (taken.has(prefix) || nextHops.length === 0) continue;
    out.push({ dst: prefix, type: "unicast", via: [...nextHops].sort() });
  }
  return out;
}
