// The speaker's failure-detector hook (BFD): a peer with `bfd` is watched from start; when the
// detector reports Down the session is reset at once with Cease/10 "BFD Down" (RFC 9384) — as a
// Hard Reset (Cease/9 carrying 6/10) when the N bit was exchanged — and the peer's routes are
// flushed even though graceful restart would have kept them; then the session comes back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inMemory, announce, fibOf, peerOpen } from "../testkit/bgp/scripted-peer.js";
import { Speaker, type FailureDetector } from "./speaker.js";
import { endOfRib } from "./wire/update.js";

const PORT = 179;
const AS = 64512;
const SP = "127.0.0.80";

class FakeDetector implements FailureDetector {
  watches = new Map<string, { opts: unknown; onDown: (r: string) => void; local: string | undefined }>();
  closed: string[] = [];
  watch(peer: string, local: string | undefined, opts: unknown, onDown: (r: string) => void) {
    this.watches.set(peer, { opts, onDown, local });
    return { close: () => void this.closed.push(peer) };
  }
}

/** A speaker over the in-memory network whose failure detector is the fake above. */
function speakerWithDetector() {
  const m = inMemory();
  const det = new FakeDetector();
  const sp = new Speaker({
    clock: m.clock,
    network: m.network,
    routerId: "10.0.0.80",
    asNumber: AS,
    listen: { address: SP, port: PORT },
    failureDetector: det,
  });
  return { m, det, sp };
}

for (const nBit of [false, true]) {
  test(`BFD down resets the session with Cease 6/10${nBit ? " inside a Hard Reset" : ""} and flushes routes despite graceful restart`, async () => {
    const { m, det, sp } = speakerWithDetector();
    const fib = fibOf(sp);
    const bfd = { minRx: 300, minTx: 300, multiplier: 3 };
    sp.setPeers([{ address: "127.0.0.81", asNumber: AS, passive: true, holdTime: 90, localAddress: SP, bfd }]);
    assert.equal(det.watches.size, 0, "not before start");
    await sp.start();
    try {
      assert.deepEqual(det.watches.get("127.0.0.81")?.opts, bfd);
      assert.equal(det.watches.get("127.0.0.81")?.local, SP);
      const p = m.peer();
      await p.connect("127.0.0.81", SP, PORT);
      await p.establish(peerOpen("10.0.0.81", AS, { gr: true, nBit }));
      p.send(announce("10.9.0.81", ["10.81.1.0/24"]));
      p.send(endOfRib("ipv4"));
      await m.wait("route", () => fib.size === 1);
      det.watches.get("127.0.0.81")!.onDown("BFD down (diag 1)");
      await m.wait("NOTIFICATION", () => p.notification() !== undefined);
      const n = p.got.find((m) => m.type === "notification")!;
      assert.ok(n.type === "notification");
      if (nBit) assert.deepEqual([n.code, n.subcode, ...n.data], [6, 9, 6, 10]);
      else assert.deepEqual([n.code, n.subcode], [6, 10]);
      await m.wait("routes flushed", () => fib.size === 0);
      assert.match(sp.peerStatus()[0]!.lastError ?? "", /^BFD down \(diag 1\): session reset/);
      // the session starts again: the peer can come back
      p.sock.destroy();
      const q = m.peer();
      await m.wait("session restarted", () => sp.peerStatus()[0]!.state !== "Idle");
      await q.connect("127.0.0.81", SP, PORT);
      await q.establish(peerOpen("10.0.0.81", AS));
      await m.wait("established again", () => sp.peerStatus()[0]!.established);
      q.sock.destroy();
      // deconfiguring the peer ends the watch
      sp.setPeers([]);
      assert.deepEqual(det.closed, ["127.0.0.81"]);
    } finally {
      await sp.stop();
    }
  });
}

test("a peer asking for bfd without a failure detector is refused", () => {
  const sp = new Speaker({ routerId: "10.0.0.80", asNumber: AS, listen: false });
  assert.throws(() => sp.setPeers([{ address: "127.0.0.81", asNumber: AS, bfd: { minRx: 300, minTx: 300, multiplier: 3 } }]), { code: "BGP_NO_BFD" });
});

test("changing only a peer's bfd options keeps its session: the watch is replaced, added or dropped", async () => {
  const { m, det, sp } = speakerWithDetector();
  const fib = fibOf(sp);
  const base = { address: "127.0.0.81", asNumber: AS, passive: true, holdTime: 90, localAddress: SP };
  const slow = { minRx: 300, minTx: 300, multiplier: 3 };
  const fast = { minRx: 100, minTx: 100, multiplier: 3 };
  sp.setPeers([{ ...base, bfd: slow }]);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.81", SP, PORT);
    await p.establish(peerOpen("10.0.0.81", AS));
    p.send(announce("10.9.0.81", ["10.81.1.0/24"]));
    p.send(endOfRib("ipv4"));
    await m.wait("route", () => fib.size === 1);
    // retuned: the old watch closed, a new one with the new options; the session and its route stay
    sp.setPeers([{ ...base, bfd: fast }]);
    assert.deepEqual(det.closed, ["127.0.0.81"]);
    assert.deepEqual(det.watches.get("127.0.0.81")?.opts, fast);
    // removed: no watch any more, and a Down from the old one is ignored
    const old = det.watches.get("127.0.0.81")!;
    det.watches.clear();
    sp.setPeers([base]);
    assert.deepEqual(det.closed, ["127.0.0.81", "127.0.0.81"]);
    assert.equal(det.watches.size, 0);
    // added back
    sp.setPeers([{ ...base, bfd: slow }]);
    assert.deepEqual(det.watches.get("127.0.0.81")?.opts, slow);
    assert.ok(old !== det.watches.get("127.0.0.81"));
    await m.settle();
    assert.equal(p.notification(), undefined, "the peer was sent a NOTIFICATION");
    assert.ok(sp.peerStatus()[0]!.established);
    assert.equal(fib.size, 1);
    // anything else that changes still resets the session
    sp.setPeers([{ ...base, bfd: slow, holdTime: 30 }]);
    await m.wait("NOTIFICATION", () => p.notification() !== undefined);
  } finally {
    await sp.stop();
  }
});
