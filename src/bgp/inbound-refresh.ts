/**
 * Enhanced route refresh on receipt (RFC 7313 §4) for one peer: its BoRR marks the peer's routes
 * of the family stale, the UPDATEs that follow replace them, its EoRR removes what is still stale.
 * An EoRR without a BoRR is ignored. The wait for EoRR is bounded (STALE_PATH_TIME, as for
 * graceful restart) so a peer that never sends it cannot pin stale routes. Owns the families
 * being refreshed and their timers. No I/O.
 */
import type { TimerHandle } from "../clock.js";
import type { RibChange } from "./rib/rib.js";
import type { PrefixKey } from "./rib/types.js";
import { STALE_PATH_TIME, type StaleDeps } from "./stale-tracker.js";
import type { AddressFamily } from "./wire/constants.js";

export class InboundRefresh {
  /** Families between the peer's BoRR and EoRR, with the timer that bounds the wait. */
  private readonly refreshing = new Map<AddressFamily, TimerHandle>();

  constructor(
    private readonly peerId: string,
    private readonly address: string,
    private readonly deps: StaleDeps,
  ) {}

  /** BoRR: the caller has pushed out what earlier UPDATEs changed. */
  begin(family: AddressFamily): void {
    const prev = this.refreshing.get(family);
    if (prev) this.deps.clock.clearTimeout(prev);
    const n = this.deps.rib.markFamilyStale(this.peerId, family);
    this.deps.log("debug", "BoRR received: routes marked stale", { peer: this.address, family, routes: n });
    this.refreshing.set(
      family,
      this.deps.clock.setTimeout(() => {
        this.deps.log("warn", "no EoRR in time: flushing stale routes", { peer: this.address, family });
        this.finish(family);
      }, STALE_PATH_TIME * 1000),
    );
  }

  /** EoRR. */
  end(family: AddressFamily): void {
    if (!this.refreshing.has(family)) {
      this.deps.log("debug", "EoRR without BoRR ignored", { peer: this.address, family });
      return;
    }
    this.finish(family);
  }

  /** Session down: no refresh is in progress any more. */
  clear(): void {
    for (const t of this.refreshing.values()) this.deps.clock.clearTimeout(t);
    this.refreshing.clear();
  }

  private finish(family: AddressFamily): void {
    const t = this.refreshing.get(family);
    if (t) this.deps.clock.clearTimeout(t);
    this.refreshing.delete(family);
    const changes = new Map<PrefixKey, RibChange>();
    this.deps.rib.flushStale(this.peerId, family, changes);
    this.deps.log("debug", "EoRR received: stale routes flushed", { peer: this.address, family, changed: changes.size });
    this.deps.commit(changes);
  }
}
