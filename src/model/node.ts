/**
 * Node (cluster-scoped): a host, its BGP addresses and AS (libcalico-go internalapi NodeSpec).
 * `bgp.ipv4Address`/`ipv6Address` are "ip/len" (or a bare ip) of the host's interface, so host
 * bits are allowed; `routeReflectorClusterID` is IPv4-formatted; an empty `bgp` is an error
 * (`validateNodeSpec`); `addresses[].type` is CalicoNodeIP|InternalIP|ExternalIP.
 * Pure: no I/O.
 */
import { anything, arrayOf, asNumber, type Checker, cidrField, ipField, matching, object, oneOf, str, type Field } from "./check.js";
import type { Resource } from "./resource.js";

export interface NodeBGPSpec {
  asNumber?: number;
  ipv4Address?: string;
  ipv6Address?: string;
  ipv4IPIPTunnelAddr?: string;
  routeReflectorClusterID?: string;
}
export interface NodeSpec {
  bgp?: NodeBGPSpec;
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
  orchRefs?: { orchestrator: string; nodeName?: string }[];
  addresses?: { address: string; type?: "CalicoNodeIP" | "InternalIP" | "ExternalIP" }[];
  wireguard?: { interfaceIPv4Address?: string; interfaceIPv6Address?: string };
  interfaces?: unknown[];
}
export type Node = Resource<"Node", NodeSpec>;

export const macField = matching(/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/, "a MAC address such as ee:ee:ee:ee:ee:ee");

const bgpSchema = object<NodeBGPSpec>({
  asNumber,
  ipv4Address: cidrField({ family: 4 }),
  ipv6Address: cidrField({ family: 6 }),
  ipv4IPIPTunnelAddr: ipField(4),
  routeReflectorClusterID: ipField(4),
});

const orchRef = object<{ orchestrator: string; nodeName?: string }>({ orchestrator: str, nodeName: str });
const address: Field<{ address: string; type?: "CalicoNodeIP" | "InternalIP" | "ExternalIP" }> = object({
  address: cidrField(),
  type: oneOf(["CalicoNodeIP", "InternalIP", "ExternalIP"] as const),
});

const specSchema = object<NodeSpec>({
  bgp: (v, p, c) => {
    const b = bgpSchema(v, p, c);
    if (b && Object.keys(b).length === 0 && c.errors.every((e) => !e.path.startsWith(p))) c.error(p, "must not be empty when present");
    return b;
  },
  ipv4VXLANTunnelAddr: ipField(4),
  vxlanTunnelMACAddr: macField,
  ipv6VXLANTunnelAddr: ipField(6),
  vxlanTunnelMACAddrV6: macField,
  orchRefs: arrayOf(orchRef),
  addresses: arrayOf(address),
  wireguard: object<{ interfaceIPv4Address?: string; interfaceIPv6Address?: string }>({
    interfaceIPv4Address: ipField(4),
    interfaceIPv6Address: ipField(6),
  }),
  interfaces: arrayOf(anything),
});

export function checkNodeSpec(v: unknown, c: Checker): NodeSpec | undefined {
  const spec = specSchema(v, "spec", c);
  spec?.orchRefs?.forEach((r, i) => {
    if (r.orchestrator === undefined) c.error(`spec.orchRefs[${i}].orchestrator`, "is required");
  });
  spec?.addresses?.forEach((a, i) => {
    if (a.address === undefined && c.errors.every((e) => e.path !== `spec.addresses[${i}].address`)) c.error(`spec.addresses[${i}].address`, "is required");
  });
  return spec;
}
