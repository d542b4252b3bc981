/**
 * The agent's failure detection and convergence events against the FakeSpeaker: BGPPeers with
 * `failureDetectionMode: BFDIfDirectlyConnected` get the node's BFD timers when directly
 * connected and none otherwise (status says why); every FIB change and new workload route is
 * logged as a `convergence` event with the time from the event to the kernel change, from the
 * injected clock.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../datastore/memory.js";
import { Agent } from "./agent.js";
import { FakeSpeaker, eventually } from "../testkit/agent/fake-speaker.js";
import type { Clock } from "../clock.js";

const R = "/calico/resources/v3/projectcalico.org/";

test("agent: BFD for directly connected BFDIfDirectlyConnected peers only; convergence events logged per event", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const put = (k: string, v: unknown) => store.put(k, JSON.stringify(v));
  await put(`${R}bgpconfigurations/default`, { spec: { asNumber: 64512, nodeToNodeMeshEnabled: false } });
  await put(`${R}ippools/default-ipv4-ippool`, { spec: { cidr: "10.65.0.0/16" } });
  await put(`${R}bgppeers/tor`, { spec: { node: "h1", peerIP: "10.98.1.1", asNumber: 65001, failureDetectionMode: "BFDIfDirectlyConnected" } });
  await put(`${R}bgppeers/far`, { spec: { node: "h1", peerIP: "192.0.2.9", asNumber: 65002, failureDetectionMode: "BFDIfDirectlyConnected" } });
  await put(`${R}bgppeers/plain`, { spec: { node: "h1", peerIP: "10.98.1.3", asNumber: 65003 } });
  await put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", { state: "confirmed" });
  // a clock that the test moves: 5 ms per reading, so every interval is a known number of readings
  let t = 1_000_000;
  const clock: Clock = { now: () => (t += 5), setTimeout: (fn, ms) => ({ id: setTimeout(fn, ms) }), clearTimeout: (h) => clearTimeout(h.id as NodeJS.Timeout) };
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.98.1.2/31", batchDelayMs: 1, bfd: { minRx: 100, minTx: 100, multiplier: 3 } },
    {
      store,
      clock,
      routes: { reconcile: async () => undefined, connected: async () => ["10.98.1.2/31", "10.98.1.3/32"] },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
      bfdStatus: () => [{ peer: "10.98.1.3", state: "Up", detectionTimeMs: 300 }],
      log: (_l, msg, fields) => void logs.push({ msg, ...(fields ? { fields } : {}) }),
    },
  );
  try {
    await agent.start();
    await eventually(() => assert.equal(speaker!.peers.length, 3));
    const s = speaker!;
    const bfdOf = (a: string) => (s.peers.find((p) => p.address === a) as { bfd?: unknown } | undefined)?.bfd;
    assert.deepEqual(bfdOf("10.98.1.3"), undefined, "not asked for");
    assert.deepEqual(bfdOf("192.0.2.9"), undefined, "not directly connected: no BFD");
    assert.deepEqual(bfdOf("10.98.1.1"), undefined, "10.98.1.1 is not on 10.98.1.2/31");
    assert.ok(
      s.peers.every((p) => !("bfdIfDirectlyConnected" in p)),
      "the speaker gets session config only",
    );
    const st = agent.peerStatus();
    assert.match(st.find((p) => p.address === "192.0.2.9")!.bfd!, /not directly connected/);
    assert.equal(st.find((p) => p.address === "10.98.1.3")!.bfd, undefined);

    // the ToR moves onto the point-to-point link: BFD with the node's timers, its state in status
    await put(`${R}bgppeers/tor`, { spec: { node: "h1", peerIP: "10.98.1.3", asNumber: 65001, failureDetectionMode: "BFDIfDirectlyConnected" } });
    await put(`${R}bgppeers/plain`, { spec: { node: "h1", peerIP: "10.98.1.5", asNumber: 65003 } });
    await eventually(() => assert.deepEqual(bfdOf("10.98.1.3"), { minRx: 100, minTx: 100, multiplier: 3 }));
    assert.equal(agent.peerStatus().find((p) => p.address === "10.98.1.3")!.bfd, "Up (detection 300 ms)");

    // convergence: a route learned, then the peer goes down and takes it
    s.states.set("10.98.1.3", "Established");
    s.learn("10.65.1.0/26", ["10.98.1.3"]);
    await eventually(() => assert.ok(logs.some((l) => l.msg === "convergence" && l.fields!["event"] === "route-learned")));
    s.states.set("10.98.1.3", "Idle");
    s.learn("10.65.1.0/26", []);
    await eventually(() => assert.ok(logs.some((l) => l.msg === "convergence" && l.fields!["event"] === "peer-down")));
    const down = logs.find((l) => l.msg === "convergence" && l.fields!["event"] === "peer-down")!.fields!;
    assert.equal(down["peer"], "10.98.1.3");
    assert.equal(down["routes"], 1);
    assert.ok(Number.isInteger(down["ms"]) && (down["ms"] as number) > 0, "time comes from the injected clock");

    // a workload added: its route's time runs from the datastore change
    await put(`${R}workloadendpoints/default/h1-cni-x-eth0`, { spec: { node: "h1", interfaceName: "tabaaaaaaaaaaa", ipNetworks: ["10.65.0.3/32"] } });
    await eventually(() =>
      assert.ok(logs.some((l) => l.msg === "convergence" && l.fields!["event"] === "workload-added" && l.fields!["prefix"] === "10.65.0.3/32")),
    );
  } finally {
    await agent.stop();
    clearInterval(keepAlive);
  }
});

test("agent: a workload written after the first snapshot is a workload-added event even before the first pass; one in the snapshot is not", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const put = (k: string, v: unknown) => store.put(k, JSON.stringify(v));
  await put(`${R}bgpconfigurations/default`, { spec: { asNumber: 64512 } });
  await put(`${R}ippools/default-ipv4-ippool`, { spec: { cidr: "10.65.0.0/16" } });
  await put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", { state: "confirmed" });
  // present before the agent starts, as after a restart: not an event
  await put(`${R}workloadendpoints/default/h1-cni-old-eth0`, { spec: { node: "h1", interfaceName: "tabold", ipNetworks: ["10.65.0.2/32"] } });
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  // the speaker's start is held, so no routing pass runs until the new workload is in
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let created = false;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.98.1.2/31", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async () => undefined },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => {
        created = true;
        const s = new FakeSpeaker(o);
        s.start = async () => {
          await held;
          s.started = true;
        };
        return s;
      },
      log: (_l, msg, fields) => void logs.push({ msg, ...(fields ? { fields } : {}) }),
    },
  );
  try {
    const started = agent.start();
    await eventually(() => assert.ok(created, "in sync: the speaker is being started"));
    await put(`${R}workloadendpoints/default/h1-cni-new-eth0`, { spec: { node: "h1", interfaceName: "tabnew", ipNetworks: ["10.65.0.3/32"] } });
    await new Promise((r) => setTimeout(r, 20));
    release();
    await started;
    const added = () => logs.filter((l) => l.msg === "convergence" && l.fields!["event"] === "workload-added").map((l) => l.fields!["prefix"]);
    await eventually(() => assert.deepEqual(added(), ["10.65.0.3/32"]));
  } finally {
    await agent.stop();
    clearInterval(keepAlive);
  }
});
