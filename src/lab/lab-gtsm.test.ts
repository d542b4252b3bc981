/**
 * GTSM (RFC 5082) in the lab's generated configuration, checked through the agent's own peer
 * computation (bgp-peers.ts): the mesh lab's hosts are on one /24 and get GTSM by default; the
 * rr topology's BGPPeers and reflector configs ask for it on both ends; the fabric's BGPPeers to
 * the ToRs ask for it (the hosts' /32s give no default), as the ToR configs do (golden files).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { applyKeyUpdate, emptyHostState, type HostState } from "../calc/host-state.js";
import { computePeerPlan } from "../calc/bgp-peers.js";
import type { Resource } from "../model/index.js";
import { planLab, type LabPlan } from "./plan.js";
import { planFabric } from "./fabric-plan.js";
import { fabricResources } from "./fabric.js";
import { planReflectors, reflectorConfig, reflectorResources } from "./reflectors.js";

const R = "/calico/resources/v3/projectcalico.org/";
const plural: Record<string, string> = { Node: "nodes", BGPPeer: "bgppeers", BGPConfiguration: "bgpconfigurations" };

/** The host state an agent sees: the lab's Nodes as the agents register them, and its resources. */
function stateOf(plan: LabPlan, resources: Resource[]): HostState {
  const s = emptyHostState();
  for (const h of plan.hosts) {
    const node = {
      kind: "Node",
      metadata: { name: h.name, labels: h.rack ? { rack: h.rack } : {} },
      spec: { bgp: { ipv4Address: h.ipv4, ipv6Address: h.ipv6 } },
    };
    applyKeyUpdate(s, `${R}nodes/${h.name}`, JSON.stringify(node));
  }
  for (const r of resources) applyKeyUpdate(s, `${R}${plural[r.kind]}/${r.metadata.name}`, JSON.stringify(r));
  return s;
}

test("mesh lab: every host-to-host session runs GTSM by default (the hosts share the bridge's /24)", () => {
  const plan = planLab({ name: "tabby", hosts: 3, workloads: 1 });
  const s = stateOf(plan, []);
  for (const h of plan.hosts) {
    const peers = computePeerPlan(s, h.name).peers;
    assert.equal(peers.length, 2);
    assert.deepEqual(
      peers.map((p) => [p.type, p.ttlSecurity]),
      [
        ["mesh", 1],
        ["mesh", 1],
      ],
      h.name,
    );
  }
});

test("rr lab: both ends of every host-reflector session ask for GTSM", () => {
  const plan = planLab({ name: "tabby", hosts: 2, workloads: 1 });
  const rrs = planReflectors(plan);
  const s = stateOf(plan, reflectorResources(plan, rrs));
  for (const h of plan.hosts)
    assert.deepEqual(
      computePeerPlan(s, h.name).peers.map((p) => [p.address, p.ttlSecurity]),
      [
        ["10.99.0.2", 1],
        ["10.99.0.3", 1],
      ],
    );
  for (const rr of rrs) {
    const conf = parse(reflectorConfig(plan, rr, "/run/x.sock", 9)) as { peers: { address: string; ttlSecurity?: number }[] };
    assert.deepEqual(
      conf.peers.map((p) => [p.address, p.ttlSecurity]),
      [
        ["10.99.0.11", 1],
        ["10.99.0.12", 1],
      ],
    );
  }
});

test("fabric lab: hosts' sessions to their ToRs ask for GTSM, in both AS models", () => {
  for (const asModel of ["rack", "host"] as const) {
    const f = planFabric("fab", { racks: 2, hosts: 2, tor: "mixed", asModel });
    const plan = planLab({ name: "fab", hosts: 4, workloads: 1 }, f);
    const s = stateOf(plan, fabricResources(f, 64512));
    for (const h of plan.hosts) {
      const peers = computePeerPlan(s, h.name).peers;
      assert.equal(peers.length, 2, `${h.name}: one session per ToR`);
      assert.deepEqual(
        peers.map((p) => p.ttlSecurity),
        [1, 1],
        `${asModel} ${h.name}`,
      );
    }
  }
});
