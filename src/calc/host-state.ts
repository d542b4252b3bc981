/**
 * The calculation graph's input state for one host, and how datastore keys feed it.
 * Keys and values follow Calico's etcd layout: v3 resources (Node, WorkloadEndpoint,
 * BGPConfiguration, BGPPeer, IPPool) and IPAM block affinities
 * (`/calico/ipam/v2/host/<node>/ipv4/block/<cidr>` with `{"state":"confirmed"}`; pending
 * affinities count as absent, as in Calico). Pure: no I/O.
 */
import { parseResourceKey } from "../model/keys.js";
import { decodeStored, type StoredObject } from "../model/stored.js";
import { applyRoutingResource, emptyRoutingState, type RoutingState } from "./bgp-routing-state.js";
import { parseBgpConfiguration, parseBgpPeer, type BgpConfigInfo, type PeerInfo } from "./bgp-resources.js";

export type { BgpConfigInfo, PeerInfo } from "./bgp-resources.js";
export { splitPeerIP } from "./bgp-resources.js";

export interface NodeInfo {
  name: string;
  /** metadata.labels: what BGPPeer nodeSelector and peerSelector match. */
  labels: Record<string, string>;
  /** Address without prefix length. */
  ipv4?: string;
  ipv6?: string;
  /** The prefix lengths written with them (`10.99.0.11/24`): the subnet the node is directly on (bgp-peers.ts). */
  ipv4Len?: number;
  ipv6Len?: number;
  asNumber?: number;
  /** spec.bgp.routeReflectorClusterID: this node reflects routes (Calico's in-cluster RR). */
  rrClusterId?: string;
}

export interface EndpointInfo {
  /** Datastore key, unique. */
  key: string;
  node: string;
  interfaceName: string;
  /** "ip/32" or "ip/128". */
  ipNetworks: string[];
  /** The workload's MAC (`spec.mac`): the only sender its DHCP answers go to (src/dhcp). */
  mac?: string;
  /** `spec.orchestrator` (DHCP and RA serve the VM orchestrators' endpoints: src/dhcp/agent-hook.ts). */
  orchestrator?: string;
}

export interface HostState {
  nodes: Map<string, NodeInfo>;
  endpoints: Map<string, EndpointInfo>;
  /** Block CIDR → node with a confirmed affinity. */
  blockAffinity: Map<string, string>;
  /** BGPConfiguration `default`: AS number and mesh switch. */
  asNumber: number;
  meshEnabled: boolean;
  /** Every BGPConfiguration by name: `default` and the per-node `node.<name>` overrides. */
  bgpConfigs: Map<string, BgpConfigInfo>;
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
    bgpConfigs: new Map(),
    peers: new Map(),
    routing: emptyRoutingState(),
  };
}

const AFFINITY_RE = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv[46]\/block\/([^/]+)$/;

/** Datastore prefixes whose keys feed the host state. */
export const WATCHED_PREFIXES = ["/calico/resources/v3/projectcalico.org/", "/calico/ipam/v2/host/"];

/**
 * Applies one key change (value undefined = deleted) to the state: the stored JSON text, or the
 * object the agent decoded once for both pipelines (model/stored.ts). Returns true when the key
 * was one the state tracks — with `me` (this host's node name), a WorkloadEndpoint or a block
 * affinity only when it is or was this host's: the desired routes and interfaces read local
 * endpoints and blocks only, so another host's workload or block coming and going asks for no
 * programming pass here. Values that do
 * not parse are ignored (treated as absent). The state copies what it keeps and never changes
 * the object: the policy graph may adopt it after this.
 */
export function applyKeyUpdate(state: HostState, key: string, value: string | StoredObject | undefined, me?: string): boolean {
  const aff = AFFINITY_RE.exec(key);
  if (aff) {
    const node = aff[1]!;
    const cidr = aff[2]!.replace(/-(\d+)$/, "/$1");
    const confirmed = decodeStored(value)?.["state"] === "confirmed";
    const before = state.blockAffinity.get(cidr);
    if (confirmed) state.blockAffinity.set(cidr, node);
    else if (before === node) state.blockAffinity.delete(cidr);
    // only this host's own blocks shape its routes and announcements (host-desired.ts,
    // bgp-peer-policy.ts): another host's block asks for no pass here (its route comes by BGP)
    return me === undefined || node === me || before === me;
  }
  const rk = parseResourceKey(key);
  if (!rk) return false;
  const obj = decodeStored(value);
  const spec = (obj?.["spec"] ?? {}) as Record<string, unknown>;
  switch (rk.kind) {
    case "Node": {
      if (!obj) {
        state.nodes.delete(rk.name);
        return true;
      }
      const bgp = (spec["bgp"] ?? {}) as Record<string, unknown>;
      const meta = (obj["metadata"] ?? {}) as Record<string, unknown>;
      const labels: Record<string, string> = {};
      if (meta["labels"] && typeof meta["labels"] === "object") {
        for (const [k, v] of Object.entries(meta["labels"] as Record<string, unknown>)) if (typeof v === "string") labels[k] = v;
      }
      const info: NodeInfo = { name: rk.name, labels };
      const v4 = stripLen(bgp["ipv4Address"]);
      const v6 = stripLen(bgp["ipv6Address"]);
      if (v4) info.ipv4 = v4;
      if (v6) info.ipv6 = v6;
      const l4 = lenOf(bgp["ipv4Address"]);
      const l6 = lenOf(bgp["ipv6Address"]);
      if (v4 && l4 !== undefined) info.ipv4Len = l4;
      if (v6 && l6 !== undefined) info.ipv6Len = l6;
      if (typeof bgp["asNumber"] === "number") info.asNumber = bgp["asNumber"];
      if (typeof bgp["routeReflectorClusterID"] === "string" && bgp["routeReflectorClusterID"] !== "") info.rrClusterId = bgp["routeReflectorClusterID"];
      state.nodes.set(rk.name, info);
      return true;
    }
    case "WorkloadEndpoint": {
      const was = state.endpoints.get(key)?.node;
      if (!obj || typeof spec["node"] !== "string" || typeof spec["interfaceName"] !== "string") {
        state.endpoints.delete(key);
        return me === undefined || was === me;
      }
      const nets = Array.isArray(spec["ipNetworks"]) ? spec["ipNetworks"].filter((n): n is string => typeof n === "string") : [];
      state.endpoints.set(key, {
        key,
        node: spec["node"],
        interfaceName: spec["interfaceName"],
        ipNetworks: nets,
        ...(typeof spec["mac"] === "string" && spec["mac"] !== "" ? { mac: spec["mac"] } : {}),
        ...(typeof spec["orchestrator"] === "string" ? { orchestrator: spec["orchestrator"] } : {}),
      });
      return me === undefined || was === me || spec["node"] === me;
    }
    case "BGPConfiguration": {
      applyRoutingResource(state.routing, rk.kind, rk.name, obj);
      if (!obj) state.bgpConfigs.delete(rk.name);
      else
        state.bgpConfigs.set(
          rk.name,
          parseBgpConfiguration(rk.name, spec, ((obj["metadata"] ?? {}) as Record<string, unknown>)["annotations"] as Record<string, unknown> | undefined),
        );
      if (rk.name === "default") {
        const d = state.bgpConfigs.get("default");
        state.asNumber = d?.asNumber ?? DEFAULT_AS_NUMBER;
        state.meshEnabled = d?.meshEnabled ?? true;
      }
      return true;
    }
    case "BGPPeer": {
      applyRoutingResource(state.routing, rk.kind, rk.name, obj);
      if (!obj) state.peers.delete(rk.name);
      else state.peers.set(rk.name, parseBgpPeer(rk.name, spec));
      return true;
    }
    case "BGPFilter":
    case "IPPool":
      return applyRoutingResource(state.routing, rk.kind, rk.name, obj);
    default:
      return false;
  }
}

function stripLen(v: unknown): string | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  const slash = v.indexOf("/");
  return slash === -1 ? v : v.slice(0, slash);
}

/** The prefix length of "addr/len", if it has one. */
function lenOf(v: unknown): number | undefined {
  if (typeof v !== "string") return undefined;
  const m = /\/(\d{1,3})$/.exec(v);
  return m ? Number(m[1]) : undefined;
}
