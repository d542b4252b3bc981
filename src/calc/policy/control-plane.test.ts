/**
 * State sequences for the workload → control-plane stage (control-plane.ts) through the whole
 * policy graph: Nodes joining and leaving change only the control-plane update (the dataplane's
 * address sets), never a policy or an endpoint; BGP listen ports; the access selector.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ControlPlaneUpdate, PolicyDataplaneEvent } from "../policy-output.js";
import { buildPolicyCalcGraph } from "./graph.js";
import { R, felixConfig, nsProfile, wep, type KV } from "../../testkit/calc/policy/harness.js";

const V3 = "projectcalico.org/v3";
const node = (name: string, spec: Record<string, unknown>): KV => [`${R}nodes/${name}`, { apiVersion: V3, kind: "Node", metadata: { name }, spec }];
const bgpConfig = (name: string, spec: Record<string, unknown>): KV => [
  `${R}bgpconfigurations/${name}`,
  { apiVersion: V3, kind: "BGPConfiguration", metadata: { name }, spec },
];

const DEFAULT_PORTS = [
  ...[179, 2379, 2380, 9091, 9099].map((port) => ({ protocol: "tcp", port })),
  ...[3784, 3785, 4784, 4785].map((port) => ({ protocol: "udp", port })),
];
const GATEWAYS = ["169.254.1.1", "fe80::ecee:eeff:feee:eeee"];

function graph(kvs: KV[], opts?: Parameters<typeof buildPolicyCalcGraph>[1]) {
  const g = buildPolicyCalcGraph("h1", opts);
  for (const [k, v] of kvs) g.onUpdate(k, JSON.stringify(v));
  g.onInSync();
  const first = g.flush();
  const step = (kvs: (KV | [string, undefined])[]): PolicyDataplaneEvent[] => {
    for (const [k, v] of kvs) g.onUpdate(k, v === undefined ? undefined : JSON.stringify(v));
    return g.flush();
  };
  return { first, step };
}
const cpOf = (evs: PolicyDataplaneEvent[]) => evs.filter((e): e is ControlPlaneUpdate => e.kind === "control-plane-update");

const snapshot: KV[] = [
  nsProfile("lab"),
  node("h1", { bgp: { ipv4Address: "10.99.0.11/24", ipv6Address: "fd00:99::11/64" } }),
  node("h2", { bgp: { ipv4Address: "10.99.0.12/24" }, addresses: [{ address: "192.0.2.12", type: "ExternalIP" }] }),
  bgpConfig("default", { asNumber: 64512, listenPort: 179 }),
  wep("lab", "w1", { ip: "10.65.0.1", labels: { app: "w1" } }),
  wep("lab", "r1", { ip: "10.65.0.2", labels: { role: "router" } }),
];

test("control plane: the snapshot gives every node's addresses, the default ports and the gateways", () => {
  for (const order of [snapshot, [...snapshot].reverse()]) {
    const { first } = graph(order, { datastoreAddrs: ["10.99.0.254"], extraTcpPorts: [12379] });
    const cp = cpOf(first);
    assert.equal(cp.length, 1);
    assert.deepEqual(cp[0], {
      kind: "control-plane-update",
      nodeAddrs: ["10.99.0.11", "10.99.0.12", "192.0.2.12", "fd00:99::11"],
      otherAddrs: [...GATEWAYS, "10.99.0.254"],
      ports: [...DEFAULT_PORTS.slice(0, 5), { protocol: "tcp", port: 12379 }, ...DEFAULT_PORTS.slice(5)],
      openInterfaces: [],
    });
    assert.equal(
      first.findIndex((e) => e.kind === "control-plane-update") < first.findIndex((e) => e.kind === "workload-endpoint-update"),
      true,
      "before the endpoints",
    );
  }
});

test("control plane: nodes joining, changing and leaving change the node addresses and nothing else", () => {
  const { step } = graph(snapshot);
  const joined = step([node("h3", { bgp: { ipv4Address: "10.99.0.13/24", ipv6Address: "fd00:99::13/64" } })]);
  assert.deepEqual(
    joined.map((e) => e.kind),
    ["control-plane-update"],
  );
  assert.deepEqual(cpOf(joined)[0]!.nodeAddrs, ["10.99.0.11", "10.99.0.12", "10.99.0.13", "192.0.2.12", "fd00:99::11", "fd00:99::13"]);
  // Same addresses again (a label or status change): nothing to send.
  assert.deepEqual(
    step([node("h3", { bgp: { ipv4Address: "10.99.0.13/24", ipv6Address: "fd00:99::13/64" }, orchRefs: [{ orchestrator: "k8s", nodeName: "h3" }] })]),
    [],
  );
  const moved = step([node("h2", { bgp: { ipv4Address: "10.99.0.22/24" } })]);
  assert.deepEqual(cpOf(moved)[0]!.nodeAddrs, ["10.99.0.11", "10.99.0.13", "10.99.0.22", "fd00:99::11", "fd00:99::13"]);
  const left = step([[`${R}nodes/h3`, undefined]]);
  assert.deepEqual(
    left.map((e) => e.kind),
    ["control-plane-update"],
  );
  assert.deepEqual(cpOf(left)[0]!.nodeAddrs, ["10.99.0.11", "10.99.0.22", "fd00:99::11"]);
  // A Node whose spec has no usable address contributes nothing (and breaks nothing).
  assert.deepEqual(step([node("h4", { bgp: { ipv4Address: "not an address" } })]), []);
});

test("control plane: every BGPConfiguration listenPort is a control-plane port", () => {
  const { step } = graph(snapshot);
  const ev = cpOf(step([bgpConfig("node.h2", { listenPort: 1179 }), bgpConfig("default", { asNumber: 64512, listenPort: 10179 })]));
  assert.deepEqual(
    ev[0]!.ports.filter((p) => p.protocol === "tcp").map((p) => p.port),
    [179, 1179, 2379, 2380, 9091, 9099, 10179],
  );
  const back = cpOf(step([[`${R}bgpconfigurations/node.h2`, undefined]]));
  assert.deepEqual(
    back[0]!.ports.filter((p) => p.protocol === "tcp").map((p) => p.port),
    [179, 2379, 2380, 9091, 9099, 10179],
  );
});

test("control plane: workloadControlPlaneAccessSelector opens the selected local workloads only", () => {
  const { step } = graph([...snapshot, wep("lab", "r2", { node: "h2", ip: "10.65.1.2", labels: { role: "router" } })]);
  const opened = cpOf(step([felixConfig("default", { workloadControlPlaneAccessSelector: "role == 'router'" })]));
  assert.deepEqual(opened[0]!.openInterfaces, ["tabr1"], "the local router only; r2 is on h2");
  const more = cpOf(step([wep("lab", "w1", { ip: "10.65.0.1", labels: { app: "w1", role: "router" } })]));
  assert.deepEqual(more[0]!.openInterfaces, ["tabr1", "tabw1"]);
  // node.h1 overrides default; an unparseable selector selects nothing (fail closed).
  const bad = cpOf(step([felixConfig("node.h1", { workloadControlPlaneAccessSelector: "role ==" })]));
  assert.deepEqual(bad[0]!.openInterfaces, []);
  const other = step([felixConfig("node.h9", { workloadControlPlaneAccessSelector: "all()" })]);
  assert.deepEqual(cpOf(other), [], "another node's configuration is not ours");
  step([[`${R}felixconfigurations/node.h1`, undefined]]);
  const gone = cpOf(
    step([
      [wepKeyOf("r1"), undefined],
      [`${R}felixconfigurations/default`, undefined],
    ]),
  );
  assert.deepEqual(gone.at(-1)?.openInterfaces ?? [], []);
});

const wepKeyOf = (name: string) => `${R}workloadendpoints/lab/${name}`;
