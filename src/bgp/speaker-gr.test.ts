// A scripted peer (in-memory connection + our codec, fake clock) against a Speaker: graceful restart helper (RFC 4724)
// keeps a peer's routes when its TCP session drops without a NOTIFICATION, then flushes what the
// restarted peer did not re-announce once its End-of-RIB arrives; a NOTIFICATION (no RFC 8538 N
// bit here) drops them at once. Also: malformed UPDATE → NOTIFICATION 3/x and session reset; treat-as-withdraw keeps the session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inMemory, announce, fibOf, peerOpen } from "../testkit/bgp/scripted-peer.js";
import { Speaker } from "./speaker.js";
import type { MemoryStream } from "../testkit/bgp/memory-transport.js";
import { decodeMessage, encodeMessage, type BgpMessage } from "./wire/messages.js";
import { buildOpen } from "./negotiate.js";
import { endOfRib } from "./wire/update.js";
import { parseIP } from "../net/ip.js";

const PORT = 179;
const AS = 64512;

test("graceful restart helper: routes survive a TCP drop, stale ones go at End-of-RIB", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.60", asNumber: AS, listen: { address: "127.0.0.60", port: PORT } });
  const fib = fibOf(sp);
  sp.setPeers([{ address: "127.0.0.61", asNumber: AS, passive: true, holdTime: 30 }]);
  await sp.start();
  try {
    const p1 = m.peer();
    await p1.connect("127.0.0.61", "127.0.0.60", PORT);
    await p1.establish(peerOpen("10.0.0.61", AS, { gr: true }));
    p1.send(announce("10.9.0.61", ["10.61.1.0/24", "10.61.2.0/24"]));
    p1.send(endOfRib("ipv4"));
    await m.wait("routes learned", () => fib.size === 2);
    p1.sock.destroy(); // crash: no NOTIFICATION
    await m.wait("session down", () => !sp.peerStatus()[0]!.established);
    await m.settle();
    assert.equal(fib.size, 2, "routes kept while the peer restarts");
    assert.equal(sp.routes("ipv4").length, 2);

    const p2 = m.peer();
    await p2.connect("127.0.0.61", "127.0.0.60", PORT);
    await p2.establish(peerOpen("10.0.0.61", AS, { gr: true }));
    p2.send(announce("10.9.0.61", ["10.61.1.0/24"]));
    await m.settle();
    assert.equal(fib.size, 2, "stale route still used until End-of-RIB");
    p2.send(endOfRib("ipv4"));
    await m.wait("stale route flushed", () => fib.size === 1);
    assert.ok(fib.has("10.61.1.0/24"));

    // a NOTIFICATION ends the session without graceful restart: everything goes
    p2.send({ type: "notification", code: 6, subcode: 2, data: new Uint8Array(0) });
    await m.wait("routes gone", () => fib.size === 0);
    p2.sock.destroy();
  } finally {
    await sp.stop();
  }
});

test("malformed UPDATEs: treat-as-withdraw keeps the session, a framing error resets it with 3/1", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.62", asNumber: AS, listen: { address: "127.0.0.62", port: PORT } });
  const fib = fibOf(sp);
  sp.setPeers([{ address: "127.0.0.63", asNumber: AS, passive: true, holdTime: 30 }]);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.63", "127.0.0.62", PORT);
    await p.establish(peerOpen("10.0.0.63", AS));
    p.send(announce("10.9.0.61", ["10.63.1.0/24", "10.63.2.0/24"]));
    await m.wait("learned", () => fib.size === 2);
    // the same prefix again with ORIGIN 7: treat-as-withdraw
    const bad = encodeMessage(announce("10.9.0.61", ["10.63.1.0/24"]));
    const at = Buffer.from(bad).indexOf(Buffer.from([0x40, 0x01, 0x01, 0x00]));
    bad[at + 3] = 7;
    p.send(bad);
    await m.wait("withdrawn", () => fib.size === 1);
    assert.ok(sp.peerStatus()[0]!.established);
    assert.equal(sp.peerStatus()[0]!.prefixesReceived, 2);
    assert.equal(sp.peerStatus()[0]!.prefixesAccepted, 1);
    // attribute length overrunning the attribute field: NOTIFICATION 3/1, session reset
    const broken = encodeMessage(announce("10.9.0.61", ["10.63.3.0/24"]));
    broken[23 + 2] = 0x40; // ORIGIN length byte → 64
    p.send(broken);
    await m.wait("NOTIFICATION received", () => p.got.some((m) => m.type === "notification"));
    const n = p.got.find((m) => m.type === "notification")!;
    assert.deepEqual(n.type === "notification" ? [n.code, n.subcode] : [], [3, 1]);
    await m.wait("closed", () => p.closed);
    await m.wait("routes gone", () => fib.size === 0);
  } finally {
    await sp.stop();
  }
});

test("send hold timer (RFC 9687): a peer that stops reading is dropped after 8 minutes", async () => {
  const m = inMemory();
  const clock = m.clock;
  const sp = new Speaker({ clock, network: m.network, routerId: "10.0.0.64", asNumber: AS, listen: { address: "127.0.0.64", port: PORT } });
  sp.setPeers([{ address: "127.0.0.65", asNumber: AS, passive: true, holdTime: 30 }]);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.65", "127.0.0.64", PORT);
    await p.establish(buildOpen({ asNumber: AS, routerId: "10.0.0.65", holdTime: 0, families: ["ipv4"], addPath: 0 }));
    await m.wait("established", () => sp.peerStatus()[0]!.established);
    (p.sock as MemoryStream).other.stall(); // the peer stops reading: the speaker's end backs up
    // distinct communities → one UPDATE per route, none of which the stalled connection takes
    const routes = [];
    for (let i = 0; i < 1_000; i++)
      routes.push({
        prefix: `100.${i >> 8}.${i & 255}.0/24`.replace(/^100\.(\d+)/, (_m, a) => `${100 + (Number(a) >> 8)}.${Number(a) & 255}`),
        communities: [`${i >> 16}:${i & 0xffff}`],
      });
    sp.setOriginated(routes);
    await m.settle();
    clock.advance(479_000);
    assert.ok(sp.peerStatus()[0]!.established, "still up before 480 s");
    clock.advance(1_000);
    clock.advance(3_000); // the close fallback
    await m.wait("dropped", () => !sp.peerStatus()[0]!.established);
    assert.match(sp.peerStatus()[0]!.lastError ?? "", /8\/0|send hold/);
    p.sock.destroy();
  } finally {
    clock.advance(10_000);
    await sp.stop();
  }
});

test("2-byte-AS peer (no RFC 6793 capability): AS_TRANS in OPEN and AS_PATH, true path in AS4_PATH", async () => {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.72", asNumber: 4200000001, listen: { address: "127.0.0.72", port: PORT } });
  sp.setPeers([{ address: "127.0.0.73", asNumber: 65001, passive: true, holdTime: 30 }]);
  sp.setOriginated([{ prefix: "10.72.0.0/24" }]);
  const fib = fibOf(sp);
  await sp.start();
  try {
    const p = m.peer();
    await p.connect("127.0.0.73", "127.0.0.72", PORT);
    const open = buildOpen({ asNumber: 65001, routerId: "10.0.0.73", holdTime: 30, families: ["ipv4"], addPath: 0 });
    open.capabilities = open.capabilities.filter((c) => c.code !== 65);
    await p.establish(open);
    const theirOpen = p.got.find((m) => m.type === "open");
    assert.equal(theirOpen?.type === "open" && theirOpen.myAs, 23456);
    // what the speaker sends, decoded as a 2-byte speaker would
    const two = { as4: false, addPath: { ipv4: false, ipv6: false } };
    const start = p.raw.length;
    const rawUpdates = () => p.raw.slice(start);
    p.send({ type: "route-refresh", afi: 1, safi: 1, subtype: 0 }); // ask for the table again
    await m.wait("UPDATE with our route", () => rawUpdates().some((u) => u[18] === 2 && u.length > 23));
    const u = rawUpdates().find((x) => x[18] === 2 && x.length > 23)!;
    const hex = Buffer.from(u).toString("hex");
    assert.ok(hex.includes("4002040201" + "5ba0"), `AS_PATH [23456] in ${hex}`);
    assert.ok(hex.includes("c011060201fa56ea01"), `AS4_PATH [4200000001] in ${hex}`);
    const decoded = decodeMessage(u, two);
    assert.deepEqual(decoded.type === "update" && decoded.attributes.asPath, [{ type: 2, asns: [4200000001] }]);
    // and a 2-byte AS_PATH from the peer is read with 2-byte ASNs
    p.send(
      encodeMessage(
        {
          ...announce("10.9.0.61", ["10.73.0.0/24"]),
          attributes: { origin: 0, asPath: [{ type: 2, asns: [65001, 65002] }], nextHop: parseIP("10.9.0.73") },
        } as BgpMessage,
        two,
      ),
    );
    await m.wait("learned", () => fib.has("10.73.0.0/24"));
    assert.deepEqual(sp.routes("ipv4").find((r) => r.prefix === "10.73.0.0/24")!.paths[0]!.asPath, [65001, 65002]);
    p.sock.destroy();
  } finally {
    await sp.stop();
  }
});
