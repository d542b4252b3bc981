/**
 * Representative desired states (as event lists) for the renderer's golden tests, the `nft -c`
 * check, and the benchmark: k8s default deny + allow from a label, tiers with Pass, egress deny
 * to a CIDR, named ports, a host endpoint with failsafes/preDNAT/applyOnForward/doNotTrack, and
 * Log with a rate limit.
 */
import { controlPlanePorts } from "../../../calc/policy-output.js";
import type { ConfigUpdate, EndpointDirectionPolicy, PolicyDataplaneEvent, WorkloadEndpointUpdate } from "../../../calc/policy-output.js";

export const FIXTURE_CONFIG: ConfigUpdate = {
  kind: "config-update",
  failsafeInbound: [
    { protocol: "tcp", port: 22 },
    { protocol: "udp", port: 68 },
    { protocol: "tcp", port: 179 },
  ],
  failsafeOutbound: [
    { protocol: "udp", port: 53 },
    { protocol: "tcp", port: 179 },
  ],
  defaultEndpointToHostAction: "accept",
  logRateLimitPerSecond: 0,
  logPrefix: "tabby-packet",
};

/** A small config for functional tests and benches: ssh in and DNS out as failsafes; `over` replaces fields. */
export function minimalConfig(over: Partial<Omit<ConfigUpdate, "kind">> = {}): ConfigUpdate {
  return {
    kind: "config-update",
    failsafeInbound: [{ protocol: "tcp", port: 22 }],
    failsafeOutbound: [{ protocol: "udp", port: 53 }],
    defaultEndpointToHostAction: "accept",
    logRateLimitPerSecond: 0,
    logPrefix: "tabby-packet",
    ...over,
  };
}

const NONE: EndpointDirectionPolicy = { tiers: [], profiles: [] };

export function workload(
  iface: string,
  addrs: string[],
  ingress: EndpointDirectionPolicy,
  egress: EndpointDirectionPolicy,
  allowSpoofedSources: string[] = [],
): WorkloadEndpointUpdate {
  return { kind: "workload-endpoint-update", id: `wep/${iface}`, iface, addrs, allowSpoofedSources, ingress, egress };
}

const allowAllProfile: PolicyDataplaneEvent = {
  kind: "policy-update",
  id: "pro/kns.ns1",
  ingress: [{ id: "pr-in-0", action: "allow", match: {} }],
  egress: [{ id: "pr-eg-0", action: "allow", match: {} }],
};

export const FIXTURES: Record<string, PolicyDataplaneEvent[]> = {
  /** A pod under a k8s default-deny plus "allow tcp/80 from app=frontend". */
  "k8s-default-deny": [
    FIXTURE_CONFIG,
    { kind: "ipset-update", id: "s:frontend", type: "net", members: ["10.65.1.7", "10.65.2.0/26", "10.65.2.9", "fd00:1::7"] },
    { kind: "policy-update", id: "np/ns1/default-deny", ingress: [], egress: [] },
    {
      kind: "policy-update",
      id: "np/ns1/allow-frontend",
      ingress: [{ id: "r0", action: "allow", match: { protocol: 6, srcIpSets: ["s:frontend"], dstPorts: [{ first: 80, last: 80 }] } }],
      egress: [],
    },
    allowAllProfile,
    workload(
      "tab0123456789a",
      ["10.65.0.5/32", "fd00::5/128"],
      { tiers: [{ name: "default", defaultAction: "deny", policies: ["np/ns1/default-deny", "np/ns1/allow-frontend"] }], profiles: ["pro/kns.ns1"] },
      { tiers: [], profiles: ["pro/kns.ns1"] },
    ),
    { kind: "in-sync" },
  ],
  /** A security tier that passes internal traffic and denies the rest; default tier allows ssh. */
  "tiers-pass": [
    FIXTURE_CONFIG,
    {
      kind: "policy-update",
      id: "gnp/security.internal",
      ingress: [
        { id: "r0", action: "pass", match: { srcNets: ["10.0.0.0/8", "fd00::/8"] } },
        { id: "r1", action: "deny", match: {} },
      ],
      egress: [],
    },
    {
      kind: "policy-update",
      id: "gnp/default.ssh",
      ingress: [
        {
          id: "r0",
          action: "allow",
          match: {
            protocol: 6,
            dstPorts: [
              { first: 22, last: 22 },
              { first: 8000, last: 8099 },
            ],
          },
        },
      ],
      egress: [],
    },
    workload(
      "tab00000000001",
      ["10.65.0.6"],
      {
        tiers: [
          { name: "security", defaultAction: "deny", policies: ["gnp/security.internal"] },
          { name: "default", defaultAction: "deny", policies: ["gnp/default.ssh"] },
        ],
        profiles: [],
      },
      NONE,
      ["10.99.0.0/24"],
    ),
    { kind: "in-sync" },
  ],
  /** tiers-pass with flow logs on: allow and deny verdicts and the end-of-tier drops log to NFLOG with their attribution. */
  "flow-logs": [],
  /** Egress: deny to an IPv4 CIDR (must not affect IPv6), allow ICMP echo, allow the rest. */
  "egress-deny-cidr": [
    FIXTURE_CONFIG,
    {
      kind: "policy-update",
      id: "np/ns1/egress",
      ingress: [],
      egress: [
        { id: "r0", action: "deny", match: { dstNets: ["192.168.0.0/16"] } },
        { id: "r1", action: "deny", match: { notDstNets: ["2001:db8::/32"], protocol: 17 } },
        { id: "r2", action: "allow", match: { protocol: 1, icmpType: 8, icmpCode: 0 } },
        { id: "r3", action: "allow", match: { protocol: 58, notIcmpType: 128, notIcmpCode: 0 } },
        { id: "r4", action: "allow", match: { ipVersion: 6, notProtocol: 6 } },
        { id: "r5", action: "allow", match: { notSrcPorts: [{ first: 1, last: 1023 }], protocol: 17 } },
      ],
    },
    workload("tab00000000002", ["10.65.0.7", "fd00::7"], NONE, {
      tiers: [{ name: "default", defaultAction: "deny", policies: ["np/ns1/egress"] }],
      profiles: [],
    }),
    { kind: "in-sync" },
  ],
  /** Named ports: "allow to port http" (numeric 8080 or the named port of selected pods). */
  "named-ports": [
    FIXTURE_CONFIG,
    {
      kind: "ipset-update",
      id: "n:http",
      type: "ip-port",
      members: [
        { addr: "10.65.0.8", protocol: "tcp", port: 8080 },
        { addr: "10.65.3.4", protocol: "tcp", port: 80 },
        { addr: "fd00::8", protocol: "tcp", port: 8080 },
      ],
    },
    {
      kind: "policy-update",
      id: "np/ns1/http",
      ingress: [{ id: "r0", action: "allow", match: { protocol: 6, dstPorts: [{ first: 9090, last: 9090 }], dstNamedPortIpSets: ["n:http"] } }],
      egress: [{ id: "r0", action: "allow", match: { srcNamedPortIpSets: ["n:http"] } }],
    },
    workload(
      "tab00000000003",
      ["10.65.0.8", "fd00::8"],
      { tiers: [{ name: "default", defaultAction: "deny", policies: ["np/ns1/http"] }], profiles: [] },
      { tiers: [{ name: "default", defaultAction: "deny", policies: ["np/ns1/http"] }], profiles: [] },
    ),
    { kind: "in-sync" },
  ],
  /** Host endpoints: eth0 with normal, preDNAT, applyOnForward and doNotTrack policy; `*` with none. */
  "host-endpoint": [
    FIXTURE_CONFIG,
    { kind: "ipset-update", id: "s:mgmt", type: "net", members: ["192.0.2.0/24"] },
    {
      kind: "policy-update",
      id: "gnp/host.mgmt",
      ingress: [{ id: "r0", action: "allow", match: { srcIpSets: ["s:mgmt"] } }],
      egress: [{ id: "r0", action: "allow", match: {} }],
    },
    {
      kind: "policy-update",
      id: "gnp/host.prednat",
      ingress: [{ id: "r0", action: "deny", match: { protocol: 6, dstPorts: [{ first: 30000, last: 32767 }], notSrcIpSets: ["s:mgmt"] } }],
      egress: [],
    },
    {
      kind: "policy-update",
      id: "gnp/host.untracked",
      ingress: [{ id: "r0", action: "allow", match: { protocol: 17, dstPorts: [{ first: 4789, last: 4789 }] } }],
      egress: [{ id: "r0", action: "allow", match: { protocol: 17, srcPorts: [{ first: 4789, last: 4789 }] } }],
    },
    {
      kind: "policy-update",
      id: "gnp/host.forward",
      ingress: [{ id: "r0", action: "allow", match: { dstNets: ["10.65.0.0/16"] } }],
      egress: [],
    },
    {
      kind: "host-endpoint-update",
      id: "node1-eth0",
      iface: "eth0",
      normal: {
        ingress: { tiers: [{ name: "default", defaultAction: "deny", policies: ["gnp/host.mgmt"] }], profiles: [] },
        egress: { tiers: [{ name: "default", defaultAction: "deny", policies: ["gnp/host.mgmt"] }], profiles: [] },
      },
      forward: {
        ingress: { tiers: [{ name: "default", defaultAction: "deny", policies: ["gnp/host.forward"] }], profiles: [] },
        egress: NONE,
      },
      preDnat: { ingress: { tiers: [{ name: "default", defaultAction: "deny", policies: ["gnp/host.prednat"] }], profiles: [] } },
      untracked: {
        ingress: { tiers: [{ name: "default", defaultAction: "deny", policies: ["gnp/host.untracked"] }], profiles: [] },
        egress: { tiers: [{ name: "default", defaultAction: "deny", policies: ["gnp/host.untracked"] }], profiles: [] },
      },
    },
    {
      kind: "host-endpoint-update",
      id: "node1-all",
      iface: "*",
      normal: { ingress: NONE, egress: NONE },
      forward: { ingress: NONE, egress: NONE },
      preDnat: { ingress: NONE },
      untracked: { ingress: NONE, egress: NONE },
    },
    { kind: "in-sync" },
  ],
  /** Log (rate-limited) then deny; defaultEndpointToHostAction drop; a missing profile. */
  "log-rate-limit": [
    { ...FIXTURE_CONFIG, logRateLimitPerSecond: 5, logPrefix: "tabby-drop", defaultEndpointToHostAction: "drop" },
    {
      kind: "policy-update",
      id: "gnp/log-and-deny",
      ingress: [
        { id: "r0", action: "log", match: { protocol: 6 } },
        { id: "r1", action: "deny", match: { protocol: 6 } },
      ],
      egress: [],
    },
    workload(
      "tab00000000004",
      ["10.65.0.9"],
      { tiers: [{ name: "default", defaultAction: "pass", policies: ["gnp/log-and-deny"] }], profiles: ["pro/missing"] },
      NONE,
    ),
    { kind: "in-sync" },
  ],
  /** natOutgoing on one IPv4 and one IPv6 pool, a third pool without it (issue 6). */
  "nat-outgoing": [
    { ...FIXTURE_CONFIG, natOutgoing: { natPools: ["10.65.0.0/16", "fd65::/64"], allPools: ["10.65.0.0/16", "10.66.0.0/16", "fd65::/64"] } },
    workload("tab00000000005", ["10.65.0.10"], NONE, NONE),
    { kind: "in-sync" },
  ],
  /** Workload → control plane (issue 19): three nodes, a datastore, a BGP port 1179, one router workload let through. */
  "control-plane": [
    FIXTURE_CONFIG,
    {
      kind: "control-plane-update",
      nodeAddrs: ["10.99.0.11", "10.99.0.12", "10.99.0.13", "fd00:99::11", "fd00:99::12"],
      otherAddrs: ["169.254.1.1", "fe80::ecee:eeff:feee:eeee", "10.99.0.254"],
      ports: controlPlanePorts([179, 1179]),
      openInterfaces: ["tab00000000007"],
    },
    workload("tab00000000006", ["10.65.0.11"], NONE, NONE),
    workload("tab00000000007", ["10.65.0.12"], NONE, NONE),
    { kind: "in-sync" },
  ],
};

FIXTURES["flow-logs"] = [{ ...FIXTURE_CONFIG, flowLogGroup: 7 }, ...FIXTURES["tiers-pass"]!.slice(1)];
/** Host endpoint policy is flow-logged as workload policy is: its rules and its chains' drops. */
FIXTURES["host-endpoint-flow-logs"] = [{ ...FIXTURE_CONFIG, flowLogGroup: 7 }, ...FIXTURES["host-endpoint"]!.slice(1)];
/**
 * Tap workloads (issue 20): FelixConfiguration interfacePrefix "tab,tap", a container on a veth, a
 * VM on a QEMU tap and a libvirt `vnet` tap named by its WorkloadEndpoint alone.
 */
FIXTURES["tap-workloads"] = [
  { ...FIXTURE_CONFIG, interfacePrefixes: ["tab", "tap"] },
  workload("tab00000000008", ["10.65.0.13"], NONE, NONE),
  workload("tapvm1", ["10.65.0.14", "fd65::e"], NONE, NONE),
  workload("vnet3", ["10.65.0.15"], NONE, NONE),
  { kind: "in-sync" },
];
