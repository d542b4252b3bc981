/**
 * Adj-RIB-In (per peer) and Loc-RIB (RFC 4271 §3.2) in one structure: every candidate path per
 * prefix, identified by (peer, path id), with the decision per prefix kept current as paths come
 * and go. Mutations record the prefixes whose best path or multipath set changed. Pure (no I/O,
 * no clock). Entries hold a small array of paths (usually one to four), not a Map: cheaper in
 * memory and time at hundreds of thousands of prefixes.
 */
import type { Prefix } from "../../net/prefix.js";
import type { AddressFamily } from "../wire/constants.js";
import { decide, type Decision } from "./decision.js";
import { prefixKey, type Path, type PrefixKey } from "./types.js";
import { PrefixMap } from "./prefix-map.js";

export interface RibEntry {
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

const NO_DECISION: Decision = Object.freeze({ best: undefined, multipath: Object.freeze([]) as unknown as Path[] });

function findPath(paths: Path[], src: string, pathId: number): number {
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    if (p.pathId === pathId && (p.source ? p.source.id : LOCAL) === src) return i;
  }
  return -1;
}

function sameDecision(a: Decision, b: Decision): boolean {
  if (a.best !== b.best) return false;
  if (a.multipath.length !== b.multipath.length) return false;
  return a.multipath.every((p, i) => p === b.multipath[i]);
}

export class Rib {
  private readonly entries = new PrefixMap<RibEntry>();
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
    const key = prefixKey(path.prefix);
    const src = sourceId(path);
    let e = this.entries.get(key);
    if (!e) {
      // a one-element literal: `[]` then push would reserve 17 slots
      e = { family: path.family, prefix: path.prefix, paths: [path], decision: NO_DECISION };
      this.entries.set(key, e);
      this.count(src, 1);
    } else {
      // copy on write: a decision may share the array (see decide), and changes keep decisions
      const i = findPath(e.paths, src, path.pathId);
      if (i >= 0) e.paths = e.paths.map((p, j) => (j === i ? path : p));
      else {
        e.paths = [...e.paths, path];
        this.count(src, 1);
      }
    }
    this.recompute(key, e, changes);
  }

  /** Removes the path from `peerId` ("local" for local origination). */
  remove(peerId: string, prefix: Prefix, pathId: number, changes: Map<PrefixKey, RibChange>): void {
    const key = prefixKey(prefix);
    const e = this.entries.get(key);
    if (!e) return;
    const i = findPath(e.paths, peerId, pathId);
    if (i < 0) return;
    e.paths = e.paths.filter((_, j) => j !== i);
    this.count(peerId, -1);
    this.recompute(key, e, changes);
  }

  /** Removes the peer's paths that `drop` selects (all of them without it), scanning the table. */
  private removeWhere(peerId: string, changes: Map<PrefixKey, RibChange>, drop?: (p: Path) => boolean): void {
    if (!this.counts.has(peerId)) return;
    // deleting from a Map while iterating it is well defined in JS
    for (const e of this.entries.values()) {
      let gone = 0;
      for (const p of e.paths) if (sourceId(p) === peerId && (!drop || drop(p))) gone++;
      if (gone === 0) continue;
      e.paths = e.paths.filter((p) => !(sourceId(p) === peerId && (!drop || drop(p))));
      this.count(peerId, -gone);
      this.recompute(prefixKey(e.prefix), e, changes);
    }
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

  private recompute(key: PrefixKey, e: RibEntry, changes: Map<PrefixKey, RibChange>): void {
    const before = e.decision;
    const after = decide(e.paths, this.localAs);
    e.decision = after;
    if (e.paths.length === 0) this.entries.delete(key);
    if (sameDecision(before, after)) return;
    const prev = changes.get(key);
    changes.set(key, { key, family: e.family, prefix: e.prefix, oldBest: prev ? prev.oldBest : before.best, best: after.best, multipath: after.multipath });
  }

  /** Paths learned from one peer (its Adj-RIB-In after import policy). */
  peerPaths(peerId: string): Path[] {
    const out: Path[] = [];
    if (!this.counts.has(peerId)) return out;
    for (const e of this.entries.values()) for (const p of e.paths) if (sourceId(p) === peerId) out.push(p);
    return out;
  }

  /** How many paths the peer has in the RIB. */
  peerPathCount(peerId: string): number {
    return this.counts.get(peerId) ?? 0;
  }

  entry(key: PrefixKey): RibEntry | undefined {
    return this.entries.get(key);
  }

  *all(family?: AddressFamily): Generator<RibEntry> {
    for (const e of this.entries.values()) if (!family || e.family === family) yield e;
  }
}
