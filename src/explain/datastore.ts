/**
 * `tabby explain` on real machines (issue 14 part 3): the places from the datastore — each Node
 * (a host with an agent; its addresses from spec.bgp.ipv4Address/ipv6Address, spec.addresses and
 * its HostEndpoints' expectedIPs), each WorkloadEndpoint (a workload on spec.node behind
 * spec.interfaceName, named `namespace/name`) — and each host's route asked from its agent's
 * explain API (src/explain/api.ts) at the Node's address and the configured port, with a client
 * certificate. Routers between hosts run no agent: a path through one that is a BGPPeer (a ToR)
 * is crossed by inference from the BGP route it advertised, said to be inferred, and goes on at
 * the Node that originates the destination (its workload's node, the Node holding the address,
 * or the affinity of the IPAM block holding it); through any other it ends there, reported,
 * never guessed. The lab's resolver (src/explain/lab.ts) reads lab state instead; both share the
 * topology (topology.ts) and the walk (walk.ts).
 */
import { TabbyError } from "../errors.js";
import { PolicyEvaluator } from "../calc/policy-eval.js";
import { readWorldFrom } from "../lab/check.js";
import type { ResourceClient } from "../datastore/resource-client.js";
import { parsePeerIP, type BGPPeer, type HostEndpoint, type Node, type WorkloadEndpoint } from "../model/index.js";
import { Ipam } from "../ipam/ipam.js";
import type { BlockInfo } from "../ipam/api.js";
import { tryParseIP } from "../net/index.js";
import { prefixCovers } from "./route-lookup.js";
import type { ExplainRouteAnswer } from "./route-lookup.js";
import type { HopOracle, Place } from "./walk.js";
import { failsafeFromFelix, placesTopology, type PlacesTopology } from "./topology.js";
import { queryExplainApi, type Listen, type TlsFiles } from "./api.js";
import type { ControlRequest } from "../bgp/control.js";

export interface ExplainContext {
  failsafeInbound: { protocol: string; port: number }[];
  topo: PlacesTopology;
  oracle: HopOracle;
  evaluator: PolicyEvaluator;
  /** Ends what asking started, if anything. */
  close?(): Promise<void>;
}

export interface RemoteOptions {
  /** The agents' explain API port (every agent's `--explain-listen` port). */
  port: number;
  tls: TlsFiles;
  /** The hosts' interface between nodes, for HostEndpoints on forwarded traffic (default: `*` ones only). */
  fabricInterface?: string;
  /** For tests: how an agent is asked. */
  ask?: (at: Listen, request: ControlRequest) => Promise<unknown>;
}

const bare = (a: string): string => a.split("/")[0]!;

/** The places a datastore describes, and the address each host's agent is asked at. Pure. */
export function datastorePlaces(
  nodes: Node[],
  heps: HostEndpoint[],
  world: { endpoints: { name: string; namespace: string; labels: Record<string, string>; addrs: string[]; node?: string }[] },
  weps: { name: string; namespace: string; iface?: string }[],
): { places: Place[]; agentAddr: Map<string, string> } {
  const places: Place[] = [];
  const agentAddr = new Map<string, string>();
  for (const n of nodes) {
    const addrs = [
      n.spec.bgp?.ipv4Address,
      n.spec.bgp?.ipv6Address,
      ...(n.spec.addresses ?? []).map((a) => a.address),
      ...heps.filter((h) => h.spec.node === n.metadata.name).flatMap((h) => h.spec.expectedIPs ?? []),
    ]
      .filter((a): a is string => !!a)
      .map(bare);
    places.push({ kind: "host", name: n.metadata.name, addrs: [...new Set(addrs)], agent: true });
    const at = n.spec.bgp?.ipv4Address ?? n.spec.bgp?.ipv6Address ?? n.spec.addresses?.[0]?.address;
    if (at) agentAddr.set(n.metadata.name, bare(at));
  }
  for (const e of world.endpoints) {
    const iface = weps.find((w) => w.name === e.name && w.namespace === e.namespace)?.iface;
    places.push({
      kind: "workload",
      name: `${e.namespace}/${e.name}`,
      endpoint: `${e.namespace}/${e.name}`,
      labels: e.labels,
      addrs: e.addrs,
      ...(e.node ? { host: e.node } : {}),
      ...(iface ? { iface } : {}),
    });
  }
  return { places, agentAddr };
}

/** BGPPeers with a peerIP, by the canonical text of that IP (the id a speaker names a peer by). Pure. */
export function bgpPeersByIp(peers: BGPPeer[]): Map<string, { name: string; asNumber?: number }> {
  const out = new Map<string, { name: string; asNumber?: number }>();
  for (const p of peers) {
    const ip = p.spec.peerIP ? parsePeerIP(p.spec.peerIP)?.ip : undefined;
    if (ip && !out.has(ip.toString()))
      out.set(ip.toString(), { name: p.metadata.name, ...(p.spec.asNumber !== undefined ? { asNumber: p.spec.asNumber } : {}) });
  }
  return out;
}

/**
 * The host that originates an address into BGP: a workload's node, the Node whose addresses hold
 * it, or the node an IPAM block holding it is affine to (`host:NAME`), in that order. Pure.
 */
export function originOf(places: Place[], blocks: BlockInfo[], addr: string): { place: Place; why: string } | undefined {
  const host = (name: string | undefined) => places.find((p) => p.kind === "host" && p.name === name);
  const w = places.find((p) => p.kind === "workload" && p.addrs.includes(addr) && host(p.host));
  if (w) return { place: host(w.host)!, why: `the node of ${w.name}, which holds ${addr}` };
  const h = places.find((p) => p.kind === "host" && p.addrs.includes(addr));
  if (h) return { place: h, why: `the Node that holds ${addr}` };
  const covering = blocks
    .filter((b) => b.affinity?.startsWith("host:") && prefixCovers(b.cidr, addr))
    .sort((a, b) => Number(b.cidr.split("/")[1]) - Number(a.cidr.split("/")[1]));
  for (const b of covering) {
    const node = host(b.affinity!.slice(5));
    if (node) return { place: node, why: `affine to IPAM block ${b.cidr}, which holds ${addr}` };
  }
  return undefined;
}

export async function datastoreExplainContext(client: ResourceClient, opts: RemoteOptions): Promise<ExplainContext> {
  const world = await readWorldFrom(client, opts.fabricInterface);
  const nodes = (await client.list<Node>("Node")).items;
  const heps = (await client.list<HostEndpoint>("HostEndpoint")).items;
  const weps = (await client.list<WorkloadEndpoint>("WorkloadEndpoint")).items.map((w) => ({
    name: w.metadata.name,
    namespace: w.metadata.namespace ?? "default",
    ...(w.spec.interfaceName ? { iface: w.spec.interfaceName } : {}),
  }));
  const { places, agentAddr } = datastorePlaces(nodes, heps, world, weps);
  const ask = opts.ask ?? ((at: Listen, request: ControlRequest) => queryExplainApi(at, opts.tls, request));
  const oracle: HopOracle = {
    async route(at, req) {
      if (!at.agent) throw new TabbyError("CLI_EXPLAIN_NO_AGENT", `${at.name} runs no tabby agent to ask`);
      const host = agentAddr.get(at.name);
      if (!host)
        throw new TabbyError("CLI_EXPLAIN_NO_AGENT", `Node ${at.name} has no address (spec.bgp.ipv4Address, ipv6Address or addresses) to reach its agent at`);
      const where = `${host.includes(":") ? `[${host}]` : host}:${opts.port}`;
      const ans = (await ask({ host, port: opts.port }, { op: "explain-route", ...req })) as ExplainRouteAnswer;
      return { ...ans, via: `${at.name}'s agent (${where})` };
    },
  };
  const peers = bgpPeersByIp((await client.list<BGPPeer>("BGPPeer")).items);
  const blocks = await new Ipam(client.store).allBlocks();
  const topo: PlacesTopology = {
    ...placesTopology(places, world.hostEndpoints),
    bgpPeer: (ip) => peers.get(tryParseIP(ip)?.toString() ?? ip),
    originOf: (addr) => originOf(places, blocks, addr),
  };
  return { failsafeInbound: failsafeFromFelix((await client.list("FelixConfiguration")).items), topo, oracle, evaluator: new PolicyEvaluator(world) };
}
