/**
 * The datastore contract every backend (embedded SQLite, etcd v3, in-memory) implements: a
 * revisioned key-value store with compare-and-swap, list by prefix, watch from a revision and
 * leases. Modelled on etcd v3's semantics, which is also what libcalico-go's backend API assumes.
 *
 * Revisions are global and strictly increasing: every successful write gets the next one.
 * `KV.revision` is the revision of the last write to that key (etcd's mod_revision). One
 * exceptions to "one write, one revision": a lease revocation or expiry may delete all the lease's
 * keys in a single revision (etcd does), so their delete events can share it; so do the writes of
 * one etcd `commitBatch`. Keys are non-empty
 * strings (etcd rejects an empty key).
 */
import { TabbyError } from "../errors.js";

export interface KV {
  readonly key: string;
  readonly value: string;
  /** Revision of the last write to this key. */
  readonly revision: number;
  /** Revision at which the key was created. */
  readonly createRevision: number;
  /** Lease the key is attached to, if any; the key is deleted when the lease expires. */
  readonly lease?: number | undefined;
}

export type WatchEvent =
  | { readonly type: "put"; readonly kv: KV; readonly prev?: KV | undefined }
  | { readonly type: "delete"; readonly key: string; readonly revision: number; readonly prev?: KV | undefined };

export interface ListOptions {
  /** At most this many items (default: all). */
  limit?: number;
  /** Only keys strictly greater than this one (for pagination). */
  startAfter?: string;
}

export interface ListResult {
  items: KV[];
  /** The store revision the list reflects; watch from here to see every later change. */
  revision: number;
  /** True when `limit` cut the list short; continue with `startAfter` = last item's key. */
  more: boolean;
}

export interface WriteOptions {
  /** Attach the key to a lease (see grantLease). */
  lease?: number;
}

export interface CasOptions extends WriteOptions {
  /** Succeed only if the key's current revision equals this one. */
  revision?: number;
}

export interface WatchListener {
  /** Events arrive in revision order, each exactly once, all with revision > afterRevision. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch failed and is closed. A `DS_COMPACTED` error means the requested revision is no
   * longer in history: re-list and watch again from the list's revision.
   */
  onError(err: DatastoreError): void;
}

export interface Watcher {
  close(): void;
}

/**
 * One write of a batch (see `Store.commitBatch`): `value` to put, or undefined to delete; applied
 * only if the key's current revision is `expect` (0: the key must not exist).
 */
export interface BatchOp {
  key: string;
  value: string | undefined;
  expect: number;
}

export interface Store {
  /** A short description for logs and errors, e.g. "sqlite:///var/lib/tabby/tabby.db". */
  readonly url: string;
  get(key: string): Promise<KV | undefined>;
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Fails with DS_ALREADY_EXISTS if the key exists. */
  create(key: string, value: string, opts?: WriteOptions): Promise<KV>;
  /** Fails with DS_NOT_FOUND if absent, DS_CONFLICT if `revision` is given and differs. */
  update(key: string, value: string, opts?: CasOptions): Promise<KV>;
  /** Unconditional create-or-update. */
  put(key: string, value: string, opts?: WriteOptions): Promise<KV>;
  /** Fails with DS_NOT_FOUND if absent, DS_CONFLICT if `revision` is given and differs. Returns the deleted KV. */
  delete(key: string, opts?: { revision?: number }): Promise<KV>;
  /**
   * All of `ops` or none: every `expect` is checked and every write applied in one transaction
   * (SQLite: one IMMEDIATE transaction, one revision per op; etcd: one Txn, so the ops share one
   * revision, as etcd's own multi-key transactions do). DS_CONFLICT (nothing written) when an
   * `expect` does not hold. `maxBatchOps` bounds the ops one call takes (etcd's --max-txn-ops).
   */
  commitBatch?(ops: BatchOp[]): Promise<void>;
  readonly maxBatchOps?: number;
  /** Watch every key under `prefix` for changes after `afterRevision`. */
  watch(prefix: string, afterRevision: number, listener: WatchListener): Watcher;
  currentRevision(): Promise<number>;
  /** Grant a lease that expires after `ttlSeconds` unless kept alive; returns its id. */
  grantLease(ttlSeconds: number): Promise<number>;
  keepAlive(lease: number): Promise<void>;
  /** Revoke a lease, deleting every key attached to it. */
  revokeLease(lease: number): Promise<void>;
  close(): Promise<void>;
}

export type DatastoreErrorCode =
  | "DS_NOT_FOUND"
  | "DS_ALREADY_EXISTS"
  | "DS_CONFLICT"
  | "DS_COMPACTED"
  | "DS_UNAVAILABLE"
  | "DS_INSECURE_PERMISSIONS"
  // a SQLite path that does not exist, opened by a reader (which never creates one)
  | "DS_NO_DATABASE"
  // the SQLite file is not a database or is damaged: retrying does not help
  | "DS_CORRUPT";

export class DatastoreError extends TabbyError {
  declare readonly code: DatastoreErrorCode;
  constructor(code: DatastoreErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

export const notFound = (key: string) => new DatastoreError("DS_NOT_FOUND", `key not found: ${key}`, { key });
export const alreadyExists = (key: string) => new DatastoreError("DS_ALREADY_EXISTS", `key already exists: ${key}`, { key });
export const conflict = (key: string, expected: number, actual: number) =>
  new DatastoreError("DS_CONFLICT", `revision conflict on ${key}: expected ${expected}, found ${actual}`, {
    key,
    expected,
    actual,
  });
export const compacted = (revision: number, compactedTo: number) =>
  new DatastoreError("DS_COMPACTED", `revision ${revision} has been compacted (oldest available ${compactedTo})`, {
    revision,
    compactedTo,
  });
