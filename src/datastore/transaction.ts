/**
 * All or nothing for a multi-resource write (`tabby apply|create|replace|delete -f`), on any
 * backend: the command runs against a BufferedStore, a Store that reads through to the real one
 * and keeps every write in memory (later reads see them, so a pool created earlier in the file
 * counts for the overlap check of the next). Nothing reaches the datastore until `commit`, which
 * hands the writes to the backend's `commitBatch` (store.ts): one SQLite transaction or one etcd
 * Txn, each write guarded by the revision it was based on, so a concurrent change makes the whole
 * batch fail with DS_CONFLICT rather than be overwritten. An interruption (SIGINT/SIGTERM) before
 * the commit therefore leaves the datastore as it was: nothing was written.
 *
 * A batch larger than the backend takes in one call (etcd's 128 ops) is written through a
 * journal instead (src/cli/undo-log.ts): one write at a time, each recorded, and on a failure or
 * an interruption every earlier one undone, newest first; the message says what was undone and
 * what, if anything, could not be.
 */
import { TabbyError } from "../errors.js";
import {
  alreadyExists,
  conflict,
  notFound,
  type BatchOp,
  type CasOptions,
  type KV,
  type ListOptions,
  type ListResult,
  type Store,
  type Watcher,
  type WriteOptions,
} from "./store.js";

interface Pending {
  kv: KV | undefined;
}

export class BufferedStore implements Store {
  readonly url: string;
  /** key → the write made here (kv undefined: deleted). Map order is the order of first write. */
  private readonly pending = new Map<string, Pending>();
  /** key → its revision in the real store when first read here (0: absent). */
  private readonly base = new Map<string, number>();
  private rev = 0;

  constructor(readonly inner: Store) {
    this.url = inner.url;
  }

  /** The writes to commit, in the order first made, each guarded by the revision it was based on. */
  ops(): BatchOp[] {
    return [...this.pending].map(([key, p]) => ({ key, value: p.kv?.value, expect: this.base.get(key) ?? 0 }));
  }

  get size(): number {
    return this.pending.size;
  }

  private async read(key: string): Promise<KV | undefined> {
    const p = this.pending.get(key);
    if (p) return p.kv;
    const kv = await this.inner.get(key);
    if (!this.base.has(key)) this.base.set(key, kv?.revision ?? 0);
    return kv;
  }

  private async nextRevision(): Promise<number> {
    if (this.rev === 0) this.rev = await this.inner.currentRevision();
    return ++this.rev;
  }

  get(key: string): Promise<KV | undefined> {
    return this.read(key);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const merged = new Map<string, KV>();
    let revision = 0;
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.inner.list(prefix, startAfter === undefined ? { limit: 1000 } : { limit: 1000, startAfter });
      if (!revision) revision = page.revision;
      for (const kv of page.items) merged.set(kv.key, kv);
      if (!page.more || !page.items.length) break;
      startAfter = page.items[page.items.length - 1]!.key;
    }
    for (const [key, p] of this.pending) {
      if (!key.startsWith(prefix)) continue;
      if (p.kv) merged.set(key, p.kv);
      else merged.delete(key);
    }
    let items = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (opts.startAfter !== undefined) items = items.filter((kv) => kv.key > opts.startAfter!);
    const more = opts.limit !== undefined && items.length > opts.limit;
    if (opts.limit !== undefined) items = items.slice(0, opts.limit);
    return { items, revision: Math.max(revision, this.rev), more };
  }

  private async set(key: string, value: string, prev: KV | undefined): Promise<KV> {
    const revision = await this.nextRevision();
    const kv: KV = { key, value, revision, createRevision: prev?.createRevision ?? revision };
    this.pending.set(key, { kv });
    return kv;
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    noLease(opts);
    if (await this.read(key)) throw alreadyExists(key);
    return this.set(key, value, undefined);
  }

  async update(key: string, value: string, opts: CasOptions = {}): Promise<KV> {
    noLease(opts);
    const cur = await this.read(key);
    if (!cur) throw notFound(key);
    if (opts.revision !== undefined && cur.revision !== opts.revision) throw conflict(key, opts.revision, cur.revision);
    return this.set(key, value, cur);
  }

  async put(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    noLease(opts);
    return this.set(key, value, await this.read(key));
  }

  async delete(key: string, opts: { revision?: number } = {}): Promise<KV> {
    const cur = await this.read(key);
    if (!cur) throw notFound(key);
    if (opts.revision !== undefined && cur.revision !== opts.revision) throw conflict(key, opts.revision, cur.revision);
    this.pending.set(key, { kv: undefined });
    return cur;
  }

  watch(): Watcher {
    throw new TabbyError("DS_UNSUPPORTED", "a buffered transaction cannot be watched");
  }
  async currentRevision(): Promise<number> {
    return this.rev || this.inner.currentRevision();
  }
  async grantLease(): Promise<number> {
    throw new TabbyError("DS_UNSUPPORTED", "leases are not part of a buffered transaction");
  }
  async keepAlive(): Promise<void> {
    throw new TabbyError("DS_UNSUPPORTED", "leases are not part of a buffered transaction");
  }
  async revokeLease(): Promise<void> {
    throw new TabbyError("DS_UNSUPPORTED", "leases are not part of a buffered transaction");
  }
  async close(): Promise<void> {}
}

function noLease(opts: WriteOptions): void {
  if (opts.lease) throw new TabbyError("DS_UNSUPPORTED", "leases are not part of a buffered transaction");
}

/** Raised when a SIGINT/SIGTERM (an aborted signal) stops a batch; its message says what was done. */
export class InterruptedError extends TabbyError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super("CLI_INTERRUPTED", message, details);
  }
}
