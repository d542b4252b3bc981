// The agent's health inputs (src/health/checks.ts judges them) and its event hooks, over a life:
// before sync, programmed, a peer up, a failing programming pass, back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../datastore/memory.js";
import { Agent, type AgentHealthInputs } from "./agent.js";
import { FakeSpeaker, eventually } from "../testkit/agent/fake-speaker.js";

test("agent health inputs and events: sync, programming, peers, errors", async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}nodes/h2`, JSON.stringify({ spec: { bgp: { ipv4Address: "10.99.0.12/24" } } }));
  let speaker: FakeSpeaker | undefined;
  let failRoutes = false;
  const passes: string[] = [];
  let updates = 0;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1 },
    {
      store,
      routes: {
        reconcile: async () => {
          if (failRoutes) throw new Error("netlink said no");
        },
      },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
      events: {
        datastoreUpdates: (u) => void (updates += u.length),
        programmed: (seconds, err) => void passes.push(`${seconds >= 0 ? "ok" : "?"}${err ? " failed" : ""}`),
      },
    },
  );
  const pick = (h: AgentHealthInputs) => ({
    sync: h.sync,
    programmed: h.programmed,
    peers: `${h.peersEstablished}/${h.peersConfigured}`,
    errors: Object.keys(h.lastErrors),
  });
  assert.deepEqual(pick(agent.healthInputs()), { sync: "wait-for-datastore", programmed: false, peers: "0/0", errors: [] });
  await agent.start();
  await eventually(() => assert.deepEqual(pick(agent.healthInputs()), { sync: "in-sync", programmed: true, peers: "0/1", errors: [] }));
  assert.ok(updates >= 2, "the first list is delivered through the hook");
  speaker!.states.set("10.99.0.12", "Established");
  assert.equal(agent.healthInputs().peersEstablished, 1);
  failRoutes = true;
  await store.put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", JSON.stringify({ state: "confirmed" }));
  await eventually(() => assert.equal(agent.healthInputs().programmed, false));
  assert.match(agent.healthInputs().lastErrors.dataplane!.message, /netlink said no/);
  assert.ok(passes.includes("ok failed"));
  failRoutes = false;
  await eventually(() => assert.equal(agent.healthInputs().programmed, true), 3000);
  agent.noteError("datastore", "invalid BGPPeer x");
  assert.equal(agent.healthInputs().lastErrors.datastore!.message, "invalid BGPPeer x");
  await agent.stop();
});
