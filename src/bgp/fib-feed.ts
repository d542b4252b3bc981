/**
 * The speaker's FIB feed: Loc-RIB best-path changes turned into batched FIB changes, each a
 * prefix and its whole ECMP next-hop set (the multipath set of RFC 4271 §9.1.2.2 as the decision
 * process leaves it; locally originated routes are never installed). Only real changes of the
 * set go out, one batch per turn (`soon`), to every listener. Owns the last-reported next hops.
 * No I/O: the batching turn is injected.
 */
import type { Prefix } from "../net/prefix.js";
import { PrefixMap } from "./rib/prefix-map.js";
import type { RibEntry } from "./rib/rib.js";
import type { Path, PrefixKey } from "./rib/types.js";
import type { FibChange, LogFn } from "./speaker-types.js";

export class FibFeed {
  private readonly listeners: ((changes: FibChange[]) => void)[] = [];
  /** Next hops last reported per prefix (only kept while someone listens). */
  private readonly state = new PrefixMap<string>();
  private readonly pending = new Map<PrefixKey, FibChange>();
  private scheduled = false;

  constructor(
    private readonly soon: (fn: () => void) => void,
    private readonly log: LogFn,
    /** One copy of each distinct string (shared with the export memo). */
    private readonly intern: (s: string) => string = (s) => s,
  ) {}

  listen(fn: (changes: FibChange[]) => void): void {
    this.listeners.push(fn);
  }

  get active(): boolean {
    return this.listeners.length > 0;
  }

  /** Notes a prefix's new best path and multipath set; the batch goes out on the next turn. */
  change(key: PrefixKey, prefix: Prefix, best: Path | undefined, multipath: readonly Path[]): void {
    if (!this.active) return;
    this.diff(key, prefix, best, multipath);
    this.schedule();
  }

  /** Every entry of the Loc-RIB at once (selection deferral ended: listeners replace what they had). */
  resync(entries: Iterable<RibEntry>): void {
    if (!this.active) return;
    for (const e of entries) this.diff(e.key, e.prefix, e.decision.best, e.decision.multipath);
  }

  /** Hands the pending batch to the listeners now. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    for (const l of this.listeners) {
      try {
        l(batch);
      } catch (e) {
        this.log("error", "FIB listener failed", { err: String(e) });
      }
    }
  }

  private schedule(): void {
    if (this.pending.size > 0 && !this.scheduled) {
      this.scheduled = true;
      this.soon(() => this.flush());
    }
  }

  private diff(key: PrefixKey, prefix: Prefix, best: Path | undefined, multipath: readonly Path[]): void {
    const hops = best?.source ? fibHops(multipath) : [];
    const sig = hops.length === 1 ? hops[0]! : hops.join(",");
    if ((this.state.get(key) ?? "") === sig) return;
    if (sig === "") this.state.delete(key);
    else this.state.set(key, this.intern(sig));
    this.pending.set(key, { prefix: prefix.toString(), nextHops: hops });
  }
}

/** Sorted distinct next hops of a multipath set. */
export function fibHops(multipath: readonly Path[]): string[] {
  if (multipath.length === 1) return [multipath[0]!.attrs.nextHop!.toString()];
  return [...new Set(multipath.map((p) => p.attrs.nextHop!.toString()))].sort();
}
