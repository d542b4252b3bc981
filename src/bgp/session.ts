/**
 * The effectful shell for one BGP peer: owns the connection(s) (ByteStreams from the injected
 * BgpNetwork, transport.ts: TCP in tabby, in memory in tests), the timers (via the injected Clock),
 * feeds every event to the pure FSM (fsm.ts) and carries out its actions, frames and decodes
 * messages with the negotiated options. Active and passive: the speaker's listener hands inbound
 * connections over with `acceptInbound`. Connection collisions (RFC 4271 §6.8) are resolved here, where both
 * connections are visible. After an error the session restarts itself with an exponential
 * idle-hold backoff (RFC 4271 §8.1.1 DampPeerOscillations).
 */
import type { Clock, TimerHandle } from "../clock.js";
import { keepsRoutes, onTheWire, unwrapHardReset } from "./gr-notification.js";
import { parseIP, type IP } from "../net/ip.js";
import { initialState, step, type FsmAction, type FsmEvent, type FsmState, type TimerName } from "./fsm.js";
import { buildOpen, negotiate, validateOpen, type Negotiated } from "./negotiate.js";
import { BgpFramer } from "./wire/framer.js";
import { ceaseNotification, decodeMessage, encodeMessage, shutdownCommunication, type BgpMessage, type NotificationMessage } from "./wire/messages.js";
import { CeaseSubcode, ErrorCode, RouteRefreshSubtype, type AddressFamily } from "./wire/constants.js";
import { DEFAULT_CODEC_OPTIONS } from "./wire/attributes.js";
import type { OpenMessage } from "./wire/open.js";
import type { UpdateMessage } from "./wire/update.js";
import { dottedToU32 } from "./wire/bytes.js";
import type { BgpNetwork, ByteStream } from "./transport.js";
import { checkHops } from "./gtsm.js";
import { backoffBase, jittered, type Random } from "../net/backoff.js";
import type { PacedSession, SendPacer } from "./send-pacer.js";
import { BgpError, BgpProtocolError } from "./errors.js";
import type { PeerConfig } from "./peer-config.js";

export type { PeerConfig } from "./peer-config.js";

export interface SessionHooks {
  established(s: Session): void;
  update(s: Session, u: UpdateMessage): void;
  /** `graceful`: lost without a NOTIFICATION either way, so RFC 4724 helper rules apply. */
  down(s: Session, reason: string, wasEstablished: boolean, graceful: boolean): void;
  routeRefresh(s: Session, family: AddressFamily): void;
  /** RFC 7313: the peer begins (BoRR) or ends (EoRR) re-advertising a family. */
  refreshMarker?(s: Session, family: AddressFamily, marker: "begin" | "end"): void;
  log(level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void;
}

interface Conn {
  socket: ByteStream;
  framer: BgpFramer;
  outbound: boolean;
  /** Set on an inbound connection that arrived during OpenSent/OpenConfirm (collision candidate). */
  peerOpen?: OpenMessage;
  closing: boolean;
}

/** DampPeerOscillations: 1 s after the first failure, doubling to 30 s, as a backoff (net/backoff.ts). */
const IDLE_HOLD = { initialMs: 1000, maxMs: 30_000 };
/** RFC 4271 §10: the ConnectRetry timer (and the idle hold) less up to a quarter, at random. */
const JITTER = 0.25;
/** RFC 9687: give up on a peer that has not read our data for max(8 min, 2 × hold time). */
const MIN_SEND_HOLD_S = 480;

type ShellTimer = TimerName | "idleHold" | "sendHold";
/** Restart time we advertise as a graceful-restart helper (BIRD's default is 120 s). */
export const GR_RESTART_TIME = 120;

/** An expectedRouterId as configured: a non-zero dotted quad, else BGP_ROUTER_ID. */
export function checkRouterId(id: string, peer: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(id);
  if (!m || m.slice(1).some((o) => Number(o) > 255) || id === "0.0.0.0") {
    throw new BgpError("BGP_ROUTER_ID", `peer ${peer}: expectedRouterId must be a non-zero dotted quad, not ${JSON.stringify(id)}`);
  }
  return id;
}

export function stripMapped(addr: string | undefined): string | undefined {
  if (!addr) return addr;
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

export class Session implements PacedSession {
  readonly config: Required<Pick<PeerConfig, "address" | "asNumber" | "port" | "passive" | "holdTime" | "connectRetry">> & PeerConfig;
  private fsm: FsmState;
  private conn: Conn | undefined;
  private candidate: Conn | undefined;
  private timers = new Map<ShellTimer, TimerHandle>();
  private localOpen: OpenMessage | undefined;
  private localOpenRestarting: boolean | undefined;
  negotiated: Negotiated | undefined;
  establishedAt: number | undefined;
  lastError: string | undefined;
  /** Counters for metrics (src/metrics): UPDATEs in and out, Established sessions lost. */
  readonly counters = { updatesReceived: 0, updatesSent: 0, flaps: 0 };
  private adminDown = true;
  private closed: Promise<void> = Promise.resolve();
  private resolveClosed: (() => void) | undefined;
  /**
   * UPDATE bytes waiting for the pacer (send-pacer.ts), in order; `txAsked`: the pacer has this
   * session in a round or waiting; `txBlocked`: the connection is backed up (write returned
   * false), so nothing more is written until it drains.
   */
  private txQueue: Uint8Array[] = [];
  private txAsked = false;
  private txBlocked = false;

  constructor(
    config: PeerConfig,
    private readonly local: {
      asNumber: number;
      routerId: string;
      /** RFC 4724 restarting speaker: read at every OPEN we send (the R bit clears once selection is done). */
      restartState?: () => { restarting: boolean; forwarding: boolean };
      /** Randomness for the timers' jitter (Math.random unless a test fixes it). */
      random?: Random;
    },
    private readonly clock: Clock,
    private readonly hooks: SessionHooks,
    private readonly network: BgpNetwork,
    /** Paces UPDATE writes across the speaker's sessions; without it they are written at once. */
    private readonly pacer?: SendPacer,
  ) {
    this.config = { port: 179, passive: false, holdTime: 90, connectRetry: 5, ...config };
    this.fsm = initialState({
      localAs: local.asNumber,
      peerAs: config.asNumber,
      routerId: local.routerId,
      holdTime: this.config.holdTime,
      connectRetryTime: this.config.connectRetry,
      passive: this.config.passive,
      ...(config.expectedRouterId !== undefined ? { expectedRouterId: checkRouterId(config.expectedRouterId, config.address) } : {}),
      ...(config.keepaliveTime !== undefined ? { keepaliveTime: config.keepaliveTime } : {}),
    });
    if (config.ttlSecurity) checkHops(config.ttlSecurity, `peer ${config.address}`);
  }

  get state(): string {
    return this.fsm.name;
  }
  get established(): boolean {
    return this.fsm.name === "Established";
  }
  get ibgp(): boolean {
    return this.config.asNumber === this.local.asNumber;
  }
  /** Our address on the current connection. */
  get localAddress(): IP | undefined {
    const a = stripMapped(this.conn?.socket.localAddress);
    return a ? parseIP(a) : undefined;
  }

  start(): void {
    if (!this.adminDown) return;
    this.adminDown = false;
    this.dispatch({ type: "ManualStart" });
  }

  /** Stops the session, sending `notification` (Cease 6/2 by default) if a session is up. */
  stop(notification?: NotificationMessage): Promise<void> {
    this.adminDown = true;
    this.clearTimer("idleHold");
    this.dropCandidate();
    const closed = this.closed;
    this.dispatch(notification ? { type: "ManualStop", notification } : { type: "ManualStop" });
    return closed;
  }

  /**
   * Drops the connection without a NOTIFICATION (RFC 4724 §4: a restarting speaker's peers then
   * keep its routes for the restart time). The session stays down until start().
   */
  abort(): Promise<void> {
    this.adminDown = true;
    for (const t of [...this.timers.keys()]) this.clearTimer(t);
    this.dropCandidate();
    const closed = this.closed;
    const c = this.conn;
    this.dropQueue();
    if (c) {
      this.conn = undefined;
      c.closing = true;
      c.socket.destroy();
      this.connClosed();
    }
    this.dispatch({ type: "Abort" });
    this.negotiated = undefined;
    this.establishedAt = undefined;
    return closed;
  }

  /** An inbound connection from this peer's address, handed over by the speaker's listener. */
  acceptInbound(socket: ByteStream): void {
    if (this.adminDown) {
      socket.destroy();
      return;
    }
    const c = this.makeConn(socket, false);
    switch (this.fsm.name) {
      case "Idle":
        this.clearTimer("idleHold");
        this.dispatch({ type: "InboundConnection" });
        this.adopt(c);
        return;
      case "Active":
        this.adopt(c);
        return;
      case "Connect":
      case "OpenSent":
      case "OpenConfirm":
        // RFC 4271 §6.8: run the OPEN exchange on the new connection, then keep one of the two
        this.dropCandidate();
        this.candidate = c;
        this.writeTo(c, encodeMessage(this.ourOpen()));
        return;
      case "Established":
        this.writeTo(c, encodeMessage(ceaseNotification(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)));
        c.closing = true;
        socket.end();
        return;
    }
  }

  /** Sends messages on an Established session (encoded with the negotiated options), now: after what is queued. */
  send(msgs: BgpMessage[]): void {
    const c = this.conn;
    if (!c || !this.negotiated || this.fsm.name !== "Established") return;
    const ctx = this.negotiated.tx;
    for (const m of msgs) {
      if (m.type === "update") this.counters.updatesSent++;
      this.txQueue.push(encodeMessage(m, ctx));
    }
    this.writeQueued(c, true);
  }

  /**
   * Sends messages already encoded with the negotiated options (an update group's shared bytes):
   * queued behind what is queued, and written when the pacer gets to this session (at once
   * without a pacer). KEEPALIVEs and the OPEN exchange never wait behind them; a NOTIFICATION
   * goes after them.
   */
  sendEncoded(frames: readonly Uint8Array[]): void {
    const c = this.conn;
    if (!c || !this.negotiated || this.fsm.name !== "Established") return;
    this.counters.updatesSent += frames.length; // an update group's frames are UPDATEs
    for (const f of frames) this.txQueue.push(f);
    if (!this.pacer) this.writeQueued(c, false);
    else if (!this.txAsked && !this.txBlocked) {
      this.txAsked = true;
      this.pacer.queue(this);
    }
  }

  /** The pacer's turn for this session: what is queued goes out in one write. */
  flushQueued(): void {
    this.txAsked = false;
    const c = this.conn;
    if (!c || this.fsm.name !== "Established") {
      this.txQueue = [];
      return;
    }
    this.writeQueued(c, false);
  }

  /**
   * Writes the queue as one buffer (a dump of small per-host UPDATEs would cost a writev iovec
   * and more each). A backed-up connection is not written to until it drains (`force`: a message
   * that must go now, or the NOTIFICATION before a close), so what waits stays in the queue, as
   * references to the update group's shared bytes, rather than as copies in the socket's buffer.
   */
  private writeQueued(c: Conn, force: boolean): void {
    const q = this.txQueue;
    if (q.length === 0 || (this.txBlocked && !force)) return;
    this.txQueue = [];
    if (this.writeTo(c, q.length === 1 ? q[0]! : Buffer.concat(q))) return;
    if (this.txBlocked) return;
    this.txBlocked = true;
    c.socket.onceDrain(() => {
      if (c !== this.conn) return;
      this.txBlocked = false;
      if (this.txQueue.length === 0) return;
      if (!this.pacer) this.writeQueued(c, false);
      else if (!this.txAsked) {
        this.txAsked = true;
        this.pacer.queue(this);
      }
    });
  }

  /** The connection changed or closed: what was queued for it is dropped. */
  private dropQueue(): void {
    this.txQueue = [];
    this.txBlocked = false;
  }

  private ourOpen(): OpenMessage {
    const rs = this.local.restartState?.();
    if (rs && this.localOpen && this.localOpenRestarting !== rs.restarting) this.localOpen = undefined;
    this.localOpenRestarting = rs?.restarting;
    this.localOpen ??= buildOpen({
      asNumber: this.local.asNumber,
      routerId: this.local.routerId,
      holdTime: this.config.holdTime,
      families: this.config.families ?? ["ipv4", "ipv6"],
      addPath: this.config.addPath === false ? 1 : 3,
      gracefulRestartTime: this.config.gracefulRestartTime ?? GR_RESTART_TIME,
      ...(rs ? { restartingSpeaker: rs } : {}),
    });
    return this.localOpen;
  }

  private adopt(c: Conn): void {
    if (this.conn && this.conn !== c) this.destroyConn(this.conn);
    this.dropQueue();
    this.conn = c;
    this.markOpen();
    this.dispatch({ type: "TcpConnectionConfirmed" });
  }

  private markOpen(): void {
    if (this.resolveClosed) return;
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  private makeConn(socket: ByteStream, outbound: boolean): Conn {
    const c: Conn = { socket, framer: new BgpFramer(), outbound, closing: false };
    socket.onData((chunk) => this.onData(c, chunk));
    socket.onError((err) => {
      if (c === this.conn || c === this.candidate) this.hooks.log("debug", "socket error", { peer: this.config.address, err: err.message });
      if (c === this.conn) this.lastError = `socket: ${err.message}`;
    });
    socket.onClose(() => this.onClose(c));
    return c;
  }

  private onClose(c: Conn): void {
    if (c === this.candidate) {
      this.candidate = undefined;
      return;
    }
    if (c !== this.conn) return;
    this.conn = undefined;
    this.dropQueue();
    this.connClosed();
    if (!c.closing) this.dispatch({ type: "TcpConnectionFails" });
  }

  private connClosed(): void {
    if (!this.conn && this.resolveClosed) {
      const r = this.resolveClosed;
      this.resolveClosed = undefined;
      r();
    }
  }

  private onData(c: Conn, chunk: Uint8Array): void {
    if (c.closing) return;
    // a TCP-MD5 socket (md5.ts) learns of its handshake by polling; bytes from the peer (BIRD
    // sends its OPEN at once) prove it done, so they are never an OPEN "in Connect"
    if (c === this.conn && c.outbound && this.fsm.name === "Connect") this.dispatch({ type: "TcpConnectionConfirmed" });
    let frames: Uint8Array[];
    try {
      frames = c.framer.push(chunk);
    } catch (e) {
      this.protocolError(c, e);
      return;
    }
    for (const f of frames) {
      if (c.closing || (c !== this.conn && c !== this.candidate)) return;
      let m: BgpMessage;
      try {
        m = decodeMessage(f, this.negotiated && c === this.conn ? this.negotiated.rx : DEFAULT_CODEC_OPTIONS);
      } catch (e) {
        this.protocolError(c, e);
        return;
      }
      if (c === this.candidate) this.onCandidateMessage(c, m);
      else this.onMessage(m);
    }
  }

  private protocolError(c: Conn, e: unknown): void {
    const err = e instanceof BgpProtocolError ? e : new BgpProtocolError(String(e), 6, 0);
    if (c === this.candidate) {
      this.writeTo(c, encodeMessage({ type: "notification", code: err.notifyCode, subcode: err.notifySubcode, data: err.data }));
      this.dropCandidate();
      return;
    }
    this.lastError = err.message;
    this.dispatch({ type: "MessageError", error: err });
  }

  private onCandidateMessage(c: Conn, m: BgpMessage): void {
    if (m.type !== "open") {
      this.dropCandidate();
      return;
    }
    const err = validateOpen(m, {
      peerAs: this.config.asNumber,
      localAs: this.local.asNumber,
      localRouterId: this.local.routerId,
      ...(this.config.expectedRouterId !== undefined ? { expectedRouterId: this.config.expectedRouterId } : {}),
    });
    if (err) {
      this.writeTo(c, encodeMessage({ type: "notification", code: err.notifyCode, subcode: err.notifySubcode, data: err.data }));
      this.dropCandidate();
      return;
    }
    const existing = this.conn;
    // keep the connection initiated by the speaker with the higher BGP Identifier
    const remoteWins = dottedToU32(m.routerId) > dottedToU32(this.local.routerId);
    const keepCandidate = !existing?.outbound || remoteWins;
    if (!keepCandidate) {
      this.hooks.log("debug", "collision: keeping our connection", { peer: this.config.address });
      this.writeTo(c, encodeMessage(ceaseNotification(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)));
      this.dropCandidate();
      return;
    }
    this.hooks.log("debug", "collision: keeping the peer's connection", { peer: this.config.address });
    this.candidate = undefined;
    if (existing) {
      existing.closing = true;
      this.writeTo(existing, encodeMessage(ceaseNotification(CeaseSubcode.CONNECTION_COLLISION_RESOLUTION)));
      existing.socket.end();
    }
    this.conn = c;
    this.dispatch({ type: "ConnectionReplaced" });
    this.dispatch({ type: "OpenReceived", open: m });
  }

  private dropCandidate(): void {
    const c = this.candidate;
    if (!c) return;
    this.candidate = undefined;
    c.closing = true;
    c.socket.end();
    this.clock.setTimeout(() => c.socket.destroy(), 1000);
  }

  private onMessage(m: BgpMessage): void {
    switch (m.type) {
      case "open":
        this.dispatch({ type: "OpenReceived", open: m });
        return;
      case "keepalive":
        this.dispatch({ type: "KeepaliveReceived" });
        return;
      case "notification": {
        // a Hard Reset (RFC 8538) is reported with the NOTIFICATION it carries
        const inner = unwrapHardReset(m);
        const text = shutdownCommunication(inner ?? m);
        this.lastError = `received NOTIFICATION ${m.code}/${m.subcode}${inner ? `, hard reset: ${inner.code}/${inner.subcode}` : ""}${text ? `: ${text}` : ""}`;
        this.hooks.log("info", "notification received", {
          peer: this.config.address,
          code: m.code,
          subcode: m.subcode,
          ...(inner ? { hardReset: `${inner.code}/${inner.subcode}` } : {}),
          message: text,
        });
        this.dispatch({ type: "NotificationReceived", notification: m });
        return;
      }
      case "update":
        this.counters.updatesReceived++;
        this.dispatch({ type: "UpdateReceived" });
        if (this.fsm.name === "Established") this.hooks.update(this, m);
        return;
      case "route-refresh":
        this.dispatch({ type: "RouteRefreshReceived" });
        if (this.fsm.name === "Established") {
          const fam = m.afi === 1 ? "ipv4" : m.afi === 2 ? "ipv6" : undefined;
          // RFC 2918 §4: a family we did not negotiate is ignored; RFC 7313 §5: so is an unknown subtype
          if (!fam || m.safi !== 1 || !this.negotiated?.families.includes(fam)) return;
          if (m.subtype === RouteRefreshSubtype.REQUEST) this.hooks.routeRefresh(this, fam);
          else if (m.subtype === RouteRefreshSubtype.BORR || m.subtype === RouteRefreshSubtype.EORR) {
            this.hooks.refreshMarker?.(this, fam, m.subtype === RouteRefreshSubtype.BORR ? "begin" : "end");
          } else this.hooks.log("debug", "ignoring ROUTE-REFRESH with unknown subtype", { peer: this.config.address, subtype: m.subtype });
        }
        return;
    }
  }

  private dispatch(e: FsmEvent): void {
    const before = this.fsm.name;
    const r = step(this.fsm, e);
    this.fsm = r.state;
    if (before !== r.state.name) this.hooks.log("debug", "fsm", { peer: this.config.address, from: before, to: r.state.name, event: e.type });
    for (const a of r.actions) this.run(a);
  }

  private run(a: FsmAction): void {
    switch (a.type) {
      case "connect":
        this.connect();
        return;
      case "sendOpen":
        if (this.conn) this.writeTo(this.conn, encodeMessage(this.ourOpen()));
        return;
      case "sendKeepalive":
        if (this.conn) this.writeTo(this.conn, encodeMessage({ type: "keepalive" }));
        return;
      case "sendNotification":
        if (this.conn) {
          // after the UPDATEs queued before it, as the peer would have had them
          this.writeQueued(this.conn, true);
          this.writeTo(this.conn, encodeMessage(onTheWire(a.notification, !!this.negotiated?.grNotification)));
          if (a.notification.code !== 6) this.lastError = `sent NOTIFICATION ${a.notification.code}/${a.notification.subcode}`;
        }
        return;
      case "closeConnection": {
        const c = this.conn;
        this.clearTimer("sendHold");
        this.dropQueue();
        if (!c) return;
        this.conn = undefined;
        c.closing = true;
        // flush what was written (a NOTIFICATION), then close; destroy if the peer never reads
        c.socket.end(() => c.socket.destroy());
        const t = this.clock.setTimeout(() => c.socket.destroy(), 2000);
        c.socket.onClose(() => {
          this.clock.clearTimeout(t);
          this.connClosed();
        });
        if (c.socket.destroyed || c.socket.connecting) {
          c.socket.destroy();
          this.connClosed();
        }
        return;
      }
      case "startTimer": {
        const ms = a.timer === "connectRetry" ? jittered(a.seconds * 1000, JITTER, this.local.random ?? Math.random) : a.seconds * 1000;
        this.setTimer(a.timer, ms, () => {
          const ev: FsmEvent =
            a.timer === "hold"
              ? { type: "HoldTimerExpires" }
              : a.timer === "keepalive"
                ? { type: "KeepaliveTimerExpires" }
                : { type: "ConnectRetryTimerExpires" };
          this.dispatch(ev);
        });
        return;
      }
      case "stopTimer":
        this.clearTimer(a.timer);
        return;
      case "established":
        this.negotiated = negotiate(this.ourOpen(), this.fsm.peerOpen!);
        this.establishedAt = this.clock.now();
        this.lastError = undefined;
        this.hooks.log("info", "session established", { peer: this.config.address, families: this.negotiated.families, hold: this.negotiated.holdTime });
        this.hooks.established(this);
        return;
      case "down": {
        // RFC 8538: with the N bit exchanged, a NOTIFICATION other than a Hard Reset keeps routes too
        const graceful =
          a.graceful || (a.wasEstablished && !!this.negotiated?.grNotification && !!a.notification && keepsRoutes(a.notification.message, a.notification.sent));
        if (a.reason !== "stopped") this.lastError ??= a.reason;
        if (a.wasEstablished) this.counters.flaps++;
        this.hooks.log(a.wasEstablished ? "warn" : "debug", "session down", { peer: this.config.address, reason: a.reason });
        this.dropCandidate();
        this.negotiated = undefined;
        this.establishedAt = undefined;
        this.hooks.down(this, a.reason, a.wasEstablished, graceful);
        if (!this.adminDown) {
          const n = Math.max(1, this.fsm.connectRetryCounter);
          const delay = jittered(backoffBase(IDLE_HOLD, n - 1), JITTER, this.local.random ?? Math.random);
          this.setTimer("idleHold", delay, () => {
            if (!this.adminDown && this.fsm.name === "Idle") this.dispatch({ type: "ManualStart" });
          });
        }
        return;
      }
    }
  }

  private connect(): void {
    const req = {
      address: this.config.address,
      port: this.config.port,
      ...(this.config.localAddress ? { localAddress: this.config.localAddress } : {}),
      ...(this.config.password ? { password: this.config.password } : {}),
      ...(this.config.ttlSecurity ? { ttlSecurity: this.config.ttlSecurity } : {}),
    };
    let c: Conn | undefined;
    let socket: ByteStream;
    try {
      socket = this.network.connect(req, () => {
        if (c !== undefined && this.conn === c) this.dispatch({ type: "TcpConnectionConfirmed" });
      });
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      this.hooks.log("warn", "connect failed", { peer: this.config.address, err: this.lastError });
      return; // the ConnectRetry timer tries again
    }
    c = this.makeConn(socket, true);
    this.conn = c;
    this.markOpen();
  }

  private destroyConn(c: Conn): void {
    c.closing = true;
    c.socket.destroy();
  }

  /** Writes to the connection; false when it is backed up (or gone). */
  private writeTo(c: Conn, bytes: Uint8Array): boolean {
    if (c.socket.destroyed) return false;
    const flushed = c.socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    // RFC 9687 send hold timer: runs while the socket is backed up, stops when it drains
    if (!flushed && c === this.conn && !c.closing && !this.timers.has("sendHold")) {
      const seconds = Math.max(MIN_SEND_HOLD_S, 2 * (this.fsm.holdTime ?? 0));
      this.setTimer("sendHold", seconds * 1000, () => {
        if (c !== this.conn) return;
        this.lastError = "send hold timer expired";
        this.dispatch({ type: "MessageError", error: new BgpProtocolError("send hold timer expired", ErrorCode.SEND_HOLD_TIMER_EXPIRED, 0) });
      });
      c.socket.onceDrain(() => {
        if (c === this.conn) this.clearTimer("sendHold");
      });
    }
    return flushed;
  }

  private setTimer(name: ShellTimer, ms: number, fn: () => void): void {
    this.clearTimer(name);
    const h = this.clock.setTimeout(() => {
      if (this.timers.get(name) === h) this.timers.delete(name);
      fn();
    }, ms);
    this.timers.set(name, h);
  }

  private clearTimer(name: ShellTimer): void {
    const h = this.timers.get(name);
    if (h) this.clock.clearTimeout(h);
    this.timers.delete(name);
  }
}
