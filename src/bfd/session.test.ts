// State sequences of the BFD session machine (RFC 5880 §6.2, §6.8.3-§6.8.7) with time as a number.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  changeTimers,
  controlPacket,
  detectionTime,
  initialSession,
  nextDeadline,
  receive,
  setAdminDown,
  tick,
  txInterval,
  type BfdAction,
  type BfdSessionState,
  type BfdTimers,
} from "./session.js";
import { Diag, decodeControl, encodeControl, type ControlPacket } from "./wire/packet.js";

const T: BfdTimers = { desiredMinTx: 300_000, requiredMinRx: 300_000, detectMult: 3 };
const half = () => 0.5;
const states = (a: BfdAction[]) => a.filter((x) => x.type === "state").map((x) => (x.type === "state" ? `${x.from}>${x.to}` : ""));
const sent = (a: BfdAction[]) => a.filter((x): x is Extract<BfdAction, { type: "send" }> => x.type === "send").map((x) => x.packet);
const wire = (p: ControlPacket) => decodeControl(encodeControl(p));

test("three-way handshake: Down → Init → Up on both sides", () => {
  let a = initialSession(T, 1, 0);
  let b = initialSession(T, 2, 0);
  // a speaks first: b sees Down, goes Init
  let r = receive(b, wire(controlPacket(a)), 10, half);
  b = r.state;
  assert.deepEqual(states(r.actions), ["Down>Init"]);
  assert.equal(b.remoteDiscr, 1);
  const bInit = sent(r.actions)[0]!;
  assert.equal(bInit.state, "Init");
  assert.equal(bInit.yourDiscriminator, 1);
  // a sees Init: Up
  r = receive(a, wire(bInit), 20, half);
  a = r.state;
  assert.deepEqual(states(r.actions), ["Down>Up"]);
  // Up: the configured 300 ms replaces the 1 s slow rate, announced with a Poll
  const aUp = sent(r.actions).at(-1)!;
  assert.equal(aUp.state, "Up");
  assert.equal(aUp.poll, true);
  assert.equal(aUp.desiredMinTx, 300_000);
  r = receive(b, wire(aUp), 30, half);
  b = r.state;
  assert.deepEqual(states(r.actions), ["Init>Up"]);
  const final = sent(r.actions).find((p) => p.final)!;
  assert.ok(final, "the Poll is answered with a Final");
  assert.equal(final.poll, false);
  r = receive(a, wire(final), 40, half);
  a = r.state;
  assert.equal(a.polling, false);
  assert.equal(a.state, "Up");
  assert.equal(b.state, "Up");
});

function upPair(): { a: BfdSessionState; b: BfdSessionState; now: number } {
  let a = initialSession(T, 1, 0);
  let b = initialSession(T, 2, 0);
  let now = 0;
  // exchange packets until both are Up and neither polls
  for (let i = 0; i < 10; i++) {
    now += 10;
    const ra = receive(b, wire(controlPacket(a)), now, half);
    b = ra.state;
    for (const p of sent(ra.actions)) a = receive(a, wire(p), now, half).state;
    const rb = receive(a, wire(controlPacket(b)), now, half);
    a = rb.state;
    for (const p of sent(rb.actions)) b = receive(b, wire(p), now, half).state;
  }
  assert.equal(a.state, "Up");
  assert.equal(b.state, "Up");
  assert.equal(a.polling || b.polling, false);
  return { a, b, now };
}

test("Up: transmit at max(desired min tx, peer's required min rx) and detect after mult × interval", () => {
  const { a } = upPair();
  assert.equal(txInterval(a), 300_000);
  assert.equal(detectionTime(a), 900_000);
});

test("detection timeout: Up → Down with diag 1 when nothing arrives for the detection time", () => {
  const { a, now } = upPair();
  assert.equal(a.detectAt, now + 900);
  let s = a;
  // periodic packets go out, nothing comes in; no Down before the deadline
  let t = now;
  while (t + 50 < now + 900) {
    t += 50;
    const r = tick(s, t, half);
    s = r.state;
    assert.deepEqual(states(r.actions), []);
  }
  const r = tick(s, now + 900, half);
  assert.deepEqual(states(r.actions), ["Up>Down"]);
  assert.equal(r.state.localDiag, Diag.DETECTION_TIME_EXPIRED);
  assert.equal(r.state.remoteDiscr, 0, "§6.8.1: the remote discriminator is forgotten");
  const down = sent(r.actions)[0]!;
  assert.equal(down.state, "Down");
  assert.equal(down.diag, 1);
  assert.equal(down.yourDiscriminator, 0);
  assert.equal(down.desiredMinTx, 1_000_000, "back to the 1 s slow rate while not Up");
  assert.equal(r.state.detectAt, undefined);
});

test("peer signals Down: Up → Down with diag 3; AdminDown likewise", () => {
  for (const st of ["Down", "AdminDown"] as const) {
    const { a, b, now } = upPair();
    const p = { ...controlPacket(b), state: st, yourDiscriminator: st === "Down" ? 1 : 1 };
    const r = receive(a, wire(p), now + 1, half);
    assert.deepEqual(states(r.actions), ["Up>Down"]);
    assert.equal(r.state.localDiag, Diag.NEIGHBOR_DOWN);
  }
});

test("Init times out back to Down without a packet from the peer", () => {
  const a = initialSession(T, 1, 0);
  const b = initialSession(T, 2, 0);
  const r = receive(b, wire(controlPacket(a)), 0, half);
  assert.equal(r.state.state, "Init");
  // the peer's desired min tx is 1 s while not Up: 3 × 1 s
  assert.equal(r.state.detectAt, 3000);
  assert.deepEqual(states(tick(r.state, 2999, half).actions), []);
  assert.deepEqual(states(tick(r.state, 3000, half).actions), ["Init>Down"]);
});

test("Down session sends one packet a second (75-100% jitter); multiplier 1 gives 75-90%", () => {
  let s = initialSession(T, 1, 0);
  const r0 = tick(s, 0, () => 0);
  assert.equal(sent(r0.actions).length, 1);
  assert.equal(r0.state.txAt, 750);
  assert.equal(tick(s, 0, () => 0.999999).state.txAt! > 999, true);
  s = initialSession({ ...T, detectMult: 1 }, 1, 0);
  assert.equal(Math.round(tick(s, 0, () => 0.999999).state.txAt!), 900);
  assert.equal(nextDeadline(r0.state), 750);
});

test("a received Poll is answered at once with Final, without P", () => {
  const { a, b, now } = upPair();
  const poll = { ...controlPacket(b), poll: true };
  const r = receive(a, wire(poll), now + 1, half);
  const f = sent(r.actions);
  assert.equal(f.length, 1);
  assert.equal(f[0]!.final, true);
  assert.equal(f[0]!.poll, false);
});

test("timer change while Up: Poll sequence; a slower tx applies only after the Final (§6.8.3)", () => {
  const { a, b, now } = upPair();
  const r = changeTimers(a, { desiredMinTx: 600_000, requiredMinRx: 300_000, detectMult: 3 }, now, half);
  assert.equal(r.state.polling, true);
  assert.equal(sent(r.actions)[0]!.poll, true);
  assert.equal(sent(r.actions)[0]!.desiredMinTx, 600_000);
  assert.equal(txInterval(r.state), 300_000, "old rate until the Final");
  // periodic packets keep P
  assert.equal(sent(tick(r.state, r.state.txAt!, half).actions)[0]!.poll, true);
  const fin = receive(r.state, wire({ ...controlPacket(b), final: true }), now + 5, half);
  assert.equal(fin.state.polling, false);
  assert.equal(txInterval(fin.state), 600_000);
});

test("a peer asking for no packets (required min rx 0) gets none", () => {
  const { a, b, now } = upPair();
  const r = receive(a, wire({ ...controlPacket(b), requiredMinRx: 0 }), now + 1, half);
  assert.equal(r.state.txAt, undefined);
  assert.deepEqual(
    sent(tick(r.state, now + 5000, half).actions).filter((p) => p.state === "Up"),
    [],
  );
});

test("AdminDown: packets from the peer do not move the state; leaving it goes to Down", () => {
  const { a, b, now } = upPair();
  const r = setAdminDown(a, true, now, half);
  assert.deepEqual(states(r.actions), ["Up>AdminDown"]);
  assert.equal(sent(r.actions)[0]!.diag, Diag.ADMIN_DOWN);
  assert.deepEqual(states(receive(r.state, wire(controlPacket(b)), now + 1, half).actions), []);
  assert.deepEqual(states(setAdminDown(r.state, false, now + 2, half).actions), ["AdminDown>Down"]);
});
