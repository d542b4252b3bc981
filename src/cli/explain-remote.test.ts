/**
 * `tabby explain` on real machines, in-process: places from the datastore (a MemoryStore with two
 * Nodes at 127.0.0.1 and 127.0.0.2 — both loopback — and a WorkloadEndpoint on each), each hop
 * asked over a real explain API (mutual TLS, certificates from the lab PKI code) at the Node's
 * address and the agents' port. A stopped agent is a hop that cannot be asked: exit 1. A ToR
 * between the hosts (127.0.0.9, no agent, no Node) is crossed by inference from BGP when it is a
 * BGPPeer, and ends the walk when it is not.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type * as https from "node:https";
import { cliTestBed, runCli } from "../testkit/cli/cli-test-bed.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { makeLabPki, type LabPki } from "../lab/pki.js";
import { boundAddress, serveExplainApi } from "../explain/api.js";
import * as explain from "./explain.js";
import type { Resource } from "../model/resource.js";
import { join } from "node:path";

const bed = cliTestBed("tabby-explain-remote-");
let pki: LabPki;
let port = 0;
const servers: https.Server[] = [];
/** The ToR h1's kernel chooses for 10.0.3.0/26 (ECMP over two ToRs picks one). */
let torChosen = "127.0.0.9";

const speaker = { peerStatus: () => [], routes: () => [] as never[] };
function agent(host: string, answer: (dst: string) => unknown) {
  return serveExplainApi({ host, port }, { ca: pki.ca, cert: pki.server.cert, key: pki.server.key }, speaker as never, {
    explainRoute: async (req) => answer((req as { dst: string }).dst),
  });
}

before(async () => {
  pki = makeLabPki(join(bed.dir, "lab"), "remote", ["127.0.0.2"]);
  // h1 forwards 10.0.2.0/26 to h2 (BGP); h2 delivers 10.0.2.1 to its workload's interface
  // h1 forwards 10.0.3.0/26 to its ToR 127.0.0.9 (which learned it from h2 and runs no agent)
  const h1 = await agent("127.0.0.1", (dst) =>
    dst.startsWith("10.0.3.")
      ? {
          dst,
          chosen: { dev: "eth0", gateway: torChosen },
          fib: { prefix: "10.0.3.0/26", type: "unicast", protocol: "152", dev: "eth0", gateways: ["127.0.0.9"] },
          bgp: { prefix: "10.0.3.0/26", nextHops: ["127.0.0.9"], peer: "127.0.0.9", asPath: [65001, 64512] },
          devMtu: 1500,
        }
      : {
          dst,
          chosen: { dev: "eth0", gateway: "127.0.0.2" },
          fib: { prefix: "10.0.2.0/26", type: "unicast", protocol: "152", dev: "eth0", gateways: ["127.0.0.2"] },
          bgp: { prefix: "10.0.2.0/26", nextHops: ["127.0.0.2"], peer: "127.0.0.2", asPath: [] },
          devMtu: 1500,
        },
  );
  servers.push(h1);
  port = boundAddress(h1).port;
  servers.push(
    await agent("127.0.0.2", (dst) =>
      dst === "10.0.3.1"
        ? { dst, chosen: { dev: "tabw3" }, fib: { prefix: "10.0.3.1", type: "unicast", protocol: "152", dev: "tabw3", gateways: [] }, devMtu: 1500 }
        : { dst, chosen: { dev: "tabw2" }, fib: { prefix: "10.0.2.1", type: "unicast", protocol: "152", dev: "tabw2", gateways: [] }, devMtu: 1500 },
    ),
  );
});
after(() => {
  for (const s of servers) s.close();
});

async function seed(): Promise<void> {
  const c = new ResourceClient(bed.store);
  const V3 = "projectcalico.org/v3";
  await c.create({
    apiVersion: V3,
    kind: "Profile",
    metadata: { name: "open" },
    spec: { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }] },
  } as Resource);
  for (const [n, ip] of [
    ["h1", "127.0.0.1"],
    ["h2", "127.0.0.2"],
  ] as const) {
    await c.create({ apiVersion: V3, kind: "Node", metadata: { name: n }, spec: { bgp: { ipv4Address: `${ip}/8` } } } as Resource);
  }
  for (const [n, ip, iface, pod] of [
    ["h1", "10.0.1.1", "tabw1", "w-h1"],
    ["h2", "10.0.2.1", "tabw2", "w-h2"],
    ["h2", "10.0.3.1", "tabw3", "far"],
  ] as const) {
    await c.create({
      apiVersion: V3,
      kind: "WorkloadEndpoint",
      metadata: { name: "", namespace: "ns" },
      spec: { node: n, orchestrator: "k8s", pod, endpoint: "eth0", ipNetworks: [`${ip}/32`], interfaceName: iface, profiles: ["open"] },
    } as Resource);
  }
}

async function seedTor(): Promise<void> {
  const c = new ResourceClient(bed.store);
  await c.create({
    apiVersion: "projectcalico.org/v3",
    kind: "BGPPeer",
    metadata: { name: "tor-a" },
    spec: { peerIP: "127.0.0.9", asNumber: 65001 },
  } as Resource);
  await c.create({
    apiVersion: "projectcalico.org/v3",
    kind: "BGPPeer",
    metadata: { name: "tor-b" },
    spec: { peerIP: "127.0.0.10:179", asNumber: 65001 },
  } as Resource);
}

const tlsArgs = () => ["--tls-ca", pki.ca, "--tls-cert", pki.clients.admin.cert, "--tls-key", pki.clients.admin.key, "--agent-port", String(port)];

test("explain across machines: each hop's agent asked over mTLS at its Node address", async () => {
  await seed();
  const r = await runCli(explain, ["10.0.1.1", "10.0.2.1", "--port", "80", "-o", "json", ...tlsArgs()]);
  const ex = JSON.parse(r.stdout) as { arrives: boolean; path: string[]; steps: { kind: string; route?: { via: string } }[] };
  assert.equal(r.code, 0, r.stdout);
  assert.equal(ex.arrives, true);
  assert.deepEqual(ex.path, ["ns/h1-k8s-w--h1-eth0", "h1", "h2", "ns/h2-k8s-w--h2-eth0"]);
  assert.deepEqual(
    ex.steps.filter((s) => s.route).map((s) => s.route!.via),
    [`h1's agent (127.0.0.1:${port})`, `h2's agent (127.0.0.2:${port})`],
  );
});

test("a hop whose agent cannot be asked is reported as such: exit 1", async () => {
  await seed();
  const wrongPort = await runCli(explain, ["10.0.1.1", "10.0.2.1", ...tlsArgs().slice(0, -1), String(port === 65535 ? 1 : port + 1)]);
  assert.equal(wrongPort.code, 1);
  assert.match(wrongPort.stdout, /cannot ask how h1 forwards to 10\.0\.2\.1: cannot ask the agent at 127\.0\.0\.1:\d+/);
});

test("a client certificate from another CA gets no answer; no certificate at all is refused before asking", async () => {
  await seed();
  const other = makeLabPki(join(bed.dir, "other"), "other", []);
  const foreign = await runCli(explain, [
    "10.0.1.1",
    "10.0.2.1",
    "--tls-ca",
    pki.ca,
    "--tls-cert",
    other.clients.admin.cert,
    "--tls-key",
    other.clients.admin.key,
    "--agent-port",
    String(port),
  ]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stdout, /cannot ask the agent at 127\.0\.0\.1/);
  await assert.rejects(runCli(explain, ["10.0.1.1", "10.0.2.1", "--datastore", "memory:"]), (e: Error & { code?: string }) => e.code === "CLI_EXPLAIN_NO_TLS");
  await assert.rejects(runCli(explain, ["10.0.1.1", "10.0.2.1", "--tls-ca", pki.ca]), /--tls-cert, --tls-key/);
});

interface Ex {
  arrives: boolean;
  path: string[];
  inferred?: { router: string; bgpPeer: string; asNumber?: number; prefix: string; asPath: number[]; continuedAt: string }[];
  steps: { kind: string; at: string; ok: boolean; detail: string; inferred?: unknown; route?: { via: string } }[];
  failed?: { at: string; reason: string };
}

test("through a router that runs no agent: a BGPPeer's segment is inferred from BGP (said so), the walk goes on at the destination's node", async () => {
  await seed();
  await seedTor();
  const r = await runCli(explain, ["10.0.1.1", "10.0.3.1", "--port", "80", "-o", "json", ...tlsArgs()]);
  assert.equal(r.code, 0, r.stdout);
  const ex = JSON.parse(r.stdout) as Ex;
  assert.deepEqual(ex.path, ["ns/h1-k8s-w--h1-eth0", "h1", "router 127.0.0.9", "h2", "ns/h2-k8s-far-eth0"]);
  assert.deepEqual(ex.inferred, [
    {
      router: "127.0.0.9",
      bgpPeer: "tor-a",
      asNumber: 65001,
      prefix: "10.0.3.0/26",
      asPath: [65001, 64512],
      continuedAt: "h2",
      why: "the node of ns/h2-k8s-far-eth0, which holds 10.0.3.1",
    },
  ]);
  const router = ex.steps.find((s) => s.inferred)!;
  assert.equal(router.at, "router 127.0.0.9");
  assert.match(
    router.detail,
    /^router 127\.0\.0\.9 \(BGPPeer tor-a, AS 65001\): not asked — forwarding inferred from BGP: it advertised 10\.0\.3\.0\/26 with AS path \[65001 64512\]/,
  );
  // the hosts on both sides were asked, the router was not
  assert.deepEqual(
    ex.steps.filter((s) => s.route).map((s) => s.route!.via),
    [`h1's agent (127.0.0.1:${port})`, `h2's agent (127.0.0.2:${port})`],
  );
  const text = await runCli(explain, ["10.0.1.1", "10.0.3.1", "--port", "80", ...tlsArgs()]);
  assert.match(text.stdout, /inferred, not asked: router 127\.0\.0\.9 \(BGPPeer tor-a\) runs no agent/);
});

test("ECMP: the kernel's next hop is the other ToR: that router is named, and where BGP's best path came from", async (t) => {
  await seed();
  await seedTor();
  torChosen = "127.0.0.10";
  t.after(() => (torChosen = "127.0.0.9"));
  const r = await runCli(explain, ["10.0.1.1", "10.0.3.1", "--port", "80", "-o", "json", ...tlsArgs()]);
  assert.equal(r.code, 0, r.stdout);
  const ex = JSON.parse(r.stdout) as Ex;
  assert.deepEqual(ex.path, ["ns/h1-k8s-w--h1-eth0", "h1", "router 127.0.0.10", "h2", "ns/h2-k8s-far-eth0"]);
  assert.deepEqual([ex.inferred![0]!.bgpPeer, (ex.inferred![0] as { learnedFrom?: string }).learnedFrom], ["tor-b", "127.0.0.9"]);
  assert.match(
    ex.steps.find((s) => s.inferred)!.detail,
    /h1's kernel chose it \(ECMP\); the best path to 10\.0\.3\.0\/26 came from 127\.0\.0\.9 with AS path \[65001 64512\]/,
  );
});

test("through a router no BGPPeer names: the walk ends there, as nothing explain knows", async () => {
  await seed();
  const r = await runCli(explain, ["10.0.1.1", "10.0.3.1", "--port", "80", "-o", "json", ...tlsArgs()]);
  assert.equal(r.code, 1, r.stdout);
  const ex = JSON.parse(r.stdout) as Ex;
  assert.equal(ex.inferred, undefined);
  assert.equal(ex.failed!.at, "h1");
  assert.match(ex.failed!.reason, /sends it to 127\.0\.0\.9 dev eth0, which is no host, router or workload this explain knows/);
});
