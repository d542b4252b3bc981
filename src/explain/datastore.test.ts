import { test } from "node:test";
import assert from "node:assert/strict";
import { bgpPeersByIp, originOf } from "./datastore.js";
import type { Place } from "./walk.js";
import type { BGPPeer } from "../model/index.js";

const places: Place[] = [
  { kind: "host", name: "h1", addrs: ["192.168.1.1"], agent: true },
  { kind: "host", name: "h2", addrs: ["192.168.2.1"], agent: true },
  { kind: "workload", name: "ns/w", host: "h2", addrs: ["10.0.2.5"] },
  { kind: "workload", name: "ns/orphan", host: "gone", addrs: ["10.0.9.5"] },
];
const blocks = [
  { cidr: "10.0.9.0/26", affinity: "host:h1", allocated: 1, size: 64 },
  { cidr: "10.0.8.0/26", affinity: "host:nobody", allocated: 1, size: 64 },
  { cidr: "10.0.7.0/26", allocated: 1, size: 64 },
];

test("origin of an address: a workload's node, then a Node holding it, then its IPAM block's affinity", () => {
  assert.deepEqual(originOf(places, blocks, "10.0.2.5"), { place: places[1], why: "the node of ns/w, which holds 10.0.2.5" });
  assert.deepEqual(originOf(places, blocks, "192.168.1.1"), { place: places[0], why: "the Node that holds 192.168.1.1" });
  // a workload whose node is no Node: the block's affinity decides
  assert.deepEqual(originOf(places, blocks, "10.0.9.5"), { place: places[0], why: "affine to IPAM block 10.0.9.0/26, which holds 10.0.9.5" });
  assert.equal(originOf(places, blocks, "10.0.8.1"), undefined, "affine to a host that is no Node");
  assert.equal(originOf(places, blocks, "10.0.7.1"), undefined, "a block without affinity");
  assert.equal(originOf(places, blocks, "172.16.0.1"), undefined);
});

test("BGPPeers by peer IP: ports and IPv6 spellings canonical, peers by selector left out", () => {
  const peer = (name: string, spec: BGPPeer["spec"]) => ({ apiVersion: "projectcalico.org/v3", kind: "BGPPeer", metadata: { name }, spec }) as BGPPeer;
  const m = bgpPeersByIp([
    peer("tor-a", { peerIP: "172.16.0.1:1179", asNumber: 65001 }),
    peer("tor6", { peerIP: "[2001:DB8:0::1]:179", asNumber: 65002 }),
    peer("mesh", { peerSelector: "all()" }),
  ]);
  assert.deepEqual(
    [...m],
    [
      ["172.16.0.1", { name: "tor-a", asNumber: 65001 }],
      ["2001:db8::1", { name: "tor6", asNumber: 65002 }],
    ],
  );
});
