import { test } from "node:test";
import assert from "node:assert/strict";
import { applyKeyUpdate, emptyHostState, type HostState } from "./host-state.js";
import { computePeerPlan, routerIdOf, speakerIdentity, speakerLogSeverity, type SecretLookup } from "./bgp-peers.js";
import { computeHostDesired } from "./host-desired.js";
import { durationSeconds, splitPeerIP } from "./bgp-resources.js";

const R = "/calico/resources/v3/projectcalico.org/";
type Step = [string, string | undefined];

const node = (name: string, bgp: Record<string, unknown>, labels: Record<string, string> = {}): Step => [
  `${R}nodes/${name}`,
  JSON.stringify({ kind: "Node", metadata: { name, labels }, spec: { bgp } }),
];
const peer = (name: string, spec: Record<string, unknown>): Step => [`${R}bgppeers/${name}`, JSON.stringify({ kind: "BGPPeer", metadata: { name }, spec })];
const conf = (name: string, spec: Record<string, unknown>): Step => [
  `${R}bgpconfigurations/${name}`,
  JSON.stringify({ kind: "BGPConfiguration", metadata: { name }, spec }),
];

function replay(seq: Step[]): HostState {
  const s = emptyHostState();
  for (const [k, v] of seq) applyKeyUpdate(s, k, v);
  return s;
}

/** Two racks of two hosts; rack labels on the Nodes. */
const fabric: Step[] = [
  node("a1", { ipv4Address: "10.0.1.1/31", ipv6Address: "fd00:1::1/127" }, { rack: "a" }),
  node("a2", { ipv4Address: "10.0.1.3/31" }, { rack: "a" }),
  node("b1", { ipv4Address: "10.0.2.1/31" }, { rack: "b" }),
  node("b2", { ipv4Address: "10.0.2.3/31" }, { rack: "b" }),
  conf("default", { nodeToNodeMeshEnabled: false, asNumber: 65001 }),
];
const addrs = (s: HostState, me: string, secrets?: SecretLookup) => computePeerPlan(s, me, secrets).peers.map((p) => p.address);

test("nodeSelector: the peering reaches only the nodes it selects; node names one; neither is every node", () => {
  const s = replay([...fabric, peer("tor-a", { nodeSelector: "rack == 'a'", peerIP: "10.0.1.0", asNumber: 65000 })]);
  assert.deepEqual(addrs(s, "a1"), ["10.0.1.0"]);
  assert.deepEqual(addrs(s, "a2"), ["10.0.1.0"]);
  assert.deepEqual(addrs(s, "b1"), [], "a peer meant for rack a is not configured in rack b");
  assert.equal(computePeerPlan(s, "a1").peers[0]!.type, "node-specific");
  // a label change moves the peering
  applyKeyUpdate(s, ...node("b1", { ipv4Address: "10.0.2.1/31" }, { rack: "a" }));
  assert.deepEqual(addrs(s, "b1"), ["10.0.1.0"]);
  applyKeyUpdate(s, ...peer("tor-a", { node: "a2", peerIP: "10.0.1.2", asNumber: 65000 }));
  assert.deepEqual([addrs(s, "a1"), addrs(s, "a2"), addrs(s, "b1")], [[], ["10.0.1.2"], []]);
  applyKeyUpdate(s, ...peer("tor-a", { peerIP: "192.0.2.1:1179", asNumber: 65000 }));
  for (const n of ["a1", "a2", "b1", "b2"]) assert.deepEqual(addrs(s, n), ["192.0.2.1"]);
  const g = computePeerPlan(s, "a1").peers[0]!;
  assert.deepEqual([g.type, g.port, g.localAddress, g.passive, g.name], ["global", 1179, "10.0.1.1", false, "tor-a"]);
});

test("peerSelector: peering with the selected tabby nodes at their addresses and AS; they peer back unless reversePeering is Manual", () => {
  const s = replay([
    ...fabric,
    node("b2", { ipv4Address: "10.0.2.3/31", asNumber: 65102 }, { rack: "b", spine: "yes" }),
    peer("to-spine", { nodeSelector: "rack == 'a'", peerSelector: "spine == 'yes'", keepaliveTime: "10s", numAllowedLocalASNumbers: 1 }),
  ]);
  const a1 = computePeerPlan(s, "a1").peers;
  assert.deepEqual(
    a1.map((p) => [p.address, p.asNumber, p.type, p.passive, p.keepaliveTime, p.allowOwnAs, p.expectedRouterId]),
    [["10.0.2.3", 65102, "node-peer", true, 10, 1, "10.0.2.3"]],
  );
  assert.deepEqual(addrs(s, "b2"), ["10.0.1.1", "10.0.1.3"], "the selected node peers back with every node the BGPPeer applies to");
  assert.equal(computePeerPlan(s, "b2").peers[0]!.asNumber, 65001, "a Node without asNumber: the global AS");
  assert.equal(computePeerPlan(s, "b2").peers[0]!.passive, false, "the higher address connects");
  assert.deepEqual(addrs(s, "b1"), []);
  applyKeyUpdate(s, ...peer("to-spine", { nodeSelector: "rack == 'a'", peerSelector: "spine == 'yes'", reversePeering: "Manual" }));
  assert.deepEqual(addrs(s, "b2"), []);
  assert.deepEqual(addrs(s, "a1"), ["10.0.2.3"]);
});

test("route reflector nodes: no mesh with them; same-AS peers with no or another cluster id are their clients", () => {
  const s = replay([
    node("a1", { ipv4Address: "10.0.0.1/24" }, { rack: "a" }),
    node("a2", { ipv4Address: "10.0.0.2/24" }, { rack: "a" }),
    node("rr1", { ipv4Address: "10.0.0.10/24", routeReflectorClusterID: "224.0.0.1" }, { rr: "" }),
    node("rr2", { ipv4Address: "10.0.0.11/24", routeReflectorClusterID: "224.0.0.1" }, { rr: "" }),
    node("x", { ipv4Address: "10.0.0.20/24", asNumber: 65009 }),
    peer("z-rr", { nodeSelector: "all()", peerSelector: "has(rr)" }),
  ]);
  // mesh on (default): the clients mesh among themselves, never with an RR
  assert.deepEqual(
    computePeerPlan(s, "a1").peers.map((p) => [p.address, p.type]),
    [
      ["10.0.0.2", "mesh"],
      ["10.0.0.20", "mesh"],
      ["10.0.0.10", "node-peer"],
      ["10.0.0.11", "node-peer"],
    ],
  );
  const rr1 = computePeerPlan(s, "rr1").peers;
  assert.deepEqual(
    rr1.map((p) => [p.address, !!p.routeReflectorClient]),
    [
      ["10.0.0.1", true],
      ["10.0.0.2", true],
      ["10.0.0.11", false],
      ["10.0.0.20", false],
    ],
    "same cluster id: not a client; an eBGP peer is never a client",
  );
  assert.ok(
    computePeerPlan(s, "a1").peers.every((p) => !p.routeReflectorClient),
    "a node without a cluster id reflects nothing",
  );
  assert.equal(speakerIdentity(s, "rr1")!.clusterId, "224.0.0.1");
  assert.equal(speakerIdentity(s, "a1")!.clusterId, undefined);
  applyKeyUpdate(s, ...node("rr2", { ipv4Address: "10.0.0.11/24", routeReflectorClusterID: "224.0.0.2" }, { rr: "" }));
  assert.equal(computePeerPlan(s, "rr1").peers.find((p) => p.address === "10.0.0.11")!.routeReflectorClient, true, "another cluster id: a client");
});

test("per-node BGPConfiguration: this node's listen port and bind mode; mesh sessions use the other node's port", () => {
  const s = replay([
    node("h1", { ipv4Address: "10.0.0.1/24" }),
    node("h2", { ipv4Address: "10.0.0.2/24" }),
    conf("default", { listenPort: 1179, nodeMeshMaxRestartTime: "60s" }),
    conf("node.h2", { listenPort: 2179, bindMode: "None" }),
  ]);
  assert.deepEqual(
    computePeerPlan(s, "h1").peers.map((p) => [p.address, p.port, p.gracefulRestartTime]),
    [["10.0.0.2", 2179, 60]],
  );
  assert.deepEqual(
    computePeerPlan(s, "h2").peers.map((p) => [p.address, p.port]),
    [["10.0.0.1", 1179]],
  );
  assert.deepEqual(speakerIdentity(s, "h1"), { routerId: "10.0.0.1", asNumber: 64512, listenPort: 1179, listenAddress: "10.0.0.1" });
  assert.deepEqual(speakerIdentity(s, "h2"), { routerId: "10.0.0.2", asNumber: 64512, listenPort: 2179 });
  assert.equal(speakerLogSeverity(s, "h2"), "Info");
  applyKeyUpdate(s, ...conf("node.h2", { logSeverityScreen: "Warning" }));
  assert.equal(speakerLogSeverity(s, "h2"), "Warning");
  applyKeyUpdate(s, `${R}bgpconfigurations/node.h2`, undefined);
  assert.equal(computePeerPlan(s, "h1").peers[0]!.port, 1179);
});

test("IPv6: an IPv6 peerIP binds the node's IPv6 address; IPv6-only nodes mesh over IPv6 with a router id from their name", () => {
  const s = replay([
    node("d1", { ipv4Address: "10.0.0.1/24", ipv6Address: "fd00::1/64" }),
    node("v6a", { ipv6Address: "fd00::a/64" }),
    node("v6b", { ipv6Address: "fd00::b/64" }),
    node("v4", { ipv4Address: "10.0.0.4/24" }),
    peer("tor6", { nodeSelector: "all()", peerIP: "[fd00::fe]:1179", asNumber: 65000 }),
  ]);
  const d1 = computePeerPlan(s, "d1");
  assert.deepEqual(
    d1.peers.map((p) => [p.address, p.localAddress, p.type]),
    [
      ["10.0.0.4", "10.0.0.1", "mesh"],
      ["fd00::a", "fd00::1", "mesh"],
      ["fd00::b", "fd00::1", "mesh"],
      ["fd00::fe", "fd00::1", "node-specific"],
    ],
  );
  const v6a = computePeerPlan(s, "v6a");
  assert.deepEqual(
    v6a.peers.map((p) => [p.address, p.passive, p.expectedRouterId]),
    [
      ["fd00::1", false, "10.0.0.1"],
      ["fd00::b", true, routerIdOf({ name: "v6b" })],
      ["fd00::fe", false, undefined],
    ],
  );
  assert.match(v6a.refused[0]!.reason, /v4 has no address of a family this node has/);
  const id = speakerIdentity(s, "v6a")!;
  assert.equal(id.routerId, routerIdOf({ name: "v6a" }));
  assert.match(id.routerId, /^\d+\.\d+\.\d+\.\d+$/);
  assert.notEqual(id.routerId.split(".")[0], "0");
  assert.equal(id.listenAddress, "fd00::a");
  // an IPv6 peer for a node without IPv6, bound to the node's address: refused, not bound elsewhere
  const v4 = computePeerPlan(s, "v4");
  assert.deepEqual(
    v4.refused.map((r) => [r.source, r.reason]).filter(([src]) => src === "tor6"),
    [["tor6", "sourceAddress UseNodeIP: this node has no IPv6 address"]],
  );
  applyKeyUpdate(s, ...peer("tor6", { nodeSelector: "all()", peerIP: "fd00::fe", asNumber: 65000, sourceAddress: "None" }));
  assert.deepEqual(
    computePeerPlan(s, "v4")
      .peers.filter((p) => p.name === "tor6")
      .map((p) => [p.address, p.localAddress]),
    [["fd00::fe", undefined]],
  );
});

test("passwords: read through the injected lookup; an unreadable secret refuses the session instead of opening it without", () => {
  const secrets: SecretLookup = (ref) => (ref.name === "bgp" && ref.key === "tor" ? { value: "s3cret" } : { error: `no file secrets/${ref.name}/${ref.key}` });
  const s = replay([
    ...fabric,
    peer("tor-a", { nodeSelector: "rack == 'a'", peerIP: "10.0.1.0", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "tor" } } }),
    peer("tor-b", { nodeSelector: "rack == 'b'", peerIP: "10.0.2.0", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "missing" } } }),
  ]);
  assert.equal(computePeerPlan(s, "a1", secrets).peers[0]!.password, "s3cret");
  const b1 = computePeerPlan(s, "b1", secrets);
  assert.deepEqual(b1.peers, []);
  assert.deepEqual(b1.refused, [{ source: "tor-b", address: "10.0.2.0", reason: "password: no file secrets/bgp/missing" }]);
  assert.match(computePeerPlan(s, "a1").refused[0]!.reason, /no secret source configured/, "no lookup: refused too");
  // the mesh password
  applyKeyUpdate(s, ...conf("default", { asNumber: 65001, nodeMeshPassword: { secretKeyRef: { name: "bgp", key: "tor" } } }));
  assert.deepEqual(
    computePeerPlan(s, "b1", secrets)
      .peers.filter((p) => p.type === "mesh")
      .map((p) => p.password),
    ["s3cret", "s3cret", "s3cret"],
  );
});

test("BGPPeer options reach the session; reachableBy is a host route to the peer; an invalid BGPPeer is refused where it applies", () => {
  const s = replay([
    ...fabric,
    peer("far", {
      nodeSelector: "rack == 'a'",
      peerIP: "192.0.2.9",
      asNumber: 65000,
      reachableBy: "10.0.1.0",
      maxRestartTime: "300s",
      ttlSecurity: 2,
      nextHopMode: "Self",
      filters: ["f1", "f2"],
    }),
    peer("bfd", { nodeSelector: "rack == 'b'", peerIP: "192.0.2.8", asNumber: 65000, failureDetectionMode: "BFDIfDirectlyConnected" }),
  ]);
  const d = computeHostDesired(s, "a1");
  const p = d.peers[0]!;
  assert.deepEqual([p.gracefulRestartTime, p.ttlSecurity, p.nextHopSelf, p.filters], [300, 2, true, ["f1", "f2"]]);
  assert.deepEqual(d.localRoutes, [{ dst: "192.0.2.9/32", type: "unicast", via: ["10.0.1.0"] }]);
  assert.equal(p.bfdIfDirectlyConnected, undefined);
  assert.deepEqual(computeHostDesired(s, "b1").localRoutes, []);
  const b1 = computeHostDesired(s, "b1");
  assert.deepEqual(
    b1.peers.map((x) => [x.address, x.bfdIfDirectlyConnected]),
    [["192.0.2.8", true]],
  );
  assert.deepEqual(b1.refusedPeers, []);
  assert.deepEqual(computeHostDesired(s, "a1").refusedPeers, [], "refused only where it applies");
});

test("state sequence: BGPPeers and configurations in any order give the same peers; deletes undo", () => {
  const steps: Step[] = [
    ...fabric,
    peer("tor-a", { nodeSelector: "rack == 'a'", peerIP: "10.0.1.0", asNumber: 65000 }),
    peer("to-b", { nodeSelector: "rack == 'a'", peerSelector: "rack == 'b'" }),
    conf("node.a1", { listenPort: 1179 }),
  ];
  const want = computePeerPlan(replay(steps), "b1");
  assert.deepEqual(
    want.peers.map((p) => [p.address, p.port]),
    [
      ["10.0.1.1", 1179],
      ["10.0.1.3", undefined],
    ],
  );
  assert.deepEqual(computePeerPlan(replay([...steps].reverse()), "b1"), want);
  const churn: Step[] = [...steps, ...steps.map(([k]) => [k, undefined] as Step), ...steps];
  assert.deepEqual(computePeerPlan(replay(churn), "b1"), want);
  assert.deepEqual(computePeerPlan(replay([...steps, ...steps.map(([k]) => [k, undefined] as Step)]), "b1").peers, []);
});

test("node and nodeSelector together (written by another tool) are refused, not half applied", () => {
  const s = replay([...fabric, peer("both", { node: "a1", nodeSelector: "rack == 'b'", peerIP: "10.0.9.9", asNumber: 65000 })]);
  for (const n of ["a1", "b1"]) {
    const plan = computePeerPlan(s, n);
    assert.deepEqual(plan.peers, []);
    assert.match(plan.refused[0]!.reason, /spec.node must be empty when nodeSelector is set/);
  }
});

test("property: durations and peerIP forms parse back to what was written", () => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 0; i < 500; i++) {
    const [h, m, sec, ms] = [rnd(3), rnd(60), rnd(60), rnd(1000)];
    const parts = [h ? `${h}h` : "", m ? `${m}m` : "", sec ? `${sec}s` : "", ms ? `${ms}ms` : ""].join("");
    const text = parts || "0";
    assert.equal(durationSeconds(text), Math.round(h * 3600 + m * 60 + sec + ms / 1000), text);
    const v4 = `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
    const v6 = `fd${rnd(100)}::${rnd(0xffff).toString(16)}`;
    const port = 1 + rnd(65535);
    assert.deepEqual(splitPeerIP(v4), { address: v4 });
    assert.deepEqual(splitPeerIP(`${v4}:${port}`), { address: v4, port });
    assert.deepEqual(splitPeerIP(v6), { address: v6 });
    assert.deepEqual(splitPeerIP(`[${v6}]:${port}`), { address: v6, port });
  }
  for (const bad of ["", "1x", "s", "5s3", "-1s", "1.5.2s"]) assert.equal(durationSeconds(bad), undefined, bad);
});

const confAnn = (name: string, spec: Record<string, unknown>, annotations: Record<string, string>): Step => [
  `${R}bgpconfigurations/${name}`,
  JSON.stringify({ kind: "BGPConfiguration", metadata: { name, annotations }, spec }),
];
const ttls = (s: HostState, me: string) => computePeerPlan(s, me).peers.map((p) => [p.address, p.ttlSecurity]);

test("GTSM default: mesh sessions between nodes on a shared subnet get ttlSecurity 1; /32, other subnets and mismatched lengths do not", () => {
  const s = replay([
    node("a", { ipv4Address: "10.99.0.11/24", ipv6Address: "fd99::b/64" }),
    node("b", { ipv4Address: "10.99.0.12/24" }),
    node("c", { ipv4Address: "10.98.0.13/24" }), // another subnet: routers in between
    node("d", { ipv4Address: "10.99.0.14/32" }), // a /32 says nothing about the link
    node("e", { ipv4Address: "10.99.0.15/16" }), // e's /16 holds a, but a's /24 holds e too: both agree
    node("f", { ipv4Address: "10.99.1.16/16" }), // f's /16 holds a, a's /24 does not hold f: neither end turns it on
  ]);
  assert.deepEqual(ttls(s, "a"), [
    ["10.99.0.12", 1],
    ["10.98.0.13", undefined],
    ["10.99.0.14", undefined],
    ["10.99.0.15", 1],
    ["10.99.1.16", undefined],
  ]);
  // each end computes the same answer
  for (const other of ["b", "c", "d", "e", "f"]) {
    const mine = computePeerPlan(s, "a").peers.find((p) => p.name === "node-mesh" && p.address === s.nodes.get(other)!.ipv4)!.ttlSecurity;
    const theirs = computePeerPlan(s, other).peers.find((p) => p.address === "10.99.0.11")!.ttlSecurity;
    assert.equal(theirs, mine, `a and ${other} agree`);
  }
  // an address change moves a node off the subnet and GTSM goes with it
  applyKeyUpdate(s, ...node("b", { ipv4Address: "10.99.0.12/32" }));
  assert.equal(computePeerPlan(s, "a").peers.find((p) => p.address === "10.99.0.12")!.ttlSecurity, undefined);
});

test("GTSM default over IPv6: IPv6-only nodes on one /64 get it, on /128 addresses not", () => {
  const s = replay([node("v6a", { ipv6Address: "fd99::a/64" }), node("v6b", { ipv6Address: "fd99::b/64" }), node("v6c", { ipv6Address: "fd99::c/128" })]);
  assert.deepEqual(ttls(s, "v6a"), [
    ["fd99::b", 1],
    ["fd99::c", undefined],
  ]);
});

test("GTSM knob: tabby.dev/mesh-ttl-security off on default turns the default off; an unknown value or a per-node one is refused and GTSM stays on", () => {
  const nodes = [node("a", { ipv4Address: "10.99.0.11/24" }), node("b", { ipv4Address: "10.99.0.12/24" })];
  const off = replay([...nodes, confAnn("default", {}, { "tabby.dev/mesh-ttl-security": "off" })]);
  assert.deepEqual(ttls(off, "a"), [["10.99.0.12", undefined]]);
  assert.deepEqual(computePeerPlan(off, "a").refused, []);
  const on = replay([...nodes, confAnn("default", {}, { "tabby.dev/mesh-ttl-security": "on" })]);
  assert.deepEqual(ttls(on, "a"), [["10.99.0.12", 1]]);
  for (const bad of ["Off", "false", "0", ""]) {
    const s = replay([...nodes, confAnn("default", {}, { "tabby.dev/mesh-ttl-security": bad })]);
    assert.deepEqual(ttls(s, "a"), [["10.99.0.12", 1]], `${JSON.stringify(bad)} never turns GTSM off`);
    const r = computePeerPlan(s, "a").refused;
    assert.equal(r.length, 1);
    assert.match(r[0]!.reason, /mesh-ttl-security.*must be "on" or "off"/);
  }
  const perNode = replay([...nodes, confAnn("node.a", {}, { "tabby.dev/mesh-ttl-security": "off" })]);
  assert.deepEqual(ttls(perNode, "a"), [["10.99.0.12", 1]], "a per-node knob would leave the two ends disagreeing");
  assert.match(computePeerPlan(perNode, "a").refused[0]!.reason, /cluster-wide BGPConfiguration "default"/);
  // state sequence: off, then the annotation removed: back on
  applyKeyUpdate(off, ...conf("default", {}));
  assert.deepEqual(ttls(off, "a"), [["10.99.0.12", 1]]);
});

test("GTSM with BGPPeers: peerSelector sessions take the default, an explicit ttlSecurity wins (0 is off), external peerIP peers get none", () => {
  const nodes = [
    node("a", { ipv4Address: "10.99.0.11/24" }, { role: "client" }),
    node("rr", { ipv4Address: "10.99.0.10/24", routeReflectorClusterID: "224.0.0.1" }, { rr: "" }),
    conf("default", { nodeToNodeMeshEnabled: false }),
  ];
  const s = replay([...nodes, peer("z-rr", { nodeSelector: "!has(rr)", peerSelector: "has(rr)" }), peer("tor", { peerIP: "10.99.0.1", asNumber: 65000 })]);
  assert.deepEqual(
    ttls(s, "a"),
    [
      ["10.99.0.1", undefined],
      ["10.99.0.10", 1],
    ],
    "the ToR is not a tabby node: no default",
  );
  assert.deepEqual(
    ttls(s, "rr"),
    [
      ["10.99.0.1", undefined],
      ["10.99.0.11", 1],
    ],
    "the reflector agrees",
  );
  applyKeyUpdate(s, ...peer("z-rr", { nodeSelector: "!has(rr)", peerSelector: "has(rr)", ttlSecurity: 0 }));
  assert.deepEqual(
    ttls(s, "a"),
    [
      ["10.99.0.1", undefined],
      ["10.99.0.10", undefined],
    ],
    "ttlSecurity: 0 is off on both ends",
  );
  assert.deepEqual(ttls(s, "rr"), [
    ["10.99.0.1", undefined],
    ["10.99.0.11", undefined],
  ]);
  applyKeyUpdate(s, ...peer("z-rr", { nodeSelector: "!has(rr)", peerSelector: "has(rr)", ttlSecurity: 2 }));
  assert.deepEqual(ttls(s, "a"), [
    ["10.99.0.1", undefined],
    ["10.99.0.10", 2],
  ]);
  applyKeyUpdate(s, ...peer("tor", { peerIP: "10.99.0.1", asNumber: 65000, ttlSecurity: 1 }));
  assert.deepEqual(ttls(s, "a")[0], ["10.99.0.1", 1], "an external peer gets GTSM when its BGPPeer asks");
  // a peerIP that is another node's address: that node computes the same default for us
  const t = replay([
    ...nodes,
    peer("direct", { node: "a", peerIP: "10.99.0.10", asNumber: 64512 }),
    peer("back", { node: "rr", peerIP: "10.99.0.11", asNumber: 64512 }),
  ]);
  assert.deepEqual(ttls(t, "a"), [["10.99.0.10", 1]]);
  assert.deepEqual(ttls(t, "rr"), [["10.99.0.11", 1]]);
  // the knob covers every node-to-node default, not an explicit BGPPeer value
  applyKeyUpdate(s, ...confAnn("default", { nodeToNodeMeshEnabled: false }, { "tabby.dev/mesh-ttl-security": "off" }));
  assert.deepEqual(ttls(s, "a"), [
    ["10.99.0.1", 1],
    ["10.99.0.10", 2],
  ]);
  applyKeyUpdate(s, ...peer("z-rr", { nodeSelector: "!has(rr)", peerSelector: "has(rr)" }));
  assert.deepEqual(ttls(s, "a"), [
    ["10.99.0.1", 1],
    ["10.99.0.10", undefined],
  ]);
});

test("ttlSecurity 255 (it would accept TTL 1, any sender) is refused, not passed to the session", () => {
  const s = replay([node("a", { ipv4Address: "10.99.0.11/24" }), peer("tor", { peerIP: "10.99.0.1", asNumber: 65000, ttlSecurity: 255 })]);
  assert.deepEqual(addrs(s, "a"), []);
  assert.match(computePeerPlan(s, "a").refused[0]!.reason, /ttlSecurity/);
});
