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
  /** Flow logs on (FelixConfiguration `flowLogsEnabled`, tabby's): the NFLOG group verdicts copy packets to. */
  flowLogGroup?: number;
  /** FelixConfiguration `flowLogsFlushInterval`: the flow-log aggregation interval (ms). */
  flowLogFlushMs?: number;
  /**
   * IPPool natOutgoing (felix's cali-nat-outgoing): sources in `natPools` going to destinations
   * outside every pool in `allPools` are masqueraded to the host's address. CIDRs, both
   * families. Absent or empty natPools: no NAT.
   */
  natOutgoing?: { natPools: string[]; allPools: string[] };
  /**
   * FelixConfiguration `interfacePrefix` ("tab,tap"): the name prefixes of workload interfaces
   * (src/dataplane/iface-prefix.ts). Absent: tabby's default, "tab".
   */
  interfacePrefixes?: string[];
}

/**
 * Workload → control-plane isolation (tabby's own; issue #19): packets from workload interfaces
 * to a control-plane address on a control-plane port are dropped in prerouting, before NAT and
 * before policy, for the forward and the input path alike. Everything is sent whole on each
 * change (the dataplane turns it into set elements: a node joining or leaving touches no rule).
 */
export interface ControlPlaneUpdate {
  kind: "control-plane-update";
  /** Every Node's addresses (BGP, `addresses`, tunnel addresses), without length: both families. */
  nodeAddrs: string[];
  /** Other control-plane addresses: the workload gateway 169.254.1.1, the datastore's endpoints. */
  otherAddrs: string[];
  /** The control-plane ports (BGP listen ports, BFD, the datastore, the agent). */
  ports: { protocol: "tcp" | "udp"; port: number }[];
  /**
   * Host-side interfaces of the local workloads FelixConfiguration
   * `workloadControlPlaneAccessSelector` selects: not dropped (their policy still applies).
   */
  openInterfaces: string[];
}

/** BFD (RFC 5881 single hop 3784 and echo 3785, RFC 5883 multihop 4784, RFC 7130 micro-BFD 4785). */
export const BFD_UDP_PORTS = [3784, 3785, 4784, 4785] as const;
/** etcd client and peer ports. */
export const ETCD_TCP_PORTS = [2379, 2380] as const;
/** The agent's health and metrics ports (Calico's healthPort and prometheusMetricsPort defaults). */
export const AGENT_TCP_PORTS = [9091, 9099] as const;
/** The workload's default gateways: 169.254.1.1 by proxy ARP, and the host veth's link-local address. */
export const WORKLOAD_GATEWAY4 = "169.254.1.1";
export const WORKLOAD_GATEWAY6 = "fe80::ecee:eeff:feee:eeee";

/** The control-plane ports for a set of BGP listen ports and extra datastore ports, sorted. */
export function controlPlanePorts(bgpPorts: Iterable<number>, extraTcp: Iterable<number> = []): { protocol: "tcp" | "udp"; port: number }[] {
  const tcp = new Set<number>([179, ...bgpPorts, ...ETCD_TCP_PORTS, ...AGENT_TCP_PORTS, ...extraTcp]);
  return [
    ...[...tcp].sort((a, b) => a - b).map((port) => ({ protocol: "tcp" as const, port })),
    ...BFD_UDP_PORTS.map((port) => ({ protocol: "udp" as const, port })),
  ];
}

/** What the dataplane enforces before the graph says anything: the default ports, the gateway. */
export const DEFAULT_CONTROL_PLANE: ControlPlaneUpdate = {
  kind: "control-plane-update",
  nodeAddrs: [],
  otherAddrs: [WORKLOAD_GATEWAY4, WORKLOAD_GATEWAY6],
  ports: controlPlanePorts([]),
  openInterfaces: [],
};

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
  | ControlPlaneUpdate
  | InSync;

/** The failsafe ports Calico opens on host endpoints by default (FelixConfiguration). */
/** The NFLOG group flow-log verdicts copy packets to (src/flows/); the agent reads it. */
export const FLOW_LOG_GROUP = 7;

export const DEFAULT_FAILSAFE_INBOUND = [
  { protocol: "tcp", port: 22 },
  { protocol: "udp", port: 68 },
  { protocol: "tcp", port: 179 },
  { protocol: "tcp", port: 2379 },
  { protocol: "tcp", port: 2380 },
  { protocol: "tcp", port: 5473 },
  { protocol: "tcp", port: 6443 },
  { protocol: "tcp", port: 6666 },
  { protocol: "tcp", port: 6667 },
] as const;
export const DEFAULT_FAILSAFE_OUTBOUND = [
  { protocol: "udp", port: 53 },
  { protocol: "udp", port: 67 },
  { protocol: "tcp", port: 179 },
  { protocol: "tcp", port: 2379 },
  { protocol: "tcp", port: 2380 },
  { protocol: "tcp", port: 5473 },
  { protocol: "tcp", port: 6443 },
  { protocol: "tcp", port: 6666 },
  { protocol: "tcp", port: 6667 },
] as const;
