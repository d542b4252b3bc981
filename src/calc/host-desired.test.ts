import { test } from "node:test";
import assert from "node:assert/strict";
import { applyKeyUpdate, emptyHostState, type HostState } from "./host-state.js";
import { computeHostDesired, mergeKernelRoutes } from "./host-desired.js";

const R = "/calico/resources/v3/projectcalico.org/";
const node = (name: string, v4: string, v6?: string) =>
  JSON.stringify({ kind: "Node", metadata: { name }, spec: { bgp: { ipv4Address: `${v4}/24`, ...(v6 ? { ipv6Address: `${v6}/64` } : {}) } } });
const wep = (nodeName: string, iface: string, nets: string[]) =>
  JSON.stringify({ kind: "WorkloadEndpoint", spec: { node: nodeName, interfaceName: iface, ipNetworks: nets } });
const confirmed = JSON.stringify({ state: "confirmed", deleted: false });

/** A datastore sequence: [key, value | undefined]. */
type Step = [string, string | undefined];

const steps: Step[] = [
  [`${R}ippools/default-ipv4-ippool`, JSON.stringify({ kind: "IPPool", spec: { cidr: "10.65.0.0/16" } })],
  [`${R}nodes/h1`, node("h1", "10.99.0.11", "fd99::11")],
  [`${R}nodes/h2`, node("h2", "10.99.0.12", "fd99::12")],
  [`${R}nodes/h3`, node("h3", "10.99.0.13")],
  ["/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", confirmed],
  ["/calico/ipam/v2/host/h1/ipv6/block/fd65::-122", confirmed],
  ["/calico/ipam/v2/host/h2/ipv4/block/10.65.0.64-26", confirmed],
  ["/calico/ipam/v2/host/h1/ipv4/block/10.65.0.128-26", JSON.stringify({ state: "pending" })],
  [`${R}workloadendpoints/default/h1-cni-a-eth0`, wep("h1", "tab0123456789a", ["10.65.0.1/32", "fd65::1/128"])],
  // Borrowed from h2's block: advertised as a host route by h1.
  [`${R}workloadendpoints/default/h1-cni-b-eth0`, wep("h1", "tab0123456789b", ["10.65.0.70/32"])],
  [`${R}workloadendpoints/default/h2-cni-c-eth0`, wep("h2", "tabffffffffff0", ["10.65.0.65/32"])],
];

function replay(seq: Step[]): HostState {
  const s = emptyHostState();
  for (const [k, v] of seq) applyKeyUpdate(s, k, v);
  return s;
}

test("host desired state: routes, blackholes, originated blocks and borrowed host routes", () => {
  const d = computeHostDesired(replay(steps), "h1");
  assert.deepEqual(d.localRoutes, [
    { dst: "10.65.0.1/32", type: "unicast", dev: "tab0123456789a", scope: "link" },
    { dst: "fd65::1/128", type: "unicast", dev: "tab0123456789a", scope: "link" },
    { dst: "10.65.0.70/32", type: "unicast", dev: "tab0123456789b", scope: "link" },
    { dst: "10.65.0.0/26", type: "blackhole" },
    { dst: "fd65::/122", type: "blackhole" },
  ]);
  assert.deepEqual(
    d.originated.map((o) => o.prefix),
    ["10.65.0.0/26", "fd65::/122", "10.65.0.70/32"],
  );
  assert.deepEqual(d.interfaces, ["tab0123456789a", "tab0123456789b"]);
});

test("mesh: one peer per other node, the lower address passive", () => {
  const s = replay(steps);
  const h1 = computeHostDesired(s, "h1").peers;
  assert.deepEqual(
    h1.map((p) => [p.address, p.passive]),
    [
      ["10.99.0.12", true],
      ["10.99.0.13", true],
    ],
  );
  assert.equal(h1[0]!.localIPv6, "fd99::11");
  const h3 = computeHostDesired(s, "h3").peers;
  assert.deepEqual(
    h3.map((p) => [p.address, p.passive]),
    [
      ["10.99.0.11", false],
      ["10.99.0.12", false],
    ],
  );
  applyKeyUpdate(s, `${R}bgpconfigurations/default`, JSON.stringify({ spec: { nodeToNodeMeshEnabled: false, asNumber: 65001 } }));
  assert.deepEqual(computeHostDesired(s, "h1").peers, []);
  applyKeyUpdate(s, `${R}bgppeers/tor`, JSON.stringify({ spec: { peerIP: "10.99.0.254:1179", asNumber: 65000 } }));
  assert.deepEqual(
    computeHostDesired(s, "h1").peers.map((p) => [p.address, p.port, p.asNumber]),
    [["10.99.0.254", 1179, 65000]],
  );
  assert.equal(computeHostDesired(s, "h1").peers[0]!.nextHopSelf, undefined, "nextHopMode Auto: the RFC rules");
  applyKeyUpdate(s, `${R}bgppeers/tor`, JSON.stringify({ spec: { peerIP: "10.99.0.254:1179", asNumber: 65000, nextHopMode: "Self" } }));
  assert.equal(computeHostDesired(s, "h1").peers[0]!.nextHopSelf, true);
  applyKeyUpdate(s, `${R}bgppeers/tor`, JSON.stringify({ spec: { peerIP: "10.99.0.254:1179", asNumber: 65000, nextHopMode: "Keep" } }));
  assert.equal(computeHostDesired(s, "h1").peers[0]!.nextHopSelf, false);
  applyKeyUpdate(s, `${R}bgppeers/tor`, JSON.stringify({ spec: { peerIP: "10.99.0.254:1179", asNumber: 65000, keepOriginalNextHop: true } }));
  assert.equal(computeHostDesired(s, "h1").peers[0]!.nextHopSelf, false);
});

test("state sequence: any order of the same final state gives the same result; deletes undo", () => {
  const want = computeHostDesired(replay(steps), "h1");
  assert.deepEqual(computeHostDesired(replay([...steps].reverse()), "h1"), want);
  // Interleave deletions of everything and re-adds: ends equal.
  const churn: Step[] = [...steps, ...steps.map(([k]) => [k, undefined] as Step), ...steps];
  assert.deepEqual(computeHostDesired(replay(churn), "h1"), want);
  const gone = replay([...steps, ...steps.map(([k]) => [k, undefined] as Step)]);
  assert.deepEqual(computeHostDesired(gone, "h1"), { localRoutes: [], originated: [], peers: [], refusedPeers: [], interfaces: [] });
});

test("learned routes merge under local ones, ECMP next hops sorted", () => {
  const merged = mergeKernelRoutes(
    [{ dst: "10.65.0.0/26", type: "blackhole" }],
    new Map([
      ["10.65.0.0/26", ["10.99.0.12"]],
      ["10.65.0.64/26", ["10.99.0.13", "10.99.0.12"]],
      ["10.65.1.0/26", []],
    ]),
  );
  assert.deepEqual(merged, [
    { dst: "10.65.0.0/26", type: "blackhole" },
    { dst: "10.65.0.64/26", type: "unicast", via: ["10.99.0.12", "10.99.0.13"] },
  ]);
});

test("applyKeyUpdate with this node's name: another host's block asks for no pass, this host's (or one taken from it) does", () => {
  const s = emptyHostState();
  const aff = (host: string, cidr: string) => `/calico/ipam/v2/host/${host}/ipv4/block/${cidr}`;
  const conf = JSON.stringify({ state: "confirmed" });
  assert.equal(applyKeyUpdate(s, aff("h2", "10.65.1.0-26"), conf, "h1"), false, "h2's block: nothing of h1's changes");
  assert.equal(s.blockAffinity.get("10.65.1.0/26"), "h2", "but the state knows it");
  assert.equal(applyKeyUpdate(s, aff("h1", "10.65.0.0-26"), conf, "h1"), true);
  assert.deepEqual(
    computeHostDesired(s, "h1")
      .originated.map((o) => o.prefix)
      .filter((p) => p.startsWith("10.65.")),
    ["10.65.0.0/26"],
  );
  assert.equal(applyKeyUpdate(s, aff("h2", "10.65.0.0-26"), conf, "h1"), true, "h1's block now h2's: h1 stops announcing it");
  assert.deepEqual(
    computeHostDesired(s, "h1")
      .originated.map((o) => o.prefix)
      .filter((p) => p.startsWith("10.65.")),
    [],
  );
  assert.equal(applyKeyUpdate(s, aff("h2", "10.65.1.0-26"), undefined), true, "without a node name every change counts");
});
