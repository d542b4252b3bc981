// UPDATE pacing in a running Speaker (send-pacer.ts, session.ts's queue), over the in-memory
// network with a fake clock, turn by turn: a new peer's OPEN is answered while a push to the
// other clients is still being written; what a session is sent during the quiet after a round
// arrives in one write, in order (a withdrawal never overtaken by an older announcement, nor the
// reverse); a KEEPALIVE does not wait behind queued UPDATEs; a peer that stops reading gets one
// write, the rest waits in the queue until it drains, and then arrives in order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Speaker, type PeerConfig } from "./speaker.js";
import { inMemory, peerOpen, type ScriptedPeer } from "../testkit/bgp/scripted-peer.js";
import type { MemoryStream } from "../testkit/bgp/memory-transport.js";
import type { PacerOptions } from "./send-pacer.js";
import type { UpdateMessage } from "./wire/update.js";

const AS = 64512;
const PORT = 179;
const RR = "127.0.0.90";

const client = (n: number, extra: Partial<PeerConfig> = {}): PeerConfig => ({
  address: `127.0.0.${n}`,
  asNumber: AS,
  passive: true,
  holdTime: 30,
  routeReflectorClient: true,
  localAddress: RR,
  ...extra,
});

async function bench(peers: number[], pacing: PacerOptions) {
  const m = inMemory();
  const sp = new Speaker({ clock: m.clock, network: m.network, routerId: "10.0.0.90", asNumber: AS, listen: { address: RR, port: PORT }, pacing });
  sp.setPeers(peers.map((n) => client(n)));
  await sp.start();
  return { m, sp };
}

async function up(m: ReturnType<typeof inMemory>, n: number): Promise<ScriptedPeer> {
  const p = m.peer();
  await p.connect(`127.0.0.${n}`, RR, PORT);
  await p.establish(peerOpen(`10.0.0.${n}`, AS));
  return p;
}

/** One event-loop turn: in-memory bytes (microtasks), then one turn of the clock's `soon` work. */
async function turn(m: ReturnType<typeof inMemory>): Promise<void> {
  await new Promise((r) => setImmediate(r));
  m.clock.runSoonOnce();
  await new Promise((r) => setImmediate(r));
}

/** What a peer was sent, as "+prefix" / "-prefix" per UPDATE in order ("EoR" for End-of-RIB). */
function story(p: ScriptedPeer): string[] {
  return p.updates().map((u: UpdateMessage) => {
    const parts = [...u.withdrawn.map((n) => `-${n.prefix}`), ...u.nlri.map((n) => `+${n.prefix}`)];
    return parts.length === 0 ? "EoR" : parts.join(" ");
  });
}

const speakerEnd = (p: ScriptedPeer) => (p.sock as MemoryStream).other;

test("a new peer's OPEN is answered while a push to the other clients is still being written", async () => {
  const clients = [11, 12, 13, 14, 15, 16, 17, 18];
  const { m, sp } = await bench([...clients, 30], { perTurn: 2, gapPerSessionMs: 0, maxGapMs: 0 });
  try {
    const ps: ScriptedPeer[] = [];
    for (const n of clients) ps.push(await up(m, n));
    await m.settle();
    const has = () => ps.filter((p) => p.announced().includes("10.1.0.0/24")).length;
    sp.setOriginated([{ prefix: "10.1.0.0/24", nextHop: "10.0.0.90" }]);
    await turn(m);
    assert.equal(has(), 2, "the first slice of the round: two clients");
    // a new client connects and runs the OPEN exchange while six clients still wait for the push
    const late = m.peer();
    await late.connect("127.0.0.30", RR, PORT);
    late.send(peerOpen("10.0.0.30", AS));
    late.send({ type: "keepalive" });
    await new Promise((r) => setImmediate(r)); // bytes only: no `soon` work runs
    assert.ok(late.got.some((x) => x.type === "open") && late.got.some((x) => x.type === "keepalive"), "OPEN and KEEPALIVE answered at once");
    assert.equal(has(), 2, "…before the push reached the rest");
    for (let i = 0; i < 10; i++) await turn(m);
    assert.equal(has(), 8);
    assert.deepEqual(story(late), ["+10.1.0.0/24", "EoR"], "the late client's dump");
  } finally {
    await sp.stop();
  }
});

test("changes during the quiet after a round: one write per client, in order, withdrawals not overtaken", async () => {
  const { m, sp } = await bench([21, 22, 23], { perTurn: 64, gapPerSessionMs: 10, maxGapMs: 100 });
  try {
    const ps: ScriptedPeer[] = [];
    for (const n of [21, 22, 23]) ps.push(await up(m, n));
    m.clock.advance(100);
    await m.settle();
    assert.ok(ps.every((p) => story(p).join() === "EoR"));
    // one round now (the pacer was quiet long enough), then 30 ms of quiet (3 sessions × 10 ms)
    sp.setOriginated([{ prefix: "10.2.0.0/24", nextHop: "10.0.0.90" }]);
    await m.settle();
    assert.ok(ps.every((p) => story(p).join() === "EoR,+10.2.0.0/24"));
    const writes = ps.map((p) => speakerEnd(p).writes);
    const hop = { nextHop: "10.0.0.90" };
    sp.setOriginated([
      { prefix: "10.2.0.0/24", ...hop },
      { prefix: "10.3.0.0/24", ...hop },
    ]);
    sp.setOriginated([{ prefix: "10.3.0.0/24", ...hop }]);
    sp.setOriginated([
      { prefix: "10.3.0.0/24", ...hop },
      { prefix: "10.2.0.0/24", ...hop },
    ]);
    sp.setOriginated([{ prefix: "10.2.0.0/24", ...hop }]);
    await m.settle();
    m.clock.advance(29);
    await m.settle();
    assert.ok(
      ps.every((p) => story(p).length === 2),
      "nothing during the quiet",
    );
    m.clock.advance(1);
    await m.settle();
    for (const [i, p] of ps.entries()) {
      assert.deepEqual(story(p).slice(2), ["+10.3.0.0/24", "-10.2.0.0/24", "+10.2.0.0/24", "-10.3.0.0/24"]);
      assert.equal(speakerEnd(p).writes - writes[i]!, 1, "the four UPDATEs in one write");
    }
  } finally {
    await sp.stop();
  }
});

test("a KEEPALIVE does not wait behind queued UPDATEs", async () => {
  const { m, sp } = await bench([41], { perTurn: 64, gapPerSessionMs: 60_000, maxGapMs: 60_000 });
  try {
    const p = await up(m, 41);
    await m.settle(); // the dump (End-of-RIB): a round, then a minute of quiet
    sp.setOriginated([{ prefix: "10.4.0.0/24", nextHop: "10.0.0.90" }]);
    await m.settle();
    const keepalives = () => p.got.filter((x) => x.type === "keepalive").length;
    const k0 = keepalives();
    m.clock.advance(10_000); // hold time 30 s: a KEEPALIVE every 10 s
    await m.settle();
    assert.equal(keepalives(), k0 + 1);
    assert.deepEqual(story(p), ["EoR"], "the UPDATE still waits for its round");
    for (const step of [20_000, 20_000, 10_000]) {
      p.send({ type: "keepalive" }); // ours, so the speaker's hold timer does not expire
      await m.settle();
      m.clock.advance(step);
      await m.settle();
    }
    assert.ok(sp.peerStatus()[0]!.established);
    assert.deepEqual(story(p), ["EoR", "+10.4.0.0/24"], "sent once the quiet is over");
  } finally {
    await sp.stop();
  }
});

test("back-pressure: a peer that stops reading gets one write; the rest waits in the queue and arrives in order once it drains", async () => {
  const { m, sp } = await bench([51], { perTurn: 64, gapPerSessionMs: 0, maxGapMs: 0 });
  try {
    const p = await up(m, 51);
    await m.settle();
    const end = speakerEnd(p);
    end.stall();
    const w0 = end.writes;
    const routes: { prefix: string; communities: string[] }[] = [];
    for (let i = 0; i < 50; i++) {
      routes.push({ prefix: `10.5.${i}.0/24`, communities: [`1:${i}`] });
      sp.setOriginated([...routes]);
      await m.settle(); // a round each time
    }
    assert.equal(end.writes - w0, 1, "one write into the backed-up connection, however many rounds");
    assert.deepEqual(story(p), ["EoR"]);
    end.resume();
    await m.settle();
    assert.equal(end.writes - w0, 2, "what waited goes in one write once it drains");
    assert.deepEqual(story(p), ["EoR", ...routes.map((r) => `+${r.prefix}`)], "every UPDATE, in order");
    assert.ok(sp.peerStatus()[0]!.established);
  } finally {
    await sp.stop();
  }
});
