/**
 * Block claiming and a host's affinities (libcalico-go `ipam_block_reader_writer.go`
 * claimAffineBlock, `ipam.go` claimNewAffineBlocks): a host claims a block of an IP pool in
 * three compare-and-swap steps — affinity pending → block created with affinity `host:<node>` →
 * affinity confirmed — trying each pool's blocks in the host's pseudo-random order and never a
 * block reserved in full. When every pool is fully carved, it takes over another host's empty
 * block claimed more than a minute ago (Calico's EmptyBlockMinReclaimAge).
 */
import type { KV } from "../datastore/store.js";
import type { Family } from "../net/ip.js";
import { parsePrefix, type Prefix } from "../net/prefix.js";
import { BlockOrder, newBlock } from "./block.js";
import {
  affinityKey,
  affinityPrefix,
  blockKey,
  blockPrefix,
  decodeAffinity,
  decodeBlock,
  encodeAffinity,
  encodeBlock,
  parseAffinityKey,
  parseBlockKey,
} from "./keys.js";
import { fullyReserved } from "./reservations.js";
import { releaseBlockAffinity } from "./release-affinity.js";
import { poolOfBlock, type Pool } from "./pools.js";
import { isConflict, isExists, isNotFound, listAll, readBlock, retry, RETRY, type Attempt, type IpamState } from "./store-ops.js";

/** Calico's EmptyBlockMinReclaimAge: another host's empty block may be taken over once claimed this long ago. */
export const EMPTY_BLOCK_MIN_RECLAIM_AGE_MS = 60_000;

/**
 * Claims a block for `node`: the first block, in the host's pseudo-random order over each pool,
 * that does not exist yet. When every pool is fully carved, an empty block of another host
 * (or of none) claimed more than EMPTY_BLOCK_MIN_RECLAIM_AGE_MS ago is taken over, as Calico
 * does: its affinity released (compare-and-swap on the block read empty), then claimed.
 * Returns the CIDR, or undefined when there is nothing to claim.
 */
export async function claimBlock(st: IpamState, node: string, family: Family, pools: Pool[], reserved: Prefix[] = []): Promise<string | undefined> {
  const existing = new Set<string>();
  const kvs = await listAll(st, blockPrefix(family));
  for (const kv of kvs) {
    const cidr = parseBlockKey(kv.key);
    if (cidr) existing.add(cidr);
  }
  for (const pool of pools) {
    const order = new BlockOrder(pool.cidr, pool.blockSize, node);
    let taken = 0n;
    for (const cidr of existing) if (pool.cidr.containsPrefix(parsePrefix(cidr))) taken++;
    for (let i = 0n; i < order.count && taken < order.count; i++) {
      const cidr = order.at(i).toString();
      if (existing.has(cidr)) continue;
      if (reserved.length && fullyReserved(order.at(i), reserved)) continue;
      if (await tryClaim(st, node, cidr)) return cidr;
      existing.add(cidr); // another host won it
      taken++;
    }
  }
  return reclaimEmptyBlock(st, node, kvs, pools, reserved);
}

async function reclaimEmptyBlock(st: IpamState, node: string, kvs: KV[], pools: Pool[], reserved: Prefix[]): Promise<string | undefined> {
  const now = st.clock.now();
  const candidates: { pool: number; pos: bigint; cidr: string; host: string | undefined }[] = [];
  for (const kv of kvs) {
    if (!parseBlockKey(kv.key)) continue;
    const b = decodeBlock(kv.value);
    if (b.deleted || b.affinity === `host:${node}` || (b.affinity != null && !b.affinity.startsWith("host:"))) continue;
    if (b.allocations.some((a) => a !== null)) continue;
    const claimed = b.affinityClaimTime ? Date.parse(b.affinityClaimTime) : NaN;
    if (Number.isFinite(claimed) && now - claimed < EMPTY_BLOCK_MIN_RECLAIM_AGE_MS) continue;
    const prefix = parsePrefix(b.cidr);
    const pool = poolOfBlock(pools, prefix);
    if (!pool || (reserved.length && fullyReserved(prefix, reserved))) continue;
    const pos = new BlockOrder(pool.cidr, pool.blockSize, node).positionOf(b.cidr);
    if (pos < 0n) continue; // not of the pool's block size
    candidates.push({ pool: pools.indexOf(pool), pos, cidr: b.cidr, host: b.affinity?.slice(5) });
  }
  candidates.sort((x, y) => x.pool - y.pool || (x.pos < y.pos ? -1 : x.pos > y.pos ? 1 : 0));
  for (const c of candidates) {
    if (!(await releaseBlockAffinity(st.store, c.cidr, c.host, true))) continue;
    if (await tryClaim(st, node, c.cidr)) return c.cidr;
  }
  return undefined;
}

/** Calico's claim: pending affinity → create block → confirm affinity. False if another host owns the block. */
export async function tryClaim(st: IpamState, node: string, cidr: string): Promise<boolean> {
  const akey = affinityKey(node, cidr);
  try {
    await st.store.create(akey, encodeAffinity({ state: "pending", deleted: false }));
  } catch (err) {
    // An affinity already there is ours (the key names the host): another claim by this host in
    // flight, or one that was interrupted. Carry on; the block decides.
    if (!isExists(err)) throw err;
  }
  const want = `host:${node}`;
  try {
    await st.store.create(blockKey(cidr), encodeBlock(newBlock(cidr, want, st.clock.now())));
  } catch (err) {
    if (!isExists(err)) throw err;
    const b = await readBlock(st, cidr);
    if (!b || b.block.affinity !== want) {
      await dropPendingAffinity(st, akey);
      return false;
    }
  }
  await confirmAffinity(st, akey);
  return true;
}

async function confirmAffinity(st: IpamState, akey: string): Promise<void> {
  const confirmed = encodeAffinity({ state: "confirmed", deleted: false });
  await retry(st, `confirm affinity ${akey}`, async (): Promise<Attempt<void>> => {
    const kv = await st.store.get(akey);
    try {
      if (!kv) await st.store.create(akey, confirmed);
      else if (decodeAffinity(kv.value).state !== "confirmed") await st.store.update(akey, confirmed, { revision: kv.revision });
      return undefined;
    } catch (err) {
      if (isConflict(err) || isExists(err) || isNotFound(err)) return RETRY;
      throw err;
    }
  });
}

async function dropPendingAffinity(st: IpamState, akey: string): Promise<void> {
  await retry(st, `drop affinity ${akey}`, async (): Promise<Attempt<void>> => {
    const kv = await st.store.get(akey);
    if (!kv || decodeAffinity(kv.value).state !== "pending") return undefined;
    try {
      await st.store.delete(akey, { revision: kv.revision });
      return undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      if (isConflict(err)) return RETRY;
      throw err;
    }
  });
}

/** Every confirmed affinity of `node` for one family (one list). */
export async function listAffinities(st: IpamState, node: string, family: Family): Promise<Prefix[]> {
  const out: Prefix[] = [];
  for (const kv of await listAll(st, affinityPrefix(node, family))) {
    const k = parseAffinityKey(kv.key);
    if (!k || k.host !== node) continue;
    const a = decodeAffinity(kv.value);
    if (a.state === "confirmed" && !a.deleted) out.push(parsePrefix(k.cidr));
  }
  return out;
}

/** Every confirmed affinity of `node`, both families, as CIDRs. */
export async function confirmedAffinities(st: IpamState, node: string): Promise<string[]> {
  const out: string[] = [];
  for (const kv of await listAll(st, affinityPrefix(node))) {
    const k = parseAffinityKey(kv.key);
    if (!k || k.host !== node) continue;
    const a = decodeAffinity(kv.value);
    if (a.state === "confirmed" && !a.deleted) out.push(k.cidr);
  }
  return out;
}
