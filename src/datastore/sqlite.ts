/**
 * The embedded datastore: the Store contract (store.ts) over one SQLite file that several processes
 * on a host share (the agent, the CLI, the CNI plugin). Implements etcd v3's model — global revisions,
 * compare-and-swap, list by prefix, watch from a revision, leases — the way libcalico-go's backend API
 * expects it (calico-spec.md §1.1), on SQLite's own locking; no server process.
 *
 * Concurrency. WAL journal, so readers never block the writer. Every write runs in a
 * `BEGIN IMMEDIATE` transaction (the write lock is taken before the read that checks the revision),
 * so a compare-and-swap is atomic across processes. Waiting for the lock is bounded by
 * `busy_timeout` (5 s); past it, or on any I/O failure, operations fail with DS_UNAVAILABLE.
 * better-sqlite3 is synchronous: that wait, like every query, blocks this process's event loop
 * (write transactions are a few statements long, so in practice it is short; see docs/benchmarks.md).
 *
 * Durability decision. WAL + `synchronous=FULL` (the default here): the WAL is fsync'd at every
 * commit, so an acknowledged write survives a process kill (-9) *and* an OS crash or power loss.
 * With `synchronous=NORMAL` an acknowledged write also survives any process kill — the commit has
 * reached the OS by the time SQLite returns — but the last commits may roll back after a power loss
 * (SQLite's documentation of PRAGMA synchronous). IPAM allocations live here and losing one hands
 * out a duplicate address, so FULL is the default; `synchronous: "normal"` is available for
 * throw-away stores (benchmarks, labs). docs/benchmarks.md measures both.
 *
 * Schema (user_version 1):
 *   kv(key PK, value, revision, create_revision, lease)        current state
 *   history(revision PK, key, type put|delete, value, ..., prev_*)  one row per write, same txn
 *   meta(name PK, value)                                       'compacted_to'
 *   leases(id PK AUTOINCREMENT, ttl_ms, expires_at)            expiry in the injected clock's ms
 * The global revision is max(history.revision), or meta.compacted_to when history is empty.
 *
 * Watch. A commit by another process is noticed by reading `PRAGMA data_version`, which changes
 * when another connection commits; when it changes, history rows after the last one seen are read
 * and dispatched to each watcher whose prefix matches, in revision order, each at most once per
 * watcher (each watcher keeps its own cursor). That look is taken when the kernel says the WAL
 * file was written (inotify through fs.watch: every commit appends to the WAL; as the commit is
 * published in the -shm index only after that write, the look is repeated a few times within
 * the next 0.7 s), and on a timer (every `pollIntervalMs`, unref'd: default 1 s with the notification,
 * 20 ms where the directory cannot be watched), which also collects expired leases. An idle
 * store therefore wakes once a second, not fifty times (50 agents on one file: docs/benchmarks.md
 * "Lab up at 50 hosts"). A write made through this store dispatches at once, without waiting
 * for either (it reads history after the last seen revision, so it also delivers any earlier
 * commits of other processes first).
 *
 * Compaction. `compact(rev)` deletes history at or below `rev`; watching from before it fails with
 * DS_COMPACTED. Automatic policy: every `compactEvery` writes (default 1,000) through a store, history
 * older than the newest `historyRetention` revisions (default 10,000) is compacted. A watcher that
 * falls more than that far behind gets DS_COMPACTED and must re-list (Calico's watchercache does).
 *
 * Leases. Expired leases (expires_at <= clock.now()) are collected by whichever process notices
 * first — at the start of every operation and on every poll tick — inside a write transaction that
 * deletes each attached key as a normal delete event (one revision per key, like MemoryStore).
 *
 * Opening the file (schema, read-only mode, the bundled addon) and translating SQLite's errors are
 * in sqlite-open.ts; the row shapes and their conversion to KVs and events in sqlite-rows.ts.
 */
import type Database from "better-sqlite3";
import { type FSWatcher, watch as fsWatch } from "node:fs";
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import {
  alreadyExists,
  compacted,
  conflict,
  DatastoreError,
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
import { asDatastoreError, isSqliteError, openDatabase, translate } from "./sqlite-open.js";
import { type HistoryRow, type KvRow, prefixEnd, toEvent, toKV } from "./sqlite-rows.js";

export { prefixEnd };

/** After a WAL notification that showed no new commit, look again after these delays (ms; watchWal). */
const FOLLOW_UP_MS = [2, 8, 32, 128, 512];

export interface SqliteStoreOptions {
  /** Time source for lease expiry (default: the system clock). */
  clock?: Clock;
  /**
   * How often to look for commits by other processes (and expired leases), in ms (default 1,000
   * while the WAL file's changes are notified, else 20).
   */
  pollIntervalMs?: number;
  /** Look as soon as the kernel notifies a write to the WAL file (default true). */
  notify?: boolean;
  /** How the WAL file is watched (default node:fs `watch`: inotify); tests pass a fake. */
  watchFile?: (path: string, opts: { persistent: false }, listener: (event: string) => void) => FSWatcher;
  /** `full` (default: survives power loss) or `normal` (survives process kills only). */
  synchronous?: "full" | "normal";
  /** How long to wait for another process's write lock before DS_UNAVAILABLE, in ms (default 5000). */
  busyTimeoutMs?: number;
  /**
   * Create the database (and its directory) when the file does not exist (default true). When
   * false, a missing file is DS_NO_DATABASE: readers never create one.
   */
  create?: boolean;
  /** Automatic compaction keeps this many newest revisions of history (default 10,000). */
  historyRetention?: number;
  /** Run automatic compaction every this many writes through this store (default 1,000; 0 = never). */
  compactEvery?: number;
}

interface WatchEntry {
  prefix: string;
  listener: WatchListener;
  /** Highest revision handed to (or skipped for) this watcher. */
  cursor: number;
  closed: boolean;
}

export class SqliteStore implements Store {
  readonly url: string;
  /** Opened read-only: this process may not write the file or its directory. Writes fail. */
  readonly readOnly: boolean = false;
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly retention: number;
  private readonly compactEvery: number;
  private readonly watchers = new Set<WatchEntry>();
  private timer: NodeJS.Timeout;
  private readonly pollMs: number | undefined;
  /** Notification wanted, and not (yet) known to fail. */
  private notify: boolean;
  private walWatch: FSWatcher | undefined;
  private lookQueued = false;
  /** The next follow-up look after a notification that showed no commit yet (FOLLOW_UP_MS). */
  private followUp: NodeJS.Timeout | undefined;
  private readonly watchFile: NonNullable<SqliteStoreOptions["watchFile"]>;
  private closed = false;
  private lastSeen: number;
  private dataVersion: number;
  private writesSinceCompact = 0;
  private readonly stmt: ReturnType<SqliteStore["prepare"]>;
  /** The history after the last seen revision, with the compaction mark, in one read transaction (pump). */
  private readonly readNewHistory: Database.Transaction<() => { compactedTo: number; rows: HistoryRow[] }>;

  /**
   * Open (creating if needed: the file 0600, its parent directory 0700) the store at `path`;
   * refuses files or a directory others can write (sqlite-permissions.ts).
   */
  static open(path: string, opts: SqliteStoreOptions = {}): SqliteStore {
    return new SqliteStore(path, opts);
  }

  private constructor(
    readonly path: string,
    opts: SqliteStoreOptions,
  ) {
    this.url = `sqlite://${path}`;
    this.clock = opts.clock ?? systemClock;
    this.retention = opts.historyRetention ?? 10_000;
    this.compactEvery = opts.compactEvery ?? 1_000;
    const opened = openDatabase(path, this.url, opts);
    this.db = opened.db;
    this.readOnly = opened.readOnly;
    try {
      this.stmt = this.prepare();
      // made once: every watching process runs it for every commit it notices
      this.readNewHistory = this.db.transaction(() => ({ compactedTo: this.stmt.compactedTo.get()!.value, rows: this.stmt.historyAfter.all(this.lastSeen) }));
      this.lastSeen = this.readRevision();
      this.dataVersion = this.stmt.dataVersion.get()!;
    } catch (err) {
      this.db.close();
      throw translate(this, err);
    }
    this.pollMs = opts.pollIntervalMs;
    this.notify = opts.notify !== false;
    this.watchFile = opts.watchFile ?? fsWatch;
    this.timer = this.startTimer();
  }

  private startTimer(): NodeJS.Timeout {
    const t = setInterval(() => this.tick(), this.pollMs ?? (this.notify ? 1000 : 20));
    t.unref();
    return t;
  }

  /**
   * With the first watcher: inotify on the WAL file (`<db>-wal`, which exists while any
   * connection, this one included, is open), where any change schedules one look, once per burst
   * of writes. The file, not its directory: a directory may hold busy neighbours (a lab's agents'
   * logs). Should the file be replaced ("rename": SQLite removed it), the watch moves to the new
   * one; when it cannot be watched at all, the fast poll stands in.
   */
  private watchWal(): void {
    if (!this.notify || this.walWatch) return;
    const fallBack = () => {
      this.walWatch?.close();
      this.walWatch = undefined;
      this.notify = false;
      if (this.closed) return;
      clearInterval(this.timer);
      this.timer = this.startTimer();
    };
    // A writer appends its frames to the WAL (the notification) before it publishes the commit
    // in the shared wal-index (-shm, written through mmap: no notification), with an fsync in
    // between: a look at once may come too early (or find only the commit before), and nothing
    // else would wake us before the timer. Every notified look is therefore followed by a few
    // more, further apart, the sequence starting over whenever one finds a commit.
    const look = (n = 0) => {
      if (this.lookQueued || this.closed) return;
      this.lookQueued = true;
      setImmediate(() => {
        this.lookQueued = false;
        clearTimeout(this.followUp);
        this.followUp = undefined;
        const before = this.dataVersion;
        this.tick(false);
        // what it found may be an earlier commit, the notified one still unpublished: start over
        const k = this.dataVersion !== before ? 0 : n;
        if (this.closed || k >= FOLLOW_UP_MS.length) return;
        this.followUp = setTimeout(() => look(k + 1), FOLLOW_UP_MS[k]);
        this.followUp.unref();
      });
    };
    try {
      this.walWatch = this.watchFile(`${this.path}-wal`, { persistent: false }, (event) => {
        look();
        if (event !== "rename" || this.closed) return;
        this.walWatch?.close();
        this.walWatch = undefined;
        this.watchWal();
      });
      this.walWatch.on("error", fallBack);
    } catch {
      fallBack();
    }
  }

  private prepare() {
    const db = this.db;
    return {
      get: db.prepare<[string], KvRow>("SELECT key, value, revision, create_revision, lease FROM kv WHERE key = ?"),
      listFrom: db.prepare<[string, string, number], KvRow>(
        "SELECT key, value, revision, create_revision, lease FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?",
      ),
      listFromOpen: db.prepare<[string, number], KvRow>("SELECT key, value, revision, create_revision, lease FROM kv WHERE key > ? ORDER BY key LIMIT ?"),
      listAt: db.prepare<[string, string, number], KvRow>(
        "SELECT key, value, revision, create_revision, lease FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
      ),
      listAtOpen: db.prepare<[string, number], KvRow>("SELECT key, value, revision, create_revision, lease FROM kv WHERE key >= ? ORDER BY key LIMIT ?"),
      maxRevision: db.prepare<[], { r: number | null }>("SELECT MAX(revision) AS r FROM history"),
      compactedTo: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE name = 'compacted_to'"),
      setCompactedTo: db.prepare<[number]>("UPDATE meta SET value = ? WHERE name = 'compacted_to'"),
      upsert: db.prepare<[string, string, number, number, number | null]>(
        "INSERT INTO kv (key, value, revision, create_revision, lease) VALUES (?, ?, ?, ?, ?) " +
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value, revision = excluded.revision, lease = excluded.lease",
      ),
      deleteKey: db.prepare<[string]>("DELETE FROM kv WHERE key = ?"),
      appendHistory: db.prepare<
        [number, string, string, string | null, number | null, number | null, string | null, number | null, number | null, number | null]
      >(
        "INSERT INTO history (revision, key, type, value, create_revision, lease, prev_value, prev_revision, prev_create_revision, prev_lease) " +
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      historyAfter: db.prepare<[number], HistoryRow>("SELECT * FROM history WHERE revision > ? ORDER BY revision"),
      compactHistory: db.prepare<[number]>("DELETE FROM history WHERE revision <= ?"),
      nextExpiry: db.prepare<[], { t: number | null }>("SELECT MIN(expires_at) AS t FROM leases"),
      // prepared once: db.pragma() prepares its statement on every call (~13 µs against ~2.6 µs),
      // and every watch look reads it
      dataVersion: db.prepare<[], number>("PRAGMA data_version").pluck(),
      expiredLeases: db.prepare<[number], { id: number }>("SELECT id FROM leases WHERE expires_at <= ? ORDER BY id"),
      leaseById: db.prepare<[number], { id: number; ttl_ms: number; expires_at: number }>("SELECT * FROM leases WHERE id = ?"),
      insertLease: db.prepare<[number, number]>("INSERT INTO leases (ttl_ms, expires_at) VALUES (?, ?)"),
      renewLease: db.prepare<[number, number]>("UPDATE leases SET expires_at = ? + ttl_ms WHERE id = ?"),
      deleteLease: db.prepare<[number]>("DELETE FROM leases WHERE id = ?"),
      keysOfLease: db.prepare<[number], KvRow>("SELECT key, value, revision, create_revision, lease FROM kv WHERE lease = ? ORDER BY key"),
    };
  }

  // ---- reads ----

  async get(key: string): Promise<KV | undefined> {
    return this.op(() => {
      this.collectExpiredLeases();
      const row = this.stmt.get.get(key);
      return row && toKV(row);
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    return this.op(() => {
      this.collectExpiredLeases();
      const limit = opts.limit ?? -1; // SQLite: a negative LIMIT means none
      return this.db
        .transaction(() => {
          const upper = prefixEnd(prefix);
          const fetch = limit < 0 ? -1 : limit + 1; // one extra row tells whether there is more
          const from = opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter : undefined;
          let rows: KvRow[];
          if (from !== undefined) rows = upper === undefined ? this.stmt.listFromOpen.all(from, fetch) : this.stmt.listFrom.all(from, upper, fetch);
          else rows = upper === undefined ? this.stmt.listAtOpen.all(prefix, fetch) : this.stmt.listAt.all(prefix, upper, fetch);
          const more = limit >= 0 && rows.length > limit;
          if (more) rows.length = limit;
          return { items: rows.map(toKV), revision: this.readRevision(), more };
        })
        .deferred();
    });
  }

  async currentRevision(): Promise<number> {
    return this.op(() => this.readRevision());
  }

  // ---- writes ----

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    return this.write(() => {
      if (this.stmt.get.get(key)) throw alreadyExists(key);
      return this.putRow(key, value, opts.lease, undefined);
    });
  }

  async update(key: string, value: string, opts: CasOptions = {}): Promise<KV> {
    return this.write(() => {
      const cur = this.stmt.get.get(key);
      if (!cur) throw notFound(key);
      if (opts.revision !== undefined && cur.revision !== opts.revision) throw conflict(key, opts.revision, cur.revision);
      return this.putRow(key, value, opts.lease, cur);
    });
  }

  /** Every op in one IMMEDIATE transaction: one commit (one fsync) for the lot, or nothing. */
  async commitBatch(ops: BatchOp[]): Promise<void> {
    this.write(() => {
      for (const op of ops) {
        const cur = this.stmt.get.get(op.key);
        if ((cur?.revision ?? 0) !== op.expect) throw conflict(op.key, op.expect, cur?.revision ?? 0);
        if (op.value !== undefined) this.putRow(op.key, op.value, undefined, cur);
        else if (cur) this.deleteRow(cur);
      }
    });
  }

  async put(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    return this.write(() => this.putRow(key, value, opts.lease, this.stmt.get.get(key)));
  }

  async delete(key: string, opts: { revision?: number } = {}): Promise<KV> {
    return this.write(() => {
      const cur = this.stmt.get.get(key);
      if (!cur) throw notFound(key);
      if (opts.revision !== undefined && cur.revision !== opts.revision) throw conflict(key, opts.revision, cur.revision);
      this.deleteRow(cur);
      return toKV(cur);
    });
  }

  async grantLease(ttlSeconds: number): Promise<number> {
    const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000));
    return this.write(() => Number(this.stmt.insertLease.run(ttlMs, this.clock.now() + ttlMs).lastInsertRowid));
  }

  async keepAlive(lease: number): Promise<void> {
    return this.write(() => {
      if (this.stmt.renewLease.run(this.clock.now(), lease).changes === 0) throw notFound(`lease/${lease}`);
    });
  }

  async revokeLease(lease: number): Promise<void> {
    return this.write(() => this.revokeInTxn(lease));
  }

  /** Delete history at and below `revision` (clamped to the current revision); older watches get DS_COMPACTED. */
  async compact(revision: number): Promise<void> {
    return this.op(() => this.compactNow(revision));
  }

  /** The revision history has been compacted to: watches must start at or after it. */
  async compactedRevision(): Promise<number> {
    return this.op(() => this.stmt.compactedTo.get()!.value);
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): Watcher {
    const entry: WatchEntry = { prefix, listener, cursor: afterRevision, closed: false };
    const fail = (err: DatastoreError) => {
      entry.closed = true;
      queueMicrotask(() => listener.onError(err));
      return { close() {} };
    };
    if (this.closed) return fail(this.closedError());
    this.watchWal(); // before the backlog is read: a commit in between is then notified
    let backlog: WatchEvent[];
    try {
      backlog = this.db
        .transaction(() => {
          const compactedTo = this.stmt.compactedTo.get()!.value;
          if (afterRevision < compactedTo) throw compacted(afterRevision, compactedTo);
          const events: WatchEvent[] = [];
          let last = afterRevision;
          for (const row of this.stmt.historyAfter.iterate(afterRevision)) {
            last = row.revision;
            if (row.key.startsWith(prefix)) events.push(toEvent(row));
          }
          entry.cursor = last;
          // With no other watcher being pumped, the shared read position can jump to here.
          if (!this.watchers.size) this.lastSeen = Math.max(this.lastSeen, Math.min(last, this.readRevision()));
          return events;
        })
        .deferred();
    } catch (err) {
      return fail(asDatastoreError(this, err));
    }
    this.watchers.add(entry);
    if (backlog.length) queueMicrotask(() => !entry.closed && listener.onEvents(backlog));
    return {
      close: () => {
        entry.closed = true;
        this.watchers.delete(entry);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.followUp);
    this.walWatch?.close();
    for (const w of this.watchers) w.closed = true;
    this.watchers.clear();
    this.db.close();
  }

  // ---- internals ----

  /** Run a read (or a self-contained write) with error translation. */
  private op<T>(fn: () => T): T {
    if (this.closed) throw this.closedError();
    try {
      return fn();
    } catch (err) {
      throw translate(this, err);
    }
  }

  /**
   * Run `fn` in an IMMEDIATE transaction after collecting expired leases; then notify watchers.
   * Collection commits on its own first: a write that fails (conflict, ...) rolls back its own
   * transaction, and must not roll back the deletion of expired keys with it. It runs again inside
   * the write's transaction for leases that expired in between.
   */
  private write<T>(fn: () => T): T {
    return this.op(() => {
      this.collectExpiredLeases();
      const result = this.db
        .transaction(() => {
          this.collectExpiredInTxn();
          return fn();
        })
        .immediate();
      this.afterWrite();
      return result;
    });
  }

  /**
   * Housekeeping after a commit. The write is already acknowledged-to-be, so nothing here may turn
   * it into a failure: compaction is retried at the next write, a failed pump ends the watches.
   */
  private afterWrite(): void {
    if (this.compactEvery > 0 && ++this.writesSinceCompact >= this.compactEvery) {
      try {
        this.compactNow(this.readRevision() - this.retention);
        this.writesSinceCompact = 0;
      } catch {
        // e.g. SQLITE_BUSY past the timeout: try again after the next write.
      }
    }
    if (this.watchers.size) this.pumpOrFail();
  }

  private pumpOrFail(): void {
    try {
      this.pump();
    } catch (err) {
      if (isSqliteError(err) && err.code.startsWith("SQLITE_BUSY")) return; // the poll retries
      const e = asDatastoreError(this, err);
      for (const w of [...this.watchers]) this.dropWatcher(w, e);
    }
  }

  private readRevision(): number {
    const r = this.stmt.maxRevision.get()!.r;
    return r ?? this.stmt.compactedTo.get()!.value;
  }

  private compactNow(revision: number): void {
    this.db
      .transaction(() => {
        const target = Math.min(revision, this.readRevision());
        const cur = this.stmt.compactedTo.get()!.value;
        if (target <= cur) return;
        this.stmt.compactHistory.run(target);
        this.stmt.setCompactedTo.run(target);
      })
      .immediate();
  }

  private putRow(key: string, value: string, lease: number | undefined, prev: KvRow | undefined): KV {
    if (lease !== undefined && !this.stmt.leaseById.get(lease)) throw notFound(`lease/${lease}`);
    const revision = this.readRevision() + 1;
    const createRevision = prev?.create_revision ?? revision;
    this.stmt.upsert.run(key, value, revision, createRevision, lease ?? null);
    this.stmt.appendHistory.run(
      revision,
      key,
      "put",
      value,
      createRevision,
      lease ?? null,
      prev?.value ?? null,
      prev?.revision ?? null,
      prev?.create_revision ?? null,
      prev?.lease ?? null,
    );
    return { key, value, revision, createRevision, lease };
  }

  private deleteRow(cur: KvRow): number {
    const revision = this.readRevision() + 1;
    this.stmt.deleteKey.run(cur.key);
    this.stmt.appendHistory.run(revision, cur.key, "delete", null, null, null, cur.value, cur.revision, cur.create_revision, cur.lease);
    return revision;
  }

  private revokeInTxn(lease: number): void {
    for (const row of this.stmt.keysOfLease.all(lease)) this.deleteRow(row);
    this.stmt.deleteLease.run(lease);
  }

  private collectExpiredInTxn(): void {
    for (const { id } of this.stmt.expiredLeases.all(this.clock.now())) this.revokeInTxn(id);
  }

  /**
   * Cheap check (one indexed read); takes the write lock only when some lease has expired. Best
   * effort: if another process holds the write lock past busy_timeout, the read goes ahead and the
   * next operation or tick collects (etcd's lease revocation is asynchronous too).
   */
  private collectExpiredLeases(): void {
    if (this.readOnly) return; // a reader that may not write leaves expiry to the writers
    const next = this.stmt.nextExpiry.get()!.t;
    if (next === null || next > this.clock.now()) return;
    try {
      this.db.transaction(() => this.collectExpiredInTxn()).immediate();
    } catch (err) {
      if (isSqliteError(err) && err.code.startsWith("SQLITE_BUSY")) return;
      throw err;
    }
    if (this.watchers.size) this.pumpOrFail();
  }

  /** Read history after the last seen revision and hand each watcher its events, in order. */
  private pump(): void {
    const { rows, compactedTo } = this.readNewHistory.deferred();
    const batches = new Map<WatchEntry, WatchEvent[]>();
    for (const w of this.watchers) {
      if (w.cursor < compactedTo && compactedTo > this.lastSeen) {
        // Rows this watcher still needed were compacted away (by another process) before we read them.
        this.dropWatcher(w, compacted(w.cursor, compactedTo));
      }
    }
    for (const row of rows) {
      let ev: WatchEvent | undefined;
      for (const w of this.watchers) {
        if (row.revision <= w.cursor) continue;
        w.cursor = row.revision;
        if (!row.key.startsWith(w.prefix)) continue;
        ev ??= toEvent(row);
        let batch = batches.get(w);
        if (!batch) batches.set(w, (batch = []));
        batch.push(ev);
      }
    }
    const last = rows.at(-1);
    if (last) this.lastSeen = last.revision;
    for (const [w, events] of batches) queueMicrotask(() => !w.closed && w.listener.onEvents(events));
  }

  private dropWatcher(w: WatchEntry, err: DatastoreError): void {
    w.closed = true;
    this.watchers.delete(w);
    queueMicrotask(() => w.listener.onError(err));
  }

  /**
   * One look for other processes' commits. `leases`: expired leases are collected too — by the
   * poll's ticks (every second with the WAL watch), not by the looks a WAL notification sets off:
   * those come several per commit, for every watching process, and expiry to the second is what
   * a lease promises (etcd revokes asynchronously too).
   */
  private tick(leases = true): void {
    if (this.closed) return;
    try {
      if (leases) this.collectExpiredLeases();
      if (!this.watchers.size) return;
      const dv = this.stmt.dataVersion.get()!;
      if (dv === this.dataVersion) return;
      this.dataVersion = dv;
      this.pump();
    } catch (err) {
      // A lock held past busy_timeout is transient: try again next tick (data_version is re-read, so
      // force a pump then). Anything else ends the watches.
      if (isSqliteError(err) && err.code.startsWith("SQLITE_BUSY")) {
        this.dataVersion = -1;
        return;
      }
      const e = asDatastoreError(this, err);
      for (const w of [...this.watchers]) this.dropWatcher(w, e);
    }
  }

  private closedError(): DatastoreError {
    return new DatastoreError("DS_UNAVAILABLE", `${this.url}: store is closed`, { url: this.url });
  }
}
