/**
 * What one host needs, computed from the HostState: the kernel routes it owns (a /32 or /128
 * per local workload, a blackhole per affine block so traffic to unallocated addresses is
 * dropped rather than sent to the default route), the prefixes its BGP speaker originates
 * (whole affine blocks as aggregates; borrowed addresses as host routes, as Calico/BIRD do),
 * and its BGP peers (the iBGP full mesh, one side passive per pair: the node with the lower
 * address waits, as calico-node's BIRD config does; plus BGPPeer resources). Pure: no I/O.
 */
import { parsePrefix, tryParseIP, type Prefix } from "../net/index.js";
import type { HostState } from "./host-state.js";
import type { PolicyTermConfig } from "../bgp/policy.js";
import { applyRoutePolicy } from "./bgp-peer-policy.js";

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
  /** Host-side interfaces of local workloads (for per-interface sysctls). */
  interfaces: string[];
}

export function computeHostDesired(state: HostState, me: string): HostDesired {
  const self = state.nodes.get(me);
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

  const peers: DesiredPeer[] = [];
  if (self?.ipv4) {
    if (state.meshEnabled) {
      for (const other of [...state.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (other.name === me || !other.ipv4 || other.ipv4 === self.ipv4) continue;
        peers.push(withLocal({ address: other.ipv4, asNumber: other.asNumber ?? state.asNumber, passive: lowerAddress(self.ipv4, other.ipv4) }, self.ipv4, self.ipv6));
      }
    }
    for (const peer of [...state.peers.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (peer.node !== undefined && peer.node !== me) continue;
      if (peers.some((p) => p.address === peer.peerIP)) continue;
      const dp: DesiredPeer = { address: peer.peerIP, asNumber: peer.asNumber, passive: false };
      if (peer.port !== undefined) dp.port = peer.port;
      if (peer.nextHopSelf !== undefined) dp.nextHopSelf = peer.nextHopSelf;
      peers.push(withLocal(dp, self.ipv4, self.ipv6));
    }
  }
  const desired: HostDesired = { localRoutes, originated, peers, interfaces: [...interfaces].sort() };
  applyRoutePolicy(desired, state, me);
  return desired;
}

/** The AS this host speaks as: its Node's own, else the global BGPConfiguration's. */
export function localAsNumber(state: HostState, me: string): number {
  return state.nodes.get(me)?.asNumber ?? state.asNumber;
}

function withLocal(p: DesiredPeer, v4: string, v6: string | undefined): DesiredPeer {
  p.localAddress = v4;
  if (v6) p.localIPv6 = v6;
  return p;
}

/** True when `a` sorts below `b` as an address (the passive side of a mesh pair). */
function lowerAddress(a: string, b: string): boolean {
  const ia = tryParseIP(a);
  const ib = tryParseIP(b);
  if (!ia || !ib) return a < b;
  return ia.compare(ib) < 0;
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
