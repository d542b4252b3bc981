// Scripted peers against a Speaker, for the per-peer options the agent sets from BGPPeer:
// keepaliveTime (RFC 4271 §4.4, never above a third of the hold time), allowOwnAs (BIRD's
// `allow local as N`, Calico numAllowedLocalASNumbers) and maxPrefixes (RFC 4486 Cease 6/1,
// sent as a Hard Reset when the N bit was exchanged, RFC 8538). Over the in-memory transport; time is a FakeClock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ScriptedPeer, inMemory, announce, fibOf, peerOpen } from "../testkit/bgp/scripted-peer.js";
import { MAX_PREFIX_RESTART_TIME, Speaker } from "./speaker.js";
import type { NotificationMessage } from "./wire/messages.js";

const PORT = 179;
const AS = 64512;
const keepalives = (p: ScriptedPeer) => p.got.filter((m) => m.type === "keepalive").length;

test("keepaliveTime: KEEPALIVEs at the configured interval; unset, a third of the hold time; never more than a third", async () => {
  const m = inMemory();
  const clock = m.clock;
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.90", asNumber: AS, listen: { address: "127.0.0.90", port: PORT } });
  sp.setPeers([
    { address: "127.0.0.91", asNumber: AS, passive: true, holdTime: 30, keepaliveTime: 2 },
    { address: "127.0.0.92", asNumber: AS, passive: true, holdTime: 30 },
    { address: "127.0.0.93", asNumber: AS, passive: true, holdTime: 30, keepaliveTime: 25 },
  ]);
  await sp.start();
  try {
    const peers = [m.peer(), m.peer(), m.peer()];
    for (const [i, p] of peers.entries()) {
      await p.connect(`127.0.0.9${i + 1}`, "127.0.0.90", PORT);
      await p.establish(peerOpen(`10.0.0.9${i + 1}`, AS));
    }
    await m.wait("3 sessions", () => sp.peerStatus().every((s) => s.established));
    const before = peers.map(keepalives);
    clock.advance(6000);
    await m.settle();
    const after = peers.map(keepalives);
    assert.deepEqual(
      after.map((n, i) => n - before[i]!),
      [3, 0, 0],
      "2 s interval: 3 in 6 s; 10 s (30/3): none yet",
    );
    clock.advance(4000);
    await m.settle();
    assert.deepEqual(
      peers.map((p, i) => keepalives(p) - before[i]!),
      [5, 1, 1],
      "25 s configured with hold 30: clamped to 10 s",
    );
    for (const p of peers) p.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("allowOwnAs: a path with our AS up to N times is accepted from that peer only; more is a loop", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.100", asNumber: AS, listen: { address: "127.0.0.100", port: PORT + 1 } });
  const fib = fibOf(sp);
  sp.setPeers([
    { address: "127.0.0.101", asNumber: 65001, passive: true, holdTime: 30, allowOwnAs: 1 },
    { address: "127.0.0.102", asNumber: 65002, passive: true, holdTime: 30 },
  ]);
  await sp.start();
  try {
    const a = m.peer();
    await a.connect("127.0.0.101", "127.0.0.100", PORT + 1);
    await a.establish(peerOpen("10.0.0.101", 65001));
    const b = m.peer();
    await b.connect("127.0.0.102", "127.0.0.100", PORT + 1);
    await b.establish(peerOpen("10.0.0.102", 65002));
    const path = (...asns: number[]) => ({ asPath: [{ type: 2 as const, asns }], localPref: undefined });
    a.send(announce("127.0.0.101", ["10.101.1.0/24"], path(65001, AS, 65100)));
    a.send(announce("127.0.0.101", ["10.101.2.0/24"], path(65001, AS, 65100, AS)));
    b.send(announce("127.0.0.102", ["10.102.1.0/24"], path(65002, AS, 65100)));
    b.send(announce("127.0.0.102", ["10.102.2.0/24"], path(65002, 65100)));
    await m.wait("both peers' UPDATEs counted", () => sp.peerStatus().reduce((n, s) => n + s.prefixesReceived, 0) === 4);
    await m.settle();
    assert.deepEqual([...fib.keys()].sort(), ["10.101.1.0/24", "10.102.2.0/24"]);
    assert.deepEqual(
      sp.peerStatus().map((s) => [s.address, s.prefixesReceived, s.prefixesAccepted]),
      [
        ["127.0.0.101", 2, 1],
        ["127.0.0.102", 2, 1],
      ],
    );
    a.sock.destroy();
    b.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("maxPrefixes: one path too many ends the session with Cease 6/1 (family and bound in the data), drops its routes, says why, and tries again later", async () => {
  const m = inMemory();
  const clock = m.clock;
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.110", asNumber: AS, listen: { address: "127.0.0.110", port: PORT + 2 } });
  const fib = fibOf(sp);
  sp.setPeers([
    { address: "127.0.0.111", asNumber: AS, passive: true, holdTime: 30, maxPrefixes: 2 },
    { address: "127.0.0.112", asNumber: AS, passive: true, holdTime: 30, maxPrefixes: 1 },
  ]);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.111", "127.0.0.110", PORT + 2);
    await p.establish(peerOpen("10.0.0.111", AS));
    p.send(announce("10.9.0.111", ["10.111.1.0/24", "10.111.2.0/24"]));
    await m.wait("2 routes", () => fib.size === 2);
    assert.ok(sp.peerStatus()[0]!.established, "at the limit is allowed");
    p.send(announce("10.9.0.111", ["10.111.3.0/24"]));
    await m.wait("NOTIFICATION", () => p.got.some((m) => m.type === "notification"));
    const n = p.got.find((m): m is NotificationMessage => m.type === "notification")!;
    assert.deepEqual([n.code, n.subcode, [...n.data]], [6, 1, [0, 1, 1, 0, 0, 0, 2]], "AFI 1, SAFI 1, bound 2 (RFC 4486 §4)");
    await m.wait("routes dropped", () => fib.size === 0);
    const st = sp.peerStatus()[0]!;
    assert.equal(st.established, false);
    assert.match(st.reason!, /^maximum prefixes reached: more than 2 accepted \(3\); sent NOTIFICATION 6\/1 \(Cease \/ Maximum Number of Prefixes Reached\)/);
    assert.equal(st.state, "Idle", "stays down until the restart time");
    clock.advance(MAX_PREFIX_RESTART_TIME * 1000);
    assert.equal(sp.peerStatus()[0]!.state, "Active", "then waits for the peer again (passive)");

    // with the N bit exchanged (RFC 8538), the Cease goes out as a Hard Reset so the peer flushes too
    const q = m.peer();
    await q.connect("127.0.0.112", "127.0.0.110", PORT + 2);
    await q.establish(peerOpen("10.0.0.112", AS, { gr: true, nBit: true }));
    q.send(announce("10.9.0.112", ["10.112.1.0/24", "10.112.2.0/24"]));
    await m.wait("NOTIFICATION", () => q.got.some((m) => m.type === "notification"));
    const h = q.got.find((m): m is NotificationMessage => m.type === "notification")!;
    assert.deepEqual([h.code, h.subcode, [...h.data.slice(0, 2)]], [6, 9, [6, 1]]);
    p.sock.destroy();
    q.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("status: a peer that refuses the connection has the socket error as its reason; a NOTIFICATION received is given in words", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.120", asNumber: AS, listen: { address: "127.0.0.120", port: PORT + 3 } });
  // nobody listens on 127.0.0.121:PORT+4
  sp.setPeers([
    { address: "127.0.0.121", asNumber: AS, port: PORT + 4, localAddress: "127.0.0.120", holdTime: 30, connectRetry: 1 },
    { address: "127.0.0.122", asNumber: AS, passive: true, holdTime: 30 },
  ]);
  await sp.start();
  try {
    await m.wait("the refused connection's reason", () => /ECONNREFUSED/.test(sp.peerStatus()[0]!.reason ?? ""));
    assert.match(sp.peerStatus()[0]!.reason!, /^socket: connect ECONNREFUSED 127\.0\.0\.121:\d+$/);
    const p = m.peer();
    await p.connect("127.0.0.122", "127.0.0.120", PORT + 3);
    await p.establish(peerOpen("10.0.0.122", AS));
    await m.wait("established", () => sp.peerStatus()[1]!.established);
    assert.equal(sp.peerStatus()[1]!.reason, undefined);
    p.send({ type: "notification", code: 6, subcode: 4, data: new Uint8Array(0) });
    await m.wait("down", () => !sp.peerStatus()[1]!.established);
    assert.equal(sp.peerStatus()[1]!.reason, "received NOTIFICATION 6/4 (Cease / Administrative Reset)");
    p.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("setPeers checks every peer before it changes any: a refused set leaves the established peers as they were", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.110", asNumber: AS, listen: { address: "127.0.0.110", port: PORT + 2 } });
  const a = { address: "127.0.0.111", asNumber: AS, passive: true, holdTime: 30 };
  sp.setPeers([a]);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.111", "127.0.0.110", PORT + 2);
    await p.establish(peerOpen("10.0.0.111", AS));
    await m.wait("established", () => sp.peerStatus()[0]!.established);
    const badPolicy = [{ match: { prefix: [{ prefix: "10.0.0.0/16", ge: 8 }] }, action: "accept" as const }];
    const refused: [string, unknown[], string][] = [
      // a's removal comes first in the loop, the bad newcomer after it
      ["BGP_NO_BFD", [{ address: "127.0.0.112", asNumber: AS, bfd: { minRx: 300, minTx: 300, multiplier: 3 } }], "a removed, a newcomer with bfd"],
      [
        "BGP_BAD_POLICY",
        [
          { ...a, holdTime: 60 },
          { address: "127.0.0.113", asNumber: AS, import: badPolicy },
        ],
        "a changed, a newcomer with a bad policy",
      ],
      [
        "BGP_ROUTER_ID",
        [
          { ...a, holdTime: 60 },
          { address: "127.0.0.114", asNumber: AS, expectedRouterId: "0.0.0.0" },
        ],
        "a changed, a bad expected router id",
      ],
      ["BGP_BAD_POLICY", [{ ...a, import: badPolicy }], "a's own policy bad"],
    ];
    for (const [code, peers, what] of refused) {
      assert.throws(() => sp.setPeers(peers as Parameters<Speaker["setPeers"]>[0]), { code }, what);
      await m.settle();
      const st = sp.peerStatus();
      assert.deepEqual(
        st.map((s) => [s.address, s.established]),
        [["127.0.0.111", true]],
        `${what}: a is still the only peer, and still established`,
      );
      assert.equal(p.got.filter((x) => x.type === "notification").length, 0, `${what}: a got no NOTIFICATION`);
    }
    p.sock.destroy();
  } finally {
    await sp.stop();
  }
});
