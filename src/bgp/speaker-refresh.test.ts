// Scripted peers (raw socket + our codec) against a Speaker: enhanced route refresh (RFC 7313)
// both ways, graceful restart as the restarting speaker (RFC 4724: R/F bits, selection deferred
// until End-of-RIB or the deferral timer, stop without NOTIFICATION), per-peer nextHopSelf,
// large communities (RFC 8092) passing through, matched and set by policy, and policy changes
// applied without a session reset.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ScriptedPeer, inMemory, announce, fibOf, peerOpen } from "../testkit/bgp/scripted-peer.js";
import { Speaker, type PeerConfig } from "./speaker.js";
import { encodeMessage, type BgpMessage } from "./wire/messages.js";
import { endOfRib, isEndOfRib } from "./wire/update.js";
import { answer } from "./control.js";

const PORT = 179;
const AS = 64512;

const rr = (subtype: number, afi = 1): BgpMessage => ({ type: "route-refresh", afi, safi: 1, subtype });

test("enhanced route refresh, receiving: BoRR marks stale, EoRR purges what was not re-sent; stray EoRR and unknown subtypes are ignored", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.80", asNumber: AS, listen: { address: "127.0.0.80", port: PORT } });
  const fib = fibOf(sp);
  sp.setPeers([{ address: "127.0.0.81", asNumber: AS, passive: true, holdTime: 30 }]);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.81", "127.0.0.80", PORT);
    await p.establish(peerOpen("10.0.0.81", AS));
    p.send(announce("10.9.0.81", ["10.81.1.0/24", "10.81.2.0/24", "10.81.3.0/24"]));
    p.send(endOfRib("ipv4"));
    await m.wait("3 routes", () => fib.size === 3);

    // EoRR without BoRR, and subtype 9: nothing happens, the session stays
    p.send(rr(2));
    p.send(rr(9));
    await m.settle();
    assert.equal(fib.size, 3);
    assert.ok(sp.peerStatus()[0]!.established);

    // the speaker asks for a refresh (control op), the peer answers with BoRR … EoRR
    assert.deepEqual(answer(sp, { op: "refresh", peer: "127.0.0.81", family: "ipv4" }), { ok: true, result: { requests: 1 } });
    await m.wait("ROUTE-REFRESH request", () => p.got.some((m) => m.type === "route-refresh" && m.subtype === 0 && m.afi === 1));
    p.send(rr(1));
    p.send(announce("10.9.0.81", ["10.81.1.0/24"]));
    p.send(announce("10.9.0.82", ["10.81.2.0/24"]));
    await m.settle();
    assert.equal(fib.size, 3, "stale routes stay in use until EoRR");
    p.send(rr(2));
    await m.wait("10.81.3.0/24 purged at EoRR", () => fib.size === 2);
    assert.deepEqual(fib.get("10.81.2.0/24"), ["10.9.0.82"]);
    assert.ok(sp.peerStatus()[0]!.established);

    // a BoRR with a body of 5 bytes: NOTIFICATION 7/1 with the whole message, session reset
    const long = encodeMessage(rr(1));
    const bad = new Uint8Array(long.length + 1);
    bad.set(long);
    bad[17] = bad.length;
    p.send(bad);
    await m.wait("NOTIFICATION 7/1", () => p.got.some((m) => m.type === "notification"));
    const n = p.got.find((m) => m.type === "notification")!;
    assert.ok(n.type === "notification" && n.code === 7 && n.subcode === 1 && Buffer.from(n.data).equals(Buffer.from(bad)));
    await m.wait("routes gone", () => fib.size === 0);
    p.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("enhanced route refresh, answering: BoRR, the table, EoRR to a peer with capability 70; UPDATEs and End-of-RIB to one without", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.82", asNumber: AS, listen: { address: "127.0.0.82", port: PORT } });
  sp.setPeers([
    { address: "127.0.0.83", asNumber: AS, passive: true, holdTime: 30 },
    { address: "127.0.0.84", asNumber: AS, passive: true, holdTime: 30 },
  ]);
  sp.setOriginated([{ prefix: "10.82.0.0/24", nextHop: "10.9.0.82" }]);
  await sp.start();
  try {
    const withCap = m.peer();
    await withCap.connect("127.0.0.83", "127.0.0.82", PORT);
    const ours = await withCap.establish(peerOpen("10.0.0.83", AS));
    assert.ok(
      ours.capabilities.some((c) => c.code === 70),
      "we advertise enhanced route refresh",
    );
    const without = m.peer();
    await without.connect("127.0.0.84", "127.0.0.82", PORT);
    await without.establish(peerOpen("10.0.0.84", AS, { enhanced: false }));
    await m.wait("initial dumps", () => withCap.updates().some((u) => isEndOfRib(u)) && without.updates().some((u) => isEndOfRib(u)));

    for (const p of [withCap, without]) {
      p.got = [];
      p.send(rr(0));
      p.send(rr(0, 2)); // IPv6 was not negotiated: ignored
    }
    await m.wait(
      "refresh answered",
      () => withCap.got.some((m) => m.type === "route-refresh" && m.subtype === 2) && without.updates().some((u) => isEndOfRib(u)),
    );
    await m.settle();
    const kinds = (p: ScriptedPeer) =>
      p.got
        .filter((m) => m.type !== "keepalive")
        .map((m) => (m.type === "route-refresh" ? `rr${m.subtype}` : m.type === "update" ? (isEndOfRib(m) ? "eor" : "update") : m.type));
    assert.deepEqual(kinds(withCap), ["rr1", "update", "rr2"]);
    assert.deepEqual(kinds(without), ["update", "eor"]);
    assert.deepEqual(withCap.announced(), ["10.82.0.0/24"]);
    withCap.sock.destroy();
    without.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("graceful restart, restarting speaker: R and F bits, nothing sent or installed before the peer's End-of-RIB, R clear afterwards", async () => {
  const m = inMemory();
  const sp = new Speaker({
    clock: m.clock,
    network: m.network,
    routerId: "10.0.0.85",
    asNumber: AS,
    listen: { address: "127.0.0.85", port: PORT },
    gracefulRestart: { restarting: true, restartTime: 90 },
  });
  const fib = fibOf(sp);
  let done = false;
  void sp.whenSelectionDone().then(() => (done = true));
  sp.setPeers([{ address: "127.0.0.86", asNumber: AS, passive: true, holdTime: 30 }]);
  sp.setOriginated([{ prefix: "10.85.0.0/24", nextHop: "10.9.0.85" }]);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.86", "127.0.0.85", PORT);
    const ours = await p.establish(peerOpen("10.0.0.86", AS, { gr: true }));
    const gr = ours.capabilities.find((c) => c.code === 64);
    assert.deepEqual(gr, {
      code: 64,
      restarting: true,
      notification: true,
      restartTime: 90,
      families: [
        { afi: 1, safi: 1, forwarding: true },
        { afi: 2, safi: 1, forwarding: true },
      ],
    });
    p.send(announce("10.9.0.86", ["10.86.1.0/24"]));
    await m.settle();
    assert.equal(p.updates().length, 0, "selection deferred: nothing sent");
    assert.equal(fib.size, 0, "selection deferred: nothing installed");
    assert.ok(sp.selectionDeferred && !done);
    assert.equal(sp.routes("ipv4").length, 2, "the RIB itself is up to date");

    p.send(endOfRib("ipv4"));
    await m.wait("our table and End-of-RIB", () => p.updates().some((u) => isEndOfRib(u)));
    assert.deepEqual(p.announced(), ["10.85.0.0/24"]);
    await m.wait("installed", () => fib.has("10.86.1.0/24"));
    assert.ok(done && !sp.selectionDeferred);

    // after selection, a new session's OPEN no longer claims a restart
    p.sock.destroy();
    await m.wait("down", () => !sp.peerStatus()[0]!.established);
    const p2 = m.peer();
    await p2.connect("127.0.0.86", "127.0.0.85", PORT);
    const again = await p2.establish(peerOpen("10.0.0.86", AS, { gr: true }));
    const gr2 = again.capabilities.find((c) => c.code === 64);
    assert.ok(gr2 && "restarting" in gr2 && !gr2.restarting);
    p2.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("graceful restart, restarting speaker: the deferral timer ends the wait for a peer that never sends End-of-RIB; stopForRestart sends no NOTIFICATION", async () => {
  const m = inMemory();
  const sp = new Speaker({
    clock: m.clock,
    network: m.network,
    routerId: "10.0.0.87",
    asNumber: AS,
    listen: { address: "127.0.0.87", port: PORT },
    gracefulRestart: { restarting: true, selectionDeferralTime: 1 },
  });
  const fib = fibOf(sp);
  sp.setPeers([{ address: "127.0.0.88", asNumber: AS, passive: true, holdTime: 30 }]);
  sp.setOriginated([{ prefix: "10.87.0.0/24", nextHop: "10.9.0.87" }]);
  await sp.start();
  const p = m.peer();
  try {
    await p.connect("127.0.0.88", "127.0.0.87", PORT);
    await p.establish(peerOpen("10.0.0.88", AS, { gr: true }));
    p.send(announce("10.9.0.88", ["10.88.1.0/24"]));
    await m.settle();
    assert.ok(sp.selectionDeferred, "still deferred before the timer");
    m.clock.advance(1000);
    await sp.whenSelectionDone();
    await m.wait("table sent after the timer", () => p.announced().includes("10.87.0.0/24"));
    await m.wait("installed", () => fib.has("10.88.1.0/24"));
  } finally {
    await sp.stopForRestart();
  }
  await m.wait("connection closed", () => p.closed);
  assert.ok(!p.got.some((m) => m.type === "notification"), "no NOTIFICATION on a graceful-restart stop");
});

test("nextHopSelf per peer, and large communities (RFC 8092) passing through, matched and set by policy", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.90", asNumber: AS, listen: { address: "127.0.0.90", port: PORT } });
  sp.setPeers([
    {
      address: "127.0.0.91",
      asNumber: AS,
      passive: true,
      holdTime: 30,
      import: [
        { match: { largeCommunity: ["65000:666:1"] }, action: "reject" },
        { match: { largeCommunity: ["65000:1:2"] }, action: "accept", set: { largeCommunities: { add: ["64512:7:7"], remove: ["65000:9:9"] } } },
      ],
    },
    { address: "127.0.0.92", asNumber: AS, passive: true, holdTime: 30, nextHopSelf: true, routeReflectorClient: true },
    { address: "127.0.0.93", asNumber: AS, passive: true, holdTime: 30, routeReflectorClient: true },
    {
      address: "127.0.0.94",
      asNumber: 65094,
      passive: true,
      holdTime: 30,
      nextHopSelf: false,
      export: [{ match: { largeCommunity: ["64512:7:7"] }, action: "accept", set: { largeCommunities: { add: ["64512:8:8"] } } }],
    },
  ]);
  await sp.start();
  try {
    const [src, self, plain, ebgp] = [m.peer(), m.peer(), m.peer(), m.peer()];
    for (const [p, n] of [
      [src, 91],
      [self, 92],
      [plain, 93],
    ] as const) {
      await p.connect(`127.0.0.${n}`, "127.0.0.90", PORT);
      await p.establish(peerOpen(`10.0.0.${n}`, AS));
    }
    await ebgp.connect("127.0.0.94", "127.0.0.90", PORT);
    await ebgp.establish(peerOpen("10.0.0.94", 65094));
    src.send(
      announce("10.9.0.91", ["10.91.1.0/24"], {
        largeCommunities: [
          [65000, 1, 2],
          [65000, 9, 9],
        ],
      }),
    );
    src.send(announce("10.9.0.91", ["10.91.2.0/24"], { largeCommunities: [[65000, 666, 1]] }));
    await m.wait("routes reach every peer", () => [self, plain, ebgp].every((p) => p.announced().includes("10.91.1.0/24")));
    await m.settle();
    const view = sp.routes("ipv4");
    assert.deepEqual(
      view.map((r) => r.prefix),
      ["10.91.1.0/24"],
      "the large-community reject term worked",
    );
    assert.deepEqual(view[0]!.paths[0]!.largeCommunities, ["64512:7:7", "65000:1:2"]);
    const got = (p: ScriptedPeer) => p.updates().find((u) => u.nlri.some((n) => n.prefix.toString() === "10.91.1.0/24"))!.attributes;
    assert.equal(got(self).nextHop?.toString(), "127.0.0.90", "nextHopSelf: true → our session address on iBGP");
    assert.equal(got(plain).nextHop?.toString(), "10.9.0.91", "default on iBGP: next hop kept");
    assert.equal(got(ebgp).nextHop?.toString(), "10.9.0.91", "nextHopSelf: false → kept on eBGP too");
    assert.deepEqual(
      got(plain).largeCommunities,
      [
        [64512, 7, 7],
        [65000, 1, 2],
      ],
      "large communities pass through",
    );
    assert.deepEqual(
      got(ebgp).largeCommunities,
      [
        [64512, 7, 7],
        [64512, 8, 8],
        [65000, 1, 2],
      ],
      "export policy matched and set a large community",
    );
    for (const p of [src, self, plain, ebgp]) p.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("policy changes keep the session: import asks for a refresh and re-imports, export re-sends between BoRR and EoRR; a peer without RFC 7313 is reset", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.95", asNumber: AS, listen: { address: "127.0.0.95", port: PORT } });
  const fib = fibOf(sp);
  const peer = (n: number, extra: Partial<PeerConfig> = {}): PeerConfig => ({ address: `127.0.0.${n}`, asNumber: AS, passive: true, holdTime: 30, ...extra });
  const refuse = (prefix: string): PeerConfig["import"] => [{ match: { prefix: [{ prefix }] }, action: "reject" }, { action: "accept" }];
  sp.setPeers([peer(96), peer(97)]);
  sp.setOriginated([
    { prefix: "10.95.1.0/24", nextHop: "10.9.0.95" },
    { prefix: "10.95.2.0/24", nextHop: "10.9.0.95" },
  ]);
  await sp.start();
  try {
    const a = m.peer();
    await a.connect("127.0.0.96", "127.0.0.95", PORT);
    await a.establish(peerOpen("10.0.0.96", AS));
    const b = m.peer();
    await b.connect("127.0.0.97", "127.0.0.95", PORT);
    await b.establish(peerOpen("10.0.0.97", AS, { enhanced: false }));
    a.send(announce("10.9.0.96", ["10.96.1.0/24", "10.96.2.0/24"]));
    a.send(endOfRib("ipv4"));
    await m.wait("a's routes", () => fib.size === 2);
    await m.wait("initial dumps", () => a.updates().some((u) => isEndOfRib(u)) && b.updates().some((u) => isEndOfRib(u)));

    // import: a's routes are asked for again and imported under the new policy
    a.got = [];
    sp.setPeers([peer(96, { import: refuse("10.96.2.0/24") }), peer(97)]);
    await m.wait("ROUTE-REFRESH to a", () => a.got.some((m) => m.type === "route-refresh" && m.subtype === 0 && m.afi === 1));
    a.send(rr(1));
    a.send(announce("10.9.0.96", ["10.96.1.0/24", "10.96.2.0/24"]));
    a.send(rr(2));
    await m.wait("10.96.2.0/24 refused now", () => fib.size === 1);
    assert.deepEqual([...fib.keys()], ["10.96.1.0/24"]);

    // export: a's table again between BoRR and EoRR, without the route the policy now refuses
    a.got = [];
    sp.setPeers([peer(96, { import: refuse("10.96.2.0/24"), export: refuse("10.95.2.0/24") }), peer(97)]);
    await m.wait("EoRR to a", () => a.got.some((m) => m.type === "route-refresh" && m.subtype === 2));
    const kinds = a.got.filter((m) => m.type !== "keepalive").map((m) => (m.type === "route-refresh" ? `rr${m.subtype}` : m.type));
    assert.deepEqual(kinds, ["rr1", "update", "rr2"]);
    assert.deepEqual(a.announced(), ["10.95.1.0/24"]);
    assert.equal(a.closed, false);
    assert.equal(a.notification(), undefined);
    assert.ok(sp.peerStatus().find((p) => p.address === "127.0.0.96")!.established);
    assert.equal(fib.size, 1, "a's routes stayed");

    // the next-hop mode is outbound treatment too: our routes again, now with us as next hop
    a.got = [];
    sp.setPeers([peer(96, { import: refuse("10.96.2.0/24"), export: refuse("10.95.2.0/24"), nextHopSelf: true }), peer(97)]);
    await m.wait("EoRR to a after the next-hop change", () => a.got.some((m) => m.type === "route-refresh" && m.subtype === 2));
    const resent = a.updates().filter((u) => u.nlri.length > 0);
    assert.deepEqual(
      resent.map((u) => [u.nlri.map((x) => x.prefix.toString()), u.attributes.nextHop?.toString()]),
      [[["10.95.1.0/24"], "127.0.0.95"]],
    );
    assert.equal(a.closed, false);

    // b has no enhanced route refresh: it could not be told to drop a route, so it is reset
    sp.setPeers([
      peer(96, { import: refuse("10.96.2.0/24"), export: refuse("10.95.2.0/24"), nextHopSelf: true }),
      peer(97, { export: refuse("10.95.2.0/24") }),
    ]);
    await m.wait("b's NOTIFICATION", () => b.notification() !== undefined);
    assert.deepEqual(b.notification(), { code: 6, subcode: 6 }, "Cease, other configuration change");
    assert.equal(a.closed, false);

    // a policy that does not compile is refused before anything changes
    assert.throws(() => sp.setPeers([peer(96, { export: [{ action: "sideways" } as never] }), peer(97)]));
    assert.ok(sp.peerStatus().find((p) => p.address === "127.0.0.96")!.established);
    a.sock.destroy();
    b.sock.destroy();
  } finally {
    await sp.stop();
  }
});
