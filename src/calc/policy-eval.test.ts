import { test } from "node:test";
import assert from "node:assert/strict";
import { PolicyEvaluator, type EvalEndpoint } from "./policy-eval.js";
import type { Resource } from "../model/resource.js";

const r = (kind: string, name: string, spec: unknown, namespace?: string, labels?: Record<string, string>): Resource => ({
  apiVersion: "projectcalico.org/v3",
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) },
  spec,
});

const allowAll = r("Profile", "kns.lab", { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }], labelsToApply: { "pcns.team": "blue" } });
const ep = (name: string, addr: string, labels: Record<string, string>, extra: Partial<EvalEndpoint> = {}): EvalEndpoint => ({
  name,
  namespace: "lab",
  labels,
  profiles: ["kns.lab"],
  addrs: [addr],
  ...extra,
});
const web = ep("web", "10.65.0.1", { app: "web" }, { ports: [{ name: "http", protocol: "TCP", port: 8080 }] });
const client = ep("client", "10.65.0.2", { app: "client" });
const other = ep("other", "10.65.0.3", { app: "other" });
const endpoints = [web, client, other];

test("no policy: the namespace profile allows everything", () => {
  const e = new PolicyEvaluator({ endpoints, resources: [allowAll] });
  const v = e.evaluate({ src: client.addrs[0]!, dst: web.addrs[0]!, protocol: "tcp", dstPort: 80 });
  assert.equal(v.allowed, true);
  assert.match(v.ingress.by, /profile kns.lab/);
});

test("a missing profile denies", () => {
  const e = new PolicyEvaluator({ endpoints, resources: [] });
  const v = e.evaluate({ src: client.addrs[0]!, dst: web.addrs[0]!, protocol: "icmp" });
  assert.deepEqual(v.egress, { allowed: false, by: "profile kns.lab does not exist" });
});

test("k8s-style default deny + allow from a label, on a named port", () => {
  const resources = [
    allowAll,
    r("NetworkPolicy", "default-deny", { selector: "all()", types: ["Ingress"] }, "lab"),
    r(
      "NetworkPolicy",
      "allow-client",
      {
        selector: "app == 'web'",
        ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "app == 'client'" }, destination: { ports: ["http"] } }],
      },
      "lab",
    ),
  ];
  const e = new PolicyEvaluator({ endpoints, resources });
  assert.equal(e.evaluate({ src: "10.65.0.2", dst: "10.65.0.1", protocol: "tcp", dstPort: 8080 }).allowed, true);
  const wrongPort = e.evaluate({ src: "10.65.0.2", dst: "10.65.0.1", protocol: "tcp", dstPort: 80 });
  assert.deepEqual(wrongPort.ingress, { allowed: false, by: "end of tier default (no policy allowed it)" });
  assert.equal(e.evaluate({ src: "10.65.0.3", dst: "10.65.0.1", protocol: "tcp", dstPort: 8080 }).allowed, false);
  // Egress is untouched by ingress-only policies: web may still reach outside addresses,
  // but every workload in the namespace is now under the default deny for ingress.
  assert.equal(e.evaluate({ src: "10.65.0.1", dst: "192.0.2.1", protocol: "icmp" }).allowed, true);
  assert.equal(e.evaluate({ src: "10.65.0.1", dst: "10.65.0.3", protocol: "icmp" }).allowed, false);
  // The same policy in another namespace does not apply.
  const elsewhere = new PolicyEvaluator({ endpoints, resources: [allowAll, r("NetworkPolicy", "default-deny", { selector: "all()" }, "other-ns")] });
  assert.equal(elsewhere.evaluate({ src: "10.65.0.2", dst: "10.65.0.1", protocol: "tcp", dstPort: 80 }).allowed, true);
});

test("tiers: Pass skips to the next tier; a tier's defaultAction Pass does not drop", () => {
  const resources = [
    allowAll,
    r("Tier", "security", { order: 100 }),
    r("GlobalNetworkPolicy", "security.pass-web", {
      tier: "security",
      order: 1,
      selector: "app == 'web'",
      ingress: [{ action: "Pass", source: { selector: "app == 'client'" } }, { action: "Deny" }],
    }),
    r("GlobalNetworkPolicy", "deny-icmp", { order: 10, selector: "app == 'web'", ingress: [{ action: "Deny", protocol: "ICMP" }, { action: "Allow" }] }),
  ];
  const e = new PolicyEvaluator({ endpoints, resources });
  assert.equal(e.evaluate({ src: "10.65.0.2", dst: "10.65.0.1", protocol: "tcp", dstPort: 80 }).allowed, true);
  const icmp = e.evaluate({ src: "10.65.0.2", dst: "10.65.0.1", protocol: "icmp" });
  assert.deepEqual(icmp.ingress, { allowed: false, by: "gnp deny-icmp ingress rule 1 (Deny)" });
  assert.deepEqual(e.evaluate({ src: "10.65.0.3", dst: "10.65.0.1", protocol: "tcp", dstPort: 80 }).ingress, {
    allowed: false,
    by: "gnp security.pass-web ingress rule 2 (Deny)",
  });
  const passTier = new PolicyEvaluator({
    endpoints,
    resources: [
      allowAll,
      r("Tier", "audit", { order: 50, defaultAction: "Pass" }),
      r("GlobalNetworkPolicy", "audit.watch", { tier: "audit", selector: "all()", ingress: [{ action: "Log" }] }),
    ],
  });
  assert.equal(passTier.evaluate({ src: "10.65.0.3", dst: "10.65.0.1", protocol: "icmp" }).allowed, true);
});

test("egress deny to a CIDR; GlobalNetworkSet selected by label; namespaceSelector from profile labels", () => {
  const resources = [
    allowAll,
    r("GlobalNetworkSet", "blocked", { nets: ["10.65.0.3/32", "192.0.2.0/24"] }, undefined, { role: "blocked" }),
    r("GlobalNetworkPolicy", "no-blocked", {
      selector: "app == 'client'",
      types: ["Egress"],
      egress: [{ action: "Deny", destination: { selector: "role == 'blocked'" } }, { action: "Allow" }],
    }),
    r(
      "NetworkPolicy",
      "no-doc",
      { selector: "app == 'web'", egress: [{ action: "Deny", destination: { nets: ["198.51.100.0/24"] } }, { action: "Allow" }] },
      "lab",
    ),
    r("GlobalNetworkPolicy", "from-blue", { selector: "app == 'other'", ingress: [{ action: "Allow", source: { namespaceSelector: "team == 'blue'" } }] }),
  ];
  const e = new PolicyEvaluator({ endpoints, resources });
  assert.equal(e.evaluate({ src: "10.65.0.2", dst: "10.65.0.3", protocol: "icmp" }).egress.allowed, false);
  assert.equal(e.evaluate({ src: "10.65.0.2", dst: "192.0.2.9", protocol: "icmp" }).allowed, false);
  assert.equal(e.evaluate({ src: "10.65.0.2", dst: "10.65.0.1", protocol: "icmp" }).allowed, true);
  assert.equal(e.evaluate({ src: "10.65.0.1", dst: "198.51.100.7", protocol: "tcp", dstPort: 443 }).allowed, false);
  assert.equal(e.evaluate({ src: "10.65.0.1", dst: "203.0.113.7", protocol: "tcp", dstPort: 443 }).allowed, true);
  assert.equal(e.evaluate({ src: "10.65.0.1", dst: "10.65.0.3", protocol: "icmp" }).allowed, true, "web is in a namespace labelled team=blue");
});

test("IPv6 addresses and ipVersion", () => {
  const v6web = ep("web6", "fd65::1", { app: "web" });
  const v6client = ep("client6", "fd65::2", { app: "client" });
  const resources = [allowAll, r("GlobalNetworkPolicy", "v4-only", { selector: "app == 'web'", ingress: [{ action: "Allow", ipVersion: 4 }] })];
  const e = new PolicyEvaluator({ endpoints: [v6web, v6client], resources });
  assert.equal(e.evaluate({ src: "fd65::2", dst: "fd65:0::1", protocol: "icmp" }).allowed, false);
});

test("host endpoints: forwarded traffic between nodes meets applyOnForward policies only", () => {
  const a = ep("a", "10.65.1.1", { app: "a" }, { node: "h1" });
  const b = ep("b", "10.65.2.1", { app: "b" }, { node: "h2" });
  const a2 = ep("a2", "10.65.1.2", { app: "a2" }, { node: "h1" });
  const hostEndpoints = [{ name: "h1-eth0", node: "h1", interfaceName: "eth0", labels: { hep: "h1" } }];
  const world = (resources: Resource[]) =>
    new PolicyEvaluator({ endpoints: [a, b, a2], resources: [allowAll, ...resources], hostEndpoints, fabricInterface: "eth0" });
  // A host endpoint without policy leaves forwarded traffic alone.
  assert.equal(world([]).evaluate({ src: b.addrs[0]!, dst: a.addrs[0]!, protocol: "icmp" }).allowed, true);
  const noIcmp = r("GlobalNetworkPolicy", "no-fwd-icmp", {
    selector: "hep == 'h1'",
    applyOnForward: true,
    types: ["Ingress", "Egress"],
    ingress: [{ action: "Deny", protocol: "ICMP" }, { action: "Allow" }],
    egress: [{ action: "Deny", protocol: "ICMP" }, { action: "Allow" }],
  });
  const e = world([noIcmp]);
  const inbound = e.evaluate({ src: b.addrs[0]!, dst: a.addrs[0]!, protocol: "icmp" });
  assert.deepEqual(inbound.ingress, { allowed: false, by: "host endpoint h1-eth0 forward gnp no-fwd-icmp ingress rule 1 (Deny)" });
  const outbound = e.evaluate({ src: a.addrs[0]!, dst: b.addrs[0]!, protocol: "icmp" });
  assert.deepEqual(outbound.egress, { allowed: false, by: "host endpoint h1-eth0 forward gnp no-fwd-icmp egress rule 1 (Deny)" });
  assert.equal(e.evaluate({ src: b.addrs[0]!, dst: a.addrs[0]!, protocol: "tcp", dstPort: 80 }).allowed, true);
  // Within one node nothing crosses eth0.
  assert.equal(e.evaluate({ src: a2.addrs[0]!, dst: a.addrs[0]!, protocol: "icmp" }).allowed, true);
  // Without applyOnForward the policy is for the host's own traffic only.
  const hostOnly = r("GlobalNetworkPolicy", "no-fwd-icmp", { ...(noIcmp.spec as object), applyOnForward: false });
  assert.equal(world([hostOnly]).evaluate({ src: b.addrs[0]!, dst: a.addrs[0]!, protocol: "icmp" }).allowed, true);
  // A forward policy that applies but allows nothing: the tier's default deny.
  const nothing = r("GlobalNetworkPolicy", "fwd-nothing", { selector: "hep == 'h1'", applyOnForward: true, types: ["Ingress"], ingress: [] });
  assert.deepEqual(world([nothing]).evaluate({ src: b.addrs[0]!, dst: a.addrs[0]!, protocol: "tcp", dstPort: 80 }).ingress, {
    allowed: false,
    by: "host endpoint h1-eth0 forward end of tier default (no policy allowed it)",
  });
});
