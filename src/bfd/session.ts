/**
 * One BFD session's state machine and timers, RFC 5880 asynchronous mode: the states
 * AdminDown/Down/Init/Up and their transitions (§6.2, reception §6.8.6), the timer negotiation
 * (§6.8.2-§6.8.4: transmit at max(our desired min tx, the peer's required min rx), detect after
 * the peer's multiplier × max(our required min rx, the peer's desired min tx)), 1 s transmission
 * while not Up (§6.8.3), Poll/Final sequences when our timers change (§6.8.3), and transmit jitter
 * of 75-100% of the interval (75-90% with a multiplier of 1, §6.8.7). Demand mode and the Echo
 * function are not run by us (we send D clear and Required Min Echo RX 0); a peer's Demand bit is
 * honoured as §6.8.7 says (no periodic packets to a peer in Demand mode while both are Up).
 * Pure: time is a parameter (milliseconds), randomness an injected function.
 */
import { Diag, type ControlPacket, type StateName } from "./wire/packet.js";

export interface BfdTimers {
  /** Desired min tx interval (microseconds) once Up. */
  desiredMinTx: number;
  /** Required min rx interval (microseconds). */
  requiredMinRx: number;
  detectMult: number;
}

/** §6.8.3: while not Up, the desired min tx advertised is at least one second. */
export const SLOW_TX_US = 1_000_000;

export interface BfdSessionState {
  readonly timers: BfdTimers;
  readonly state: StateName;
  readonly remoteState: StateName;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  readonly localDiag: number;
  /** bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval as currently advertised. */
  readonly desiredMinTx: number;
  readonly requiredMinRx: number;
  /** Values in force for our transmit interval and detection time until a Poll completes. */
  readonly txBasis: number;
  readonly rxBasis: number;
  readonly remoteMinRx: number;
  readonly remoteDesiredMinTx: number;
  readonly remoteDetectMult: number;
  readonly remoteDemand: boolean;
  /** A Poll Sequence is under way: our periodic packets carry P until a packet with F arrives. */
  readonly polling: boolean;
  /** Deadline (ms) of the detection timer, while it runs (state Init or Up). */
  readonly detectAt: number | undefined;
  /** When the next periodic packet is due (ms); undefined while none is sent. */
  readonly txAt: number | undefined;
}

export type BfdAction =
  /** Send this packet now. */
  { type: "send"; packet: ControlPacket } | { type: "state"; from: StateName; to: StateName; diag: number };

export interface Step {
  state: BfdSessionState;
  actions: BfdAction[];
}

/** A random number in [0, 1). */
export type Random = () => number;

export function validateTimers(t: BfdTimers): void {
  for (const k of ["desiredMinTx", "requiredMinRx"] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 1 || t[k] > 0xffffffff) throw new RangeError(`${k} must be 1..2^32-1 microseconds: ${t[k]}`);
  }
  if (!Number.isInteger(t.detectMult) || t.detectMult < 1 || t.detectMult > 255) throw new RangeError(`detectMult must be 1..255: ${t.detectMult}`);
}

export function initialSession(timers: BfdTimers, localDiscr: number, now: number): BfdSessionState {
  validateTimers(timers);
  if (!Number.isInteger(localDiscr) || localDiscr < 1 || localDiscr > 0xffffffff) throw new RangeError(`local discriminator must be non-zero: ${localDiscr}`);
  const desired = Math.max(SLOW_TX_US, timers.desiredMinTx);
  return {
    timers,
    state: "Down",
    remoteState: "Down",
    localDiscr,
    remoteDiscr: 0,
    localDiag: Diag.NONE,
    desiredMinTx: desired,
    requiredMinRx: timers.requiredMinRx,
    txBasis: desired,
    rxBasis: timers.requiredMinRx,
    remoteMinRx: 1,
    remoteDesiredMinTx: 0,
    remoteDetectMult: 0,
    remoteDemand: false,
    polling: false,
    detectAt: undefined,
    txAt: now,
  };
}

/** The transmit interval in force (µs): the slower of what we want and what the peer can take. */
export function txInterval(s: BfdSessionState): number {
  return Math.max(s.txBasis, s.remoteMinRx);
}

/** The detection time (µs) in asynchronous mode (§6.8.4). */
export function detectionTime(s: BfdSessionState): number {
  return s.remoteDetectMult * Math.max(s.rxBasis, s.remoteDesiredMinTx);
}

/** The packet we send now (with F when answering a Poll). */
export function controlPacket(s: BfdSessionState, final = false): ControlPacket {
  return {
    version: 1,
    diag: s.localDiag,
    state: s.state,
    // §6.8.7: P and F are never both set; a Final answer goes out without P
    poll: s.polling && !final,
    final,
    controlPlaneIndependent: false,
    demand: false,
    multipoint: false,
    detectMult: s.timers.detectMult,
    myDiscriminator: s.localDiscr,
    yourDiscriminator: s.remoteDiscr,
    desiredMinTx: s.desiredMinTx,
    requiredMinRx: s.requiredMinRx,
    requiredMinEchoRx: 0,
  };
}

function transmitting(s: BfdSessionState): boolean {
  // §6.8.7: not to a peer that asks for no packets, nor to a Demand-mode peer while both are Up
  if (s.remoteMinRx === 0) return false;
  if (s.remoteDemand && s.state === "Up" && s.remoteState === "Up") return false;
  return true;
}

/** The delay (ms) to the next periodic packet: the interval less 0-25% (10-25% with multiplier 1). */
function jittered(s: BfdSessionState, random: Random): number {
  const us = txInterval(s);
  const r = random();
  const factor = s.timers.detectMult === 1 ? 0.75 + 0.15 * r : 0.75 + 0.25 * r;
  return (us * factor) / 1000;
}

function schedule(s: BfdSessionState, now: number, random: Random): BfdSessionState {
  return { ...s, txAt: transmitting(s) ? now + jittered(s, random) : undefined };
}

/** Enters `to` with `diag`, adjusting the advertised timers (§6.8.3) as the state requires. */
function enter(s: BfdSessionState, to: StateName, diag: number, actions: BfdAction[]): BfdSessionState {
  if (s.state === to) return s;
  actions.push({ type: "state", from: s.state, to, diag });
  let next: BfdSessionState = { ...s, state: to, localDiag: diag };
  if (to === "Up" && s.timers.desiredMinTx < next.desiredMinTx) {
    // Up: drop from the 1 s slow rate to the configured one; a decrease applies at once, and a Poll tells the peer
    next = { ...next, desiredMinTx: s.timers.desiredMinTx, txBasis: s.timers.desiredMinTx, polling: true };
  } else if (to !== "Up" && next.desiredMinTx < SLOW_TX_US) {
    // no longer Up: back to at least 1 s, at once (only an Up session waits for the Final, §6.8.3)
    next = { ...next, desiredMinTx: SLOW_TX_US, txBasis: SLOW_TX_US, polling: true };
  }
  if (to === "Down" || to === "AdminDown") next = { ...next, detectAt: undefined };
  return next;
}

/** Processes a received packet that passed the codec's checks and was matched to this session (§6.8.6). */
export function receive(s0: BfdSessionState, p: ControlPacket, now: number, random: Random): Step {
  const actions: BfdAction[] = [];
  let s: BfdSessionState = {
    ...s0,
    remoteDiscr: p.myDiscriminator,
    remoteState: p.state,
    remoteDemand: p.demand,
    remoteMinRx: p.requiredMinRx,
    remoteDesiredMinTx: p.desiredMinTx,
    remoteDetectMult: p.detectMult,
  };
  if (p.final && s.polling) {
    // the Poll Sequence is over: the advertised values are now the ones in force
    s = { ...s, polling: false, txBasis: s.desiredMinTx, rxBasis: s.requiredMinRx };
  }
  if (s.state === "AdminDown") return { state: keepOrReschedule(s, now, random), actions };
  if (p.state === "AdminDown") {
    if (s.state !== "Down") s = enter(s, "Down", Diag.NEIGHBOR_DOWN, actions);
  } else if (s.state === "Down") {
    if (p.state === "Down") s = enter(s, "Init", Diag.NONE, actions);
    else if (p.state === "Init") s = enter(s, "Up", Diag.NONE, actions);
  } else if (s.state === "Init") {
    if (p.state === "Init" || p.state === "Up") s = enter(s, "Up", Diag.NONE, actions);
  } else if (p.state === "Down") {
    s = enter(s, "Down", Diag.NEIGHBOR_DOWN, actions);
  }
  // the detection timer runs in Init and Up, restarted by every packet
  if (s.state === "Init" || s.state === "Up") s = { ...s, detectAt: now + detectionTime(s) / 1000 };
  if (p.poll) actions.push({ type: "send", packet: controlPacket(s, true) });
  // a state change is told to the peer at once rather than at the next periodic packet
  const changed = actions.some((a) => a.type === "state");
  if (changed && transmitting(s)) actions.push({ type: "send", packet: controlPacket(s) });
  return { state: changed ? schedule(s, now, random) : keepOrReschedule(s, now, random), actions };
}

/**
 * The periodic timer after a packet came in: kept as it is (rescheduling at every reception would
 * starve our own transmissions) unless we must stop, or the interval now in force is shorter
 * than what is left of the current one.
 */
function keepOrReschedule(s: BfdSessionState, now: number, random: Random): BfdSessionState {
  if (!transmitting(s)) return { ...s, txAt: undefined };
  if (s.txAt === undefined || s.txAt - now > txInterval(s) / 1000) return schedule(s, now, random);
  return s;
}

/** Runs the timers due at `now`: detection timeout (§6.8.4) and the periodic transmission. */
export function tick(s0: BfdSessionState, now: number, random: Random): Step {
  const actions: BfdAction[] = [];
  let s = s0;
  if (s.detectAt !== undefined && now >= s.detectAt && (s.state === "Init" || s.state === "Up")) {
    s = enter(s, "Down", Diag.DETECTION_TIME_EXPIRED, actions);
    // §6.8.1: nothing heard for a detection time, so the peer is forgotten
    s = { ...s, remoteDiscr: 0, remoteState: "Down", remoteMinRx: 1, remoteDemand: false, detectAt: undefined };
    actions.push({ type: "send", packet: controlPacket(s) });
    s = schedule(s, now, random);
  }
  if (s.txAt !== undefined && now >= s.txAt) {
    actions.push({ type: "send", packet: controlPacket(s) });
    s = schedule(s, now, random);
  } else if (s.txAt === undefined && transmitting(s)) {
    s = schedule(s, now, random);
  }
  return { state: s, actions };
}

/** The earliest time (ms) `tick` has work to do. */
export function nextDeadline(s: BfdSessionState): number | undefined {
  const t = [s.txAt, s.detectAt].filter((x): x is number => x !== undefined);
  return t.length ? Math.min(...t) : undefined;
}

/** Takes the session administratively down (§6.8.16) or back (to Down). */
export function setAdminDown(s0: BfdSessionState, down: boolean, now: number, random: Random): Step {
  const actions: BfdAction[] = [];
  let s = s0;
  if (down && s.state !== "AdminDown") s = enter(s, "AdminDown", Diag.ADMIN_DOWN, actions);
  else if (!down && s.state === "AdminDown") s = enter(s, "Down", Diag.NONE, actions);
  if (actions.length) actions.push({ type: "send", packet: controlPacket(s) });
  return { state: schedule(s, now, random), actions };
}

/**
 * New timers (§6.8.3): advertised at once with a Poll Sequence. While Up, an increase of the
 * desired min tx keeps the old transmit rate, and a decrease of the required min rx keeps the old
 * detection basis, until the peer's Final.
 */
export function changeTimers(s0: BfdSessionState, timers: BfdTimers, now: number, random: Random): Step {
  validateTimers(timers);
  const up = s0.state === "Up";
  const desired = up ? timers.desiredMinTx : Math.max(SLOW_TX_US, timers.desiredMinTx);
  let s: BfdSessionState = { ...s0, timers, desiredMinTx: desired, requiredMinRx: timers.requiredMinRx };
  if (s.desiredMinTx === s0.desiredMinTx && s.requiredMinRx === s0.requiredMinRx) return { state: s, actions: [] };
  s = {
    ...s,
    polling: true,
    txBasis: !up || desired < s0.txBasis ? desired : s0.txBasis,
    rxBasis: !up || timers.requiredMinRx > s0.rxBasis ? timers.requiredMinRx : s0.rxBasis,
  };
  return { state: schedule(s, now, random), actions: [{ type: "send", packet: controlPacket(s) }] };
}
