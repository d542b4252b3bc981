/**
 * Graceful restart helper for one peer (RFC 4724 §4.2): when its session is lost without a
 * NOTIFICATION (or with one that keeps routes under RFC 8538), its routes of the families it
 * preserves stay, marked stale, for its restart time; once the session is back, families it no
 * longer preserves are flushed and the others wait for its End-of-RIB (bounded by
 * STALE_PATH_TIME, as BIRD and FRR). Owns the stale families and the timer. No I/O.
 */
import type { Clock, TimerHandle } from "../clock.js";
import type { Rib, RibChange } from "./rib/rib.js";
import type { PrefixKey } from "./rib/types.js";
import type { LogFn } from "./speaker-types.js";
import type { AddressFamily } from "./wire/constants.js";

/** How long stale paths may wait for End-of-RIB after the peer is back (BIRD/FRR: 360 s). */
export const STALE_PATH_TIME = 360;

/** What the stale tracker and the refresh tracker change: the RIB, and where its changes go. */
export interface StaleDeps {
  rib: Rib;
  /** Pushes RIB changes out (route-flow.ts). */
  commit(changes: Map<PrefixKey, RibChange>): void;
  clock: Clock;
  log: LogFn;
}

export class StaleTracker {
  /** Families whose paths are kept stale after a graceful session loss. */
  readonly families = new Set<AddressFamily>();
  private timer: TimerHandle | undefined;

  constructor(
    /** The peer's id in the RIB, and its address for the log. */
    private readonly peerId: string,
    private readonly address: string,
    private readonly deps: StaleDeps,
  ) {}

  /** Session lost gracefully: keep the peer's routes of `families`, stale, for `restartTime` seconds. */
  keep(families: ReadonlySet<AddressFamily>, restartTime: number): void {
    const changes = new Map<PrefixKey, RibChange>();
    this.deps.rib.markStale(this.peerId, families, changes);
    this.deps.commit(changes);
    this.families.clear();
    for (const f of families) this.families.add(f);
    this.arm(restartTime);
  }

  /** Session back: flush families the peer no longer preserves (`preserved`); others wait for End-of-RIB. */
  reestablished(preserved: (f: AddressFamily) => boolean): void {
    if (this.families.size === 0) return;
    const changes = new Map<PrefixKey, RibChange>();
    for (const f of [...this.families]) {
      if (preserved(f)) continue;
      this.deps.rib.flushStale(this.peerId, f, changes);
      this.families.delete(f);
    }
    this.deps.commit(changes);
    if (this.families.size > 0) this.arm(STALE_PATH_TIME);
    else this.clear();
  }

  /** End-of-RIB for a family: what the peer did not announce again goes. */
  endOfRib(family: AddressFamily): void {
    if (!this.families.has(family)) return;
    const changes = new Map<PrefixKey, RibChange>();
    this.deps.rib.flushStale(this.peerId, family, changes);
    this.families.delete(family);
    if (this.families.size === 0) this.clear();
    this.deps.commit(changes);
  }

  /** Forgets the stale state (the peer's routes are being dropped anyway). */
  clear(): void {
    this.families.clear();
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(seconds: number): void {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.families.size === 0) return;
      this.deps.log("info", "graceful restart timer expired: flushing stale routes", { peer: this.address });
      const changes = new Map<PrefixKey, RibChange>();
      this.deps.rib.flushStale(this.peerId, undefined, changes);
      this.families.clear();
      this.deps.commit(changes);
    }, seconds * 1000);
  }
}
