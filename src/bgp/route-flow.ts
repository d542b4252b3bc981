/**
 * Where Loc-RIB changes go: to every update group (outbound.ts) and to the FIB feed (fib-feed.ts).
 * Changes from peers' UPDATEs gather across one read and go out together on the next turn (fewer,
 * fuller UPDATEs), bounded so the change records die young; while a restarting speaker defers
 * route selection (RFC 4724 §4.1) nothing goes out. Owns the gathered changes. No I/O: the turn
 * is injected.
 */
import type { FibFeed } from "./fib-feed.js";
import type { RibChange } from "./rib/rib.js";
import type { PrefixKey } from "./rib/types.js";

/** Loc-RIB changes gathered from peers' UPDATEs before they are pushed out. */
export const PENDING_MAX = 2048;

export class RouteFlow {
  private pending = new Map<PrefixKey, RibChange>();
  private scheduled = false;

  constructor(
    private readonly outbound: { sync(changes: Map<PrefixKey, RibChange>): void },
    private readonly fib: FibFeed,
    private readonly soon: (fn: () => void) => void,
    private readonly deferring: () => boolean,
  ) {}

  /** The change set UPDATEs of this read gather into (see `gathered`). */
  get gathering(): Map<PrefixKey, RibChange> {
    return this.pending;
  }

  /** Pushes what was gathered, then `changes`, to the update groups and the FIB feed. */
  commit(changes: Map<PrefixKey, RibChange>): void {
    if (this.pending.size > 0) {
      // what came in from peers first, in order
      const earlier = this.pending;
      this.pending = new Map();
      this.commit(earlier);
    }
    if (changes.size === 0 || this.deferring()) return;
    this.outbound.sync(changes);
    if (!this.fib.active) return;
    for (const c of changes.values()) this.fib.change(c.key, c.prefix, c.best, c.multipath);
  }

  /** What was gathered goes out now (before a group's table is read, or a marker changes the RIB). */
  flush(): void {
    if (this.pending.size > 0) this.commit(new Map());
  }

  /** An UPDATE was gathered: out now when the batch is full, else on the next turn. */
  gathered(): void {
    // bounded, so the change records die young (a big batch would be promoted and slow the GC)
    if (this.pending.size >= PENDING_MAX) this.commit(new Map());
    else if (!this.scheduled && this.pending.size > 0) {
      this.scheduled = true;
      this.soon(() => {
        this.scheduled = false;
        this.commit(new Map());
      });
    }
  }
}
