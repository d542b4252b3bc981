/**
 * Adj-RIB-In (per peer) and Loc-RIB (RFC 4271 §3.2) in one structure: every candidate path per
 * prefix, identified by (peer, path id), with the decision per prefix kept current as paths come
 * and go. Mutations record the prefixes whose best path or multipath set changed. Pure (no I/O,
 * no clock).
 *
 * Kept small for hundreds of thousands of prefixes: a prefix with one path is stored as that path
 * alone (its decision is itself), a prefix with several as one `Multi` (the paths, the best, the
 * multipath set); the map is keyed by prefix key, so no Prefix object is kept (RibPath).
 * `RibEntry` values are views made when asked for.
 */
import type { Prefix } from "../../net/prefix.js";
import type { AddressFamily } from "../wire/constants.js";
import { decide, type Decision } from "./decision.js";
import { pathKey, prefixFromKey, prefixKey, type Path, type PrefixKey } from "./types.js";
import { PrefixMap } from "./prefix-map.js";

export interface RibEntry {
  key: PrefixKey;
  family: AddressFamily;
  prefix: Prefix;
  /** Candidate paths; at most one per (source, path id). Never mutated in place (copy on write). */
  paths: Path[];
  decision: Decision;
}

export interface RibChange {
  key: PrefixKey;
  family: AddressFamily;
  prefix: Prefix;
  oldBest: Path | undefined;
  best: Path | undefined;
  multipath: Path[];
}

const LOCAL = "local";

function sourceId(p: Path): string {
  return p.source ? p.source.id : LOCAL;
}

function familyOfKey(key: PrefixKey): AddressFamily {
  return typeof key === "number" ? "ipv4" : "ipv6";
}

/** A prefix with more than one candidate path. */
class Multi {
  constructor(
    readonly paths: Path[],
    readonly best: Path | undefined,
    readonly multipath: Path[],
  ) {}
}
/** What the map holds per prefix: the lone path, or a Multi. */
type Slot = Path | Multi;

/** A change record; the prefix is made from the key only if someone reads it. */
class Change implements RibChange {
  constructor(
    readonly key: PrefixKey,
    readonly oldBest: Path | undefined,
    readonly best: Path | undefined,
    readonly multipath: Path[],
  ) {}
  get family(): AddressFamily {
    return familyOfKey(this.key);
  }
  get prefix(): Prefix {
    return prefixFromKey(this.key);
  }
}

const NO_PATHS: Path[] = Object.freeze([]) as unknown as Path[];

function pathsOf(s: Slot | undefined): Path[] {
  if (s === undefined) return NO_PATHS;
  return s instanceof Multi ? s.paths : [s];
}
function bestOf(s: Slot | undefined): Path | undefined {
  return s instanceof Multi ? s.best : s;
}
function multipathOf(s: Slot | undefined): Path[] {
  if (s === undefined) return NO_PATHS;
  return s instanceof Multi ? s.multipath : [s];
}
/** The same best and the same multipath set (in order). */
function sameDecision(a: Slot | undefined, b: Slot | undefined): boolean {
  if (bestOf(a) !== bestOf(b)) return false;
  const am = a instanceof Multi ? a.multipath : undefined;
  const bm = b instanceof Multi ? b.multipath : undefined;
  const al = a === undefined ? 0 : am ? am.length : 1;
  const bl = b === undefined ? 0 : bm ? bm.length : 1;
  if (al !== bl) return false;
  for (let i = 0; i < al; i++) if ((am ? am[i] : a) !== (bm ? bm[i] : b)) return false;
  return true;
}

function findPath(paths: Path[], src: string, pathId: number): number {
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    if (p.pathId === pathId && (p.source ? p.source.id : LOCAL) === src) return i;
  }
  return -1;
}

export class Rib {
  private readonly entries = new PrefixMap<Slot>();
  /**
   * Paths per peer id ("local" for local origination). A count, not an index: a Set of a
   * million paths costs ~40 bytes and a hash insert per route, while the operations that need a
   * peer's paths (session down, graceful-restart marking) are rare and may scan the table.
   */
  private readonly counts = new Map<string, number>();

  constructor(private readonly localAs: number) {}

  private count(src: string, d: number): void {
    const n = (this.counts.get(src) ?? 0) + d;
    if (n > 0) this.counts.set(src, n);
    else this.counts.delete(src);
  }

  /** Adds or replaces (implicit withdraw) a path. */
  upsert(path: Path, changes: Map<PrefixKey, RibChange>): void {
    const key = pathKey(path);
    const src = sourceId(path);
    const before = this.entries.get(key);
    if (before === undefined) {
      this.entries.set(key, path);
      this.count(src, 1);
      this.record(changes, key, undefined, path);
      return;
    }
    // copy on write: a change record may hold the old multipath array
    const paths = pathsOf(before);
    const i = findPath(paths, src, path.pathId);
    let next: Path[];
    if (i >= 0) next = paths.map((p, j) => (j === i ? path : p));
    else {
      next = [...paths, path];
      this.count(src, 1);
    }
    this.settle(key, before, next, changes);
  }

  /** Removes the path from `peerId` ("local" for local origination). */
  remove(peerId: string, prefix: Prefix, pathId: number, changes: Map<PrefixKey, RibChange>): void {
    const key = prefixKey(prefix);
    const before = this.entries.get(key);
    if (before === undefined) return;
    const paths = pathsOf(before);
    const i = findPath(paths, peerId, pathId);
    if (i < 0) return;
    this.count(peerId, -1);
    this.settle(key, before, paths.filter((_, j) => j !== i), changes);
  }

  /** Removes the peer's paths that `drop` selects (all of them without it), scanning the table. */
  private removeWhere(peerId: string, changes: Map<PrefixKey, RibChange>, drop?: (p: Path) => boolean): void {
    if (!this.counts.has(peerId)) return;
    const visit = (slot: Slot, key: PrefixKey) => {
      const paths = pathsOf(slot);
      let gone = 0;
      for (const p of paths) if (sourceId(p) === peerId && (!drop || drop(p))) gone++;
      if (gone === 0) return;
      this.count(peerId, -gone);
      this.settle(key, slot, paths.filter((p) => !(sourceId(p) === peerId && (!drop || drop(p)))), changes);
    };
    // deleting from a Map while iterating it is well defined in JS
    this.entries.forEachOf("ipv4", visit);
    this.entries.forEachOf("other", visit);
  }

  /** Removes every path learned from the peer (session down). */
  removePeer(peerId: string, changes: Map<PrefixKey, RibChange>): void {
    this.removeWhere(peerId, changes);
  }

  /**
   * RFC 4724 §4.2: the peer's session was lost without a NOTIFICATION. Its paths in `keep` stay
   * (marked stale, still used); the rest go.
   */
  markStale(peerId: string, keep: ReadonlySet<AddressFamily>, changes: Map<PrefixKey, RibChange>): void {
    for (const p of this.peerPaths(peerId)) if (keep.has(p.family)) p.stale = true;
    this.removeWhere(peerId, changes, (p) => !keep.has(p.family));
  }

  /** RFC 7313 §4 (BoRR): marks the peer's paths of one family stale; they stay in use until flushed. */
  markFamilyStale(peerId: string, family: AddressFamily): number {
    let n = 0;
    for (const p of this.peerPaths(peerId)) {
      if (p.family !== family) continue;
      p.stale = true;
      n++;
    }
    return n;
  }

  /** Removes the peer's stale paths (of one family, or all). */
  flushStale(peerId: string, family: AddressFamily | undefined, changes: Map<PrefixKey, RibChange>): void {
    this.removeWhere(peerId, changes, (p) => !!p.stale && (!family || p.family === family));
  }

  /** Stores the prefix's new candidate set with its decision, and records a change if the decision moved. */
  private settle(key: PrefixKey, before: Slot, paths: Path[], changes: Map<PrefixKey, RibChange>): void {
    let after: Slot | undefined;
    if (paths.length === 0) this.entries.delete(key);
    else if (paths.length === 1) this.entries.set(key, (after = paths[0]!));
    else {
      const d = decide(paths, this.localAs);
      this.entries.set(key, (after = new Multi(paths, d.best, d.multipath)));
    }
    this.record(changes, key, before, after);
  }

  private record(changes: Map<PrefixKey, RibChange>, key: PrefixKey, before: Slot | undefined, after: Slot | undefined): void {
    if (sameDecision(before, after)) return;
    const prev = changes.get(key);
    changes.set(key, new Change(key, prev ? prev.oldBest : bestOf(before), bestOf(after), multipathOf(after)));
  }

  /** Paths learned from one peer (its Adj-RIB-In after import policy). */
  peerPaths(peerId: string): Path[] {
    const out: Path[] = [];
    if (!this.counts.has(peerId)) return out;
    for (const s of this.entries.values()) for (const p of pathsOf(s)) if (sourceId(p) === peerId) out.push(p);
    return out;
  }

  /** How many paths the peer has in the RIB. */
  peerPathCount(peerId: string): number {
    return this.counts.get(peerId) ?? 0;
  }

  entry(key: PrefixKey): RibEntry | undefined {
    const s = this.entries.get(key);
    return s === undefined ? undefined : view(key, s);
  }

  *all(family?: AddressFamily): Generator<RibEntry> {
    for (const [key, s] of this.entries.entries()) if (!family || familyOfKey(key) === family) yield view(key, s);
  }
}

/** A RibEntry over a slot; the prefix is made from the key only if someone reads it. */
class EntryView implements RibEntry {
  constructor(
    readonly key: PrefixKey,
    private readonly s: Slot,
  ) {}
  get family(): AddressFamily {
    return familyOfKey(this.key);
  }
  get prefix(): Prefix {
    return prefixFromKey(this.key);
  }
  get paths(): Path[] {
    return pathsOf(this.s);
  }
  get decision(): Decision {
    return { best: bestOf(this.s), multipath: multipathOf(this.s) };
  }
}

function view(key: PrefixKey, s: Slot): RibEntry {
  return new EntryView(key, s);
}
