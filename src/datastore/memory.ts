/**
 * An in-memory Store: the reference implementation of the contract in store.ts, used by unit
 * tests and simulations. Keeps the full change history for watches until `compact` is called.
 * Leases expire by an injected clock, checked on every operation.
 */
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import {
  alreadyExists,
  compacted,
  conflict,
  notFound,
  type BatchOp,
  type CasOptions,
  type KV,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchEvent,
  type WatchListener,
  type Watcher,
  type WriteOptions,
} from "./store.js";

interface Lease {
  ttlMs: number;
  expiresAt: number;
}

export class MemoryStore implements Store {
  readonly url = "memory://";
  private data = new Map<string, KV>();
  private history: WatchEvent[] = [];
  private historyStart = 1; // revision of history[0]
  private rev = 0;
  private leases = new Map<number, Lease>();
  private nextLease = 1;
  private watchers = new Set<{ prefix: string; listener: WatchListener; after: number }>();

  constructor(private readonly clock: Clock = systemClock) {}

  async get(key: string): Promise<KV | undefined> {
    this.expireLeases();
    return this.data.get(key);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.expireLeases();
    const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix) && (opts.startAfter === undefined || k > opts.startAfter)).sort();
    const limit = opts.limit ?? Infinity;
    const items = keys.slice(0, limit).map((k) => this.data.get(k)!);
    return { items, revision: this.rev, more: keys.length > limit };
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    this.expireLeases();
    if (this.data.has(key)) throw alreadyExists(key);
    return this.write(key, value, opts.lease);
  }

  async update(key: string, value: string, opts: CasOptions = {}): Promise<KV> {
    this.expireLeases();
    const cur = this.data.get(key);
    if (!cur) throw notFound(key);
    if (opts.revision !== undefined && cur.revision !== opts.revision) throw conflict(key, opts.revision, cur.revision);
    return this.write(key, value, opts.lease);
  }

  async put(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    this.expireLeases();
    return this.write(key, value, opts.lease);
  }

  async delete(key: string, opts: { revision?: number } = {}): Promise<KV> {
    this.expireLeases();
    const cur = this.data.get(key);
    if (!cur) throw notFound(key);
    if (opts.revision !== undefined && cur.revision !== opts.revision) throw conflict(key, opts.revision, cur.revision);
    this.remove(key);
    return cur;
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): Watcher {
    const entry = { prefix, listener, after: afterRevision };
    if (afterRevision + 1 < this.historyStart) {
      queueMicrotask(() => listener.onError(compacted(afterRevision, this.historyStart)));
      return { close() {} };
    }
    const backlog = this.history.filter((e) => revisionOf(e) > afterRevision && keyOf(e).startsWith(prefix));
    this.watchers.add(entry);
    if (backlog.length) queueMicrotask(() => this.watchers.has(entry) && listener.onEvents(backlog));
    return { close: () => this.watchers.delete(entry) };
  }

  async commitBatch(ops: BatchOp[]): Promise<void> {
    this.expireLeases();
    for (const op of ops) {
      const cur = this.data.get(op.key)?.revision ?? 0;
      if (cur !== op.expect) throw conflict(op.key, op.expect, cur);
    }
    for (const op of ops) {
      if (op.value === undefined) this.remove(op.key);
      else this.write(op.key, op.value, undefined);
    }
  }

  async currentRevision(): Promise<number> {
    return this.rev;
  }

  async grantLease(ttlSeconds: number): Promise<number> {
    this.expireLeases();
    const id = this.nextLease++;
    this.leases.set(id, { ttlMs: ttlSeconds * 1000, expiresAt: this.clock.now() + ttlSeconds * 1000 });
    return id;
  }

  async keepAlive(lease: number): Promise<void> {
    this.expireLeases();
    const l = this.leases.get(lease);
    if (!l) throw notFound(`lease/${lease}`);
    l.expiresAt = this.clock.now() + l.ttlMs;
  }

  async revokeLease(lease: number): Promise<void> {
    this.expireLeases();
    this.revoke(lease);
  }

  /** Delete the lease and its keys, in key order (one revision each), as the SQLite backend does. */
  private revoke(lease: number): void {
    this.leases.delete(lease);
    const keys = [...this.data.values()].filter((kv) => kv.lease === lease).map((kv) => kv.key);
    for (const key of keys.sort()) this.remove(key);
  }

  /** Drop history at and below `revision`; later watches from before it get DS_COMPACTED. */
  compact(revision: number): void {
    revision = Math.min(revision, this.rev);
    if (revision < this.historyStart - 1) return;
    this.history = this.history.filter((e) => revisionOf(e) > revision);
    this.historyStart = revision + 1;
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }

  private expireLeases(): void {
    const now = this.clock.now();
    for (const [id, l] of this.leases) {
      if (l.expiresAt <= now) this.revoke(id);
    }
  }

  private write(key: string, value: string, lease: number | undefined): KV {
    if (lease !== undefined && !this.leases.has(lease)) throw notFound(`lease/${lease}`);
    const prev = this.data.get(key);
    const revision = ++this.rev;
    const kv: KV = { key, value, revision, createRevision: prev?.createRevision ?? revision, lease };
    this.data.set(key, kv);
    this.emit({ type: "put", kv, prev });
    return kv;
  }

  private remove(key: string): void {
    const prev = this.data.get(key);
    this.data.delete(key);
    this.emit({ type: "delete", key, revision: ++this.rev, prev });
  }

  private emit(ev: WatchEvent): void {
    this.history.push(ev);
    for (const w of this.watchers) {
      // A watch from a revision ahead of the store sees only events after that revision.
      if (keyOf(ev).startsWith(w.prefix) && revisionOf(ev) > w.after) {
        const listener = w.listener;
        queueMicrotask(() => this.watchers.has(w) && listener.onEvents([ev]));
      }
    }
  }
}

export function keyOf(ev: WatchEvent): string {
  return ev.type === "put" ? ev.kv.key : ev.key;
}

export function revisionOf(ev: WatchEvent): number {
  return ev.type === "put" ? ev.kv.revision : ev.revision;
}
