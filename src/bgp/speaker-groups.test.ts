// Update groups inside a running Speaker, against scripted peers (in-memory connections + our codec, fake clock), with
// the exact UPDATE bytes each peer receives: a late joiner's dump is the group's table without its
// own routes, then End-of-RIB; a route refresh re-sends it to that peer only; a withdrawal reaches
// the members that had the route; "prefixes advertised" per peer; a changed export policy puts the
// peer into another group without resetting its session (BoRR, the new table, EoRR).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Speaker, type PeerConfig } from "./speaker.js";
import { BgpFramer } from "./wire/framer.js";
import { inMemory } from "../testkit/bgp/scripted-peer.js";
import type { ByteStream } from "./transport.js";
import { decodeMessage, encodeMessage, type BgpMessage } from "./wire/messages.js";
import { buildOpen } from "./negotiate.js";
import { endOfRib, type UpdateMessage } from "./wire/update.js";
import { hex } from "./wire/bytes.js";
import { parsePrefix } from "../net/prefix.js";
import { parseIP } from "../net/ip.js";

const PORT = 179;
const AS = 64512;
const RR = "127.0.0.80";

/** The in-memory bench of the test running now. */
let m = inMemory();
const waitFor = (what: string, cond: () => boolean) => m.wait(what, cond);
const settle = () => m.settle();

/** A peer on a raw connection: what it receives is kept as UPDATE frames (hex), and BoRR/EoRR markers. */
class ScriptedPeer {
  sock!: ByteStream;
  updates: string[] = [];
  got: BgpMessage[] = [];
  closed = false;
  constructor(readonly n: number) {}
  async up(): Promise<void> {
    let connected!: () => void;
    const up = new Promise<void>((r) => (connected = r));
    this.sock = m.network.connect({ address: RR, port: PORT, localAddress: `127.0.0.${this.n}` }, () => connected());
    const framer = new BgpFramer();
    this.sock.onData((d) => {
      for (const f of framer.push(d)) {
        const msg = decodeMessage(f);
        this.got.push(msg);
        if (msg.type === "update") this.updates.push(hex(f));
        else if (msg.type === "route-refresh" && msg.subtype !== 0) this.updates.push(msg.subtype === 1 ? "BoRR" : "EoRR"); // RFC 7313 markers
      }
    });
    this.sock.onClose(() => (this.closed = true));
    await up;
    this.send(buildOpen({ asNumber: AS, routerId: `10.0.0.${this.n}`, holdTime: 30, families: ["ipv4"], addPath: 0 }));
    this.send({ type: "keepalive" });
    await waitFor("OPEN + KEEPALIVE from the speaker", () => this.got.some((m) => m.type === "open") && this.got.some((m) => m.type === "keepalive"));
  }
  send(m: BgpMessage): void {
    this.sock.write(encodeMessage(m));
  }
  /** Takes the UPDATE frames received so far. */
  take(): string[] {
    const u = this.updates;
    this.updates = [];
    return u;
  }
}

const nlri = (ps: string[]) => ps.map((p) => ({ prefix: parsePrefix(p), pathId: 0 }));
function announce(n: number, ...prefixes: string[]): UpdateMessage {
  return { type: "update", withdrawn: [], attributes: { origin: 0, asPath: [], nextHop: parseIP(`10.9.0.${n}`), localPref: 100 }, nlri: nlri(prefixes) };
}
/** As the reflector sends a client's route on (RFC 4456 §8). */
function reflected(n: number, ...prefixes: string[]): string {
  return hex(
    encodeMessage({
      type: "update",
      withdrawn: [],
      attributes: { origin: 0, asPath: [], nextHop: parseIP(`10.9.0.${n}`), localPref: 100, originatorId: `10.0.0.${n}`, clusterList: ["1.1.1.1"] },
      nlri: nlri(prefixes),
    }),
  );
}
const withdraw = (...prefixes: string[]) => hex(encodeMessage({ type: "update", withdrawn: nlri(prefixes), attributes: {}, nlri: [] }));
const EOR = hex(encodeMessage(endOfRib("ipv4")));

test("update groups in the speaker: late joiner's dump, route refresh, withdrawals, prefixes advertised, policy change", async () => {
  m = inMemory();
  const rr = new Speaker({
    clock: m.clock,
    network: m.network,
    routerId: "10.0.0.80",
    asNumber: AS,
    clusterId: "1.1.1.1",
    listen: { address: RR, port: PORT },
  });
  const cfg = (n: number, extra: Partial<PeerConfig> = {}): PeerConfig => ({
    address: `127.0.0.${n}`,
    asNumber: AS,
    passive: true,
    holdTime: 30,
    routeReflectorClient: true,
    localAddress: RR,
    ...extra,
  });
  rr.setPeers([cfg(81), cfg(82), cfg(83)]);
  await rr.start();
  const peers: ScriptedPeer[] = [];
  const status = (n: number) => rr.peerStatus().find((p) => p.address === `127.0.0.${n}`)!;
  try {
    const p81 = new ScriptedPeer(81);
    const p82 = new ScriptedPeer(82);
    peers.push(p81, p82);
    await p81.up();
    await waitFor("81's End-of-RIB", () => p81.updates.length === 1);
    assert.deepEqual(p81.take(), [EOR]);
    p81.send(announce(81, "10.81.1.0/24", "10.81.2.0/24"));
    p81.send(endOfRib("ipv4"));
    await waitFor("routes in the RIB", () => rr.routes("ipv4").length === 2);

    // a late joiner: the group's table, then End-of-RIB; nothing goes back to 81
    await p82.up();
    await waitFor("82's dump", () => p82.updates.length === 2);
    assert.deepEqual(p82.take(), [reflected(81, "10.81.1.0/24", "10.81.2.0/24"), EOR]);
    await waitFor("both up", () => status(82).established);
    assert.deepEqual([status(81).prefixesAdvertised, status(82).prefixesAdvertised], [0, 2]);
    assert.ok(status(81).updateGroup !== undefined);
    assert.equal(status(81).updateGroup, status(82).updateGroup);

    // 82 announces: 81 gets it, 82 does not get it back
    p82.send(announce(82, "10.82.1.0/24"));
    await waitFor("81 gets 82's route", () => p81.updates.length === 1);
    assert.deepEqual(p81.take(), [reflected(82, "10.82.1.0/24")]);
    assert.deepEqual([status(81).prefixesAdvertised, status(82).prefixesAdvertised], [1, 2]);

    // route refresh from 82: the table again, to 82 only, framed by BoRR/EoRR (both sides have RFC 7313)
    p82.send({ type: "route-refresh", afi: 1, subtype: 0, safi: 1 });
    await waitFor("82's refresh", () => p82.updates.length === 3);
    assert.deepEqual(p82.take(), ["BoRR", reflected(81, "10.81.1.0/24", "10.81.2.0/24"), "EoRR"]);

    // a withdrawal at the source reaches the member that had the route, and only it
    p81.send({ type: "update", withdrawn: nlri(["10.81.1.0/24"]), attributes: {}, nlri: [] });
    await waitFor("82 loses 10.81.1.0/24", () => p82.updates.length === 1);
    assert.deepEqual(p82.take(), [withdraw("10.81.1.0/24")]);
    await settle();
    assert.deepEqual([p81.take(), p82.take()], [[], []]);
    assert.deepEqual([status(81).prefixesAdvertised, status(82).prefixesAdvertised], [1, 1]);

    // 82's export policy changes: no reset (82 has RFC 7313): it moves to another group and gets
    // that group's table between BoRR and EoRR, here nothing, so it drops 10.81.2.0/24 at EoRR
    rr.setPeers([cfg(81), cfg(82, { export: [{ match: { prefix: [{ prefix: "10.81.0.0/16", le: 32 }] }, action: "reject" }, { action: "accept" }] }), cfg(83)]);
    await waitFor("82's refresh after the policy change", () => p82.updates.length === 2);
    assert.deepEqual(p82.take(), ["BoRR", "EoRR"]);
    assert.equal(p82.closed, false);
    assert.ok(status(82).established);
    assert.notEqual(status(82).updateGroup, status(81).updateGroup);
    // 82's session and routes stayed: 81 got no withdrawal
    await settle();
    assert.deepEqual(p81.take(), []);
    assert.deepEqual([status(81).prefixesAdvertised, status(82).prefixesAdvertised], [1, 0]);
    // a third peer with 81's treatment joins 81's group
    const p83 = new ScriptedPeer(83);
    peers.push(p83);
    await p83.up();
    await waitFor("83's dump", () => p83.updates.length === 3);
    assert.deepEqual(p83.take().sort(), [reflected(81, "10.81.2.0/24"), reflected(82, "10.82.1.0/24"), EOR].sort());
    await waitFor("83 up", () => status(83).established);
    assert.equal(status(83).updateGroup, status(81).updateGroup);
    // a route 82's policy rejects goes to 83 only
    p81.send(announce(81, "10.81.3.0/24"));
    await waitFor("83 gets it", () => p83.updates.length === 1);
    assert.deepEqual(p83.take(), [reflected(81, "10.81.3.0/24")]);
    await settle();
    assert.deepEqual(p82.take(), []);
    assert.deepEqual([status(81).prefixesAdvertised, status(82).prefixesAdvertised, status(83).prefixesAdvertised], [1, 0, 3]);
    // and one 82's policy lets through reaches it on its new group
    p81.send(announce(81, "10.99.0.0/24"));
    await waitFor("82 gets 10.99.0.0/24", () => p82.updates.length === 1);
    assert.deepEqual(p82.take(), [reflected(81, "10.99.0.0/24")]);
  } finally {
    for (const p of peers) p.sock.destroy();
    await rr.stop();
  }
});
