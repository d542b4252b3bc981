/**
 * The agent's route policy (bgp-peer-policy.ts), as tables: for each peer kind × route source ×
 * BGPFilter, is the route accepted or rejected? Policies are evaluated with the speaker's own
 * engine (bgp/policy.ts), compiled the way the speaker compiles them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyKeyUpdate, emptyHostState, type HostState } from "./host-state.js";
import { computeHostDesired, type DesiredPeer } from "./host-desired.js";
import { compilePolicy, evaluate, type RouteSource } from "../bgp/policy.js";
import { parsePrefix } from "../net/index.js";
import { applyRoutePolicy, DEFAULT_MAX_PREFIXES } from "./bgp-peer-policy.js";

const R = "/calico/resources/v3/projectcalico.org/";
const put = (s: HostState, key: string, v: unknown) => applyKeyUpdate(s, key, v === undefined ? undefined : JSON.stringify(v));

/** h1 (AS 64512) in pool 10.65.0.0/16 (block 10.65.0.0/26), pool 10.70.0.0/16 not exported, a ToR in AS 65001. */
function world(filters: Record<string, unknown> = {}): HostState {
  const s = emptyHostState();
  put(s, `${R}nodes/h1`, { spec: { bgp: { ipv4Address: "10.99.0.11/24", ipv6Address: "fd99::11/64" } } });
  put(s, `${R}nodes/h2`, { spec: { bgp: { ipv4Address: "10.99.0.12/24" } } });
  put(s, `${R}ippools/main`, { spec: { cidr: "10.65.0.0/16" } });
  put(s, `${R}ippools/v6`, { spec: { cidr: "fd65::/48" } });
  put(s, `${R}ippools/quiet`, { spec: { cidr: "10.70.0.0/16", disableBGPExport: true } });
  put(s, "/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", { state: "confirmed" });
  put(s, "/calico/ipam/v2/host/h1/ipv4/block/10.70.0.0-26", { state: "confirmed" });
  put(s, "/calico/ipam/v2/host/h1/ipv6/block/fd65::-122", { state: "confirmed" });
  put(s, `${R}workloadendpoints/ns/h1-k8s-a-eth0`, { spec: { node: "h1", interfaceName: "tabaaaaaaaaaaa", ipNetworks: ["10.65.0.1/32", "10.65.1.7/32"] } });
  put(s, `${R}workloadendpoints/ns/h1-k8s-b-eth0`, { spec: { node: "h1", interfaceName: "tabbbbbbbbbbbb", ipNetworks: ["192.0.2.10/32", "198.51.100.5/32"] } });
  put(s, `${R}bgppeers/tor`, { spec: { peerIP: "10.99.0.254", asNumber: 65001 } });
  for (const [name, spec] of Object.entries(filters)) put(s, `${R}BGPFilters/${name}`, { spec });
  return s;
}

/** The ToR peer lists `filters` in its BGPPeer (read from the resource when the peer model gives none). */
function peersOf(s: HostState, filters: string[] = []): { mesh: DesiredPeer; tor: DesiredPeer } {
  if (filters.length > 0) put(s, `${R}bgppeers/tor`, { spec: { peerIP: "10.99.0.254", asNumber: 65001, filters } });
  const d = computeHostDesired(s, "h1");
  return { mesh: d.peers.find((p) => p.address === "10.99.0.12")!, tor: d.peers.find((p) => p.address === "10.99.0.254")! };
}

function verdict(p: DesiredPeer, dir: "import" | "export", prefix: string, source: RouteSource): "accept" | "reject" {
  const ibgp = p.asNumber === 64512;
  const pol = compilePolicy(p[dir], ibgp);
  return evaluate(pol, parsePrefix(prefix), [], [], source) === undefined ? "reject" : "accept";
}

test("export defaults: own routes to everyone, iBGP-learned only towards iBGP (reflection), eBGP-learned never, disabled pools never", () => {
  const { mesh, tor } = peersOf(world());
  const table: [string, RouteSource, "accept" | "reject", "accept" | "reject"][] = [
    // prefix, source, to the mesh peer (iBGP), to the ToR (eBGP)
    ["10.65.0.0/26", "local", "accept", "accept"], // own block
    ["fd65::/122", "local", "accept", "accept"],
    ["10.65.1.7/32", "local", "accept", "accept"], // borrowed from another node's block
    ["10.70.0.0/26", "local", "reject", "reject"], // block of a disableBGPExport pool
    ["10.65.0.64/26", "ibgp", "accept", "reject"], // another node's block: reflected (RFC 4456 decides), never to the ToR
    ["10.70.0.64/26", "ibgp", "reject", "reject"],
    ["0.0.0.0/0", "ebgp", "reject", "reject"], // learned from a ToR: no transit, not even into the mesh
    ["203.0.113.0/24", "ebgp", "reject", "reject"],
    ["203.0.113.0/24", "ibgp", "accept", "reject"],
  ];
  for (const [prefix, source, toMesh, toTor] of table) {
    assert.equal(verdict(mesh, "export", prefix, source), toMesh, `${prefix} from ${source} to the mesh`);
    assert.equal(verdict(tor, "export", prefix, source), toTor, `${prefix} from ${source} to the ToR`);
  }
});

test("import defaults: everything but this node's own blocks and node addresses; the policy does not change with workloads", () => {
  const { mesh, tor } = peersOf(world());
  const table: [string, "accept" | "reject"][] = [
    ["10.65.0.64/26", "accept"],
    ["10.65.0.0/26", "reject"], // our block
    ["10.65.0.1/32", "accept"], // our workload: the local kernel route wins anyway (mergeKernelRoutes)
    ["10.65.0.2/32", "accept"], // another node's borrow from our block
    ["10.99.0.11/32", "reject"], // our node address
    ["fd99::11/128", "reject"],
    ["0.0.0.0/0", "accept"], // a covering route cannot draw local traffic away
    ["10.65.0.0/16", "accept"],
  ];
  for (const [prefix, want] of table) {
    assert.equal(verdict(mesh, "import", prefix, "ibgp"), want, `${prefix} from the mesh`);
    assert.equal(verdict(tor, "import", prefix, "ebgp"), want, `${prefix} from the ToR`);
  }
  // a workload starting changes no peer's import policy (that would be a ROUTE-REFRESH from every peer)
  const s = world();
  const before = computeHostDesired(s, "h1").peers.map((p) => JSON.stringify(p.import));
  put(s, `${R}workloadendpoints/ns/h1-k8s-c-eth0`, { spec: { node: "h1", interfaceName: "tabcccccccccccc", ipNetworks: ["10.65.0.9/32"] } });
  assert.deepEqual(
    computeHostDesired(s, "h1").peers.map((p) => JSON.stringify(p.import)),
    before,
  );
});

test("BGPFilter rules come first, in order, per family; unmatched routes fall through to the defaults", () => {
  const filters = {
    first: {
      exportV4: [
        { action: "Accept", matchOperator: "In", cidr: "203.0.113.0/24", source: "RemotePeers" }, // explicit transit
        { action: "Reject", matchOperator: "Equal", cidr: "10.65.0.0/26" },
      ],
      importV4: [
        { action: "Reject", matchOperator: "In", cidr: "10.0.0.0/8", prefixLength: { min: 28 } },
        { action: "Accept", matchOperator: "NotIn", cidr: "172.16.0.0/12" },
        { action: "Reject" },
      ],
      importV6: [{ action: "Reject", matchOperator: "NotEqual", cidr: "fd00:1::/64" }],
    },
    second: { exportV4: [{ action: "Accept", matchOperator: "Equal", cidr: "10.65.0.0/26" }], importV4: [{ action: "Accept" }] },
  };
  const { tor } = peersOf(world(filters), ["first", "second"]);
  const exp: [string, RouteSource, "accept" | "reject"][] = [
    ["203.0.113.0/25", "ebgp", "accept"], // accepted by the filter although the default would not
    ["203.0.113.0/25", "local", "accept"], // not RemotePeers: falls through; local is accepted by default
    ["10.65.0.0/26", "local", "reject"], // the first filter rejects before the second would accept
    ["10.65.1.7/32", "local", "accept"], // default
    ["198.18.0.0/15", "ebgp", "reject"], // default
  ];
  for (const [prefix, source, want] of exp) assert.equal(verdict(tor, "export", prefix, source), want, `export ${prefix} ${source}`);
  const imp: [string, "accept" | "reject"][] = [
    ["10.1.2.16/28", "reject"], // In with prefixLength min 28
    ["10.1.2.0/24", "accept"], // too short for the first rule; NotIn 172.16/12 accepts
    ["172.16.5.0/24", "reject"], // in 172.16/12: the catch-all Reject
    ["10.65.0.0/26", "accept"], // the filter's NotIn Accept decides before the defaults' guard would (filters first, as Calico)
    ["fd00:1::/64", "accept"], // the v6 rule: only NotEqual rejects; this one falls through to the default
    ["fd00:2::/64", "reject"],
  ];
  for (const [prefix, want] of imp) assert.equal(verdict(tor, "import", prefix, "ebgp"), want, `import ${prefix}`);
});

test("interface rules: local workload routes by pattern; learned routes are never accepted by one and rejected by a Reject one", () => {
  const s = world({
    ifs: {
      exportV4: [
        { action: "Reject", interface: "tabb*" },
        { action: "Accept", interface: "taba*", source: "RemotePeers" },
      ],
    },
  });
  put(s, `${R}bgpconfigurations/default`, { spec: { serviceLoadBalancerIPs: [{ cidr: "192.0.2.0/24" }] } });
  const { tor } = peersOf(s, ["ifs"]);
  assert.equal(verdict(tor, "export", "192.0.2.10/32", "local"), "reject", "tabbbbbbbbbbbb's service address");
  assert.equal(verdict(tor, "export", "10.65.1.7/32", "local"), "accept", "tabaaaaaaaaaaa: no Reject; the Accept wants RemotePeers: default");
  assert.equal(verdict(tor, "export", "10.65.0.0/26", "local"), "accept", "a block has no interface");
  assert.equal(verdict(tor, "export", "203.0.113.0/24", "ibgp"), "reject", "learned: interface unknown, the Reject takes it");
});

test("a filter that is missing or cannot be enforced rejects everything at its place (fail closed)", () => {
  const s = world({ bad: { exportV4: [{ action: "Accept", peerType: "eBGP" }] } });
  for (const name of ["missing", "bad"]) {
    const { tor } = peersOf(s, [name]);
    assert.equal(verdict(tor, "export", "10.65.0.0/26", "local"), "reject", name);
    assert.equal(verdict(tor, "import", "10.1.0.0/16", "ebgp"), "reject", name);
  }
});

test("origination: pool borrows and served service addresses; other addresses not; cluster IP ranges from every node; communities", () => {
  const s = world();
  let orig = computeHostDesired(s, "h1").originated;
  assert.deepEqual(
    orig.map((o) => o.prefix),
    ["10.65.0.0/26", "10.70.0.0/26", "fd65::/122", "10.65.1.7/32"],
    "192.0.2.10 and 198.51.100.5 are in no pool and no service range",
  );
  put(s, `${R}bgpconfigurations/default`, {
    spec: {
      serviceClusterIPs: [{ cidr: "10.96.0.0/12" }],
      serviceLoadBalancerIPs: [{ cidr: "192.0.2.0/24" }],
      serviceExternalIPs: [{ cidr: "198.51.100.0/24" }],
      communities: [{ name: "svc", value: "65000:100" }],
      prefixAdvertisements: [
        { cidr: "192.0.2.0/24", communities: ["svc", "65000:1:2"] },
        { cidr: "10.65.0.0/16", communities: ["65000:200", "70000:1"] }, // out of range (written around the model): skipped
      ],
    },
  });
  orig = computeHostDesired(s, "h1").originated;
  assert.deepEqual(orig, [
    { prefix: "10.65.0.0/26", communities: ["65000:200"] },
    { prefix: "10.70.0.0/26" },
    { prefix: "fd65::/122" },
    { prefix: "10.65.1.7/32", communities: ["65000:200"] },
    { prefix: "192.0.2.10/32", communities: ["65000:100"], largeCommunities: ["65000:1:2"] },
    { prefix: "198.51.100.5/32" },
    { prefix: "10.96.0.0/12" },
  ]);
  // h2 has no workloads: it originates the cluster IP range only
  assert.deepEqual(
    computeHostDesired(s, "h2").originated.map((o) => o.prefix),
    ["10.96.0.0/12"],
  );
  // the workload goes: its service address is withdrawn
  put(s, `${R}workloadendpoints/ns/h1-k8s-b-eth0`, undefined);
  assert.ok(!computeHostDesired(s, "h1").originated.some((o) => o.prefix === "192.0.2.10/32"));
});

test("filters the peer model sets on the DesiredPeer win over the BGPPeer's own list", () => {
  const s = world({ none: { exportV4: [{ action: "Reject" }] } });
  put(s, `${R}bgppeers/tor`, { spec: { peerIP: "10.99.0.254", asNumber: 65001, filters: ["none"] } });
  const d = computeHostDesired(s, "h1");
  const tor = d.peers.find((p) => p.address === "10.99.0.254")!;
  assert.equal(verdict(tor, "export", "10.65.0.0/26", "local"), "reject");
  tor.filters = [];
  applyRoutePolicy(d, s, "h1");
  assert.equal(verdict(tor, "export", "10.65.0.0/26", "local"), "accept");
});

test("max prefixes: a default on every peer, the BGPPeer annotation overrides (0 = none, junk = 1)", () => {
  const s = world();
  let { mesh, tor } = peersOf(s);
  assert.equal(mesh.maxPrefixes, DEFAULT_MAX_PREFIXES);
  assert.equal(tor.maxPrefixes, DEFAULT_MAX_PREFIXES);
  const peer = (v: string) =>
    put(s, `${R}bgppeers/tor`, { metadata: { annotations: { "tabby.dev/max-prefixes": v } }, spec: { peerIP: "10.99.0.254", asNumber: 65001 } });
  peer("500");
  ({ tor } = peersOf(s));
  assert.equal(tor.maxPrefixes, 500);
  peer("0");
  ({ tor } = peersOf(s));
  assert.equal(tor.maxPrefixes, undefined);
  peer("lots");
  ({ tor } = peersOf(s));
  assert.equal(tor.maxPrefixes, 1);
});

test("state sequence: the routing state gives the same result in any order, and deletes undo it", () => {
  const steps: [string, unknown][] = [
    [`${R}nodes/h1`, { spec: { bgp: { ipv4Address: "10.99.0.11/24" } } }],
    [`${R}ippools/main`, { spec: { cidr: "10.65.0.0/16" } }],
    [`${R}ippools/quiet`, { spec: { cidr: "10.70.0.0/16", disableBGPExport: true } }],
    ["/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", { state: "confirmed" }],
    [`${R}workloadendpoints/ns/h1-k8s-a-eth0`, { spec: { node: "h1", interfaceName: "tabaaaaaaaaaaa", ipNetworks: ["10.65.1.7/32", "192.0.2.10/32"] } }],
    [`${R}BGPFilters/f`, { spec: { exportV4: [{ action: "Reject", interface: "taba*" }], importV6: [{ action: "Reject" }] } }],
    [`${R}bgppeers/tor`, { metadata: { annotations: { "tabby.dev/max-prefixes": "10" } }, spec: { peerIP: "10.99.0.254", asNumber: 65001, filters: ["f"] } }],
    [
      `${R}bgpconfigurations/default`,
      {
        spec: {
          serviceClusterIPs: [{ cidr: "10.96.0.0/12" }],
          serviceLoadBalancerIPs: [{ cidr: "192.0.2.0/24" }],
          prefixAdvertisements: [{ cidr: "10.0.0.0/8", communities: ["65000:1"] }],
        },
      },
    ],
    [`${R}bgpconfigurations/node.h1`, { spec: { prefixAdvertisements: [{ cidr: "192.0.2.0/24", communities: ["65000:2"] }] } }],
  ];
  const replay = (seq: [string, unknown][]) => {
    const s = emptyHostState();
    for (const [k, v] of seq) put(s, k, v);
    return computeHostDesired(s, "h1");
  };
  const want = replay(steps);
  assert.deepEqual(
    want.originated,
    [{ prefix: "10.65.0.0/26" }, { prefix: "10.65.1.7/32" }, { prefix: "192.0.2.10/32", communities: ["65000:2"] }, { prefix: "10.96.0.0/12" }],
    "the node's own prefixAdvertisements replace the default's",
  );
  assert.equal(want.peers[0]!.maxPrefixes, 10);
  assert.deepEqual(replay([...steps].reverse()), want);
  const undo = steps.map(([k]) => [k, undefined] as [string, unknown]);
  assert.deepEqual(replay([...steps, ...undo, ...steps]), want);
  assert.deepEqual(replay([...steps, ...undo]), { localRoutes: [], originated: [], peers: [], refusedPeers: [], interfaces: [] });
});
