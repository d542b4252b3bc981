/**
 * The contract between the policy calculation graph (src/calc/policy/) and the nftables
 * dataplane (src/dataplane/nft/): what one host must enforce, in dataplane terms but with no
 * nftables syntax. Calico's calc-graph output (felix `proto.*Update` messages) reduced to what
 * tabby enforces: IP sets, policy and profile rule lists, and per-endpoint tier/profile orders.
 *
 * Updates flow as events so the dataplane can change a set's members without touching rules
 * that use it; the sequencer (src/calc/policy/) orders them: sets before the rules that use
 * them, endpoints after their policies; removals in reverse.
 */

export type IpFamily = 4 | 6;

/**
 * A set of addresses selected by a selector (endpoints' addresses, network sets' nets), or of
 * address+port pairs for a named port. `id` is stable for the same selector (derived from the
 * selector's unique id, e.g. "s:<hash>") and safe as an nft set name suffix after hashing.
 */
export interface IpSetUpdate {
  kind: "ipset-update";
  id: string;
  /** "net": CIDRs or addresses; "ip-port": address + protocol + port (named ports). */
  type: "net" | "ip-port";
  /** Full membership (both families mixed; the dataplane splits by family). */
  members: IpSetMember[];
}
export interface IpSetDeltaUpdate {
  kind: "ipset-delta";
  id: string;
  added: IpSetMember[];
  removed: IpSetMember[];
}
export interface IpSetRemove {
  kind: "ipset-remove";
  id: string;
}
export type IpSetMember = string | { addr: string; protocol: "tcp" | "udp" | "sctp"; port: number };

export interface PortRange {
  first: number;
  last: number;
}

/** One rule's match criteria; every present field must hold (AND); list entries OR. */
export interface RuleMatch {
  ipVersion?: IpFamily;
  /** Protocol number (tcp 6, udp 17, icmp 1, icmpv6 58, sctp 132, udplite 136) */
  protocol?: number;
  notProtocol?: number;
  srcNets?: string[];
  notSrcNets?: string[];
  dstNets?: string[];
  notDstNets?: string[];
  /** IP set ids: the address must be in every listed set (AND), as Calico's selector sets. */
  srcIpSets?: string[];
  notSrcIpSets?: string[];
  dstIpSets?: string[];
  notDstIpSets?: string[];
  srcPorts?: PortRange[];
  notSrcPorts?: PortRange[];
  dstPorts?: PortRange[];
  notDstPorts?: PortRange[];
  /**
   * Named ports: ip-port set ids; (addr, proto, port) must be in any of them (OR). As in Calico,
   * a side's numeric ports and named ports form ONE list: when both `dstPorts` and
   * `dstNamedPortIpSets` are present the packet must match either (OR), not both. When named
   * ports are present without numeric ports, the side's selector set is left out of
   * `dstIpSets` (the ip-port sets are already filtered by it).
   */
  srcNamedPortIpSets?: string[];
  dstNamedPortIpSets?: string[];
  /** Negated named ports: (addr, proto, port) must be in none of them. */
  notSrcNamedPortIpSets?: string[];
  notDstNamedPortIpSets?: string[];
  icmpType?: number;
  icmpCode?: number;
  notIcmpType?: number;
  notIcmpCode?: number;
}

export type RuleAction = "allow" | "deny" | "pass" | "log";

export interface CompiledRule {
  match: RuleMatch;
  action: RuleAction;
  /** Stable short id of the rule (for comments and counters). */
  id: string;
}

export type Direction = "ingress" | "egress";

/** Policy ids follow felix: "np/<ns>/<name>", "gnp/<name>", "pro/<profile>" for profiles. */
export interface PolicyUpdate {
  kind: "policy-update";
  id: string;
  ingress: CompiledRule[];
  egress: CompiledRule[];
}
export interface PolicyRemove {
  kind: "policy-remove";
  id: string;
}

export interface TierOrder {
  name: string;
  /** What happens at the end of the tier when no rule allowed, denied or passed. */
  defaultAction: "deny" | "pass";
  /** Policy ids in evaluation order that apply in this direction. */
  policies: string[];
}

export interface EndpointDirectionPolicy {
  /** Only tiers with at least one policy applying in this direction. */
  tiers: TierOrder[];
  /** Profile ids (policy ids "pro/<name>"); a missing profile is a deny. */
  profiles: string[];
}

export interface WorkloadEndpointUpdate {
  kind: "workload-endpoint-update";
  /** Datastore key of the WorkloadEndpoint (stable identity). */
  id: string;
  /** Host-side interface name (tab + 11 hex). */
  iface: string;
  /** The workload's addresses (/32, /128): the only sources allowed out of it (anti-spoofing). */
  addrs: string[];
  /** Extra source prefixes the workload may use (allowSpoofedSourcePrefixes). */
  allowSpoofedSources: string[];
  /** Traffic to the workload. */
  ingress: EndpointDirectionPolicy;
  /** Traffic from the workload. */
  egress: EndpointDirectionPolicy;
}
export interface WorkloadEndpointRemove {
  kind: "workload-endpoint-remove";
  id: string;
  iface: string;
}

export interface HostEndpointUpdate {
  kind: "host-endpoint-update";
  /** HostEndpoint name. */
  id: string;
  /** Interface name, or "*" for every interface of the host namespace. */
  iface: string;
  /** Normal host policy (traffic to/from the host itself). */
  normal: { ingress: EndpointDirectionPolicy; egress: EndpointDirectionPolicy };
  /** applyOnForward policies (traffic forwarded through the interface). */
  forward: { ingress: EndpointDirectionPolicy; egress: EndpointDirectionPolicy };
  /** preDNAT policies (ingress only). */
  preDnat: { ingress: EndpointDirectionPolicy };
  /** doNotTrack policies. */
  untracked: { ingress: EndpointDirectionPolicy; egress: EndpointDirectionPolicy };
}
export interface HostEndpointRemove {
  kind: "host-endpoint-remove";
  id: string;
}

/** Host-wide settings the dataplane needs. */
export interface ConfigUpdate {
  kind: "config-update";
  /** Failsafe ports, e.g. [{protocol: "tcp", port: 22}], inbound and outbound. */
  failsafeInbound: { protocol: "tcp" | "udp"; port: number }[];
  failsafeOutbound: { protocol: "tcp" | "udp"; port: number }[];
  /** What happens to traffic from a workload to its own host: "drop" | "accept" | "return" (to host policy). */
  defaultEndpointToHostAction: "drop" | "accept" | "return";
  /** Log rule rate limit (packets per second; 0 = unlimited). */
  logRateLimitPerSecond: number;
  logPrefix: string;
  /**
   * IPPool natOutgoing (felix's cali-nat-outgoing): sources in `natPools` going to destinations
   * outside every pool in `allPools` are masqueraded to the host's address. CIDRs, both
   * families. Absent or empty natPools: no NAT.
   */
  natOutgoing?: { natPools: string[]; allPools: string[] };
}

/** Marks the end of the initial snapshot: the dataplane may now remove what it does not know. */
export interface InSync {
  kind: "in-sync";
}

export type PolicyDataplaneEvent =
  | IpSetUpdate
  | IpSetDeltaUpdate
  | IpSetRemove
  | PolicyUpdate
  | PolicyRemove
  | WorkloadEndpointUpdate
  | WorkloadEndpointRemove
  | HostEndpointUpdate
  | HostEndpointRemove
  | ConfigUpdate
  | InSync;

/** The failsafe ports Calico opens on host endpoints by default (FelixConfiguration). */
export const DEFAULT_FAILSAFE_INBOUND = [
  { protocol: "tcp", port: 22 }, { protocol: "udp", port: 68 }, { protocol: "tcp", port: 179 },
  { protocol: "tcp", port: 2379 }, { protocol: "tcp", port: 2380 }, { protocol: "tcp", port: 5473 },
  { protocol: "tcp", port: 6443 }, { protocol: "tcp", port: 6666 }, { protocol: "tcp", port: 6667 },
] as const;
export const DEFAULT_FAILSAFE_OUTBOUND = [
  { protocol: "udp", port: 53 }, { protocol: "udp", port: 67 }, { protocol: "tcp", port: 179 },
  { protocol: "tcp", port: 2379 }, { protocol: "tcp", port: 2380 }, { protocol: "tcp", port: 5473 },
  { protocol: "tcp", port: 6443 }, { protocol: "tcp", port: 6666 }, { protocol: "tcp", port: 6667 },
] as const;
