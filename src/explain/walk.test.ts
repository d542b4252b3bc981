import { test } from "node:test";
import assert from "node:assert/strict";
import { explainPath, type HopOracle, type Place, type Topology } from "./walk.js";
import { bestFibEntry, coveringBgpRoute, parseRouteGet } from "./route-lookup.js";
import type { ExplainRouteAnswer } from "./route-lookup.js";
import { PolicyEvaluator } from "../calc/policy-eval.js";
import type { Resource } from "../model/resource.js";

const w1: Place = { kind: "workload", name: "w1", host: "h1", iface: "tab1", endpoint: "ns/w1", addrs: ["10.0.1.1"] };
const w2: Place = { kind: "workload", name: "w2", host: "h2", iface: "tab2", endpoint: "ns/w2", addrs: ["10.0.2.1"] };
const h1: Place = { kind: "host", name: "h1", addrs: ["192.168.0.1"], agent: true };
const h2: Place = { kind: "host", name: "h2", addrs: ["192.168.0.2"], agent: true };
const places = [w1, w2, h1, h2];
const topo: Topology = {
  place: (n) => places.find((p) => p.name === n),
  ownerOf: (a, near) => places.find((p) => p.addrs.includes(a) && p !== near),
  workloadOn: (host, iface) => places.find((p) => p.host === host && p.iface === iface),
  ingressLink: (p) => (p.name === "h2" ? { dev: "eth0", mtu: mtuH2 } : undefined),
};
let mtuH2 = 1500;

const bgp = { prefix: "10.0.2.0/26", nextHops: ["192.168.0.2"], peer: "192.168.0.2", asPath: [] };
function oracle(h1Answer: Partial<ExplainRouteAnswer>): HopOracle {
  return {
    async route(at) {
      if (at.name === "h1") return { dst: "10.0.2.1", devMtu: 1500, ...h1Answer, via: "h1's agent" };
      return {
        dst: "10.0.2.1",
        chosen: { dev: "tab2" },
        fib: { prefix: "10.0.2.1", type: "unicast", protocol: "152", dev: "tab2", gateways: [] },
        devMtu: 1500,
        via: "h2's agent",
      };
    },
    workloadMtu: async () => 1500,
  };
}
const goodH1: Partial<ExplainRouteAnswer> = {
  chosen: { dev: "eth0", gateway: "192.168.0.2" },
  fib: { prefix: "10.0.2.0/26", type: "unicast", protocol: "152", dev: "eth0", gateways: ["192.168.0.2"] },
  bgp,
};

const endpoints = [
  { name: "w1", namespace: "ns", labels: { app: "a" }, profiles: ["p"], addrs: ["10.0.1.1"] },
  { name: "w2", namespace: "ns", labels: { app: "b" }, profiles: ["p"], addrs: ["10.0.2.1"] },
];
const profile: Resource = {
  apiVersion: "projectcalico.org/v3",
  kind: "Profile",
  metadata: { name: "p" },
  spec: { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }] },
} as Resource;
const deny: Resource = {
  apiVersion: "projectcalico.org/v3",
  kind: "NetworkPolicy",
  metadata: { name: "deny-b", namespace: "ns" },
  spec: { selector: "app == 'b'", ingress: [{ action: "Allow", protocol: "TCP", destination: { ports: [80] } }] },
} as Resource;
const req = { src: w1, dst: w2, srcAddr: "10.0.1.1", dstAddr: "10.0.2.1", protocol: "tcp" as const, port: 443 };

test("a packet that arrives: the hops, the BGP route, the verdicts, the path MTU", async () => {
  mtuH2 = 1500;
  const ex = await explainPath(req, topo, oracle(goodH1), new PolicyEvaluator({ endpoints, resources: [profile] }));
  assert.equal(ex.arrives, true);
  assert.deepEqual(ex.path, ["w1", "h1", "h2", "w2"]);
  assert.deepEqual(
    ex.steps.map((s) => s.kind),
    ["anti-spoofing", "egress policy", "route", "route", "mtu", "ingress policy", "arrive"],
  );
  assert.equal(ex.pathMtu, 1500);
});

test("the deciding policy and rule; end of tier", async () => {
  const ex = await explainPath(req, topo, oracle(goodH1), new PolicyEvaluator({ endpoints, resources: [profile, deny] }));
  assert.equal(ex.arrives, false);
  assert.equal(ex.failed?.kind, "ingress policy");
  const v = ex.steps.at(-1)!.verdict!;
  assert.equal(v.tier, "default");
  assert.match(v.by, /end of tier default/);
  const ok = await explainPath({ ...req, port: 80 }, topo, oracle(goodH1), new PolicyEvaluator({ endpoints, resources: [profile, deny] }));
  assert.equal(ok.steps.find((s) => s.kind === "ingress policy")!.verdict!.policy, "np ns/deny-b");
  assert.equal(ok.steps.find((s) => s.kind === "ingress policy")!.verdict!.ruleIndex, 1);
});

test("a kernel route that does not follow BGP, a blackhole, no route, a spoofed source", async () => {
  const ev = new PolicyEvaluator({ endpoints, resources: [profile] });
  const deleted = await explainPath(
    req,
    topo,
    oracle({ chosen: { dev: "eth0", gateway: "192.168.0.254" }, fib: { prefix: "default", type: "unicast", dev: "eth0", gateways: ["192.168.0.254"] }, bgp }),
    ev,
  );
  assert.equal(deleted.failed?.at, "h1");
  assert.match(deleted.failed!.reason, /does not follow BGP: BGP 10\.0\.2\.0\/26/);
  const hole = await explainPath(
    req,
    topo,
    oracle({ error: "RTNETLINK answers: Invalid argument", fib: { prefix: "10.0.2.0/24", type: "blackhole", gateways: [] } }),
    ev,
  );
  assert.match(hole.failed!.reason, /blackhole route 10\.0\.2\.0\/24/);
  const none = await explainPath(req, topo, oracle({ error: "Network is unreachable" }), ev);
  assert.match(none.failed!.reason, /will not forward.*Network is unreachable/);
  const spoof = await explainPath({ ...req, srcAddr: "10.9.9.9" }, topo, oracle(goodH1), ev);
  assert.equal(spoof.failed?.kind, "anti-spoofing");
});

test("a hop whose agent cannot be asked is reported as such, not guessed", async () => {
  const down: HopOracle = {
    async route(at) {
      if (at.name === "h2") throw new Error("cannot ask the agent at 192.168.0.2:9095: connect ECONNREFUSED");
      return oracle(goodH1).route(at, { dst: "10.0.2.1" });
    },
  };
  const ex = await explainPath(req, topo, down, new PolicyEvaluator({ endpoints, resources: [profile] }));
  assert.equal(ex.arrives, false);
  assert.deepEqual(ex.failed && { at: ex.failed.at, kind: ex.failed.kind }, { at: "h2", kind: "route" });
  assert.match(ex.failed!.reason, /cannot ask how h2 forwards to 10\.0\.2\.1: .*ECONNREFUSED/);
  assert.equal(ex.steps.filter((s) => s.kind === "route" && s.ok).length, 1);
});

test("an MTU mismatch on the receiving end of a link", async () => {
  mtuH2 = 1400;
  const ex = await explainPath(req, topo, oracle(goodH1), new PolicyEvaluator({ endpoints, resources: [profile] }));
  assert.equal(ex.failed?.kind, "mtu");
  assert.equal(ex.failed?.at, "h2");
  assert.match(ex.failed!.reason, /drops larger frames on receipt/);
  const fits = await explainPath({ ...req, size: 1400 }, topo, oracle(goodH1), new PolicyEvaluator({ endpoints, resources: [profile] }));
  assert.equal(fits.arrives, true);
  mtuH2 = 1500;
});

test("route-lookup parsing: ip route get, show match (longest prefix, ECMP, metrics mtu), Loc-RIB longest match", () => {
  assert.deepEqual(parseRouteGet(`[{"dst":"10.0.2.1","gateway":"192.168.0.2","dev":"eth0","prefsrc":"192.168.0.1","flags":[],"uid":0,"cache":[]}]`), {
    dev: "eth0",
    gateway: "192.168.0.2",
    prefsrc: "192.168.0.1",
  });
  const fib = bestFibEntry(
    `[{"dst":"default","gateway":"192.168.0.254","dev":"eth0","protocol":"kernel"},{"dst":"10.0.2.0/26","protocol":"152","metric":20,"metrics":[{"mtu":1400}],"nexthops":[{"gateway":"192.168.0.2","dev":"eth0"},{"gateway":"192.168.0.3","dev":"eth1"}]}]`,
  );
  assert.deepEqual(fib, {
    entry: { prefix: "10.0.2.0/26", type: "unicast", protocol: "152", dev: "eth0", gateways: ["192.168.0.2", "192.168.0.3"] },
    mtu: 1400,
  });
  const rib = [
    { prefix: "10.0.0.0/16", paths: [{ nextHop: "1.1.1.1", asPath: [65000], peer: "1.1.1.1", best: true }] },
    { prefix: "10.0.2.0/26", paths: [{ nextHop: "2.2.2.2", asPath: [], peer: "2.2.2.2", best: true }] },
    { prefix: "fd00::/64", paths: [{ nextHop: "fd00::1", asPath: [], peer: "x", best: true }] },
  ];
  assert.equal(coveringBgpRoute(rib, "10.0.2.9")?.prefix, "10.0.2.0/26");
  assert.equal(coveringBgpRoute(rib, "10.0.3.9")?.prefix, "10.0.0.0/16");
  assert.equal(coveringBgpRoute(rib, "10.1.0.1"), undefined);
});
