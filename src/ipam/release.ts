/**
 * Releasing addresses (libcalico-go `ipam.go` ReleaseByHandle, ReleaseIPs): by handle, every
 * block the handle counts addresses in, then the handle itself; or by address, whoever holds
 * it. As in Calico, the block is written first and the handle lowered after, so a crash between
 * the two leaves a handle that over-counts, which the next release by handle cleans up. A block
 * left empty keeps its affinity; leak collection (./collect.ts) releases it later.
 */
import type { IP } from "../net/ip.js";
import { parsePrefix } from "../net/prefix.js";
import { blockCidrOf, releaseAddresses, releaseByHandle as releaseHandleInBlockPure } from "./block.js";
import { blockKey, blockPrefix, decodeHandle, handleKey, parseBlockKey } from "./keys.js";
import { readSettings } from "./settings.js";
import { DEFAULT_BLOCK_SIZE, type Pool } from "./pools.js";
import { changeHandle, isConflict, isNotFound, listAll, retry, RETRY, updateBlock, type Attempt, type IpamState } from "./store-ops.js";

/**
 * Releases every address of the handle in every block it holds addresses in, then deletes the
 * handle. Unknown handle: 0 (CNI DEL must be idempotent). A block left empty keeps its
 * affinity here; leak collection (./collect.ts runGc) releases it once it has stayed empty
 * for the grace period (never a node's last block).
 */
export async function releaseByHandle(st: IpamState, handle: string): Promise<number> {
  const key = handleKey(handle);
  let total = 0;
  const done = await retry(st, `release handle ${handle}`, async (): Promise<Attempt<number>> => {
    const kv = await st.store.get(key);
    if (!kv) return total;
    for (const cidr of Object.keys(decodeHandle(kv.value).block)) total += await releaseHandleInBlock(st, cidr, handle);
    try {
      await st.store.delete(key, { revision: kv.revision });
      return total;
    } catch (err) {
      if (isNotFound(err)) return total;
      if (isConflict(err)) return RETRY; // someone assigned more to the handle meanwhile: go round again
      throw err;
    }
  });
  return done;
}

/**
 * Releases addresses ("10.65.0.5" or "10.65.0.5/32") whoever holds them, lowering their
 * handles' counts. Unknown or free addresses are skipped. Returns how many were released.
 */
export async function releaseIPs(st: IpamState, addresses: string[]): Promise<number> {
  const byBlock = new Map<string, IP[]>();
  const pools = addresses.length ? (await readSettings(st.store)).pools : [];
  for (const a of addresses) {
    const ip = parsePrefix(a).addr;
    const cidr = await blockHolding(st, ip, pools);
    if (!cidr) continue;
    const list = byBlock.get(cidr) ?? [];
    list.push(ip);
    byBlock.set(cidr, list);
  }
  let total = 0;
  for (const [cidr, ips] of byBlock) {
    st.full.delete(cidr);
    const byHandle = await updateBlock(st, cidr, (b) => {
      const r = releaseAddresses(b, ips);
      return r.released.length ? { block: r.block, value: r.byHandle } : { value: r.byHandle };
    });
    for (const [handle, n] of Object.entries(byHandle ?? {})) {
      total += n;
      if (handle !== "") await changeHandle(st, handle, cidr, -n);
    }
  }
  return total;
}

async function releaseHandleInBlock(st: IpamState, cidr: string, handle: string): Promise<number> {
  st.full.delete(cidr);
  const n = await updateBlock(st, cidr, (b) => {
    const r = releaseHandleInBlockPure(b, handle);
    return r.released.length ? { block: r.block, value: r.released.length } : { value: 0 };
  });
  return n ?? 0;
}

/** The CIDR of the existing block holding `ip`, if any. */
async function blockHolding(st: IpamState, ip: IP, pools: Pool[]): Promise<string | undefined> {
  // Try the block size of the pool holding the address first (one read), then scan.
  const lens = new Set<number>();
  for (const p of pools) if (p.cidr.contains(ip)) lens.add(p.blockSize);
  lens.add(DEFAULT_BLOCK_SIZE[ip.family]);
  for (const len of lens) {
    const cidr = blockCidrOf(ip, len).toString();
    if (await st.store.get(blockKey(cidr))) return cidr;
  }
  for (const kv of await listAll(st, blockPrefix(ip.family))) {
    const cidr = parseBlockKey(kv.key);
    if (cidr && parsePrefix(cidr).contains(ip)) return cidr;
  }
  return undefined;
}
