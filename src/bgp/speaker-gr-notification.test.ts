// RFC 8538 in a running Speaker against scripted peers (in-memory connection + our codec, fake clock): with the N bit
// exchanged, a NOTIFICATION (received or sent) keeps the peer's routes stale until it is back
// and has sent End-of-RIB; a Hard Reset flushes them; our own stop goes out as a Hard Reset; a
// peer without the N bit gets plain Ceases (and, in speaker-gr.test.ts, RFC 4724 behaviour).
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ScriptedPeer, inMemory, announce, fibOf, peerOpen } from "../testkit/bgp/scripted-peer.js";
import { Speaker } from "./speaker.js";
import { endOfRib } from "./wire/update.js";
import { ceaseNotification, type NotificationMessage } from "./wire/messages.js";

const PORT = 179;
const AS = 64512;
const SP = "127.0.0.70";
/** The in-memory bench of the test running now (withSpeaker makes a new one). */
let m = inMemory();

async function peerUp(nBit: boolean, prefixes: string[]): Promise<ScriptedPeer> {
  const p = m.peer();
  await p.connect("127.0.0.71", SP, PORT);
  await p.establish(peerOpen("10.0.0.71", AS, { gr: true, nBit }));
  p.send(announce("10.9.0.71", prefixes));
  p.send(endOfRib("ipv4"));
  return p;
}

async function withSpeaker(fn: (sp: Speaker, fib: Map<string, string[]>) => Promise<void>): Promise<void> {
  m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.70", asNumber: AS, listen: { address: SP, port: PORT } });
  const fib = fibOf(sp);
  sp.setPeers([{ address: "127.0.0.71", asNumber: AS, passive: true, holdTime: 30 }]);
  await sp.start();
  try {
    await fn(sp, fib);
  } finally {
    await sp.stop();
  }
}

const hold: NotificationMessage = { type: "notification", code: 4, subcode: 0, data: new Uint8Array(0) };

test("N bit: a NOTIFICATION from the peer keeps its routes until it is back with End-of-RIB", async () => {
  await withSpeaker(async (sp, fib) => {
    const p = await peerUp(true, ["10.71.1.0/24", "10.71.2.0/24"]);
    await m.wait("routes", () => fib.size === 2);
    p.send(hold);
    await m.wait("down", () => !sp.peerStatus()[0]!.established);
    await m.settle();
    assert.equal(fib.size, 2, "kept, stale");
    p.sock.destroy();
    const back = await peerUp(true, ["10.71.1.0/24"]);
    await m.wait("the route not sent again is gone at End-of-RIB", () => fib.size === 1);
    assert.ok(fib.has("10.71.1.0/24"));
    back.sock.destroy();
  });
});

test("N bit: a NOTIFICATION we send (a malformed message) keeps the peer's routes; a Hard Reset from the peer flushes them", async () => {
  await withSpeaker(async (sp, fib) => {
    const p = await peerUp(true, ["10.71.1.0/24"]);
    await m.wait("route", () => fib.size === 1);
    const bad = new Uint8Array(19).fill(0xff);
    bad[16] = 0;
    bad[17] = 19;
    bad[18] = 99; // message type 99: NOTIFICATION 1/3 from us
    p.send(bad);
    await m.wait("our NOTIFICATION", () => p.notification() !== undefined);
    assert.deepEqual(p.notification(), { code: 1, subcode: 3 }, "an error is not wrapped in a Hard Reset");
    await m.wait("down", () => !sp.peerStatus()[0]!.established);
    await m.settle();
    assert.equal(fib.size, 1, "kept, stale");
    p.sock.destroy();

    const again = await peerUp(true, ["10.71.1.0/24", "10.71.3.0/24"]);
    await m.wait("both routes", () => fib.size === 2);
    again.send({ type: "notification", code: 6, subcode: 9, data: Uint8Array.from([6, 4]) });
    await m.wait("flushed by the Hard Reset", () => fib.size === 0);
    assert.match(sp.peerStatus()[0]!.lastError ?? "", /received NOTIFICATION 6\/9, hard reset: 6\/4/);
    again.sock.destroy();
  });
});

test("N bit: our administrative shutdown goes out as a Hard Reset carrying 6/2; without the N bit a Cease goes out plain", async () => {
  m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.70", asNumber: AS, listen: { address: SP, port: PORT } });
  const fib = fibOf(sp);
  sp.setPeers([{ address: "127.0.0.71", asNumber: AS, passive: true, holdTime: 30 }]);
  await sp.start();
  const p = await peerUp(true, ["10.71.1.0/24"]);
  await m.wait("route", () => fib.size === 1);
  await sp.stop("bye");
  await m.wait("NOTIFICATION", () => p.notification() !== undefined);
  const got = p.got.find((m): m is NotificationMessage => m.type === "notification")!;
  assert.deepEqual([got.code, got.subcode, [...got.data.subarray(0, 2)]], [6, 9, [6, 2]]);
  assert.deepEqual(Buffer.from(got.data.subarray(2)), Buffer.from(ceaseNotification(2, "bye").data));
  p.sock.destroy();

  await withSpeaker(async (sp2) => {
    const r = await peerUp(false, []);
    await m.wait("up", () => sp2.peerStatus()[0]!.established);
    sp2.setPeers([]);
    await m.wait("NOTIFICATION", () => r.notification() !== undefined);
    assert.deepEqual(r.notification(), { code: 6, subcode: 3 }, "peer de-configured, plain");
    r.sock.destroy();
  });
});
