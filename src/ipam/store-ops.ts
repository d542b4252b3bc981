/**
 * The store plumbing every IPAM job shares (libcalico-go `ipam_block_reader_writer.go`): every
 * write is compare-and-swap on the key's revision, retried at most DATASTORE_RETRIES times
 * (Calico's datastoreRetries) before IPAM_CONFLICT; a block is read-modify-written under CAS;
 * a handle's per-block count is raised or lowered under CAS (a new handle is created without
 * reading it first); lists follow pagination. Also the allocator's shared state (IpamState).
 */
import type { Clock } from "../clock.js";
import { TabbyError, hasCode } from "../errors.js";
import type { KV, Store } from "../datastore/store.js";
import type { Prefix } from "../net/prefix.js";
import type { Block } from "./block.js";
import { blockKey, decodeBlock, decodeHandle, encodeBlock, encodeHandle, handleKey } from "./keys.js";
import type { SettingsCache } from "./settings.js";
import type { SelectorMatcher } from "./pools.js";

/** Calico's datastoreRetries. */
export const DATASTORE_RETRIES = 100;

/** What one allocator (src/ipam/ipam.ts Ipam) holds, shared by the modules that do its jobs. */
export interface IpamState {
  readonly store: Store;
  readonly clock: Clock;
  readonly matcher: SelectorMatcher;
  /** CAS attempts per write before IPAM_CONFLICT. */
  readonly retries: number;
  readonly cache: SettingsCache | undefined;
  /** With cacheSettings: "<node> <family>" → confirmed affine blocks, as last listed. */
  readonly affinities: Map<string, Prefix[]>;
  /** Blocks this allocator last saw with no address to give: tried last. */
  readonly full: Set<string>;
}

export const RETRY = Symbol("retry");
export type Attempt<T> = T | typeof RETRY;

export const isConflict = (e: unknown) => hasCode(e, "DS_CONFLICT");
export const isExists = (e: unknown) => hasCode(e, "DS_ALREADY_EXISTS");
export const isNotFound = (e: unknown) => hasCode(e, "DS_NOT_FOUND");

/** Runs `attempt` until it returns something other than RETRY, at most `retries` times. */
export async function retry<T>(st: IpamState, what: string, attempt: () => Promise<Attempt<T>>): Promise<T> {
  for (let i = 0; i < st.retries; i++) {
    const r = await attempt();
    if (r !== RETRY) return r;
  }
  throw new TabbyError("IPAM_CONFLICT", `${what}: still conflicting after ${st.retries} attempts`, { what });
}

/**
 * Read-modify-write of one block under CAS. `fn` returns the new block (or none to leave it
 * alone) and a value; resolves to the value, or undefined when the block does not exist.
 */
export async function updateBlock<T>(st: IpamState, cidr: string, fn: (b: Block) => { block?: Block; value: T }): Promise<T | undefined> {
  const key = blockKey(cidr);
  return retry(st, `update block ${cidr}`, async (): Promise<Attempt<T | undefined>> => {
    const kv = await st.store.get(key);
    if (!kv) return undefined;
    const r = fn(decodeBlock(kv.value));
    if (!r.block) return r.value;
    try {
      await st.store.update(key, encodeBlock(r.block), { revision: kv.revision });
      return r.value;
    } catch (err) {
      if (isConflict(err)) return RETRY;
      if (isNotFound(err)) return undefined;
      throw err;
    }
  });
}

/** Adds `delta` to the handle's count for a block; drops the block at 0 and the handle when empty. */
export async function changeHandle(st: IpamState, handle: string, cidr: string, delta: number): Promise<void> {
  const key = handleKey(handle);
  if (delta > 0) {
    // A new handle (CNI ADD's usual case) needs no read first.
    try {
      await st.store.create(key, encodeHandle({ handleID: handle, block: { [cidr]: delta }, deleted: false }));
      return;
    } catch (err) {
      if (!isExists(err)) throw err;
    }
  }
  await retry(st, `update handle ${handle}`, async (): Promise<Attempt<void>> => {
    const kv = await st.store.get(key);
    try {
      if (!kv || decodeHandle(kv.value).deleted) {
        if (delta <= 0) return undefined;
        const value = encodeHandle({ handleID: handle, block: { [cidr]: delta }, deleted: false });
        if (kv) await st.store.update(key, value, { revision: kv.revision });
        else await st.store.create(key, value);
        return undefined;
      }
      const h = decodeHandle(kv.value);
      const count = (h.block[cidr] ?? 0) + delta;
      if (count > 0) h.block[cidr] = count;
      else delete h.block[cidr];
      if (Object.keys(h.block).length === 0) await st.store.delete(key, { revision: kv.revision });
      else await st.store.update(key, encodeHandle(h), { revision: kv.revision });
      return undefined;
    } catch (err) {
      if (isConflict(err) || isExists(err) || isNotFound(err)) return RETRY;
      throw err;
    }
  });
}

export async function readBlock(st: IpamState, cidr: string): Promise<{ kv: KV; block: Block } | undefined> {
  const kv = await st.store.get(blockKey(cidr));
  return kv ? { kv, block: decodeBlock(kv.value) } : undefined;
}

/** Every KV under a prefix, following pagination. */
export async function listAll(st: IpamState, prefix: string): Promise<KV[]> {
  const out: KV[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const r = await st.store.list(prefix, startAfter === undefined ? { limit: 1000 } : { limit: 1000, startAfter });
    out.push(...r.items);
    if (!r.more || r.items.length === 0) return out;
    startAfter = r.items[r.items.length - 1]!.key;
  }
}
