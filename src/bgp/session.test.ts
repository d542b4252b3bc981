// One session (session.ts) over the in-memory transport with a fake clock, watching its FSM
// transitions: every change of state is an FSM event (fsm.ts), also those the shell causes: an
// inbound connection during the idle hold (InboundConnection), a drop for a graceful restart
// (Abort, no NOTIFICATION and no down report), and a connection collision begun before
// Established and resolved after it for the other connection (ConnectionReplaced).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, type SessionHooks } from "./session.js";
import { inMemory, peerOpen, type ScriptedPeer } from "../testkit/bgp/scripted-peer.js";

const AS = 64512;
const SELF = "127.0.0.1";
const PEER = "127.0.0.2";

function bench() {
  const m = inMemory();
  const fsm: string[] = [];
  const downs: string[] = [];
  let ups = 0;
  const hooks: SessionHooks = {
    established: () => void ups++,
    update: () => {},
    down: (_s, reason) => void downs.push(reason),
    routeRefresh: () => {},
    log: (_l, msg, f) => {
      if (msg === "fsm") fsm.push(`${f!["from"]}→${f!["to"]} ${f!["event"]}`);
    },
  };
  const s = new Session({ address: PEER, asNumber: AS, passive: true, holdTime: 30 }, { asNumber: AS, routerId: "10.0.0.1" }, m.clock, hooks, m.network);
  const ready = m.network.listen({ address: SELF, port: 179 }, { keys: [], gtsm: false }, (c) => s.acceptInbound(c));
  const connect = async (routerId = "10.0.0.2"): Promise<ScriptedPeer> => {
    await ready;
    const p = m.peer();
    await p.connect(PEER, SELF, 179);
    await p.establish(peerOpen(routerId, AS));
    return p;
  };
  return { m, s, fsm, downs, ups: () => ups, connect, ready };
}

test("an inbound connection during the idle hold is taken through the FSM (InboundConnection)", async () => {
  const b = bench();
  b.s.start();
  const p = await b.connect();
  await b.m.wait("established", () => b.s.established);
  p.sock.destroy(); // lost without a NOTIFICATION
  await b.m.wait("down", () => b.downs.length === 1);
  assert.equal(b.s.state, "Idle");
  assert.equal(b.m.clock.pendingTimers(), 1, "the idle hold runs");
  const q = await b.connect();
  await b.m.wait("established again", () => b.s.established);
  assert.deepEqual(b.fsm, [
    "Idle→Active ManualStart",
    "Active→OpenSent TcpConnectionConfirmed",
    "OpenSent→OpenConfirm OpenReceived",
    "OpenConfirm→Established KeepaliveReceived",
    "Established→Idle TcpConnectionFails",
    "Idle→Active InboundConnection",
    "Active→OpenSent TcpConnectionConfirmed",
    "OpenSent→OpenConfirm OpenReceived",
    "OpenConfirm→Established KeepaliveReceived",
  ]);
  assert.equal(b.ups(), 2);
  q.sock.destroy();
  await b.s.stop();
});

test("abort (graceful restart): Idle through the FSM, no NOTIFICATION, no down report", async () => {
  const b = bench();
  b.s.start();
  const p = await b.connect();
  await b.m.wait("established", () => b.s.established);
  await b.s.abort();
  await b.m.wait("closed", () => p.closed);
  assert.equal(b.s.state, "Idle");
  assert.equal(p.notification(), undefined);
  assert.deepEqual(b.downs, []);
  assert.equal(b.fsm.at(-1), "Established→Idle Abort");
  assert.equal(b.m.clock.pendingTimers(), 0);
});

test("a collision begun before Established and resolved after it: the other connection through the FSM (ConnectionReplaced), no down", async () => {
  const b = bench();
  b.s.start();
  await b.ready;
  const first = b.m.peer();
  await first.connect(PEER, SELF, 179);
  first.send(peerOpen("10.0.0.9", AS));
  await b.m.wait("OpenConfirm", () => b.s.state === "OpenConfirm");
  // a second connection from the peer: a collision candidate, our OPEN goes out on it
  const late = b.m.peer();
  await late.connect(PEER, SELF, 179);
  await b.m.wait("our OPEN on the candidate", () => late.got.some((x) => x.type === "open"));
  first.send({ type: "keepalive" });
  await b.m.wait("established", () => b.s.established);
  // the candidate's OPEN only now: the first connection is not ours, so the peer's choice stands
  late.send(peerOpen("10.0.0.9", AS));
  await b.m.wait("the first connection closed with 6/7", () => first.closed);
  assert.deepEqual(first.notification(), { code: 6, subcode: 7 });
  assert.equal(b.s.state, "OpenConfirm");
  late.send({ type: "keepalive" });
  await b.m.wait("established on the other connection", () => b.s.established);
  assert.deepEqual(b.fsm.slice(-3), [
    "Established→OpenSent ConnectionReplaced",
    "OpenSent→OpenConfirm OpenReceived",
    "OpenConfirm→Established KeepaliveReceived",
  ]);
  assert.deepEqual(b.downs, []);
  assert.equal(b.ups(), 2);
  assert.ok(!late.closed);
  late.sock.destroy();
  await b.s.stop();
});
