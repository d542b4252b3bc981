/**
 * A typed client for Calico v3 resources over the Store contract, in the manner of
 * libcalico-go's clientv3 over its etcd v3 backend: each resource is the JSON of the full v3
 * object at its Calico key (src/model/keys.ts); `metadata.resourceVersion` is the key's
 * revision (not stored, filled in on read); `uid` and `creationTimestamp` are set on create and
 * kept for the object's life. Every write validates and defaults the object (src/model); an
 * update whose resourceVersion is set is a compare-and-swap (DS_CONFLICT when stale). Checks that
 * need the rest of the store (pools that overlap, tiers still in use) are in semantic-checks.ts.
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import { TabbyError } from "../errors.js";
import { validateResource, validateUpdate } from "../model/validate.js";
import type { Resource } from "../model/resource.js";
import { kindInfo, kindPrefix, parseResourceKey, resourceKey } from "../model/keys.js";
import { checkDelete, checkWrite } from "./semantic-checks.js";
import { DatastoreError, type KV, type Store, type Watcher } from "./store.js";

export interface ResourceList<R extends Resource = Resource> {
  items: R[];
  /** Store revision the list reflects; watch from here to see every later change. */
  revision: number;
}

export interface ResourceEvent<R extends Resource = Resource> {
  type: "put" | "delete";
  kind: string;
  name: string;
  namespace?: string;
  /** The object after a put; the last known object before a delete (when the store has it). */
  resource?: R;
  revision: number;
}

export interface ResourceWatchListener<R extends Resource = Resource> {
  onEvents(events: ResourceEvent<R>[]): void;
  onError(err: DatastoreError): void;
}

export interface ResourceClientOptions {
  clock?: Clock;
  /** Source of `metadata.uid` values (default: crypto.randomUUID). */
  newUid?: () => string;
}

/** How many times `apply` retries a compare-and-swap that lost a race before giving up. */
const APPLY_RETRIES = 5;

export class ResourceClient {
  private readonly clock: Clock;
  private readonly newUid: () => string;

  constructor(
    readonly store: Store,
    opts: ResourceClientOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.newUid = opts.newUid ?? randomUUID;
  }

  async get<R extends Resource = Resource>(kind: string, name: string, namespace?: string): Promise<R | undefined> {
    const kv = await this.store.get(resourceKey(kind, name, namespace));
    return kv ? (decode(kv) as R) : undefined;
  }

  /** Every resource of `kind` (in `namespace` when given and the kind is namespaced), sorted by key. */
  async list<R extends Resource = Resource>(kind: string, namespace?: string): Promise<ResourceList<R>> {
    const prefix = kindPrefix(kind, namespace);
    const { plural } = kindInfo(kind);
    const items: R[] = [];
    let revision = 0;
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.list(prefix, startAfter === undefined ? { limit: 500 } : { limit: 500, startAfter });
      if (startAfter === undefined) revision = page.revision;
      for (const kv of page.items) {
        // A namespace prefix "a/" must not pick up "ab/..." and a kind's prefix no other plural.
        const id = parseResourceKey(kv.key);
        if (!id || kindInfo(id.kind).plural !== plural) continue;
        items.push(decode(kv) as R);
      }
      if (!page.more || page.items.length === 0) break;
      startAfter = page.items[page.items.length - 1]!.key;
    }
    return { items, revision };
  }

  /** Creates `r`; DS_ALREADY_EXISTS if it exists. */
  async create<R extends Resource>(r: R): Promise<R> {
    const v = validateResource<R>(r);
    const meta = v.metadata;
    meta.uid = this.newUid();
    meta.creationTimestamp = new Date(this.clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
    delete meta.resourceVersion;
    const key = resourceKey(v.kind, meta.name, meta.namespace);
    await checkWrite(this, v);
    const kv = await this.store.create(key, JSON.stringify(v));
    return withVersion(v, kv.revision);
  }

  /**
   * Replaces an existing resource; DS_NOT_FOUND if absent. When `metadata.resourceVersion` is
   * set, succeeds only if it is still current (DS_CONFLICT otherwise). `uid` and
   * `creationTimestamp` are those of the existing object.
   */
  async update<R extends Resource>(r: R): Promise<R> {
    const v = validateResource<R>(r);
    const key = resourceKey(v.kind, v.metadata.name, v.metadata.namespace);
    const expected = parseVersion(r.metadata?.resourceVersion);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.store.get(key);
      if (!cur) throw new DatastoreError("DS_NOT_FOUND", `${v.kind} ${displayName(v)} does not exist`, { key });
      if (expected !== undefined && cur.revision !== expected) {
        throw new DatastoreError(
          "DS_CONFLICT",
          `${v.kind} ${displayName(v)} was changed by someone else (resourceVersion ${expected}, now ${cur.revision}); get it again and retry`,
          {
            key,
            expected,
            actual: cur.revision,
          },
        );
      }
      try {
        return await this.replace(key, cur, v);
      } catch (err) {
        // Without a resourceVersion the caller asked for an unconditional update: a write that
        // slipped in between our read and our swap is not their conflict, so read again.
        if (!(expected === undefined && err instanceof DatastoreError && err.code === "DS_CONFLICT" && attempt < APPLY_RETRIES)) throw err;
      }
    }
  }

  /** Creates `r`, or updates it if it exists, keeping the existing `uid` and `creationTimestamp`. */
  async apply<R extends Resource>(r: R): Promise<R> {
    const v = validateResource<R>(r);
    const key = resourceKey(v.kind, v.metadata.name, v.metadata.namespace);
    const expected = parseVersion(r.metadata?.resourceVersion);
    for (let attempt = 0; ; attempt++) {
      const cur = await this.store.get(key);
      try {
        if (!cur) {
          if (expected !== undefined)
            throw new DatastoreError("DS_NOT_FOUND", `${v.kind} ${displayName(v)} does not exist (resourceVersion ${expected} given)`, { key });
          return await this.create(v);
        }
        if (expected !== undefined && cur.revision !== expected) {
          throw new DatastoreError(
            "DS_CONFLICT",
            `${v.kind} ${displayName(v)} was changed by someone else (resourceVersion ${expected}, now ${cur.revision})`,
            {
              key,
              expected,
              actual: cur.revision,
            },
          );
        }
        return await this.replace(key, cur, v);
      } catch (err) {
        const raced =
          err instanceof DatastoreError &&
          (err.code === "DS_ALREADY_EXISTS" ||
            (err.code === "DS_CONFLICT" && expected === undefined) ||
            (err.code === "DS_NOT_FOUND" && expected === undefined));
        if (!raced || attempt >= APPLY_RETRIES) throw err;
      }
    }
  }

  /** Deletes a resource and returns it; DS_NOT_FOUND if absent, DS_CONFLICT if `resourceVersion` is stale. */
  async delete<R extends Resource = Resource>(kind: string, name: string, namespace?: string, opts: { resourceVersion?: string } = {}): Promise<R> {
    const key = resourceKey(kind, name, namespace);
    const revision = parseVersion(opts.resourceVersion);
    await checkDelete(this, kind, name);
    const kv = await this.store.delete(key, revision === undefined ? {} : { revision });
    return decode(kv) as R;
  }

  /** Watches every resource of `kind` for changes after `afterRevision`. */
  watch<R extends Resource = Resource>(kind: string, afterRevision: number, listener: ResourceWatchListener<R>): Watcher {
    const { plural } = kindInfo(kind);
    return this.store.watch(kindPrefix(kind), afterRevision, {
      onEvents: (events) => {
        const out: ResourceEvent<R>[] = [];
        for (const ev of events) {
          const key = ev.type === "put" ? ev.kv.key : ev.key;
          const id = parseResourceKey(key);
          if (!id || kindInfo(id.kind).plural !== plural) continue;
          const base = { kind: id.kind, name: id.name, ...(id.namespace !== undefined ? { namespace: id.namespace } : {}) };
          if (ev.type === "put") {
            const resource = tryDecode(ev.kv) as R | undefined;
            out.push({ type: "put", ...base, ...(resource ? { resource } : {}), revision: ev.kv.revision });
          } else {
            const resource = ev.prev ? (tryDecode(ev.prev) as R | undefined) : undefined;
            out.push({ type: "delete", ...base, ...(resource ? { resource } : {}), revision: ev.revision });
          }
        }
        if (out.length) listener.onEvents(out);
      },
      onError: (err) => listener.onError(err),
    });
  }

  private async replace<R extends Resource>(key: string, cur: KV, v: R): Promise<R> {
    const old = decode(cur);
    validateUpdate(old, v);
    await checkWrite(this, v);
    const meta = v.metadata;
    delete meta.resourceVersion;
    if (old.metadata.uid !== undefined) meta.uid = old.metadata.uid;
    if (old.metadata.creationTimestamp !== undefined) meta.creationTimestamp = old.metadata.creationTimestamp;
    const kv = await this.store.update(key, JSON.stringify(v), { revision: cur.revision });
    return withVersion(v, kv.revision);
  }
}

function displayName(r: Resource): string {
  return r.metadata.namespace ? `${r.metadata.namespace}/${r.metadata.name}` : r.metadata.name;
}

function parseVersion(v: string | undefined): number | undefined {
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v))
    throw new TabbyError("MODEL_INVALID", `metadata.resourceVersion must be a revision number, got ${JSON.stringify(v)}`, {
      errors: [{ path: "metadata.resourceVersion", message: "must be a revision number" }],
    });
  return Number(v);
}

function withVersion<R extends Resource>(r: R, revision: number): R {
  return { ...r, metadata: { ...r.metadata, resourceVersion: String(revision) } };
}

function decode(kv: KV): Resource {
  let r: Resource;
  try {
    r = JSON.parse(kv.value) as Resource;
  } catch (err) {
    throw new TabbyError("MODEL_PARSE", `stored value at ${kv.key} is not JSON`, { key: kv.key }, { cause: err });
  }
  return withVersion(r, kv.revision);
}

function tryDecode(kv: KV): Resource | undefined {
  try {
    return decode(kv);
  } catch {
    return undefined;
  }
}
