/**
 * The BFD service: runs the pure sessions (session.ts) over a transport (udp.ts) and a Clock,
 * one session per (peer address, single hop or multihop), shared by everyone who watches that
 * peer. It demultiplexes received packets by Your Discriminator, or, while that is zero, by the
 * source address (RFC 5880 §6.8.6; RFC 5881 §3 — the interface is not looked at: a peer address
 * is one session). It tells watchers when a session that was Up goes Down — but not when the peer
 * signalled AdminDown, which is no failure of the path (RFC 5882 §3.2). Shell (timers, sockets).
 */
import { soon, systemClock, type Clock, type TimerHandle } from "../clock.js";
import { BfdError } from "./errors.js";
import { checkAuthPresence, decodeControl, encodeControl, type ControlPacket, type StateName } from "./wire/packet.js";
import {
  detectionTime,
  initialSession,
  nextDeadline,
  receive,
  setAdminDown,
  tick,
  txInterval,
  type BfdSessionState,
  type Random,
  type Step,
} from "./session.js";
import type { BfdPath, BfdTransport, ReceivedPacket } from "./udp.js";
import { signControl, verifyControl, type AuthRxState, type BfdAuthConfig } from "./wire/auth.js";

import { validateOptions, type BfdOptions } from "./options.js";
import { canonicalAddress, optionsKey, sessionKey } from "./session-key.js";
export { BFD_DEFAULTS, validateOptions, type BfdOptions } from "./options.js";

export interface BfdWatch {
  close(): void;
}

export interface BfdSessionStatus {
  peer: string;
  local?: string;
  multihop: boolean;
  state: StateName;
  remoteState: StateName;
  localDiscriminator: number;
  remoteDiscriminator: number;
  diag: number;
  /** Transmit interval and detection time in force, milliseconds. */
  txIntervalMs: number;
  detectionTimeMs: number;
  upSince?: number;
}

type Log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

interface Entry {
  key: string;
  peer: string;
  local: string | undefined;
  multihop: boolean;
  s: BfdSessionState;
  path: BfdPath | undefined;
  timer: TimerHandle | undefined;
  watchers: Set<(reason: string) => void>;
  upSince: number | undefined;
  closed: boolean;
  optsKey: string;
  auth: BfdAuthConfig | undefined;
  xmitSeq: number;
  rcv: AuthRxState;
  lastRx: number | undefined;
}

export class BfdService {
  private readonly entries = new Map<string, Entry>();
  private readonly byDiscr = new Map<number, Entry>();
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly log: Log;
  private readonly onChange: () => void;

  /**
   * `onChange`: called whenever what status() returns may have changed (a session added, removed,
   * or one of its fields changed), so a caller can keep a snapshot (worker.ts posts one).
   */
  constructor(
    private readonly transport: BfdTransport,
    opts: { clock?: Clock; random?: Random; log?: Log; onChange?: () => void } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    // discriminators and sequence numbers come from it too: unpredictable by default
    this.random = opts.random ?? (() => globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! / 0x100000000);
    this.log = opts.log ?? (() => {});
    this.onChange = opts.onChange ?? (() => {});
    transport.onPacket((p) => this.onPacket(p));
  }

  /**
   * Runs (or joins) the session to `peer` and calls `onDown` each time it goes from Up to Down.
   * The first watcher's options set the session's timers.
   */
  watch(peer: string, localAddress: string | undefined, opts: BfdOptions, onDown: (reason: string) => void): BfdWatch {
    validateOptions(opts);
    const addr = canonicalAddress(peer);
    const multihop = !!opts.multihop;
    const key = sessionKey(addr, multihop);
    let e = this.entries.get(key);
    if (!e) {
      const timers = { desiredMinTx: opts.minTx * 1000, requiredMinRx: opts.minRx * 1000, detectMult: opts.multiplier };
      const discr = this.newDiscriminator();
      e = {
        key,
        peer: addr,
        local: localAddress,
        multihop,
        s: initialSession(timers, discr, this.clock.now()),
        path: undefined,
        timer: undefined,
        watchers: new Set(),
        upSince: undefined,
        closed: false,
        optsKey: optionsKey(opts, localAddress),
        auth: opts.auth,
        xmitSeq: Math.floor(this.random() * 0x100000000) >>> 0,
        rcv: { known: false, seq: 0 },
        lastRx: undefined,
      };
      this.entries.set(key, e);
      this.byDiscr.set(discr, e);
      this.onChange();
      const entry = e;
      this.transport.open(addr, localAddress, multihop).then(
        (path) => {
          if (entry.closed) return path.close();
          entry.path = path;
          this.log("info", "bfd session started", { peer: addr, local: localAddress, multihop, discriminator: discr });
          this.apply(entry, tick(entry.s, this.clock.now(), this.random));
        },
        (err: unknown) => this.log("error", "bfd session cannot start", { peer: addr, err: err instanceof Error ? err.message : String(err) }),
      );
    } else if (e.optsKey !== optionsKey(opts, localAddress)) {
      // one session per peer address: a second watcher cannot silently get other timers
      throw new BfdError("BFD_CONFIG", `a BFD session to ${addr} already runs with other options`);
    }
    const entry = e;
    const fn = (reason: string) => onDown(reason);
    entry.watchers.add(fn);
    return {
      close: () => {
        entry.watchers.delete(fn);
        if (entry.watchers.size === 0) this.remove(entry);
      },
    };
  }

  status(): BfdSessionStatus[] {
    return [...this.entries.values()].map((e) => {
      const st: BfdSessionStatus = {
        peer: e.peer,
        multihop: e.multihop,
        state: e.s.state,
        remoteState: e.s.remoteState,
        localDiscriminator: e.s.localDiscr,
        remoteDiscriminator: e.s.remoteDiscr,
        diag: e.s.localDiag,
        txIntervalMs: txInterval(e.s) / 1000,
        detectionTimeMs: detectionTime(e.s) / 1000,
      };
      if (e.local) st.local = e.local;
      if (e.upSince !== undefined) st.upSince = e.upSince;
      return st;
    });
  }

  /** Ends every session, telling each peer AdminDown first (so it takes nothing down, RFC 5882 §3.2). */
  async close(): Promise<void> {
    for (const e of [...this.entries.values()]) this.remove(e);
    await this.transport.close();
  }

  private remove(e: Entry): void {
    if (e.closed) return;
    if (e.path) this.apply(e, setAdminDown(e.s, true, this.clock.now(), this.random));
    e.closed = true;
    if (e.timer) this.clock.clearTimeout(e.timer);
    e.path?.close();
    this.entries.delete(e.key);
    this.byDiscr.delete(e.s.localDiscr);
    this.onChange();
  }

  private newDiscriminator(): number {
    for (;;) {
      const d = 1 + Math.floor(this.random() * 0xfffffffe);
      if (!this.byDiscr.has(d)) return d;
    }
  }

  private onPacket(r: ReceivedPacket): void {
    let p: ControlPacket;
    const from = canonicalAddress(r.address.startsWith("::ffff:") && r.address.includes(".") ? r.address.slice(7) : r.address);
    let e: Entry | undefined;
    try {
      p = decodeControl(r.bytes);
      e = p.yourDiscriminator !== 0 ? this.byDiscr.get(p.yourDiscriminator) : this.entries.get(sessionKey(from, r.multihop));
      if (!e?.path || e.peer !== from || e.multihop !== r.multihop) {
        this.log("debug", "bfd packet for no session discarded", { from, yourDiscriminator: p.yourDiscriminator });
        return;
      }
      checkAuthPresence(p, !!e.auth);
      if (e.auth) {
        // §6.8.1: the sequence is forgotten after two detection times without a packet
        const now = this.clock.now();
        if (e.lastRx !== undefined && now - e.lastRx > (2 * detectionTime(e.s)) / 1000) e.rcv = { known: false, seq: 0 };
        e.rcv = verifyControl(r.bytes, p, e.auth, e.rcv);
      }
    } catch (err) {
      if (err instanceof BfdError) this.log("debug", "bfd packet discarded", { from, code: err.code, reason: err.message });
      else throw err;
      return;
    }
    e.lastRx = this.clock.now();
    this.apply(e, receive(e.s, p, this.clock.now(), this.random), p);
  }

  private apply(e: Entry, step: Step, cause?: ControlPacket): void {
    const before = statusKey(e);
    e.s = step.state;
    for (const a of step.actions) {
      if (a.type === "send") {
        if (!e.path) continue;
        if (e.auth) {
          e.path.send(signControl(a.packet, e.auth, e.xmitSeq));
          e.xmitSeq = (e.xmitSeq + 1) >>> 0;
        } else e.path.send(encodeControl(a.packet));
        continue;
      }
      this.log(a.to === "Up" || a.from === "Up" ? "info" : "debug", "bfd session state", { peer: e.peer, from: a.from, to: a.to, diag: a.diag });
      if (a.to === "Up") e.upSince = this.clock.now();
      if (a.from === "Up") {
        e.upSince = undefined;
        // the peer going AdminDown is administrative, not a failure of the path (RFC 5882 §3.2)
        const adminByPeer = cause?.state === "AdminDown";
        if (a.to === "Down" && !adminByPeer) {
          const reason = `BFD down (diag ${a.diag})`;
          for (const w of [...e.watchers]) w(reason);
        }
      }
    }
    if (!e.closed && statusKey(e) !== before) this.onChange();
    if (e.closed) return;
    if (e.timer) this.clock.clearTimeout(e.timer);
    e.timer = undefined;
    const at = nextDeadline(e.s);
    if (at !== undefined && e.path) {
      const timer = this.clock.setTimeout(
        () => {
          // Judged after this turn's reads, not before (clock.soon). A process that could not
          // run for longer than the detection time (its event loop busy, the machine loaded)
          // wakes with its timers due and the peer's packets still unread in the socket: Node
          // runs due timers before it reads. Ticking at once would take our own stall for the
          // peer's silence and reset BGP on a path that never failed; after the read, a packet
          // that did arrive has moved the detection time on. Sending is late by that turn only.
          soon(this.clock, () => {
            if (e.timer !== timer) return; // re-armed (a packet came) or closed meanwhile
            e.timer = undefined;
            if (!e.closed) this.apply(e, tick(e.s, this.clock.now(), this.random));
          });
        },
        Math.max(0, at - this.clock.now()),
      );
      e.timer = timer;
    }
  }
}

/** What status() shows of a session, as one string: compared to tell whether it changed. */
function statusKey(e: Entry): string {
  const s = e.s;
  return `${s.state} ${s.remoteState} ${s.remoteDiscr} ${s.localDiag} ${txInterval(s)} ${detectionTime(s)} ${e.upSince ?? ""}`;
}
