/**
 * Route selection deferral of a restarting speaker (RFC 4724 §4.1): while it lasts, best paths are
 * neither sent nor installed; it ends when every configured peer is up and has sent End-of-RIB for
 * each negotiated family (peers without the capability, or restarting themselves, are not waited
 * for), or when the deferral timer fires (FRR's `select-defer-time`, 360 s). Owns the flag, the
 * timer and the promise callers wait on. No I/O.
 */
import type { Clock, TimerHandle } from "../clock.js";
import type { Negotiated } from "./negotiate.js";
import type { AddressFamily } from "./wire/constants.js";

/** RFC 4724 §4.1 selection deferral timer default (FRR's `select-defer-time`). */
export const SELECTION_DEFERRAL_TIME = 360;

/** A configured peer as the deferral sees it. */
export interface DeferralPeer {
  established: boolean;
  negotiated: Negotiated | undefined;
  /** Families the peer sent End-of-RIB for in this session. */
  eorReceived: ReadonlySet<AddressFamily>;
}

/** True when selection may end: every peer up and done, as RFC 4724 §4.1 says (at least one peer). */
export function selectionReady(peers: Iterable<DeferralPeer>): boolean {
  let any = false;
  for (const p of peers) {
    any = true;
    const n = p.negotiated;
    if (!p.established || !n) return false;
    if (!n.gracefulRestart || n.gracefulRestart.restarting) continue;
    if (!n.families.every((f) => p.eorReceived.has(f))) return false;
  }
  return any;
}

export class SelectionDeferral {
  private deferring: boolean;
  private timer: TimerHandle | undefined;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    restarting: boolean,
    private readonly clock: Clock,
  ) {
    this.deferring = restarting;
    this.done = new Promise<void>((r) => (this.resolveDone = r));
    if (!restarting) this.resolveDone();
  }

  get active(): boolean {
    return this.deferring;
  }

  whenDone(): Promise<void> {
    return this.done;
  }

  /** The speaker started: the deferral may last `seconds` at most, then `expired` runs. */
  arm(seconds: number, expired: () => void): void {
    if (!this.deferring) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      expired();
    }, seconds * 1000);
  }

  /** The speaker stopped: the timer goes (the flag stays). */
  disarm(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ends the deferral; false when it had ended already. Call `resolve` once the FIB has the table. */
  end(): boolean {
    if (!this.deferring) return false;
    this.deferring = false;
    this.disarm();
    return true;
  }

  resolve(): void {
    this.resolveDone();
  }
}
