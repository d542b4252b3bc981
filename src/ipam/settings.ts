/**
 * What IPAM reads before it allocates and that changes rarely: the IPPools, the IPAM
 * configuration (IPAMConfiguration `default`, else Calico's raw `/calico/ipam/v2/config` key,
 * else the defaults) and the IPReservations. libcalico-go reads them on every AutoAssign; tabby
 * reads them in one datastore round trip (the three resource kinds share the key prefix
 * `/calico/resources/v3/projectcalico.org/ip`, listed at once, with the raw config key fetched
 * beside it), and a long-lived allocator keeps them in a `SettingsCache` fed by a watch.
 *
 * The cache may lag a change by the watch's delay (etcd pushes at once; SQLite polls every
 * 20 ms). The allocator therefore uses cached settings only to pick among blocks it already
 * holds; claiming a new block, re-creating a missing one or borrowing re-reads them (see
 * ./ipam.ts), so a disabled or deleted pool never gets a new block and a reservation is never
 * claimed as a block once it is written.
 */
import { RESOURCE_ROOT, kindPrefix, resourceKey } from "../model/keys.js";
import type { DatastoreError, KV, Store, Watcher } from "../datastore/store.js";
import type { Prefix } from "../net/prefix.js";
import { CONFIG_KEY, DEFAULT_IPAM_CONFIG, decodeConfig, type IpamConfig } from "./keys.js";
import { poolFromResource, type Pool } from "./pools.js";
import { reservedPrefixes } from "./reservations.js";

export interface IpamSettings {
  pools: Pool[];
  config: IpamConfig;
  reserved: Prefix[];
}

/** IPPools, IPReservations and IPAMConfigurations all live under this prefix (and nothing else does). */
export const SETTINGS_PREFIX = `${RESOURCE_ROOT}ip`;
const POOLS = kindPrefix("IPPool");
const RESERVATIONS = kindPrefix("IPReservation");
const CONFIG_RESOURCE = resourceKey("IPAMConfiguration", "default");

/** Settings from the keys under SETTINGS_PREFIX and the raw config key's value. Pure. */
export function settingsFrom(items: Iterable<{ key: string; value: string }>, rawConfig: string | undefined): IpamSettings {
  const pools: Pool[] = [];
  const reservations: string[] = [];
  let configResource: string | undefined;
  for (const kv of items) {
    if (kv.key.startsWith(POOLS)) {
      try {
        pools.push(poolFromResource(kv.value));
      } catch {
        // An invalid pool serves no one; validation on apply reports it.
      }
    } else if (kv.key.startsWith(RESERVATIONS)) reservations.push(kv.value);
    else if (kv.key === CONFIG_RESOURCE) configResource = kv.value;
  }
  let config: IpamConfig | undefined;
  for (const text of [configResource, rawConfig]) {
    if (config || text === undefined) continue;
    try {
      config = decodeConfig(text);
    } catch {
      // fall through to the next source
    }
  }
  return { pools, config: config ?? { ...DEFAULT_IPAM_CONFIG }, reserved: reservedPrefixes(reservations) };
}

async function listAll(store: Store, prefix: string): Promise<{ items: KV[]; revision: number }> {
  const items: KV[] = [];
  let startAfter: string | undefined;
  let revision = 0;
  for (;;) {
    const r = await store.list(prefix, startAfter === undefined ? { limit: 1000 } : { limit: 1000, startAfter });
    if (revision === 0) revision = r.revision;
    items.push(...r.items);
    if (!r.more || r.items.length === 0) return { items, revision };
    startAfter = r.items[r.items.length - 1]!.key;
  }
}

/** The settings as the store holds them now: one list and one get, side by side. */
export async function readSettings(store: Store): Promise<IpamSettings> {
  const [list, raw] = await Promise.all([listAll(store, SETTINGS_PREFIX), store.get(CONFIG_KEY)]);
  return settingsFrom(list.items, raw?.value);
}

/**
 * Settings kept current by a watch on SETTINGS_PREFIX and the raw config key. The first `get`
 * lists; later ones answer from memory. A failed watch drops everything, and the next `get`
 * lists again.
 */
export class SettingsCache {
  private values: Map<string, string> | undefined;
  private raw: string | undefined;
  private current: IpamSettings | undefined;
  private loading: Promise<IpamSettings> | undefined;
  private watchers: Watcher[] = [];
  private closed = false;

  constructor(private readonly store: Store) {}

  async get(): Promise<IpamSettings> {
    if (this.current) return this.current;
    if (this.values)
      return (this.current = settingsFrom(
        Array.from(this.values, ([key, value]) => ({ key, value })),
        this.raw,
      ));
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  close(): void {
    this.closed = true;
    this.drop();
  }

  private async load(): Promise<IpamSettings> {
    const [list, raw] = await Promise.all([listAll(this.store, SETTINGS_PREFIX), this.store.get(CONFIG_KEY)]);
    const settings = settingsFrom(list.items, raw?.value);
    if (this.closed) return settings;
    this.values = new Map(list.items.map((kv) => [kv.key, kv.value]));
    this.raw = raw?.value;
    const onError = (_err: DatastoreError) => this.drop();
    // Events already reflected by the list or the get are replayed harmlessly (same final value).
    this.watchers.push(
      this.store.watch(SETTINGS_PREFIX, list.revision, {
        onEvents: (events) => {
          for (const e of events) {
            if (e.type === "put") this.values?.set(e.kv.key, e.kv.value);
            else this.values?.delete(e.key);
          }
          this.current = undefined;
        },
        onError,
      }),
      this.store.watch(CONFIG_KEY, list.revision, {
        onEvents: (events) => {
          for (const e of events) {
            if (e.type === "put" && e.kv.key === CONFIG_KEY) this.raw = e.kv.value;
            else if (e.type === "delete" && e.key === CONFIG_KEY) this.raw = undefined;
          }
          this.current = undefined;
        },
        onError,
      }),
    );
    this.current = settings;
    return settings;
  }

  private drop(): void {
    for (const w of this.watchers.splice(0)) w.close();
    this.values = undefined;
    this.raw = undefined;
    this.current = undefined;
  }
}
