/**
 * The agent hears link changes over rtnetlink (src/dataplane/netlink/link-monitor.ts): two real
 * agents (a FakeSpeaker for BGP, the real RouteTable and monitor) each program a learned route in
 * a namespace of their own through an uplink veth; the uplinks go down and up, which makes the
 * kernel drop the routes through them. The agent with the monitor puts its route back; the one
 * without it (and both have an hour-long resync) still lacks its route when the first has
 * repaired, so only the link event explains the repair. And a workload's veth deleted and made
 * again under its name (the kernel's defaults again) is configured again on the link event.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { MemoryStore } from "../src/datastore/memory.js";
import { Agent } from "../src/agent/agent.js";
import { ExecRunner } from "../src/dataplane/exec.js";
import { RouteTable } from "../src/dataplane/routes.js";
import { LinkMonitor } from "../src/dataplane/netlink/link-monitor.js";
import { FakeSpeaker, eventually } from "../src/testkit/agent/fake-speaker.js";

const P = `ttlw${process.pid}`;
const WITH = `${P}w`;
const WITHOUT = `${P}o`;
const WL = `${P}v`;
const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
const learnedRoute = (ns: string) => ip(ns, "route", "show", "10.70.0.0/24").trim();

before(() => {
  for (const ns of [WITH, WITHOUT]) {
    execFileSync("ip", ["netns", "add", ns]);
    ip(ns, "link", "add", "name", "up0", "type", "veth", "peer", "name", "up1");
    ip(ns, "addr", "add", "10.99.0.11/24", "dev", "up0");
    ip(ns, "link", "set", "up0", "up");
    ip(ns, "link", "set", "up1", "up");
  }
});

after(() => {
  for (const ns of [WITH, WITHOUT, WL]) {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
});

test("a route the kernel dropped with its link is put back on the link event, not at the resync", { timeout: 120_000 }, async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65001, nodeToNodeMeshEnabled: false } }));
  const runner = new ExecRunner();
  const speakers = new Map<string, FakeSpeaker>();
  const logs: string[] = [];
  const agentIn = (ns: string, node: string, watch: boolean) =>
    new Agent(
      { nodeName: node, ipv4: "10.99.0.11/24", batchDelayMs: 5, resyncIntervalMs: 3_600_000 },
      {
        store,
        routes: new RouteTable(runner, { netns: ns }),
        interfaces: { configureWorkloadInterface: async () => {} },
        createSpeaker: (o) => {
          const s = new FakeSpeaker(o);
          speakers.set(node, s);
          return s;
        },
        ...(watch ? { linkWatch: new LinkMonitor({ netns: `/var/run/netns/${ns}`, pollMs: 20 }) } : {}),
        log: (level, msg, fields) => logs.push(`${node} ${level} ${msg} ${JSON.stringify(fields ?? {})}`),
      },
    );
  const withWatch = agentIn(WITH, "h1", true);
  const without = agentIn(WITHOUT, "h2", false);
  const hold = setInterval(() => {}, 1000);
  try {
    await withWatch.start();
    await without.start();
    for (const node of ["h1", "h2"]) speakers.get(node)!.learn("10.70.0.0/24", ["10.99.0.1"]);
    for (const ns of [WITH, WITHOUT]) await eventually(() => assert.match(learnedRoute(ns), /via 10\.99\.0\.1 dev up0 proto 152/), 1000); // tries 10 ms apart

    for (const ns of [WITH, WITHOUT]) {
      ip(ns, "link", "set", "up0", "down");
      assert.equal(learnedRoute(ns), "", "the kernel drops a route whose link goes down");
      ip(ns, "link", "set", "up0", "up");
    }
    await eventually(() => assert.match(learnedRoute(WITH), /via 10\.99\.0\.1 dev up0 proto 152/), 2000);
    assert.equal(learnedRoute(WITHOUT), "", "without the monitor nothing told the other agent");
    assert.ok(!logs.some((l) => l.includes("cannot hear link")), logs.join("\n"));
  } finally {
    await withWatch.stop("bye");
    await without.stop("bye");
    clearInterval(hold);
  }
});

test("a workload veth re-created under its name is configured again on the link event, not at the resync", { timeout: 60_000 }, async () => {
  execFileSync("ip", ["netns", "add", WL]);
  const veth = () => ip(WL, "link", "add", "name", "tabw1", "type", "veth", "peer", "name", "tabw1p");
  veth();
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65001, nodeToNodeMeshEnabled: false } }));
  await store.put(
    `${R}workloadendpoints/default/h3-cni-w1-eth0`,
    JSON.stringify({ spec: { node: "h3", interfaceName: "tabw1", ipNetworks: ["10.65.0.7/32"] } }),
  );
  const configured: string[] = [];
  const agent = new Agent(
    { nodeName: "h3", ipv4: "10.99.0.13/24", batchDelayMs: 5, resyncIntervalMs: 3_600_000 },
    {
      store,
      routes: { reconcile: async () => undefined, connected: async () => ["10.99.0.0/24"] },
      interfaces: { configureWorkloadInterface: async (name) => void configured.push(name) },
      createSpeaker: (o) => new FakeSpeaker(o),
      linkWatch: new LinkMonitor({ netns: `/var/run/netns/${WL}`, pollMs: 20 }),
    },
  );
  const hold = setInterval(() => {}, 1000);
  try {
    await agent.start();
    await eventually(() => assert.deepEqual(configured, ["tabw1"]));
    ip(WL, "link", "del", "tabw1");
    veth();
    await eventually(() => assert.deepEqual(configured, ["tabw1", "tabw1"]), 500); // tries 10 ms apart
  } finally {
    await agent.stop("bye");
    clearInterval(hold);
  }
});
