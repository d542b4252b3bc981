/**
 * Adj-RIB-In (per peer) and Loc-RIB (RFC 4271 §3.2) in one structure: every candidate path per
 * prefix keyed by (peer, path id), the decision per prefix kept current as paths come and go.
 * Mutations return the prefixes whose best path or multipath set changed. Pure (no I/O, no clock).
 */
import type { Prefix } from "../../net/prefix.js";
import type { AddressFamily } from "../wire/constants.js";
import { decide, type Decision } from "./decision.js";
import { prefixKey, type Path } from "./types.js";

export interface RibEntry {
  family: AddressFamily;
  prefix: Prefix;
  /** keyed by `${peerId}#${pathId}`; "local#0" for the local origination */
  paths: Map<string, Path>;
  decision: Decision;
}

export interface RibChange {
  key: string;
  family: AddressFamily;
  prefix: Prefix;
  oldBest: Path | undefined;
  best: Path | undefined;
  multipath: Path[];
}

function pathKey(p: Path): string {
  return `${p.source ? p.source.id : "local"}#${p.pathId}`;
}

function sameDecision(a: Decision, b: Decision): boolean {
  if (a.best !== b.best) return false;
  if (a.multipath.length !== b.multipath.length) return false;
  return a.multipath.every((p, i) => p === b.multipath[i]);
}

export class Rib {
  private readonly entries = new Map<string, RibEntry>();
  /** Adj-RIB-In index: peer id → path keys "prefix|pathKey". */
  private readonly byPeer = new Map<string, Map<string, Path>>();

  constructor(private readonly localAs: number) {}

  /** Adds or replaces (implicit withdraw) a path. */
  upsert(path: Path, changes: Map<string, RibChange>): void {
    const key = prefixKey(path.prefix);
    let e = this.entries.get(key);
    if (!e) {
      e = { family: path.family, prefix: path.prefix, paths: new Map(), decision: { best: undefined, multipath: [] } };
      this.entries.set(key, e);
    }
    const pk = pathKey(path);
    e.paths.set(pk, path);
    const peerId = path.source ? path.source.id : "local";
    let idx = this.byPeer.get(peerId);
    if (!idx) this.byPeer.set(peerId, (idx = new Map()));
    idx.set(`${key}|${pk}`, path);
    this.recompute(key, e, changes);
  }

  /** Removes the path from `peerId` ("local" for local origination). */
  remove(peerId: string, prefix: Prefix, pathId: number, changes: Map<string, RibChange>): void {
    const key = prefixKey(prefix);
    const e = this.entries.get(key);
    const pk = `${peerId}#${pathId}`;
    if (!e || !e.paths.delete(pk)) return;
    this.byPeer.get(peerId)?.delete(`${key}|${pk}`);
    this.recompute(key, e, changes);
  }

  /** Removes every path learned from the peer (session down). */
  removePeer(peerId: string, changes: Map<string, RibChange>): void {
    const idx = this.byPeer.get(peerId);
    if (!idx) return;
    this.byPeer.delete(peerId);
    for (const p of idx.values()) {
      const key = prefixKey(p.prefix);
      const e = this.entries.get(key);
      if (!e) continue;
      e.paths.delete(pathKey(p));
      this.recompute(key, e, changes);
    }
  }

  /**
   * RFC 4724 §4.2: the peer's session was lost without a NOTIFICATION. Its paths in `keep` stay
   * (marked stale, still used); the rest go.
   */
  markStale(peerId: string, keep: ReadonlySet<AddressFamily>, changes: Map<string, RibChange>): void {
    const idx = this.byPeer.get(peerId);
    if (!idx) return;
    for (const p of [...idx.values()]) {
      if (keep.has(p.family)) p.stale = true;
      else this.remove(peerId, p.prefix, p.pathId, changes);
    }
  }

  /** Removes the peer's stale paths (of one family, or all). */
  flushStale(peerId: string, family: AddressFamily | undefined, changes: Map<string, RibChange>): void {
    const idx = this.byPeer.get(peerId);
    if (!idx) return;
    for (const p of [...idx.values()]) {
      if (p.stale && (!family || p.family === family)) this.remove(peerId, p.prefix, p.pathId, changes);
    }
  }

  private recompute(key: string, e: RibEntry, changes: Map<string, RibChange>): void {
    const before = e.decision;
    const after = decide([...e.paths.values()], this.localAs);
    e.decision = after;
    if (e.paths.size === 0) this.entries.delete(key);
    if (sameDecision(before, after)) return;
    const prev = changes.get(key);
    changes.set(key, { key, family: e.family, prefix: e.prefix, oldBest: prev ? prev.oldBest : before.best, best: after.best, multipath: after.multipath });
  }

  /** Paths learned from one peer (its Adj-RIB-In after import policy). */
  peerPaths(peerId: string): Path[] {
    return [...(this.byPeer.get(peerId)?.values() ?? [])];
  }

  entry(key: string): RibEntry | undefined {
    return this.entries.get(key);
  }

  *all(family?: AddressFamily): Generator<RibEntry> {
    for (const e of this.entries.values()) if (!family || e.family === family) yield e;
  }
}
