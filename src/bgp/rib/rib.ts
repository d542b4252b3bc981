/**
 * Adj-RIB-In (per peer) and Loc-RIB (RFC 4271 §3.2) in one structure: every candidate path per
 * prefix, identified by (peer, path id), with the decision per prefix kept current as paths come
 * and go. Mutations record the prefixes whose best path or multipath set changed. Pure (no I/O,
 * no clock).
 *
 * Kept small for a million prefixes: a prefix with one learned path (path id 0, not stale) is
 * stored as a small integer, the index of its path class (attributes, source, time: one per
 * UPDATE, shared by all its prefixes), so the map holds no object for it at all; a prefix with one
 * other path as that path alone (its decision is itself); a prefix with several as one `Multi`
 * (the paths, the best, the multipath set). The map is keyed by prefix key, so no Prefix object
 * is kept (RibPath). `RibEntry` values and the paths of packed slots are made when asked for.
 */
import type { Prefix } from "../../net/prefix.js";
import type { AddressFamily } from "../wire/constants.js";
import { decide, type Decision } from "./decision.js";
import { pathKey, prefixFromKey, prefixKey, RibPath, type Path, type PeerInfo, type PrefixKey, type RouteAttrs } from "./types.js";
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
/** What the map holds per prefix: a packed lone path (its class index), the lone path, or a Multi. */
type Slot = number | Path | Multi;

/** What the prefixes of one packed path share: everything of the path but its prefix. */
class PathClass {
  refs = 0;
  constructor(
    readonly attrs: RouteAttrs,
    readonly source: PeerInfo,
    readonly learnedS: number,
  ) {}
}

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

/** The same best and the same multipath set (in order); packed slots compare by class. */
function sameDecision(a: Slot | undefined, b: Slot | undefined): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  const ab = a instanceof Multi ? a.best : a;
  const bb = b instanceof Multi ? b.best : b;
  if (ab !== bb) return false;
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
  /** Path classes by index (the packed slots' values); freed indices are reused. */
  private readonly classes: (PathClass | undefined)[] = [];
  private readonly freeClasses: number[] = [];
  /** The class last made: the prefixes of one UPDATE arrive in a row with the same attributes. */
  private lastClass = -1;
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

  /** The class index for a path that can be packed (learned, path id 0, not stale), or -1. */
  private classOf(p: Path): number {
    if (!(p instanceof RibPath) || p.pathId !== 0 || p.stale || !p.source) return -1;
    const s = Math.floor(p.learnedAt / 1000);
    const last = this.lastClass >= 0 ? this.classes[this.lastClass] : undefined;
    if (last && last.attrs === p.attrs && last.source === p.source && last.learnedS === s) return this.lastClass;
    const c = new PathClass(p.attrs, p.source, s);
    const i = this.freeClasses.pop() ?? this.classes.length;
    this.classes[i] = c;
    return (this.lastClass = i);
  }

  private unref(slot: Slot | undefined): void {
    if (typeof slot !== "number") return;
    const c = this.classes[slot]!;
    if (--c.refs > 0) return;
    this.classes[slot] = undefined;
    this.freeClasses.push(slot);
    if (this.lastClass === slot) this.lastClass = -1;
  }

  /** What to store for a lone path: its class index when it packs, else the path. */
  private lone(p: Path): Slot {
    const i = this.classOf(p);
    if (i < 0) return p;
    this.classes[i]!.refs++;
    return i;
  }

  /** The path a packed slot stands for (a new object each time). */
  private unpack(key: PrefixKey, i: number): Path {
    const c = this.classes[i]!;
    return new RibPath(key, 0, c.attrs, c.source, c.learnedS * 1000);
  }

  private pathsOf(key: PrefixKey, s: Slot | undefined): Path[] {
    if (s === undefined) return NO_PATHS;
    if (typeof s === "number") return [this.unpack(key, s)];
    return s instanceof Multi ? s.paths : [s];
  }

  /** Best and multipath set of a slot (one object for a packed path, so best === multipath[0]). */
  private decisionOf(key: PrefixKey, s: Slot | undefined): Decision {
    if (s === undefined) return { best: undefined, multipath: NO_PATHS };
    if (s instanceof Multi) return { best: s.best, multipath: s.multipath };
    const p = typeof s === "number" ? this.unpack(key, s) : s;
    return { best: p, multipath: [p] };
  }

  /** Adds or replaces (implicit withdraw) a path. */
  upsert(path: Path, changes: Map<PrefixKey, RibChange>): void {
    const key = pathKey(path);
    const src = sourceId(path);
    const before = this.entries.get(key);
    if (before === undefined) {
      const slot = this.lone(path);
      this.entries.set(key, slot);
      this.count(src, 1);
      this.record(changes, key, undefined, slot, path);
      return;
    }
    // copy on write: a change record may hold the old multipath array
    const paths = this.pathsOf(key, before);
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
    if (typeof before === "number") {
      if (pathId !== 0 || this.classes[before]!.source.id !== peerId) return;
      this.count(peerId, -1);
      this.settle(key, before, NO_PATHS, changes);
      return;
    }
    const paths = this.pathsOf(key, before);
    const i = findPath(paths, peerId, pathId);
    if (i < 0) return;
    this.count(peerId, -1);
    this.settle(
      key,
      before,
      paths.filter((_, j) => j !== i),
      changes,
    );
  }

  /** Removes the peer's paths that `drop` selects (all of them without it), scanning the table. */
  private removeWhere(peerId: string, changes: Map<PrefixKey, RibChange>, drop?: (p: Path) => boolean): void {
    if (!this.counts.has(peerId)) return;
    const visit = (slot: Slot, key: PrefixKey) => {
      if (typeof slot === "number" && this.classes[slot]!.source.id !== peerId) return;
      const paths = this.pathsOf(key, slot);
      let gone = 0;
      for (const p of paths) if (sourceId(p) === peerId && (!drop || drop(p))) gone++;
      if (gone === 0) return;
      this.count(peerId, -gone);
      this.settle(
        key,
        slot,
        paths.filter((p) => !(sourceId(p) === peerId && (!drop || drop(p)))),
        changes,
      );
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
    for (const f of keep) this.markFamilyStale(peerId, f);
    this.removeWhere(peerId, changes, (p) => !keep.has(p.family));
  }

  /**
   * RFC 7313 §4 (BoRR): marks the peer's paths of one family stale; they stay in use until flushed.
   * A packed path is unpacked first (the stale mark lives on the path); the decision is unchanged.
   */
  markFamilyStale(peerId: string, family: AddressFamily): number {
    if (!this.counts.has(peerId)) return 0;
    let n = 0;
    const visit = (slot: Slot, key: PrefixKey) => {
      if (typeof slot === "number") {
        if (this.classes[slot]!.source.id !== peerId) return;
        const p = this.unpack(key, slot);
        p.stale = true;
        this.entries.set(key, p);
        this.unref(slot);
        n++;
        return;
      }
      for (const p of slot instanceof Multi ? slot.paths : [slot]) {
        if (sourceId(p) !== peerId) continue;
        p.stale = true;
        n++;
      }
    };
    this.entries.forEachOf(family === "ipv4" ? "ipv4" : "other", (slot, key) => {
      if (familyOfKey(key) === family) visit(slot, key);
    });
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
    else if (paths.length === 1) this.entries.set(key, (after = this.lone(paths[0]!)));
    else {
      const d = decide(paths, this.localAs);
      this.entries.set(key, (after = new Multi(paths, d.best, d.multipath)));
    }
    this.record(changes, key, before, after, paths[0]);
    this.unref(before);
  }

  /** `lone`: the path a packed `after` was made from (reported as is, not unpacked again). */
  private record(changes: Map<PrefixKey, RibChange>, key: PrefixKey, before: Slot | undefined, after: Slot | undefined, lone?: Path): void {
    if (sameDecision(before, after)) return;
    const prev = changes.get(key);
    const d = this.decisionOf(key, typeof after === "number" && lone ? lone : after);
    changes.set(key, new Change(key, prev ? prev.oldBest : this.decisionOf(key, before).best, d.best, d.multipath));
  }

  /** Paths learned from one peer (its Adj-RIB-In after import policy). */
  peerPaths(peerId: string): Path[] {
    const out: Path[] = [];
    if (!this.counts.has(peerId)) return out;
    for (const [key, s] of this.entries.entries()) {
      if (typeof s === "number" && this.classes[s]!.source.id !== peerId) continue;
      for (const p of this.pathsOf(key, s)) if (sourceId(p) === peerId) out.push(p);
    }
    return out;
  }

  /** How many paths the peer has in the RIB. */
  peerPathCount(peerId: string): number {
    return this.counts.get(peerId) ?? 0;
  }

  entry(key: PrefixKey): RibEntry | undefined {
    const s = this.entries.get(key);
    return s === undefined ? undefined : this.view(key, s);
  }

  *all(family?: AddressFamily): Generator<RibEntry> {
    for (const [key, s] of this.entries.entries()) if (!family || familyOfKey(key) === family) yield this.view(key, s);
  }

  /** Path classes alive (for tests and memory accounting). */
  get classCount(): number {
    return this.classes.length - this.freeClasses.length;
  }

  private view(key: PrefixKey, s: Slot): RibEntry {
    if (typeof s === "number") {
      const p = this.unpack(key, s);
      return new EntryView(key, [p], { best: p, multipath: [p] });
    }
    if (s instanceof Multi) return new EntryView(key, s.paths, { best: s.best, multipath: s.multipath });
    return new EntryView(key, [s], { best: s, multipath: [s] });
  }
}

/** A RibEntry; the prefix is made from the key only if someone reads it. */
class EntryView implements RibEntry {
  constructor(
    readonly key: PrefixKey,
    readonly paths: Path[],
    readonly decision: Decision,
  ) {}
  get family(): AddressFamily {
    return familyOfKey(this.key);
  }
  get prefix(): Prefix {
    return prefixFromKey(this.key);
  }
}
