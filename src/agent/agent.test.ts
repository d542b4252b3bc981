import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../datastore/memory.js";
import { Agent } from "./agent.js";
import { FakeSpeaker, eventually } from "../testkit/agent/fake-speaker.js";
import type { KernelRoute } from "../calc/host-desired.js";
import { ensureDefaultPools } from "./register-node.js";
import { routerIdOf } from "../calc/bgp-peers.js";

/** Writes a resource as `plural/name` (Node, BGPConfiguration, BGPPeer), as the CLI would store it. */
function putter(store: MemoryStore) {
  const kinds: Record<string, string> = { nodes: "Node", bgpconfigurations: "BGPConfiguration", bgppeers: "BGPPeer" };
  return (k: string, v: { metadata?: object; spec: object }) =>
    store.put(
      `/calico/resources/v3/projectcalico.org/${k}`,
      JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: kinds[k.split("/")[0]!], ...v, metadata: { name: k.split("/")[1], ...v.metadata } }),
    );
}

test("agent: registers its node, peers with the mesh, originates its blocks, installs learned routes", async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}nodes/h2`, JSON.stringify({ spec: { bgp: { ipv4Address: "10.99.0.12/24" } } }));
  await store.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65010 } }));
  let routes: KernelRoute[] = [];
  const configured: string[] = [];
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", ipv6: "fd99::11/64", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async (r) => void (routes = r) },
      interfaces: { configureWorkloadInterface: async (n) => void configured.push(n) },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
    },
  );
  await agent.start();
  const node = JSON.parse((await store.get(`${R}nodes/h1`))!.value);
  assert.equal(node.spec.bgp.ipv4Address, "10.99.0.11/24");
  assert.equal(node.spec.bgp.ipv6Address, "fd99::11/64");
  assert.deepEqual(speaker!.opts, { routerId: "10.99.0.11", asNumber: 65010, listenPort: 179, listenAddress: "10.99.0.11" });
  assert.deepEqual(
    speaker!.peers.map((p) => [p.address, p.passive]),
    [["10.99.0.12", true]],
  );

  await store.put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", JSON.stringify({ state: "confirmed" }));
  await store.put(
    `${R}workloadendpoints/default/h1-cni-x-eth0`,
    JSON.stringify({ spec: { node: "h1", interfaceName: "tabaaaaaaaaaaa", ipNetworks: ["10.65.0.3/32"] } }),
  );
  speaker!.learn("10.65.0.64/26", ["10.99.0.12"]);
  await eventually(() =>
    assert.deepEqual(routes, [
      { dst: "10.65.0.3/32", type: "unicast", dev: "tabaaaaaaaaaaa", scope: "link" },
      { dst: "10.65.0.0/26", type: "blackhole" },
      { dst: "10.65.0.64/26", type: "unicast", via: ["10.99.0.12"] },
    ]),
  );
  assert.deepEqual(speaker!.originated, [{ prefix: "10.65.0.0/26" }]);
  assert.deepEqual(configured, ["tabaaaaaaaaaaa"]);

  speaker!.learn("10.65.0.64/26", []);
  await eventually(() => assert.equal(routes.length, 2));
  await agent.stop("bye");
  assert.equal(speaker!.stoppedWith, "bye");
});

test("default pools are created only when there are none", async () => {
  const store = new MemoryStore();
  assert.deepEqual(await ensureDefaultPools(store, { ipv4: "10.65.0.0/16", ipv6: "fd65::/48" }), ["default-ipv4-ippool", "default-ipv6-ippool"]);
  assert.deepEqual(await ensureDefaultPools(store, { ipv4: "192.168.0.0/16" }), []);
  await assert.rejects(ensureDefaultPools(new MemoryStore(), { ipv4: "10.65.0.1/16" }), { code: "NET_BAD_PREFIX" });
});

test("agent: feeds every change to policy, tells it when in sync, and programs policy before routes", async () => {
  // The agent's timers do not hold the process open (the speaker's sockets do in real life).
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}globalnetworkpolicies/deny-all`, JSON.stringify({ spec: { selector: "all()" } }));
  const seen: string[] = [];
  const order: string[] = [];
  let inSync = false;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async () => void order.push("routes") },
      interfaces: { configureWorkloadInterface: async () => {} },
      policy: {
        onUpdate: (key) => (seen.push(key), key.includes("globalnetworkpolicies")),
        onInSync: () => void (inSync = true),
        sync: async () => void order.push("policy"),
        resync: async () => void order.push("policy-resync"),
      },
      createSpeaker: (o) => new FakeSpeaker(o),
    },
  );
  await agent.start();
  assert.ok(inSync);
  assert.ok(seen.includes(`${R}globalnetworkpolicies/deny-all`));
  assert.deepEqual(order.slice(0, 2), ["policy", "routes"]);
  order.length = 0;
  await store.put(`${R}globalnetworkpolicies/allow-dns`, JSON.stringify({ spec: { selector: "all()" } }));
  // a policy-only change flushes the policy and leaves the routes alone
  await eventually(() => assert.deepEqual(order, ["policy"]));
  order.length = 0;
  // another host's workload is nothing to this host's routes (nor, here, to its policy)
  const wep = (node: string, name: string) => JSON.stringify({ spec: { node, interfaceName: `cali${name}`, ipNetworks: ["10.65.0.9/32"] } });
  await store.put(`${R}workloadendpoints/lab/h2-k8s-w1-eth0`, wep("h2", "w1"));
  // a workload of its own is: policy first, then routes
  await store.put(`${R}workloadendpoints/lab/h1-k8s-w2-eth0`, wep("h1", "w2"));
  await eventually(() => assert.deepEqual(order, ["policy", "routes"]));
  // A rule the dataplane cannot enforce, written behind the API's back: skipped, and reported.
  await store.put(`${R}globalnetworkpolicies/web`, JSON.stringify({ spec: { selector: "all()", ingress: [{ action: "Allow", http: { methods: ["GET"] } }] } }));
  await eventually(() =>
    assert.match(
      agent.healthInputs().lastErrors.dataplane?.message ?? "",
      /^GlobalNetworkPolicy web: spec\.ingress\[0\]\.http: rule skipped \(never matches\)/,
    ),
  );
  await agent.stop();
  clearInterval(keepAlive);
});

test("agent: decodes each datastore value once and hands policy the object (invalid JSON and deletions as undefined)", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  const got = new Map<string, unknown>();
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async () => {} },
      interfaces: { configureWorkloadInterface: async () => {} },
      policy: { onUpdate: (key, obj) => (got.set(key, obj), true), onInSync: () => {}, sync: async () => {}, resync: async () => {} },
      createSpeaker: (o) => new FakeSpeaker(o),
    },
  );
  await agent.start();
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = ((text: string, reviver?: Parameters<typeof parse>[1]) => (parses++, parse(text, reviver))) as typeof JSON.parse;
  try {
    await store.put(`${R}nodes/h2`, JSON.stringify({ kind: "Node", spec: { bgp: { ipv4Address: "10.99.0.12/24" } } }));
    await eventually(() => assert.deepEqual(got.get(`${R}nodes/h2`), { kind: "Node", spec: { bgp: { ipv4Address: "10.99.0.12/24" } } }));
    assert.equal(parses, 1, "one JSON.parse for the host state and the policy graph together");
    await store.put(`${R}globalnetworkpolicies/broken`, "{not json");
    await eventually(() => assert.ok(got.has(`${R}globalnetworkpolicies/broken`)));
    assert.equal(got.get(`${R}globalnetworkpolicies/broken`), undefined);
    await store.delete(`${R}nodes/h2`);
    await eventually(() => assert.equal(got.get(`${R}nodes/h2`), undefined));
  } finally {
    JSON.parse = parse;
    await agent.stop();
    clearInterval(keepAlive);
  }
});

test("agent with graceful restart: learned routes the previous run installed stay until selection is done, then the stale ones go", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}nodes/h2`, JSON.stringify({ spec: { bgp: { ipv4Address: "10.99.0.12/24" } } }));
  let routes: KernelRoute[] = [];
  let selectionDone!: () => void;
  let speaker: (FakeSpeaker & { whenSelectionDone(): Promise<void>; stopForRestart(): Promise<void>; restartStopped?: boolean }) | undefined;
  let created: { restarting?: boolean } | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1, gracefulRestart: true },
    {
      store,
      routes: {
        reconcile: async (r) => void (routes = r),
        // what the previous run left: two learned routes and a local one
        read: async () => [
          { dst: "10.65.0.64/26", type: "unicast", via: ["10.99.0.12"] },
          { dst: "10.65.1.0/26", type: "unicast", via: ["10.99.0.12"] },
          { dst: "10.65.0.0/26", type: "blackhole" },
        ],
      },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => {
        created = o;
        const done = new Promise<void>((r) => (selectionDone = r));
        const s = Object.assign(new FakeSpeaker(o), {
          whenSelectionDone: () => done,
          async stopForRestart() {
            s.restartStopped = true;
          },
        }) as FakeSpeaker & { whenSelectionDone(): Promise<void>; stopForRestart(): Promise<void>; restartStopped?: boolean };
        speaker = s;
        return s;
      },
    },
  );
  try {
    await agent.start();
    assert.equal(created?.restarting, true, "a start that finds learned routes is a restart");
    speaker!.learn("10.65.0.64/26", ["10.99.0.13"]);
    await eventually(() =>
      assert.deepEqual(routes, [
        { dst: "10.65.0.64/26", type: "unicast", via: ["10.99.0.13"] },
        { dst: "10.65.1.0/26", type: "unicast", via: ["10.99.0.12"] },
      ]),
    );
    selectionDone();
    await eventually(() => assert.deepEqual(routes, [{ dst: "10.65.0.64/26", type: "unicast", via: ["10.99.0.13"] }]));
    await agent.stop(undefined, true);
    assert.ok(speaker!.restartStopped, "a stop for restart drops sessions without NOTIFICATION");
    assert.equal(speaker!.stoppedWith, undefined);
  } finally {
    clearInterval(keepAlive);
  }
});

test("agent: learned next hops off the connected networks are resolved recursively; unresolvable and refused routes are reported and retried", async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65001, nodeToNodeMeshEnabled: false } }));
  let routes: KernelRoute[] = [];
  let connected = ["10.98.1.1/32", "10.98.1.2/32"];
  let refuse: string | undefined = "10.70.0.0/24";
  const logs: string[] = [];
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.98.1.11/32", batchDelayMs: 1 },
    {
      store,
      routes: {
        reconcile: async (r) => {
          routes = r;
          return { refused: refuse ? [{ dst: refuse, reason: "ENETUNREACH: network is unreachable (Nexthop has invalid gateway)" }] : [] };
        },
        connected: async () => connected,
      },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
      log: (_l, msg, f) => {
        logs.push(msg);
        if (process.env["DEBUG_AGENT"]) console.error(msg, f);
      },
    },
  );
  // the system clock's timers do not keep the process alive: hold it while the agent works
  const hold = setInterval(() => {}, 1000);
  await agent.start();
  // a reflected block keeps its originator (10.98.1.12) as next hop; that host's /32 came via both ToRs
  speaker!.learn("10.98.1.12/32", ["10.98.1.1", "10.98.1.2"]);
  speaker!.learn("10.65.1.0/26", ["10.98.1.12"]);
  speaker!.learn("10.65.2.0/26", ["10.77.0.1"]);
  speaker!.learn("10.70.0.0/24", ["10.98.1.1"]);
  await eventually(() =>
    assert.deepEqual(routes, [
      { dst: "10.65.1.0/26", type: "unicast", via: ["10.98.1.1", "10.98.1.2"] },
      { dst: "10.65.2.0/26", type: "unicast", via: ["10.77.0.1"] }, // as learned: the kernel decides
      { dst: "10.70.0.0/24", type: "unicast", via: ["10.98.1.1"] },
      { dst: "10.98.1.12/32", type: "unicast", via: ["10.98.1.1", "10.98.1.2"] },
    ]),
  );
  await eventually(() =>
    assert.deepEqual(agent.routeProblems(), [
      { dst: "10.65.2.0/26", reason: "no route to next hop 10.77.0.1; left to the kernel as learned" },
      { dst: "10.70.0.0/24", reason: "kernel refused: ENETUNREACH: network is unreachable (Nexthop has invalid gateway)" },
    ]),
  );
  assert.ok(logs.includes("routes not programmed (retried on every pass)"));
  // the underlying route changes: the block follows it on the next pass; the refusal clears
  refuse = undefined;
  connected = [...connected, "10.77.0.0/24"];
  speaker!.learn("10.98.1.12/32", ["10.98.1.2"]);
  await eventually(() => assert.deepEqual(routes.find((r) => r.dst === "10.65.1.0/26")?.via, ["10.98.1.2"]));
  await eventually(() => assert.deepEqual(routes.find((r) => r.dst === "10.65.2.0/26")?.via, ["10.77.0.1"]));
  await eventually(() => assert.deepEqual(agent.routeProblems(), []));
  await agent.stop("bye");
  clearInterval(hold);
});

test("agent: a route the kernel refuses makes the next pass read the connected networks again (they may have changed unheard)", async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65001, nodeToNodeMeshEnabled: false } }));
  let routes: KernelRoute[] = [];
  // the host's uplink was renumbered: 10.98.1.0/24 is gone, the agent heard nothing of it
  let connected = ["10.98.1.0/24"];
  let reads = 0;
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.98.1.11/24", batchDelayMs: 1 },
    {
      store,
      routes: {
        reconcile: async (r) => {
          routes = r;
          const bad = r.filter((x) => x.via?.includes("10.98.1.1"));
          return { refused: bad.map((x) => ({ dst: x.dst, reason: "ENETUNREACH: network is unreachable (Nexthop has invalid gateway)" })) };
        },
        connected: async () => {
          reads++;
          return connected;
        },
      },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
    },
  );
  const hold = setInterval(() => {}, 1000);
  try {
    await agent.start();
    speaker!.learn("10.70.0.0/24", ["10.98.1.1"]); // on-link as last read, so installed as learned: refused
    await eventually(() =>
      assert.deepEqual(agent.routeProblems(), [
        { dst: "10.70.0.0/24", reason: "kernel refused: ENETUNREACH: network is unreachable (Nexthop has invalid gateway)" },
      ]),
    );
    connected = ["10.99.0.0/24"];
    const before = reads;
    speaker!.learn("10.71.0.0/24", ["10.99.0.1"]); // a pass for learned routes alone
    await eventually(() => assert.ok(routes.some((r) => r.dst === "10.71.0.0/24")));
    assert.ok(reads > before, "read again after the refusal");
    await eventually(() => assert.match(agent.routeProblems()[0]?.reason ?? "", /no route to next hop 10\.98\.1\.1/));
  } finally {
    await agent.stop("bye");
    clearInterval(hold);
  }
});

test("agent BGP model: a nodeSelector peer on the selected node only, passwords from the secret lookup, refusals and types in status, reachableBy routes, a new speaker when the listen port changes", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const put = putter(store);
  await put("nodes/h2", { metadata: { name: "h2", labels: { rack: "b" } }, spec: { bgp: { ipv4Address: "10.99.0.12/24" } } });
  await put("bgpconfigurations/default", { spec: { nodeToNodeMeshEnabled: false } });
  await put("bgppeers/tor-a", {
    spec: {
      nodeSelector: "rack == 'a'",
      peerIP: "10.99.0.1",
      asNumber: 65000,
      password: { secretKeyRef: { name: "bgp", key: "tor-a" } },
      reachableBy: "10.99.0.254",
    },
  });
  await put("bgppeers/tor-b", { spec: { nodeSelector: "rack == 'b'", peerIP: "10.99.0.2", asNumber: 65000 } });
  await put("bgppeers/spine", { spec: { peerIP: "10.99.0.3", asNumber: 65000, password: { secretKeyRef: { name: "bgp", key: "nope" } } } });
  const agents: Agent[] = [];
  const speakers = new Map<string, FakeSpeaker[]>();
  const routes = new Map<string, KernelRoute[]>();
  const start = async (name: string, ipv4: string) => {
    const agent = new Agent(
      { nodeName: name, ipv4, batchDelayMs: 1 },
      {
        store,
        routes: { reconcile: async (r) => void routes.set(name, r) },
        interfaces: { configureWorkloadInterface: async () => {} },
        readSecret: (ref) => (ref.key === "tor-a" ? { value: "pw-a" } : { error: `no such file ${ref.name}/${ref.key}` }),
        createSpeaker: (o) => {
          const s = new FakeSpeaker(o);
          speakers.set(name, [...(speakers.get(name) ?? []), s]);
          return s;
        },
      },
    );
    agents.push(agent);
    await agent.start();
    return agent;
  };
  try {
    // h1 registers itself; its labels come from the Node resource (as `tabby label` would set them)
    await put("nodes/h1", { metadata: { name: "h1", labels: { rack: "a" } }, spec: { bgp: { ipv4Address: "10.99.0.11/24" } } });
    const h1 = await start("h1", "10.99.0.11/24");
    const h2 = await start("h2", "10.99.0.12/24");
    const cur = (n: string) => speakers.get(n)!.at(-1)!;
    await eventually(() =>
      assert.deepEqual(
        cur("h1").peers.map((p) => [p.address, p.password, p.type]),
        [["10.99.0.1", "pw-a", "node-specific"]],
      ),
    );
    await eventually(
      () =>
        assert.deepEqual(
          cur("h2").peers.map((p) => p.address),
          ["10.99.0.2"],
        ),
      300,
    );
    assert.ok(!cur("h2").peers.some((p) => p.address === "10.99.0.1"), "h2 opens no session to rack a's peer");
    await eventually(() => assert.deepEqual(routes.get("h1"), [{ dst: "10.99.0.1/32", type: "unicast", via: ["10.99.0.254"] }]));
    assert.deepEqual(routes.get("h2"), []);

    cur("h1").states.set("10.99.0.1", "Established");
    const st = h1.peerStatus();
    assert.deepEqual(
      st.map((p) => [p.address, p.state, p.type, p.source]),
      [
        ["10.99.0.1", "Established", "node-specific", "tor-a"],
        ["10.99.0.3", "Refused", undefined, "spine"],
      ],
    );
    assert.equal(st[1]!.reason, "password: no such file bgp/nope");
    assert.equal(h2.peerStatus().find((p) => p.source === "spine")?.state, "Refused", "a global peer with an unreadable secret is refused everywhere");

    // the listen port is part of the speaker's identity: a new speaker, the peers given again
    await put("bgpconfigurations/node.h1", { spec: { listenPort: 1179 } });
    await eventually(() => assert.equal(speakers.get("h1")!.length, 2));
    assert.equal(speakers.get("h1")![0]!.stoppedWith, "BGP configuration changed");
    assert.equal(cur("h1").opts.listenPort, 1179);
    await eventually(() =>
      assert.deepEqual(
        cur("h1").peers.map((p) => p.address),
        ["10.99.0.1"],
      ),
    );
    assert.equal(speakers.get("h2")!.length, 1, "other nodes keep their speaker");
  } finally {
    for (const a of agents) await a.stop();
    clearInterval(keepAlive);
  }
});

test("agent: a node with a route reflector cluster id reflects for the nodes that peer with it", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const put = putter(store);
  await put("bgpconfigurations/default", { spec: { nodeToNodeMeshEnabled: false } });
  await put("nodes/c1", { metadata: { name: "c1" }, spec: { bgp: { ipv4Address: "10.99.0.21/24" } } });
  await put("nodes/c2", { metadata: { name: "c2" }, spec: { bgp: { ipv4Address: "10.99.0.22/24" } } });
  await put("nodes/rr", {
    metadata: { name: "rr", labels: { "route-reflector": "true" } },
    spec: { bgp: { ipv4Address: "10.99.0.20/24", routeReflectorClusterID: "224.0.0.1" } },
  });
  await put("bgppeers/peer-with-rr", { spec: { nodeSelector: "all()", peerSelector: "route-reflector == 'true'" } });
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "rr", ipv4: "10.99.0.20/24", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async () => {} },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
    },
  );
  try {
    await agent.start();
    assert.equal(speaker!.opts.clusterId, "224.0.0.1");
    await eventually(() =>
      assert.deepEqual(
        speaker!.peers.map((p) => [p.address, p.routeReflectorClient, p.type]),
        [
          ["10.99.0.21", true, "node-peer"],
          ["10.99.0.22", true, "node-peer"],
        ],
      ),
    );
    assert.deepEqual(
      agent.peerStatus().map((p) => p.rrClient),
      [true, true],
    );
  } finally {
    await agent.stop();
    clearInterval(keepAlive);
  }
});

test("agent on an IPv6-only node: registers without IPv4, a router id from its name, the mesh over IPv6", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(
    `${R}nodes/v6b`,
    JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "Node", metadata: { name: "v6b" }, spec: { bgp: { ipv6Address: "fd99::b/64" } } }),
  );
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "v6a", ipv6: "fd99::a/64", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async () => {} },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
    },
  );
  try {
    await agent.start();
    const node = JSON.parse((await store.get(`${R}nodes/v6a`))!.value);
    assert.deepEqual(node.spec.bgp, { ipv6Address: "fd99::a/64" });
    assert.equal(speaker!.opts.routerId, routerIdOf({ name: "v6a" }));
    assert.equal(speaker!.opts.listenAddress, "fd99::a");
    await eventually(() =>
      assert.deepEqual(
        speaker!.peers.map((p) => [p.address, p.localAddress, p.passive, p.expectedRouterId]),
        [["fd99::b", "fd99::a", true, routerIdOf({ name: "v6b" })]],
      ),
    );
  } finally {
    await agent.stop();
    clearInterval(keepAlive);
  }
});

test("agent: a new speaker that cannot start (its new port is taken) is retried, not left stopped", async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  let failures = 1;
  const made: FakeSpeaker[] = [];
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async () => {} },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => {
        const s = new FakeSpeaker(o);
        if (o.listenPort === 1179 && failures-- > 0) s.start = async () => Promise.reject(new Error("listen EADDRINUSE 10.99.0.11:1179"));
        made.push(s);
        return s;
      },
    },
  );
  try {
    await agent.start();
    await store.put(
      `${R}bgpconfigurations/default`,
      JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "BGPConfiguration", metadata: { name: "default" }, spec: { listenPort: 1179 } }),
    );
    await eventually(() => assert.ok(made.length === 3 && made[2]!.started), 500);
    assert.deepEqual(
      made.map((s) => [s.opts.listenPort, s.started]),
      [
        [179, true],
        [1179, false],
        [1179, true],
      ],
    );
  } finally {
    await agent.stop();
    clearInterval(keepAlive);
  }
});

test("agent: a workload interface that appears after its endpoint is configured when it is seen, not at the next resync", async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  let tapExists = false;
  const configured: string[] = [];
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.99.0.11/24", batchDelayMs: 1, resyncIntervalMs: 3_600_000 },
    {
      store,
      routes: { reconcile: async () => undefined },
      interfaces: {
        configureWorkloadInterface: async (n) => {
          if (!tapExists) throw new Error(`no such device ${n}`);
          configured.push(n);
        },
      },
      createSpeaker: (o) => new FakeSpeaker(o),
    },
  );
  await agent.start();
  await store.put(
    `${R}workloadendpoints/default/h1-libvirt-vm1-eth0`,
    JSON.stringify({ spec: { node: "h1", interfaceName: "tapvm1", ipNetworks: ["10.65.0.3/32"], mac: "52:54:00:00:00:01" } }),
  );
  await eventually(() => assert.equal(agent.localEndpointOn("tapvm1")?.mac, "52:54:00:00:00:01"));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(configured, [], "the tap is not there yet");
  tapExists = true;
  agent.workloadInterfaceSeen("eth9");
  agent.workloadInterfaceSeen("tapvm1");
  await eventually(() => assert.deepEqual(configured, ["tapvm1"]));
  assert.deepEqual(agent.localInterfaces(), ["tapvm1"]);
  await agent.stop("bye");
});

test("agent: a link or address change marks the connected networks stale and the next pass reads them and the kernel's routes; a monitor that cannot start is a warning", async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65001, nodeToNodeMeshEnabled: false } }));
  const passes: { dsts: string[]; reread: boolean | undefined }[] = [];
  let reads = 0;
  let heard: ((newLinks: readonly string[] | undefined) => void) | undefined;
  let stopped = 0;
  let speaker: FakeSpeaker | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.98.1.11/24", batchDelayMs: 1, resyncIntervalMs: 3_600_000 },
    {
      store,
      routes: {
        reconcile: async (r, opts) => void passes.push({ dsts: r.map((x) => x.dst), reread: opts?.reread }),
        connected: async () => {
          reads++;
          return ["10.98.1.0/24"];
        },
      },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => (speaker = new FakeSpeaker(o)),
      linkWatch: {
        start: async (onChange) => void (heard = onChange),
        stop: () => void stopped++,
      },
    },
  );
  const hold = setInterval(() => {}, 1000);
  try {
    await agent.start();
    assert.ok(heard, "the agent listens once started");
    speaker!.learn("10.70.0.0/24", ["10.98.1.1"]);
    await eventually(() => assert.ok(passes.some((p) => p.dsts.includes("10.70.0.0/24"))));
    const quiet = passes.at(-1)!;
    assert.equal(quiet.reread, false, "a pass for learned routes alone trusts the last reconcile");
    const readsBefore = reads;
    const passesBefore = passes.length;
    heard!(["up0"]); // e.g. the uplink went down and up: the kernel dropped the routes through it
    await eventually(() => assert.ok(passes.length > passesBefore));
    assert.equal(passes.at(-1)!.reread, true, "the pass after the change reads the kernel's routes");
    assert.deepEqual(passes.at(-1)!.dsts, quiet.dsts, "and programs the same routes back");
    assert.equal(reads, readsBefore + 1, "and the connected networks, once");
    speaker!.learn("10.71.0.0/24", ["10.98.1.1"]);
    await eventually(() => assert.ok(passes.at(-1)!.dsts.includes("10.71.0.0/24")));
    assert.equal(passes.at(-1)!.reread, false, "quiet again after that");
  } finally {
    await agent.stop("bye");
    clearInterval(hold);
  }
  assert.equal(stopped, 1, "the monitor is stopped with the agent");

  // a monitor that cannot open its socket: a warning, and the agent runs on (the resync repairs)
  const logs: string[] = [];
  const routes: string[][] = [];
  const agent2 = new Agent(
    { nodeName: "h2", ipv4: "10.98.1.12/24", batchDelayMs: 1 },
    {
      store,
      routes: { reconcile: async (r) => void routes.push(r.map((x) => x.dst)) },
      interfaces: { configureWorkloadInterface: async () => {} },
      createSpeaker: (o) => new FakeSpeaker(o),
      linkWatch: {
        start: async () => {
          throw new Error("socket(AF_NETLINK, NETLINK_ROUTE): EPERM");
        },
        stop: () => {},
      },
      log: (level, msg) => logs.push(`${level} ${msg}`),
    },
  );
  const hold2 = setInterval(() => {}, 1000);
  try {
    await agent2.start();
    assert.ok(logs.includes("warn cannot hear link and address changes; the resync repairs what they break"), logs.join("\n"));
    assert.ok(routes.length > 0, "programmed all the same");
  } finally {
    await agent2.stop("bye");
    clearInterval(hold2);
  }
});

test("agent: a workload interface the link monitor names as new is configured again (a veth re-created under its name); unknown names: all of them", async () => {
  const store = new MemoryStore();
  const R = "/calico/resources/v3/projectcalico.org/";
  await store.put(`${R}bgpconfigurations/default`, JSON.stringify({ spec: { asNumber: 65001, nodeToNodeMeshEnabled: false } }));
  for (const [n, ifname] of [
    [2, "tabw1"],
    [3, "tabw2"],
  ] as const)
    await store.put(
      `${R}workloadendpoints/default/h1-cni-w${n}-eth0`,
      JSON.stringify({ spec: { node: "h1", interfaceName: ifname, ipNetworks: [`10.65.0.${n}/32`] } }),
    );
  const configured: string[] = [];
  let heard: ((newLinks: readonly string[] | undefined) => void) | undefined;
  const agent = new Agent(
    { nodeName: "h1", ipv4: "10.98.1.11/24", batchDelayMs: 1, resyncIntervalMs: 3_600_000 },
    {
      store,
      routes: { reconcile: async () => undefined, connected: async () => ["10.98.1.0/24"] },
      interfaces: { configureWorkloadInterface: async (name) => void configured.push(name) },
      createSpeaker: (o) => new FakeSpeaker(o),
      linkWatch: { start: async (onChange) => void (heard = onChange), stop: () => {} },
    },
  );
  const hold = setInterval(() => {}, 1000);
  try {
    await agent.start();
    await eventually(() => assert.deepEqual(configured.sort(), ["tabw1", "tabw2"]));
    configured.length = 0;
    heard!(["tabw2", "eth0"]); // tabw2 re-created; eth0 is no workload's
    await eventually(() => assert.deepEqual(configured, ["tabw2"]));
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(configured, ["tabw2"], "tabw1 untouched, eth0 never a workload interface");
    configured.length = 0;
    heard!(undefined); // notifications lost: any link may be new
    await eventually(() => assert.deepEqual(configured.sort(), ["tabw1", "tabw2"]));
  } finally {
    await agent.stop("bye");
    clearInterval(hold);
  }
});
