/**
 * Convergence per event (issue #13): for each event that changes this host's forwarding — a BGP
 * peer going down, a route withdrawn, a route learned, a local workload added — the time from
 * the event to the kernel FIB change that follows it. Events are noted as they happen, with the
 * injected clock's time; `programmed(now)` is called after a programming pass has changed the
 * kernel and returns what converged in it. The agent logs each as a JSON line
 * (`"msg":"convergence"`). Pure: no I/O, time as a parameter.
 */

export type ConvergenceEventKind = "peer-down" | "route-withdrawn" | "route-learned" | "workload-added";

export interface ConvergenceEvent {
  event: ConvergenceEventKind;
  /** The prefix (routes, workloads) or the peer's address (peer-down). */
  prefix?: string;
  peer?: string;
  /** Prefixes whose FIB entry the event changed (peer-down). */
  routes?: number;
  /** From the event to the end of the kernel change, milliseconds. */
  ms: number;
}

interface Pending {
  event: ConvergenceEventKind;
  key: string;
  at: number;
  routes: number;
}

export class ConvergenceTracker {
  private pending = new Map<string, Pending>();

  /**
   * Learned-route changes from the speaker at `now`. Changes that come with peers that just
   * went down count as one peer-down event per peer: the routes it took with it, withdrawn or
   * left with fewer next hops (ECMP), are `routes`.
   */
  noteFib(changes: { prefix: string; nextHops: string[] }[], now: number, peersDown: string[] = []): void {
    if (peersDown.length > 0) {
      for (const peer of peersDown) this.add("peer-down", peer, now, changes.length);
      return;
    }
    for (const c of changes) this.add(c.nextHops.length === 0 ? "route-withdrawn" : "route-learned", c.prefix, now, 1);
  }

  /** Local workload routes that are new, first seen in the datastore at `since`. */
  noteWorkloads(prefixes: string[], since: number): void {
    for (const p of prefixes) this.add("workload-added", p, since, 1);
  }

  /** The kernel was programmed at `now`: every pending event converged. */
  programmed(now: number): ConvergenceEvent[] {
    const out: ConvergenceEvent[] = [];
    for (const p of this.pending.values()) {
      const e: ConvergenceEvent = { event: p.event, ms: Math.max(0, now - p.at) };
      if (p.event === "peer-down") {
        e.peer = p.key;
        e.routes = p.routes;
      } else e.prefix = p.key;
      out.push(e);
    }
    this.pending.clear();
    return out;
  }

  /** Forget what is pending (a speaker replaced, a restart): those changes are not events. */
  clear(): void {
    this.pending.clear();
  }

  private add(event: ConvergenceEventKind, key: string, at: number, routes: number): void {
    const k = `${event} ${key}`;
    const had = this.pending.get(k);
    // the first occurrence starts the clock; a later one adds what it removed
    if (had) had.routes += routes;
    else this.pending.set(k, { event, key, at, routes });
  }
}
