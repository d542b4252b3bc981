// Peers prove who they are (issue 19): the BGP identifier and AS in the peer's OPEN must match
// what the configuration says (OPEN errors 2/3 Bad BGP Identifier, 2/2 Bad Peer AS), and GTSM
// (RFC 5082) on real loopback sockets (the identifier checks over the in-memory transport): a SYN sent with the default TTL is refused at accept, one
// sent with TTL 255 (and expecting 255 back) is accepted, on IPv4 and IPv6. Scripted peers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ScriptedPeer, announce, fibOf, inMemory, peerOpen, waitFor } from "../testkit/bgp/scripted-peer.js";
import { Speaker } from "./speaker.js";
import { validateOpen } from "./negotiate.js";

const PORT = 22000 + (process.pid % 1000);
const AS = 64512;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("validateOpen: expectedRouterId refuses another identifier with 2/3, accepts its own", () => {
  const exp = { peerAs: AS, localAs: AS, localRouterId: "10.0.0.1", expectedRouterId: "10.0.0.2" };
  const bad = validateOpen(peerOpen("10.0.0.3", AS), exp);
  assert.deepEqual([bad?.notifyCode, bad?.notifySubcode], [2, 3]);
  assert.match(bad!.message, /10\.0\.0\.3, expected 10\.0\.0\.2/);
  assert.equal(validateOpen(peerOpen("10.0.0.2", AS), exp), undefined);
  // without it any non-zero identifier other than ours passes (RFC 6286)
  assert.equal(validateOpen(peerOpen("10.0.0.3", AS), { peerAs: AS, localAs: AS, localRouterId: "10.0.0.1" }), undefined);
});

test("a bad expectedRouterId or ttlSecurity is refused when the peer is configured", () => {
  const sp = new Speaker({ routerId: "10.0.0.1", asNumber: AS, listen: false });
  assert.throws(() => sp.setPeers([{ address: "127.0.0.2", asNumber: AS, expectedRouterId: "10.0.0" }]), { code: "BGP_ROUTER_ID" });
  assert.throws(() => sp.setPeers([{ address: "127.0.0.3", asNumber: AS, ttlSecurity: 255 }]), { code: "BGP_GTSM_HOPS" });
  assert.throws(() => sp.setPeers([{ address: "127.0.0.4", asNumber: AS, ttlSecurity: 1.5 }]), { code: "BGP_GTSM_HOPS" });
});

for (const [what, open, want] of [
  ["another BGP identifier", peerOpen("10.0.0.99", AS), [2, 3]],
  ["another AS", peerOpen("10.0.0.91", AS + 1), [2, 2]],
] as const) {
  test(`an impostor with ${what} is refused before Established and its routes never arrive`, async () => {
    // speaker logic only: over the in-memory transport
    const m = inMemory();
    const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.90", asNumber: AS, listen: { address: "127.0.0.90", port: PORT } });
    const fib = fibOf(sp);
    sp.setPeers([{ address: "127.0.0.91", asNumber: AS, passive: true, holdTime: 30, expectedRouterId: "10.0.0.91" }]);
    await sp.start();
    try {
      const p = m.peer();
      await p.connect("127.0.0.91", "127.0.0.90", PORT);
      p.send(open);
      p.send({ type: "keepalive" });
      p.send(announce("10.9.0.91", ["8.8.8.0/24"]));
      await m.wait("NOTIFICATION", () => p.notification() !== undefined);
      assert.deepEqual(p.notification(), { code: want[0], subcode: want[1] });
      await m.wait("connection closed", () => p.closed);
      assert.equal(sp.peerStatus()[0]!.established, false);
      assert.equal(fib.size, 0);

      // the real peer, same address, right AS and identifier
      const real = m.peer();
      await real.connect("127.0.0.91", "127.0.0.90", PORT);
      await real.establish(peerOpen("10.0.0.91", AS));
      await m.wait("established", () => sp.peerStatus()[0]!.established);
      real.sock.destroy();
    } finally {
      await sp.stop();
    }
  });
}

for (const [family, self, peer, late] of [
  ["IPv4", "127.0.0.92", "127.0.0.93", false],
  ["IPv6", "::1", "::1", true],
] as const) {
  test(`GTSM on ${family}, peer configured ${late ? "after" : "before"} the listener starts: a SYN with the default TTL is refused at accept, one with TTL 255 is accepted`, async () => {
    const port = PORT + (family === "IPv4" ? 1 : 2);
    const sp = new Speaker({ routerId: "10.0.0.92", asNumber: AS, listen: { address: self, port } });
    const peers = [{ address: peer, asNumber: AS, passive: true, holdTime: 30, ttlSecurity: 1 }];
    if (!late) sp.setPeers(peers);
    await sp.start();
    // as the agent does: the listener is up first, then the peers (the listener is prepared then)
    if (late) sp.setPeers(peers);
    try {
      // a plain socket sends with TTL/hop limit 64: not one hop away in GTSM's terms
      const far = new ScriptedPeer();
      await far.connect(peer, self, port);
      far.send(peerOpen("10.0.0.93", AS));
      await waitFor("impostor closed", () => far.closed);
      assert.equal(far.got.length, 0, "nothing was sent to it");
      assert.match(sp.peerStatus()[0]!.lastError ?? "", /GTSM: SYN arrived with TTL 64, below 255/);
      assert.equal(sp.peerStatus()[0]!.established, false);

      // with GTSM on our side too: TTL 255 out, and the speaker's SYN-ACK must arrive with 255
      const near = new ScriptedPeer();
      await near.connect(peer, self, port, { ttlSecurity: 1 });
      await near.establish(peerOpen("10.0.0.93", AS));
      await waitFor("established", () => sp.peerStatus()[0]!.established);
      await sleep(50);
      assert.equal(near.closed, false);
      near.sock.destroy();
    } finally {
      await sp.stop();
    }
  });
}

for (const [family, self, peer] of [
  ["IPv4", "127.0.0.94", "127.0.0.95"],
  ["IPv6", "::1", "::1"],
] as const) {
  test(`TCP-MD5 on ${family}: the listener has the peer's key from the start; an unsigned connection never completes, a signed one establishes`, async () => {
    const port = PORT + (family === "IPv4" ? 3 : 4);
    const sp = new Speaker({ routerId: "10.0.0.94", asNumber: AS, listen: { address: family === "IPv4" ? "::" : self, port } });
    sp.setPeers([{ address: peer, asNumber: AS, passive: true, holdTime: 30, password: "mesh-secret" }]);
    await sp.start();
    try {
      // the kernel drops the unsigned SYN: no handshake, nothing reaches the speaker
      const unsigned = new ScriptedPeer();
      const outcome = await Promise.race([unsigned.connect(peer, self, port).then(() => "connected"), sleep(1500).then(() => "no handshake")]);
      unsigned.sock.destroy();
      assert.equal(outcome, "no handshake");
      assert.equal(sp.peerStatus()[0]!.state, "Active");

      const signed = new ScriptedPeer();
      await signed.connect(peer, self, port, { key: "mesh-secret" });
      await signed.establish(peerOpen("10.0.0.95", AS));
      await waitFor("established", () => sp.peerStatus()[0]!.established);
      signed.sock.destroy();
    } finally {
      await sp.stop();
    }
  });
}

test("TCP-MD5: a connection that completed its handshake before the peer's key reached the listener is refused", async () => {
  const port = PORT + 5;
  const sp = new Speaker({ routerId: "10.0.0.96", asNumber: AS, listen: { address: "127.0.0.96", port } });
  await sp.start();
  try {
    // the handshake completes inside connect() on loopback, before the peer is configured...
    // (a hand-made socket: its connect() is synchronous; the promise settles only on success)
    const early = new ScriptedPeer();
    void early.connect("127.0.0.97", "127.0.0.96", port, {});
    // ...and the peer with its key is configured before the speaker accepts it
    sp.setPeers([{ address: "127.0.0.97", asNumber: AS, passive: true, holdTime: 30, password: "mesh-secret" }]);
    await waitFor("the early connection closed", () => early.closed);
    assert.equal(early.got.length, 0, "nothing was sent to it");
    assert.match(sp.peerStatus()[0]!.lastError ?? "", /predate the peer's key/);
    assert.equal(sp.peerStatus()[0]!.established, false);
  } finally {
    await sp.stop();
  }
});
