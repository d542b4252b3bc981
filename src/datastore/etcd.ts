/**
 * The etcd v3 backend of the datastore contract (store.ts), on the `etcd3` client's gRPC
 * services (KV, Lease, Watch; etcd's api/etcdserverpb/rpc.proto). Keys are stored exactly as
 * given — Calico's layout (keys.ts) — and values are the same JSON strings as in every backend,
 * so an etcd written by tabby reads like one written by Calico's etcdv3 backend.
 *
 * Mapping:
 *  - KV.revision = mod_revision, createRevision = create_revision, lease = lease id (0 = none).
 *  - create: Txn(if create_revision(key) == 0 then Put else Range).
 *  - update/delete: Txn(if create_revision > 0 [and mod_revision == r] then Put/DeleteRange else
 *    Range); the else-branch read tells DS_NOT_FOUND (absent) from DS_CONFLICT (other revision).
 *  - list: Range over the prefix, ascending by key, `limit`; revision = the response header's.
 *  - watch: one Watch stream per watcher with start_revision = afterRevision + 1, so etcd replays
 *    its history from there and nothing written between a list and a watch is lost. A
 *    compact_revision in the response → onError(DS_COMPACTED); a broken stream (etcd down,
 *    connection lost) → onError(DS_UNAVAILABLE). The watcher does NOT resume by itself: like every
 *    store watch it fails and closes, and the syncer watches again from the last revision it saw
 *    (or re-lists on DS_COMPACTED). Events are delivered in etcd's order; etcd keeps every event
 *    of one revision in one response (we do not ask for fragments).
 *  - leases: LeaseGrant with an id the client picks below 2^48 (etcd's own ids are 63-bit numbers
 *    a JS number cannot hold), a single LeaseKeepAlive round trip, LeaseRevoke. A revoke or an
 *    expiry deletes all the lease's keys in ONE revision (etcd semantics), so several delete
 *    events may share a revision.
 *
 * Failure handling: every unary call carries a deadline (requestTimeoutMs, default 5 s), so a
 * write during an outage fails with DS_UNAVAILABLE instead of hanging. An endpoint that fails is
 * skipped for a second (HostGate), so with several endpoints calls move to a live member. Reads,
 * keep-alives and revokes are retried over the endpoints within the deadline; writes are retried
 * only when the request never left the client (no connection, endpoint skipped), because a write
 * whose answer was lost may have been applied: such a write fails with DS_UNAVAILABLE and the
 * caller re-reads. The etcd3 client's own retry/circuit-breaker policies are replaced for that
 * reason (its global retry would replay non-idempotent transactions). Every error leaving this module is a DatastoreError; errors that have no
 * contract code (permission denied, bad TLS files, …) are DS_UNAVAILABLE with the cause attached.
 *
 * The URL and options are in etcd-url.ts, the watch streams in etcd-watch.ts, and the transport
 * policy (HostGate, which failures are retried) in etcd-hosts.ts.
 */
import { randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import etcd3 from "etcd3";
import type { Etcd3 as Etcd3Client, IOptions, IRequestOp, ITxnResponse } from "etcd3";
import { type FaultPolicy, HostDownError, HostGate, isTransportError, neverSent, noPolicy } from "./etcd-hosts.js";
import { type EtcdOptions, parseEtcdUrl } from "./etcd-url.js";
import { EtcdWatch, toKV } from "./etcd-watch.js";
import {
  DatastoreError,
  alreadyExists,
  conflict,
  notFound,
  type BatchOp,
  type CasOptions,
  type KV,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchListener,
  type Watcher,
  type WriteOptions,
} from "./store.js";

export type { EtcdOptions, EtcdTlsOptions } from "./etcd-url.js";
export { parseEtcdUrl };

const { Etcd3, Range } = etcd3;

// rpc.proto RangeRequest.SortOrder.ASCEND and SortTarget.KEY.
const SORT_ASCEND = 1;
const SORT_BY_KEY = 0;

// etcd's proto enums (rpc.proto Compare.CompareResult / CompareTarget), by number.
const EQUAL = 0;
const GREATER = 1;
const TARGET_CREATE = 1;
const TARGET_MOD = 2;

/**
 * Key read (count only) to learn the store revision and to check that etcd answers. It lies under
 * Calico's root because an etcd user for tabby/Calico is often granted only /calico/.
 */
const PROBE_KEY = Buffer.from("/calico/");

/** The etcd v3 Store. */
export class EtcdStore implements Store {
  readonly url: string;
  private readonly endpoints: string[];
  private readonly requestTimeoutMs: number;
  /** @internal */
  readonly dialTimeoutMs: number;
  private readonly watchers = new Set<EtcdWatch>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3Client,
    endpoints: string[],
    secure: boolean,
    opts: EtcdOptions,
  ) {
    this.endpoints = endpoints;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? 5000;
    this.url = `${secure ? "etcds" : "etcd"}://${endpoints.map((e) => e.replace(/^https?:\/\//, "")).join(",")}`;
  }

  /** Connects and checks that etcd answers within dialTimeoutMs; DS_UNAVAILABLE if it does not. */
  static async open(opts: EtcdOptions): Promise<EtcdStore> {
    if (opts.endpoints.length === 0) throw new DatastoreError("DS_UNAVAILABLE", "no etcd endpoints given");
    const secure = opts.tls !== undefined || opts.endpoints.some((e) => e.startsWith("https://"));
    const endpoints = opts.endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `${secure ? "https" : "http"}://${e}`));
    if (secure && endpoints.some((e) => e.startsWith("http://"))) {
      throw new DatastoreError("DS_UNAVAILABLE", `etcd endpoints mix http and https: ${endpoints.join(",")}`);
    }
    const requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    const options: IOptions = {
      hosts: endpoints,
      // Retries and circuit breaking are done here, knowing which calls are safe to repeat.
      faultHandling: { host: () => new HostGate() as unknown as FaultPolicy, global: noPolicy },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
      grpcOptions: {
        // Notice a silently dead connection (etcd's server allows pings every 5 s while streams are open).
        "grpc.keepalive_time_ms": 10_000,
        "grpc.keepalive_timeout_ms": 5_000,
        "grpc.initial_reconnect_backoff_ms": 200,
        "grpc.max_reconnect_backoff_ms": 2_000,
      },
    };
    if (opts.tls && (opts.tls.ca || opts.tls.cert || opts.tls.key)) {
      const read = async (p: string | undefined) => {
        if (p === undefined) return undefined;
        try {
          return await readFile(p);
        } catch (err) {
          throw new DatastoreError("DS_UNAVAILABLE", `cannot read etcd TLS file ${p}: ${(err as Error).message}`, { path: p }, { cause: err });
        }
      };
      const [ca, cert, key] = await Promise.all([read(opts.tls.ca), read(opts.tls.cert), read(opts.tls.key)]);
      // grpc's createSsl takes null for "the system's roots".
      options.credentials = { rootCertificate: (ca ?? null) as Buffer, ...(key ? { privateKey: key } : {}), ...(cert ? { certChain: cert } : {}) };
    }
    if (opts.username !== undefined) options.auth = { username: opts.username, password: opts.password ?? "" };
    let client: Etcd3Client;
    try {
      client = new Etcd3(options);
    } catch (err) {
      throw new DatastoreError(
        "DS_UNAVAILABLE",
        `cannot configure etcd client for ${endpoints.join(",")}: ${(err as Error).message}`,
        { endpoints },
        { cause: err },
      );
    }
    const store = new EtcdStore(client, endpoints, secure, opts);
    try {
      await store.call("connect", true, (o) => client.kv.range({ key: PROBE_KEY, count_only: true }, o), store.dialTimeoutMs);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  async get(key: string): Promise<KV | undefined> {
    const res = await this.call("get", true, (o) => this.client.kv.range({ key: Buffer.from(key) }, o));
    const kv = res.kvs[0];
    return kv ? toKV(kv) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const range = Range.prefix(prefix);
    let start = range.start;
    if (opts.startAfter !== undefined) {
      const after = Buffer.concat([Buffer.from(opts.startAfter), Buffer.from([0])]);
      if (Buffer.compare(after, start) > 0) start = after;
    }
    if (opts.limit === 0) {
      const res = await this.call("list", true, (o) => this.client.kv.range({ key: start, range_end: range.end, count_only: true }, o));
      return { items: [], revision: Number(res.header.revision), more: Number(res.count) > 0 };
    }
    const res = await this.call("list", true, (o) =>
      this.client.kv.range(
        {
          key: start,
          range_end: range.end,
          sort_order: SORT_ASCEND as never,
          sort_target: SORT_BY_KEY as never,
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        },
        o,
      ),
    );
    return { items: res.kvs.map(toKV), revision: Number(res.header.revision), more: res.more };
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    const k = Buffer.from(key);
    const res = await this.txn(
      "create",
      [{ key: k, target: TARGET_CREATE, result: EQUAL, create_revision: 0 }],
      {
        request_put: { key: k, value: Buffer.from(value), ...(opts.lease ? { lease: opts.lease } : {}) },
      },
      k,
    );
    if (!res.succeeded) throw alreadyExists(key);
    const rev = Number(res.header.revision);
    return { key, value, revision: rev, createRevision: rev, lease: opts.lease || undefined };
  }

  async update(key: string, value: string, opts: CasOptions = {}): Promise<KV> {
    const k = Buffer.from(key);
    const compare = [{ key: k, target: TARGET_CREATE, result: GREATER, create_revision: 0 }];
    if (opts.revision !== undefined) compare.push({ key: k, target: TARGET_MOD, result: EQUAL, mod_revision: opts.revision } as never);
    const res = await this.txn(
      "update",
      compare,
      {
        request_put: { key: k, value: Buffer.from(value), prev_kv: true, ...(opts.lease ? { lease: opts.lease } : {}) },
      },
      k,
    );
    if (!res.succeeded) throw this.casFailure(key, opts.revision, res);
    const rev = Number(res.header.revision);
    const prev = res.responses[0]?.response_put?.prev_kv;
    return { key, value, revision: rev, createRevision: prev ? Number(prev.create_revision) : rev, lease: opts.lease || undefined };
  }

  /** etcd's default --max-txn-ops: a larger batch is the caller's to split (src/datastore/transaction.ts). */
  readonly maxBatchOps = 128;

  /** One Txn: compare every key's revision, then all the puts and deletes, or nothing. */
  async commitBatch(ops: BatchOp[]): Promise<void> {
    if (!ops.length) return;
    const compare = ops.map((op) =>
      op.expect === 0
        ? { key: Buffer.from(op.key), target: TARGET_CREATE, result: EQUAL, create_revision: 0 }
        : { key: Buffer.from(op.key), target: TARGET_MOD, result: EQUAL, mod_revision: op.expect },
    );
    const success = ops.map((op) =>
      op.value === undefined
        ? { request_delete_range: { key: Buffer.from(op.key) } }
        : { request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value) } },
    );
    const res = await this.call("txn", false, (o) => this.client.kv.txn({ compare, success, failure: [] } as never, o));
    if (!res.succeeded)
      throw new DatastoreError("DS_CONFLICT", `a key of the batch changed since it was read (${ops.length} writes, none applied)`, { keys: ops.length });
  }

  async put(key: string, value: string, opts: WriteOptions = {}): Promise<KV> {
    const k = Buffer.from(key);
    const res = await this.call("put", false, (o) =>
      this.client.kv.put({ key: k, value: Buffer.from(value), prev_kv: true, ...(opts.lease ? { lease: opts.lease } : {}) }, o),
    ).catch(leaseMissing(opts.lease));
    const rev = Number(res.header.revision);
    const prev = res.prev_kv;
    return { key, value, revision: rev, createRevision: prev ? Number(prev.create_revision) : rev, lease: opts.lease || undefined };
  }

  async delete(key: string, opts: { revision?: number } = {}): Promise<KV> {
    const k = Buffer.from(key);
    const compare = [{ key: k, target: TARGET_CREATE, result: GREATER, create_revision: 0 }];
    if (opts.revision !== undefined) compare.push({ key: k, target: TARGET_MOD, result: EQUAL, mod_revision: opts.revision } as never);
    const res = await this.txn("delete", compare, { request_delete_range: { key: k, prev_kv: true } }, k);
    if (!res.succeeded) throw this.casFailure(key, opts.revision, res);
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (!prev) throw notFound(key); // cannot happen: the compare saw the key
    return toKV(prev);
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): Watcher {
    const w = new EtcdWatch(this, this.client, prefix, afterRevision, listener);
    if (this.closed) {
      queueMicrotask(() => w.fail(this.unavailable("watch", "store is closed")));
      return w;
    }
    this.watchers.add(w);
    w.start();
    return w;
  }

  async currentRevision(): Promise<number> {
    const res = await this.call("currentRevision", true, (o) => this.client.kv.range({ key: PROBE_KEY, count_only: true }, o));
    return Number(res.header.revision);
  }

  async grantLease(ttlSeconds: number): Promise<number> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds));
    for (let attempt = 0; ; attempt++) {
      // Our own id: etcd's generated ids exceed Number.MAX_SAFE_INTEGER.
      const id = randomInt(1, 2 ** 48 - 1);
      try {
        const res = await this.call("grantLease", false, (o) => this.client.leaseClient.leaseGrant({ TTL: ttl, ID: id }, o));
        if (res.error) throw this.unavailable("grantLease", res.error);
        return Number(res.ID);
      } catch (err) {
        // A (very unlikely) id collision: pick another.
        if (attempt < 3 && err instanceof DatastoreError && /lease already exists/.test(err.message)) continue;
        throw err;
      }
    }
  }

  async keepAlive(lease: number): Promise<void> {
    const ttl = await this.call("keepAlive", true, async (o) => {
      const stream = await this.client.leaseClient.leaseKeepAlive(o);
      return new Promise<number>((resolve, reject) => {
        const finish = () => {
          stream.end(); // half-close first, so the client library does not count our cancel as a failure
          stream.cancel();
        };
        stream.on("data", (r) => {
          finish();
          resolve(Number(r.TTL));
        });
        stream.on("error", (err) => {
          finish();
          reject(err);
        });
        stream.on("end", () => reject(new Error("lease keep-alive stream ended without an answer")));
        stream.write({ ID: lease });
      });
    });
    if (ttl <= 0) throw notFound(`lease/${lease}`);
  }

  async revokeLease(lease: number): Promise<void> {
    try {
      await this.call("revokeLease", true, (o) => this.client.leaseClient.leaseRevoke({ ID: lease }, o));
    } catch (err) {
      // Like the memory store, revoking an unknown (or already expired) lease is not an error.
      if (err instanceof DatastoreError && /requested lease not found/.test(err.message)) return;
      throw err;
    }
  }

  /**
   * Compacts etcd's history at `revision` (physically), like MemoryStore.compact: watches from
   * before it then fail with DS_COMPACTED. Compacting at or below an earlier compaction is a no-op.
   */
  async compact(revision: number): Promise<void> {
    try {
      await this.call("compact", false, (o) => this.client.kv.compact({ revision, physical: true }, o));
    } catch (err) {
      if (err instanceof DatastoreError && err.code === "DS_COMPACTED") return;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watchers]) w.close();
    this.watchers.clear();
    this.client.close();
  }

  /** @internal */
  forget(w: EtcdWatch): void {
    this.watchers.delete(w);
  }

  /** @internal An etcd or transport error as a DatastoreError naming the endpoints. */
  toDatastoreError(op: string, err: unknown): DatastoreError {
    if (err instanceof DatastoreError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    if (/required revision has been compacted/.test(msg)) {
      return new DatastoreError("DS_COMPACTED", `etcd at ${this.endpoints.join(",")}: ${msg}`, { op }, { cause: err });
    }
    return this.unavailable(op, err);
  }

  /** @internal */
  unavailable(op: string, cause: unknown): DatastoreError {
    const msg = cause instanceof Error ? cause.message : String(cause);
    return new DatastoreError(
      "DS_UNAVAILABLE",
      `etcd at ${this.endpoints.join(",")} unavailable (${op}): ${msg}`,
      { op, endpoints: this.endpoints },
      { cause },
    );
  }

  private async txn(op: string, compare: object[], success: IRequestOp, key: Buffer): Promise<ITxnResponse> {
    return this.call(op, false, (o) => this.client.kv.txn({ compare, success: [success], failure: [{ request_range: { key } }] } as never, o)).catch(
      leaseMissing(success.request_put?.lease),
    );
  }

  private casFailure(key: string, revision: number | undefined, res: ITxnResponse): DatastoreError {
    const cur = res.responses[0]?.response_range?.kvs[0];
    if (!cur) return notFound(key);
    return conflict(key, revision ?? 0, Number(cur.mod_revision));
  }

  /**
   * Runs one etcd call under a deadline, retrying on transport errors when that is safe: always
   * for `idempotent` calls, for the others only when nothing was sent.
   */
  private async call<T>(op: string, idempotent: boolean, fn: (opts: { deadline: number }) => Promise<T>, timeoutMs = this.requestTimeoutMs): Promise<T> {
    if (this.closed) throw this.unavailable(op, "store is closed");
    const deadline = Date.now() + timeoutMs;
    const attempts = this.endpoints.length + 1;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        return await fn({ deadline });
      } catch (err) {
        if (err instanceof DatastoreError) throw err;
        // Keep the real failure, not the "skipped, failed recently" that a retry may meet.
        if (!(err instanceof HostDownError) || last === undefined) last = err;
        if (!isTransportError(err) || Date.now() >= deadline) break;
        if (!idempotent && !neverSent(err)) break;
        if (i > 0) await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw this.toDatastoreError(op, last);
  }
}

/** A write naming a lease etcd does not know (expired or revoked) fails with DS_NOT_FOUND lease/N. */
function leaseMissing(lease: string | number | undefined): (err: unknown) => never {
  return (err) => {
    if (lease && err instanceof DatastoreError && /requested lease not found/.test(err.message)) throw notFound(`lease/${lease}`);
    throw err;
  };
}
