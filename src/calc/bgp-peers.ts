/**
 * Who this node peers with, and how: calico-node's peer computation (confd
 * `bgp_processor.go` and the bird templates) for tabby's one MP-BGP speaker per node.
 *
 * - The node-to-node mesh (BGPConfiguration `nodeToNodeMeshEnabled`): one session per other
 *   node, none with or from route reflector nodes (Node `routeReflectorClusterID`); the lower
 *   address waits (passive); the other node's listen port; `nodeMeshPassword`,
 *   `nodeMeshMaxRestartTime`.
 * - BGPPeer: applies to the nodes `node` names or `nodeSelector` selects (neither: every node);
 *   peers with `peerIP` or with the tabby nodes `peerSelector` selects (their Node address and
 *   AS, else the global AS), and, unless `reversePeering: Manual`, the selected nodes peer back.
 * - A node with a cluster id reflects for a same-AS peer whose cluster id is empty or another
 *   (Calico's in-cluster route reflector rule).
 * - One session per pair of nodes carries both families (MP-BGP): over IPv4 when both nodes
 *   have an IPv4 address, else over IPv6. Calico's bird/bird6 run one session per family.
 * - A node without IPv4 takes a router id derived from its name (Calico's `CALICO_ROUTER_ID=hash`).
 * - GTSM by default between nodes one link apart (tabby's, issue #19; Calico has no default): a
 *   node-to-node session (mesh, `peerSelector`, or a `peerIP` that is another node's address)
 *   gets `ttlSecurity` 1 when each node's address lies in the other's subnet (the prefix length
 *   of its Node `ipv4Address`/`ipv6Address`; a /32 or /128 says nothing), unless its BGPPeer sets
 *   `ttlSecurity` (0: off) or BGPConfiguration `default` is annotated
 *   `tabby.dev/mesh-ttl-security: "off"`. Both ends compute the same answer. External `peerIP`
 *   peers get no default: the router on the other side must be configured for GTSM too.
 * Secrets are read through an injected lookup. A peering that cannot be set up as written (an
 * unreadable password, an invalid BGPPeer, no address of the peer's family) is refused with the
 * reason, never set up without what it asked for. Pure: no I/O.
 */
import { createHash } from "node:crypto";
import { tryParseIP, tryParsePrefix } from "../net/index.js";
import type { SecretKeyRef } from "../model/bgp-configuration.js";
import type { BgpConfigInfo, HostState, NodeInfo, PeerInfo } from "./host-state.js";
import type { DesiredPeer, KernelRoute } from "./host-desired.js";

/** Reads `password.secretKeyRef`: the value, or why it cannot be read. */
export type SecretLookup = (ref: SecretKeyRef) => { value: string } | { error: string };

/** A peering this node should have but refuses, with the reason (for the log and `node status`). */
export interface RefusedPeer {
  /** The BGPPeer, or "node-mesh" / "BGPConfiguration <name>". */
  source: string;
  address?: string;
  reason: string;
}

export interface PeerPlan {
  peers: DesiredPeer[];
  refused: RefusedPeer[];
  /** Host routes to peers through their `reachableBy` gateway. */
  routes: KernelRoute[];
}

/** What the speaker itself is: a change means a new speaker. */
export interface SpeakerIdentity {
  routerId: string;
  asNumber: number;
  /** Route reflector cluster id (Node `routeReflectorClusterID`). */
  clusterId?: string;
  listenPort: number;
  /** Bind address (BGPConfiguration `bindMode: NodeIP`, tabby's default); absent: every address. */
  listenAddress?: string;
}

/** BGPConfiguration `logSeverityScreen` for this node (its `node.<name>` override, else `default`). */
export function speakerLogSeverity(state: HostState, me: string): string | undefined {
  return configOf(state, me, "logSeverity");
}

export const DEFAULT_LISTEN_PORT = 179;

/** The GTSM hop count of the default between nodes on a shared subnet: one link, no router between. */
export const DEFAULT_NODE_TTL_SECURITY = 1;

/**
 * True when nodes `a` and `b` are directly connected over `family`: each one's address lies in
 * the other's subnet (symmetric, so both ends agree on GTSM). A host-length prefix (/32, /128),
 * or none, says nothing about the link: false.
 */
export function onSharedSubnet(a: NodeInfo, b: NodeInfo, family: 4 | 6): boolean {
  const inSubnetOf = (n: NodeInfo, other: NodeInfo): boolean => {
    const addr = family === 4 ? n.ipv4 : n.ipv6;
    const len = family === 4 ? n.ipv4Len : n.ipv6Len;
    const them = family === 4 ? other.ipv4 : other.ipv6;
    if (!addr || !them || len === undefined || len === 0 || len >= (family === 4 ? 32 : 128)) return false;
    const net = tryParsePrefix(`${addr}/${len}`);
    const ip = tryParseIP(them);
    return !!net && !!ip && net.family === family && net.contains(ip);
  };
  return inSubnetOf(a, b) && inSubnetOf(b, a);
}

const noSecrets: SecretLookup = (ref) => ({ error: `secret ${ref.name}/${ref.key} cannot be read (no secret source configured)` });

/** A BGPConfiguration field for `node`: its `node.<name>` override, else `default`. */
function configOf<K extends keyof BgpConfigInfo>(state: HostState, node: string, key: K): BgpConfigInfo[K] | undefined {
  return state.bgpConfigs.get(`node.${node}`)?.[key] ?? state.bgpConfigs.get("default")?.[key];
}

export function listenPortOf(state: HostState, node: string): number {
  return configOf(state, node, "listenPort") ?? DEFAULT_LISTEN_PORT;
}

/** The BGP identifier of a node: its IPv4 address, else a hash of its name (never 0.0.0.0). */
export function routerIdOf(node: Pick<NodeInfo, "name" | "ipv4">): string {
  if (node.ipv4) return node.ipv4;
  const h = createHash("sha256").update(node.name).digest();
  return `${h[0]! | 1}.${h[1]}.${h[2]}.${h[3]}`;
}

export function speakerIdentity(state: HostState, me: string): SpeakerIdentity | undefined {
  const self = state.nodes.get(me);
  if (!self || (!self.ipv4 && !self.ipv6)) return undefined;
  const id: SpeakerIdentity = { routerId: routerIdOf(self), asNumber: self.asNumber ?? state.asNumber, listenPort: listenPortOf(state, me) };
  if (self.rrClusterId) id.clusterId = self.rrClusterId;
  if (configOf(state, me, "bindMode") !== "None") id.listenAddress = (self.ipv4 ?? self.ipv6)!;
  return id;
}

/** The session address of a pair of nodes: IPv4 when both have one, else IPv6. */
function pairAddresses(self: NodeInfo, other: NodeInfo): { address: string; local: string } | undefined {
  if (self.ipv4 && other.ipv4) return { address: other.ipv4, local: self.ipv4 };
  if (self.ipv6 && other.ipv6) return { address: other.ipv6, local: self.ipv6 };
  return undefined;
}

/** True when BGPPeer `p` applies to `node` as the local side. */
export function peerAppliesTo(p: PeerInfo, node: NodeInfo): boolean {
  if (p.node !== undefined) return p.node === node.name;
  if (p.nodeSelector) return p.nodeSelector.matches(node.labels);
  return true;
}

export function computePeerPlan(state: HostState, me: string, secrets: SecretLookup = noSecrets): PeerPlan {
  const plan: PeerPlan = { peers: [], refused: [], routes: [] };
  for (const name of ["default", `node.${me}`]) {
    const problem = state.bgpConfigs.get(name)?.problem;
    if (problem) plan.refused.push({ source: `BGPConfiguration ${name}`, reason: problem });
  }
  const self = state.nodes.get(me);
  if (!self || (!self.ipv4 && !self.ipv6)) return plan;
  const localAs = self.asNumber ?? state.asNumber;
  const nodes = [...state.nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  const seen = new Set<string>();
  for (const a of [self.ipv4, self.ipv6]) if (a) seen.add(canonical(a));
  const nodeByAddress = (addr: string) =>
    nodes.find((n) => (n.ipv4 && canonical(n.ipv4) === canonical(addr)) || (n.ipv6 && canonical(n.ipv6) === canonical(addr)));

  const rrClient = (peerAs: number, peerNode: NodeInfo | undefined) => !!self.rrClusterId && peerAs === localAs && peerNode?.rrClusterId !== self.rrClusterId;

  const add = (source: string, dp: DesiredPeer, password: SecretKeyRef | undefined): void => {
    const key = canonical(dp.address);
    if (seen.has(key)) return;
    if (password) {
      const r = secrets(password);
      if ("error" in r) {
        plan.refused.push({ source, address: dp.address, reason: `password: ${r.error}` });
        seen.add(key);
        return;
      }
      dp.password = r.value;
    }
    seen.add(key);
    plan.peers.push(dp);
  };

  // the GTSM default between nodes (the knob is cluster-wide: both ends must agree)
  const nodeGtsm = state.bgpConfigs.get("default")?.meshTtlSecurity !== "off";

  const nodePeer = (other: NodeInfo, type: "mesh" | "node-peer", source: string): DesiredPeer | undefined => {
    const pair = pairAddresses(self, other);
    if (!pair) {
      plan.refused.push({
        source,
        reason: `node ${other.name} has no address of a family this node has (IPv4 ${self.ipv4 ?? "none"}, IPv6 ${self.ipv6 ?? "none"})`,
      });
      return undefined;
    }
    const asNumber = other.asNumber ?? state.asNumber;
    const dp: DesiredPeer = { address: pair.address, asNumber, passive: lowerAddress(pair.local, pair.address), localAddress: pair.local, type, name: source };
    if (self.ipv6) dp.localIPv6 = self.ipv6;
    const port = listenPortOf(state, other.name);
    if (port !== DEFAULT_LISTEN_PORT) dp.port = port;
    dp.expectedRouterId = routerIdOf(other);
    if (rrClient(asNumber, other)) dp.routeReflectorClient = true;
    if (nodeGtsm && onSharedSubnet(self, other, pair.address.includes(":") ? 6 : 4)) dp.ttlSecurity = DEFAULT_NODE_TTL_SECURITY;
    return dp;
  };

  // the node-to-node mesh: not on route reflector nodes, never to them
  const defaults = state.bgpConfigs.get("default");
  if (state.meshEnabled && !self.rrClusterId) {
    for (const other of nodes) {
      if (other.name === me || other.rrClusterId) continue;
      const dp = nodePeer(other, "mesh", "node-mesh");
      if (!dp) continue;
      if (defaults?.meshMaxRestartTime !== undefined) dp.gracefulRestartTime = defaults.meshMaxRestartTime;
      add("node-mesh", dp, defaults?.meshPassword);
    }
  }

  for (const p of [...state.peers.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const forward = peerAppliesTo(p, self);
    const reverse = !!p.peerSelector && p.reversePeering === "Auto" && p.peerSelector.matches(self.labels);
    if (p.problem) {
      // reported wherever any of its selectors would put it
      if (forward || reverse || p.nodeSelector?.matches(self.labels))
        plan.refused.push({ source: p.name, ...(p.peerIP ? { address: p.peerIP } : {}), reason: p.problem });
      continue;
    }
    if (!forward && !reverse) continue;
    const withOptions = (dp: DesiredPeer): DesiredPeer => {
      if (p.nextHopSelf !== undefined) dp.nextHopSelf = p.nextHopSelf;
      if (p.keepaliveTime !== undefined) dp.keepaliveTime = p.keepaliveTime;
      if (p.maxRestartTime !== undefined) dp.gracefulRestartTime = p.maxRestartTime;
      if (p.allowOwnAs !== undefined) dp.allowOwnAs = p.allowOwnAs;
      // an explicit ttlSecurity wins over the default; 0 turns GTSM off
      if (p.ttlSecurity === 0) delete dp.ttlSecurity;
      else if (p.ttlSecurity !== undefined) dp.ttlSecurity = p.ttlSecurity;
      if (p.bfdIfDirectlyConnected) dp.bfdIfDirectlyConnected = true;
      if (p.filters) dp.filters = [...p.filters];
      return dp;
    };
    if (forward && p.peerIP !== undefined && p.asNumber !== undefined) {
      const ip = tryParseIP(p.peerIP);
      const local = ip?.family === 6 ? self.ipv6 : self.ipv4;
      if (seen.has(canonical(p.peerIP))) {
        // this node's own address, or a peer already configured (the mesh, or an earlier BGPPeer)
      } else if (p.sourceAddress === "UseNodeIP" && !local) {
        plan.refused.push({ source: p.name, address: p.peerIP, reason: `sourceAddress UseNodeIP: this node has no IPv${ip?.family ?? 4} address` });
      } else {
        const dp: DesiredPeer = {
          address: p.peerIP,
          asNumber: p.asNumber,
          passive: false,
          type: p.node !== undefined || p.nodeSelector ? "node-specific" : "global",
          name: p.name,
        };
        if (p.port !== undefined) dp.port = p.port;
        if (p.sourceAddress === "UseNodeIP") dp.localAddress = local!;
        if (self.ipv6) dp.localIPv6 = self.ipv6;
        const peerNode = nodeByAddress(p.peerIP);
        if (peerNode) dp.expectedRouterId = routerIdOf(peerNode);
        // another tabby node computes the same default for us; an external router is not assumed to
        if (peerNode && nodeGtsm && onSharedSubnet(self, peerNode, ip?.family === 6 ? 6 : 4)) dp.ttlSecurity = DEFAULT_NODE_TTL_SECURITY;
        if (rrClient(p.asNumber, peerNode)) dp.routeReflectorClient = true;
        add(p.name, withOptions(dp), p.password);
        if (p.reachableBy && plan.peers.some((x) => x.address === p.peerIP)) {
          plan.routes.push({ dst: `${p.peerIP}/${ip?.family === 6 ? 128 : 32}`, type: "unicast", via: [p.reachableBy] });
        }
      }
    }
    const selected = (other: NodeInfo) => other.name !== me && ((forward && !!p.peerSelector?.matches(other.labels)) || (reverse && peerAppliesTo(p, other)));
    for (const other of nodes) {
      if (!selected(other)) continue;
      const dp = nodePeer(other, "node-peer", p.name);
      if (!dp) continue;
      if (p.sourceAddress === "None") delete dp.localAddress;
      add(p.name, withOptions(dp), p.password);
    }
  }
  return plan;
}

function canonical(addr: string): string {
  return tryParseIP(addr)?.toString() ?? addr;
}

/** True when `a` sorts below `b` as an address (the passive side of a pair of nodes). */
export function lowerAddress(a: string, b: string): boolean {
  const ia = tryParseIP(a);
  const ib = tryParseIP(b);
  if (!ia || !ib) return a < b;
  return ia.compare(ib) < 0;
}
