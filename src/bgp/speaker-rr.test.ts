// Speakers on the in-memory transport with a fake clock: a route reflector with clients (ORIGINATOR_ID / CLUSTER_LIST, loop
// checks), an iBGP full mesh giving an ECMP next-hop set for an anycast prefix, refusing unknown
// addresses, and de-configuring a peer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Speaker, type FibChange, type PeerConfig } from "./speaker.js";
import { inMemory } from "../testkit/bgp/scripted-peer.js";

const PORT = 179;
const AS = 64512;
/** The in-memory bench of the test running now (each test makes a new one). */
let m = inMemory();

function speaker(n: number, clusterId?: string): Speaker {
  return new Speaker({
    clock: m.clock,
    network: m.network,
    routerId: `10.0.0.${n}`,
    asNumber: AS,
    listen: { address: `127.0.0.${n}`, port: PORT },
    ...(clusterId ? { clusterId } : {}),
  });
}

function peerCfg(self: number, other: number, extra: Partial<PeerConfig> = {}): PeerConfig {
  return { address: `127.0.0.${other}`, asNumber: AS, port: PORT, localAddress: `127.0.0.${self}`, holdTime: 9, connectRetry: 1, ...extra };
}

function fib(s: Speaker): Map<string, string[]> {
  const view = new Map<string, string[]>();
  s.onFibChange((cs: FibChange[]) => {
    for (const c of cs)
      if (c.nextHops.length) view.set(c.prefix, c.nextHops);
      else view.delete(c.prefix);
  });
  return view;
}

test("route reflector reflects between clients with ORIGINATOR_ID and CLUSTER_LIST", async () => {
  m = inMemory();
  const rr = speaker(20, "1.1.1.1");
  const c1 = speaker(21);
  const c2 = speaker(22);
  const all = [rr, c1, c2];
  try {
    rr.setPeers([peerCfg(20, 21, { routeReflectorClient: true }), peerCfg(20, 22, { routeReflectorClient: true })]);
    c1.setPeers([peerCfg(21, 20, { passive: true })]);
    c2.setPeers([peerCfg(22, 20, { passive: true })]);
    c1.setOriginated([{ prefix: "10.51.0.0/24" }, { prefix: "fd51::/64", nextHop: "fd00::21" }]);
    const f2 = fib(c2);
    await Promise.all(all.map((s) => s.start()));
    await m.wait("c2 learns c1's routes via the RR", () => f2.size === 2);
    assert.deepEqual(f2.get("10.51.0.0/24"), ["127.0.0.21"]);
    assert.deepEqual(f2.get("fd51::/64"), ["fd00::21"]);
    const p = c2.routes("ipv4")[0]!.paths[0]!;
    assert.equal(p.peer, "127.0.0.20");
    assert.equal(p.originatorId, "10.0.0.21");
    assert.deepEqual(p.clusterList, ["1.1.1.1"]);
    // c1 does not get its own route back (split horizon at the RR)
    assert.equal(c1.routes("ipv4")[0]!.paths.length, 1);
    assert.equal(c1.routes("ipv4")[0]!.paths[0]!.peer, "local");
    // withdraw at the source reaches c2
    c1.setOriginated([]);
    await m.wait("c2 loses them", () => f2.size === 0);
  } finally {
    await Promise.all(all.map((s) => s.stop()));
  }
});

test("iBGP full mesh: an anycast prefix from two hosts gives a two-next-hop ECMP set", async () => {
  m = inMemory();
  const s = [speaker(30), speaker(31), speaker(32)];
  try {
    // one side passive per pair (Calico style): the lower address waits
    s[0]!.setPeers([peerCfg(30, 31, { passive: true }), peerCfg(30, 32, { passive: true })]);
    s[1]!.setPeers([peerCfg(31, 30), peerCfg(31, 32, { passive: true })]);
    s[2]!.setPeers([peerCfg(32, 30), peerCfg(32, 31)]);
    s[1]!.setOriginated([{ prefix: "10.60.0.0/24" }]);
    s[2]!.setOriginated([{ prefix: "10.60.0.0/24" }]);
    const f0 = fib(s[0]!);
    await Promise.all(s.map((x) => x.start()));
    await m.wait("ECMP set at host 30", () => (f0.get("10.60.0.0/24") ?? []).length === 2);
    assert.deepEqual(f0.get("10.60.0.0/24"), ["127.0.0.31", "127.0.0.32"]);
    const r = s[0]!.routes("ipv4")[0]!;
    assert.equal(r.paths.length, 2);
    assert.equal(r.paths.filter((p) => p.best).length, 1);
    // one host stops: the set shrinks to one
    await s[2]!.stop("bye");
    await m.wait("set shrinks", () => (f0.get("10.60.0.0/24") ?? []).length === 1);
    assert.deepEqual(f0.get("10.60.0.0/24"), ["127.0.0.31"]);
    // routes learned over iBGP are not passed to other iBGP peers (no reflection configured)
    s[1]!.setOriginated([{ prefix: "10.60.0.0/24" }, { prefix: "10.61.0.0/24" }]);
    await m.wait("10.61 at host 30", () => f0.has("10.61.0.0/24"));
  } finally {
    await Promise.all(s.map((x) => x.stop()));
  }
});

test("connections from unconfigured addresses are closed; de-configured peers get Cease 6/3", async () => {
  m = inMemory();
  const a = speaker(40);
  const b = speaker(41);
  try {
    a.setPeers([peerCfg(40, 41)]);
    b.setPeers([peerCfg(41, 40, { passive: true })]);
    await Promise.all([a.start(), b.start()]);
    await m.wait("established", () => a.peerStatus()[0]!.established && b.peerStatus()[0]!.established);
    // 127.0.0.42 is not a peer of a
    const closed = await new Promise<boolean>((resolve) => {
      const sock = m.network.connect({ address: "127.0.0.40", port: PORT, localAddress: "127.0.0.42" }, () => {});
      sock.onData(() => resolve(false));
      sock.onClose(() => resolve(true));
    });
    assert.ok(closed);
    a.setPeers([]);
    await m.wait("b sees the Cease", () => /6\/3/.test(b.peerStatus()[0]!.lastError ?? ""));
    assert.deepEqual(a.peerStatus(), []);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test("ADD-PATH through a route reflector: a client gets the whole ECMP set of an anycast prefix", async () => {
  m = inMemory();
  const rr = speaker(50);
  const c = [speaker(51), speaker(52), speaker(53)];
  try {
    rr.setPeers([51, 52, 53].map((n) => peerCfg(50, n, { routeReflectorClient: true })));
    c.forEach((s, i) => s.setPeers([peerCfg(51 + i, 50, { passive: true })]));
    c[0]!.setOriginated([{ prefix: "10.52.0.0/24" }]);
    c[1]!.setOriginated([{ prefix: "10.52.0.0/24" }]);
    const f3 = fib(c[2]!);
    await Promise.all([rr, ...c].map((s) => s.start()));
    await m.wait("both next hops at client 53", () => (f3.get("10.52.0.0/24") ?? []).length === 2);
    assert.deepEqual(f3.get("10.52.0.0/24"), ["127.0.0.51", "127.0.0.52"]);
    const paths = c[2]!.routes("ipv4")[0]!.paths;
    assert.deepEqual(paths.map((p) => p.originatorId).sort(), ["10.0.0.51", "10.0.0.52"]);
    c[0]!.setOriginated([]);
    await m.wait("one next hop left", () => (f3.get("10.52.0.0/24") ?? []).length === 1);
    assert.deepEqual(f3.get("10.52.0.0/24"), ["127.0.0.52"]);
  } finally {
    await Promise.all([rr, ...c].map((s) => s.stop()));
  }
});
