/**
 * The calculation graph's input state for one host, and how datastore keys feed it.
 * Keys and values follow Calico's etcd layout: v3 resources (Node, WorkloadEndpoint,
 * BGPConfiguration, BGPPeer, IPPool) and IPAM block affinities
 * (`/calico/ipam/v2/host/<node>/ipv4/block/<cidr>` with `{"state":"confirmed"}`; pending
 * affinities count as absent, as in Calico). Pure: no I/O.
 */
import { parseResourceKey } from "../datastore/keys.js";
import { applyRoutingResource, emptyRoutingState, type RoutingState } from "./bgp-routing-state.js";

export interface NodeInfo {
  name: string;
  /** Address without prefix length. */
  ipv4?: string;
  ipv6?: string;
  asNumber?: number;
}

export interface EndpointInfo {
  /** Datastore key, unique. */
  key: string;
  node: string;
  interfaceName: string;
  /** "ip/32" or "ip/128". */
  ipNetworks: string[];
}

export interface PeerInfo {
  name: string;
  /** Local side: a node name, or undefined for every node. */
  node?: string;
  peerIP: string;
  port?: number;
  asNumber: number;
  /** From `nextHopMode` (Self → true, Keep → false) or the older `keepOriginalNextHop: true` (→ false). */
  nextHopSelf?: boolean;
}

export interface HostState {
  nodes: Map<string, NodeInfo>;
  endpoints: Map<string, EndpointInfo>;
  /** Block CIDR → node with a confirmed affinity. */
  blockAffinity: Map<string, string>;
  /** BGPConfiguration `default`: AS number and mesh switch. */
  asNumber: number;
  meshEnabled: boolean;
  peers: Map<string, PeerInfo>;
  /** What decides which routes go where: filters, pools, service addresses, communities (bgp-routing-state.ts). */
  routing: RoutingState;
}

export const DEFAULT_AS_NUMBER = 64512;

export function emptyHostState(): HostState {
  return {
    nodes: new Map(),
    endpoints: new Map(),
    blockAffinity: new Map(),
    asNumber: DEFAULT_AS_NUMBER,
    meshEnabled: true,
    peers: new Map(),
    routing: emptyRoutingState(),
  };
}

const AFFINITY_RE = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv[46]\/block\/([^/]+)$/;

/** Datastore prefixes whose keys feed the host state. */
export const WATCHED_PREFIXES = ["/calico/resources/v3/projectcalico.org/", "/calico/ipam/v2/host/"];

/**
 * Applies one key change (value undefined = deleted) to the state. Returns true when the key
 * was one the state tracks. Values that do not parse are ignored (treated as absent).
 */
export function applyKeyUpdate(state: HostState, key: string, value: string | undefined): boolean {
  const aff = AFFINITY_RE.exec(key);
  if (aff) {
    const node = aff[1]!;
    const cidr = aff[2]!.replace(/-(\d+)$/, "/$1");
    const confirmed = value !== undefined && parseJson(value)?.["state"] === "confirmed";
    if (confirmed) state.blockAffinity.set(cidr, node);
    else if (state.blockAffinity.get(cidr) === node) state.blockAffinity.delete(cidr);
    return true;
  }
  const rk = parseResourceKey(key);
  if (!rk) return false;
  const obj = value === undefined ? undefined : parseJson(value);
  const spec = (obj?.["spec"] ?? {}) as Record<string, unknown>;
  switch (rk.kind) {
    case "Node": {
      if (!obj) {
        state.nodes.delete(rk.name);
        return true;
      }
      const bgp = (spec["bgp"] ?? {}) as Record<string, unknown>;
      const info: NodeInfo = { name: rk.name };
      const v4 = stripLen(bgp["ipv4Address"]);
      const v6 = stripLen(bgp["ipv6Address"]);
      if (v4) info.ipv4 = v4;
      if (v6) info.ipv6 = v6;
      if (typeof bgp["asNumber"] === "number") info.asNumber = bgp["asNumber"];
      state.nodes.set(rk.name, info);
      return true;
    }
    case "WorkloadEndpoint": {
      if (!obj || typeof spec["node"] !== "string" || typeof spec["interfaceName"] !== "string") {
        state.endpoints.delete(key);
        return true;
      }
      const nets = Array.isArray(spec["ipNetworks"]) ? spec["ipNetworks"].filter((n): n is string => typeof n === "string") : [];
      state.endpoints.set(key, { key, node: spec["node"], interfaceName: spec["interfaceName"], ipNetworks: nets });
      return true;
    }
    case "BGPConfiguration": {
      const routing = applyRoutingResource(state.routing, rk.kind, rk.name, obj);
      if (rk.name !== "default") return routing;
      state.asNumber = typeof spec["asNumber"] === "number" ? spec["asNumber"] : DEFAULT_AS_NUMBER;
      state.meshEnabled = spec["nodeToNodeMeshEnabled"] !== false;
      return true;
    }
    case "BGPPeer": {
      applyRoutingResource(state.routing, rk.kind, rk.name, obj);
      const peerIP = typeof spec["peerIP"] === "string" ? spec["peerIP"] : undefined;
      if (!obj || !peerIP || typeof spec["asNumber"] !== "number") {
        state.peers.delete(rk.name);
        return true;
      }
      const { address, port } = splitPeerIP(peerIP);
      const peer: PeerInfo = { name: rk.name, peerIP: address, asNumber: spec["asNumber"] };
      if (port !== undefined) peer.port = port;
      if (typeof spec["node"] === "string" && spec["node"] !== "") peer.node = spec["node"];
      if (spec["nextHopMode"] === "Self") peer.nextHopSelf = true;
      else if (spec["nextHopMode"] === "Keep" || spec["keepOriginalNextHop"] === true) peer.nextHopSelf = false;
      state.peers.set(rk.name, peer);
      return true;
    }
    case "BGPFilter":
    case "IPPool":
      return applyRoutingResource(state.routing, rk.kind, rk.name, obj);
    default:
      return false;
  }
}

function parseJson(value: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(value) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function stripLen(v: unknown): string | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  const slash = v.indexOf("/");
  return slash === -1 ? v : v.slice(0, slash);
}

/** Calico's `peerIP` is "ip", "ip:port", or "[ipv6]:port". */
export function splitPeerIP(peerIP: string): { address: string; port?: number } {
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(peerIP);
  if (bracket) return { address: bracket[1]!, port: Number(bracket[2]) };
  const v4port = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(peerIP);
  if (v4port) return { address: v4port[1]!, port: Number(v4port[2]) };
  return { address: peerIP };
}
