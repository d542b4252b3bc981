/**
 * The agent's route policy end to end against the FakeSpeaker: peers get import and export
 * policy from the datastore (BGPFilter, safe defaults), a workload's service address is
 * originated and routed while the workload exists (anycast when several hosts do it), and
 * policy changes reach the speaker.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../datastore/memory.js";
import { Agent } from "./agent.js";
import { FakeSpeaker, eventually } from "../testkit/agent/fake-speaker.js";
import type { KernelRoute } from "../calc/host-desired.js";
import { compilePolicy, evaluate, type RouteSource } from "../bgp/policy.js";
import { parsePrefix } from "../net/index.js";

const R = "/calico/resources/v3/projectcalico.org/";

function exported(s: FakeSpeaker, address: string, prefix: string, source: RouteSource): boolean {
  const p = s.peers.find((x) => x.address === address)!;
  return evaluate(compilePolicy(p.export, p.asNumber === s.opts.asNumber), parsePrefix(prefix), [], [], source) !== undefined;
}
function imported(s: FakeSpeaker, address: string, prefix: string): boolean {
  const p = s.peers.find((x) => x.address === address)!;
  const ibgp = p.asNumber === s.opts.asNumber;
  return evaluate(compilePolicy(p.import, ibgp), parsePrefix(prefix), [], [], ibgp ? "ibgp" : "ebgp") !== undefined;
}

test("agent: two ToRs get only this host's routes, a BGPFilter shapes import, a service address follows its workload", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const put = (k: string, v: unknown) => store.put(k, JSON.stringify(v));
  await put(`${R}bgpconfigurations/default`, { spec: { asNumber: 64512, nodeToNodeMeshEnabled: false, serviceLoadBalancerIPs: [{ cidr: "192.0.2.0/24" }] } });
  await put(`${R}ippools/default-ipv4-ippool`, { spec: { cidr: "10.65.0.0/16" } });
  await put(`${R}BGPFilters/no-test-nets`, { spec: { importV4: [{ action: "Reject", matchOperator: "In", cidr: "203.0.113.0/24" }] } });
  await put(`${R}bgppeers/tor-a`, { spec: { node: "h1", peerIP: "10.99.1.1", asNumber: 65001, filters: ["no-test-nets"] } });
  await put(`${R}bgppeers/tor-b`, { spec: { node: "h1", peerIP: "10.99.2.1", asNumber: 65002 } });
  await put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", { state: "confirmed" });
  let routes: KernelRoute[] = [];
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async (r) => void (routes = r) },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
    },
  );
  try {
    await agent.start();
    await eventually(() =>
      assert.deepEqual(
        speaker!.peers.map((p) => p.address),
        ["10.99.1.1", "10.99.2.1"],
      ),
    );
    const s = speaker!;
    for (const tor of ["10.99.1.1", "10.99.2.1"]) {
      assert.equal(exported(s, tor, "10.65.0.0/26", "local"), true, `own block to ${tor}`);
      assert.equal(exported(s, tor, "198.18.0.0/24", "ebgp"), false, `no transit to ${tor}`);
      assert.equal(exported(s, tor, "10.65.0.64/26", "ibgp"), false, `other nodes' routes stay off ${tor}`);
      assert.equal(imported(s, tor, "10.65.0.0/26"), false, `our block is not taken from ${tor}`);
      assert.ok(s.peers.find((p) => p.address === tor)!.maxPrefixes! > 0);
    }
    assert.equal(imported(s, "10.99.1.1", "203.0.113.0/25"), false, "tor-a's filter rejects it");
    assert.equal(imported(s, "10.99.2.1", "203.0.113.0/25"), true, "tor-b has no filter");

    // a workload with a pool address and a LoadBalancer address: both routed, both originated
    await put(`${R}workloadendpoints/default/h1-cni-x-eth0`, {
      spec: { node: "h1", interfaceName: "tabaaaaaaaaaaa", ipNetworks: ["10.65.0.3/32", "192.0.2.10/32"] },
    });
    await eventually(() =>
      assert.deepEqual(
        s.originated.map((o) => o.prefix),
        ["10.65.0.0/26", "192.0.2.10/32"],
      ),
    );
    await eventually(() => assert.ok(routes.some((r) => r.dst === "192.0.2.10/32" && r.dev === "tabaaaaaaaaaaa")));
    // another host serving the same address announces it too: the kernel keeps the local route
    s.learn("192.0.2.10/32", ["10.99.1.1"]);
    s.learn("10.65.0.64/26", ["10.99.1.1", "10.99.2.1"]);
    await eventually(() => assert.ok(routes.some((r) => r.dst === "10.65.0.64/26")));
    assert.deepEqual(
      routes.filter((r) => r.dst === "192.0.2.10/32"),
      [{ dst: "192.0.2.10/32", type: "unicast", dev: "tabaaaaaaaaaaa", scope: "link" }],
    );

    // the workload goes: no route, no origination; the learned anycast route takes over
    await store.delete(`${R}workloadendpoints/default/h1-cni-x-eth0`);
    await eventually(() =>
      assert.deepEqual(
        s.originated.map((o) => o.prefix),
        ["10.65.0.0/26"],
      ),
    );
    await eventually(() =>
      assert.deepEqual(
        routes.filter((r) => r.dst === "192.0.2.10/32"),
        [{ dst: "192.0.2.10/32", type: "unicast", via: ["10.99.1.1"] }],
      ),
    );

    // the filter changes: the peer's import policy follows
    await put(`${R}BGPFilters/no-test-nets`, { spec: { importV4: [{ action: "Reject", matchOperator: "In", cidr: "198.51.100.0/24" }] } });
    await eventually(() => assert.equal(imported(s, "10.99.1.1", "203.0.113.0/25"), true));
    assert.equal(imported(s, "10.99.1.1", "198.51.100.0/25"), false);
  } finally {
    await agent.stop();
    clearInterval(keepAlive);
  }
});
