// Two Speakers on the in-memory transport (127.0.0.x, per-address listeners) with a fake clock exchange IPv4 and IPv6 routes over
// one MP-BGP session, withdraw them, and a clean stop withdraws everything on the other side.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Speaker, type FibChange } from "./speaker.js";
import { inMemory } from "../testkit/bgp/scripted-peer.js";

const PORT = 179;

function fibView(changes: FibChange[][]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const batch of changes)
    for (const c of batch)
      if (c.nextHops.length) m.set(c.prefix, c.nextHops);
      else m.delete(c.prefix);
  return m;
}

for (const mode of ["ibgp", "ebgp"] as const) {
  test(`two speakers exchange, withdraw and stop cleanly (${mode})`, async () => {
    const m = inMemory();
    const asB = mode === "ibgp" ? 64512 : 64513;
    const a = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.2", asNumber: 64512, listen: { address: "127.0.0.2", port: PORT } });
    const b = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.3", asNumber: asB, listen: { address: "127.0.0.3", port: PORT } });
    const fibB: FibChange[][] = [];
    const fibA: FibChange[][] = [];
    b.onFibChange((c) => fibB.push(c));
    a.onFibChange((c) => fibA.push(c));
    try {
      a.setPeers([{ address: "127.0.0.3", asNumber: asB, port: PORT, localAddress: "127.0.0.2", localIPv6: "fd00::2", holdTime: 6, connectRetry: 1 }]);
      b.setPeers([{ address: "127.0.0.2", asNumber: 64512, port: PORT, localAddress: "127.0.0.3", localIPv6: "fd00::3", holdTime: 6, connectRetry: 1 }]);
      a.setOriginated([{ prefix: "10.1.0.0/26", communities: ["64512:7"] }, { prefix: "fd00:1::/122" }]);
      b.setOriginated([{ prefix: "10.2.0.0/26" }]);
      await Promise.all([a.start(), b.start()]);
      await m.wait("established", () => a.peerStatus()[0]!.established && b.peerStatus()[0]!.established);
      await m.wait("routes at b", () => fibView(fibB).size === 2);
      assert.deepEqual(fibView(fibB).get("10.1.0.0/26"), ["127.0.0.2"]);
      assert.deepEqual(fibView(fibB).get("fd00:1::/122"), ["fd00::2"]);
      await m.wait("routes at a", () => fibView(fibA).size === 1);
      assert.deepEqual(fibView(fibA).get("10.2.0.0/26"), ["127.0.0.3"]);
      const r = b.routes("ipv4").find((x) => x.prefix === "10.1.0.0/26")!;
      assert.equal(r.paths[0]!.peer, "127.0.0.2");
      assert.deepEqual(r.paths[0]!.communities, ["64512:7"]);
      assert.deepEqual(r.paths[0]!.asPath, mode === "ibgp" ? [] : [64512]);
      if (mode === "ibgp") assert.equal(r.paths[0]!.localPref, 100);
      assert.equal(b.peerStatus()[0]!.prefixesAccepted, 2);
      assert.equal(a.peerStatus()[0]!.prefixesAdvertised, mode === "ibgp" ? 2 : 2);

      // withdraw one
      a.setOriginated([{ prefix: "fd00:1::/122" }]);
      await m.wait("withdrawal at b", () => !fibView(fibB).has("10.1.0.0/26"));
      assert.ok(fibView(fibB).has("fd00:1::/122"));

      // a clean stop of a withdraws its routes from b
      await a.stop("maintenance");
      await m.wait("b sees a gone", () => fibView(fibB).size === 0);
      await m.wait("b not established", () => !b.peerStatus()[0]!.established);
      assert.match(b.peerStatus()[0]!.lastError ?? "", /6\/2: maintenance/);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
}

test("a restarted peer is reconnected to (idle-hold backoff, then Connect) and re-learned", async () => {
  const m = inMemory();
  const port = PORT + 1;
  const mk = () => new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.4", asNumber: 64512, listen: { address: "127.0.0.4", port } });
  let a = mk();
  const b = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.5", asNumber: 64512, listen: { address: "127.0.0.5", port } });
  const fibB: FibChange[][] = [];
  b.onFibChange((c) => fibB.push(c));
  const aPeers = [{ address: "127.0.0.5", asNumber: 64512, port, localAddress: "127.0.0.4", holdTime: 6, connectRetry: 1, passive: true }];
  try {
    a.setPeers(aPeers);
    b.setPeers([{ address: "127.0.0.4", asNumber: 64512, port, localAddress: "127.0.0.5", holdTime: 6, connectRetry: 1 }]);
    a.setOriginated([{ prefix: "10.4.0.0/24" }]);
    await Promise.all([a.start(), b.start()]);
    await m.wait("first learn", () => fibView(fibB).has("10.4.0.0/24"));
    await a.stop();
    await m.wait("gone", () => !fibView(fibB).has("10.4.0.0/24"));
    a = mk();
    a.setPeers(aPeers);
    a.setOriginated([{ prefix: "10.4.0.0/24" }, { prefix: "10.4.1.0/24" }]);
    await a.start();
    await m.settle();
    assert.ok(!fibView(fibB).has("10.4.1.0/24"), "b is still waiting out its idle hold");
    // b's idle hold (1 s after the first loss), then Connect: a second at a time
    for (let i = 0; i < 30 && !fibView(fibB).has("10.4.1.0/24"); i++) {
      m.clock.advance(1000);
      await m.settle();
    }
    await m.wait("re-learned after reconnect", () => fibView(fibB).has("10.4.1.0/24"));
    assert.equal(b.peerStatus()[0]!.prefixesAccepted, 2);
  } finally {
    await a.stop();
    await b.stop();
  }
});
