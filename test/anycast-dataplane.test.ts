// One address on several workload endpoints (anycast, docs/bgp.md "Service addresses and
// anycast"): the policy calculation graph and the nftables dataplane accept it. Two local
// endpoints and a remote one share 192.0.2.10: each local interface may send from it
// (anti-spoofing pairs), an IP set selecting the endpoints holds it once and keeps it while any
// selected endpoint has it, and the rendered table loads into a real kernel. Needs root and nft
// for the kernel part.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { buildPolicyCalcGraph } from "../src/calc/policy/index.js";
import { applyEvents, emptyState, type DesiredState } from "../src/dataplane/nft/state.js";
import { fullScript, renderTable } from "../src/dataplane/nft/render.js";

const R = "/calico/resources/v3/projectcalico.org/";
const canRun =
  process.getuid?.() === 0 &&
  (() => {
    try {
      execFileSync("nft", ["--version"]);
      return true;
    } catch {
      return false;
    }
  })();

const wep = (name: string, node: string, iface: string, ips: string[], app: string) =>
  [
    `${R}workloadendpoints/prod/${name}`,
    JSON.stringify({
      apiVersion: "projectcalico.org/v3",
      kind: "WorkloadEndpoint",
      metadata: { name, namespace: "prod", labels: { app } },
      spec: { node, orchestrator: "k8s", interfaceName: iface, ipNetworks: ips, profiles: [] },
    }),
  ] as const;

test("an address shared by several endpoints: anti-spoofing per interface, IP set membership by reference", () => {
  const g = buildPolicyCalcGraph("h1");
  const kvs = [
    wep("h1-k8s-lb1-eth0", "h1", "tab00000000001", ["10.65.0.1/32", "192.0.2.10/32"], "lb"),
    wep("h1-k8s-lb2-eth0", "h1", "tab00000000002", ["10.65.0.2/32", "192.0.2.10/32"], "lb"),
    wep("h2-k8s-lb3-eth0", "h2", "tab00000000003", ["10.65.0.70/32", "192.0.2.10/32"], "lb"),
    [
      `${R}globalnetworkpolicies/lb-peers`,
      JSON.stringify({
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "lb-peers" },
        spec: { selector: "app == 'lb'", ingress: [{ action: "Allow", source: { selector: "app == 'lb'" } }] },
      }),
    ],
  ] as const;
  for (const [k, v] of kvs) g.onUpdate(k, v);
  g.onInSync();
  let state: DesiredState = applyEvents(emptyState(), g.flush());
  let script = fullScript(renderTable(state));
  assert.match(script, /"tab00000000001" \. 192\.0\.2\.10/, "lb1 may send from the shared address");
  assert.match(script, /"tab00000000002" \. 192\.0\.2\.10/, "lb2 may too");
  const setLine = script.split("\n").find((l) => l.includes("10.65.0.70"))!;
  assert.ok(setLine, "the IP set of app == 'lb' is rendered");
  assert.equal(setLine.match(/192\.0\.2\.10/g)?.length, 1, "the shared address is in the set once");

  if (canRun) {
    const ns = `ttac${process.pid}`;
    execFileSync("ip", ["netns", "add", ns]);
    try {
      execFileSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: script });
      const listed = execFileSync("ip", ["netns", "exec", ns, "nft", "list", "set", "inet", "tabby", "wl-src4"], { encoding: "utf8" });
      assert.match(listed, /"tab00000000001" \. 192\.0\.2\.10/);
      assert.match(listed, /"tab00000000002" \. 192\.0\.2\.10/);
    } finally {
      execFileSync("ip", ["netns", "del", ns]);
    }
  }

  // two of the three endpoints go: the address stays in the set (one holder is left)
  g.onUpdate(kvs[0][0], undefined);
  g.onUpdate(kvs[2][0], undefined);
  state = applyEvents(state, g.flush());
  script = fullScript(renderTable(state));
  assert.doesNotMatch(script, /"tab00000000001"/);
  assert.match(script, /"tab00000000002" \. 192\.0\.2\.10/);
  const after = script.split("\n").find((l) => l.includes("10.65.0.2") && !l.includes("tab0000"));
  assert.ok(after?.includes("192.0.2.10"), "still in the set through lb2");
});
