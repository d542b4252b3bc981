import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPolicyCalcGraph } from "./graph.js";
import fc from "fast-check";
import { asCidr, isV4HostCidr, parseKey } from "./decode.js";
import { gnp, hep, wep, R } from "../../testkit/calc/policy/harness.js";

test("parseKey: kinds, namespaces, malformed keys", () => {
  assert.deepEqual(parseKey(`${R}workloadendpoints/prod/w1`), { kind: "WorkloadEndpoint", namespace: "prod", name: "w1" });
  assert.deepEqual(parseKey(`${R}globalnetworkpolicies/a.b`), { kind: "GlobalNetworkPolicy", name: "a.b" });
  assert.equal(parseKey(`${R}workloadendpoints/prod`), undefined);
  assert.equal(parseKey(`${R}workloadendpoints/prod/w1/x`), undefined);
  assert.equal(parseKey(`${R}tiers/a/b`), undefined);
  assert.equal(parseKey(`${R}unknown/a`), undefined);
  assert.equal(parseKey(`/calico/ipam/v2/host/h1`), undefined);
});

test("values given as objects are never modified", () => {
  const g = buildPolicyCalcGraph("h1");
  const kvs = [
    wep("prod", "a", { ip: "10.0.0.1", labels: { app: "web" }, ports: [{ name: "http", protocol: "TCP", port: 80 }] }),
    wep("prod", "b", { node: "h2", ip: "10.0.0.2", labels: { app: "db" }, ports: [{ name: "http", protocol: "TCP", port: 80 }] }),
    hep("h1-eth0", { interfaceName: "eth0", expectedIPs: ["192.168.0.1"] }, { role: "gw" }),
    gnp("p", {
      selector: "app == 'web'",
      ingress: [{ action: "Allow", protocol: "TCP", source: { selector: "app == 'db'" }, destination: { ports: ["http"] } }],
    }),
  ];
  const copies = kvs.map(([, v]) => structuredClone(v));
  for (const [k, v] of kvs) g.onUpdate(k, v);
  g.onInSync();
  const events = g.flush();
  assert.ok(events.some((e) => e.kind === "ipset-update" && e.type === "ip-port"));
  kvs.forEach(([, v], i) => assert.deepEqual(v, copies[i]));
});

test("keys the graph does not read are ignored", () => {
  const g = buildPolicyCalcGraph("h1");
  assert.equal(g.onUpdate(`${R}bgppeers/p1`, "{}"), false);
  assert.equal(g.onUpdate("/calico/ipam/v2/host/h1/ipv4/block/10.0.0.0-26", "{}"), false);
  assert.equal(g.onUpdate(`${R}workloadendpoints/prod/x`, "not json"), true);
  g.onInSync();
  assert.deepEqual(
    g.flush().map((e) => e.kind),
    ["config-update", "control-plane-update", "in-sync"],
  );
});

test("isV4HostCidr: agrees with the dotted-quad /32 grammar (parts 0-255, no leading zero)", () => {
  const reference = (s: string): boolean => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/32$/.exec(s);
    return !!m && m.slice(1).every((p) => Number(p) <= 255 && !(p.length > 1 && p.startsWith("0")));
  };
  const part = fc.oneof(fc.stringMatching(/^[0-9]{0,4}$/), fc.integer({ min: 0, max: 300 }).map(String));
  const text = fc
    .tuple(fc.array(part, { minLength: 2, maxLength: 5 }), fc.constantFrom("/32", "/31", "", "/320", "/3"))
    .map(([p, suffix]) => p.join(".") + suffix);
  fc.assert(
    fc.property(fc.oneof(text, fc.string()), (s) => assert.equal(isV4HostCidr(s), reference(s), s)),
    { numRuns: 5000 },
  );
  for (const s of ["10.0.0.1/32", "0.0.0.0/32", "255.255.255.255/32"]) assert.ok(isV4HostCidr(s), s);
  for (const s of ["256.0.0.1/32", "01.2.3.4/32", "1.2.3/32", "1.2.3.4.5/32", "1.2.3.4", "1..3.4/32"]) assert.ok(!isV4HostCidr(s), s);
  assert.equal(asCidr("10.0.0.1"), "10.0.0.1/32");
  assert.equal(asCidr("10.0.0.01/32"), undefined);
});
