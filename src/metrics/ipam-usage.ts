/**
 * IPAM usage per IPPool, as Calico's kube-controllers IPAM metrics count it: blocks carved
 * from the pool and addresses allocated in them (with the pool's capacity). Blocks outside
 * every pool (a deleted pool's leftovers) count under pool "". Pure: no I/O.
 */
import type { Block } from "../ipam/block.js";
import { allocatedCount } from "../ipam/block.js";
import { poolOfBlock, type Pool } from "../ipam/pools.js";
import { tryParsePrefix } from "../net/index.js";

export interface PoolUsage {
  pool: string;
  cidr: string;
  blocks: number;
  inUse: number;
  /** Addresses in the pool (IPv6 pools: capped at 2^53). */
  size: number;
}

export function ipamUsage(pools: readonly Pool[], blocks: readonly Block[]): PoolUsage[] {
  const out = new Map<string, PoolUsage>();
  for (const p of pools) {
    const bits = (p.cidr.family === 4 ? 32 : 128) - p.cidr.len;
    out.set(p.name, { pool: p.name, cidr: p.cidr.toString(), blocks: 0, inUse: 0, size: Math.min(2 ** bits, Number.MAX_SAFE_INTEGER) });
  }
  for (const b of blocks) {
    if (b.deleted) continue;
    const prefix = tryParsePrefix(b.cidr);
    const pool = prefix ? poolOfBlock(pools, prefix) : undefined;
    const key = pool?.name ?? "";
    let u = out.get(key);
    if (!u) out.set(key, (u = { pool: "", cidr: "", blocks: 0, inUse: 0, size: 0 }));
    u.blocks++;
    u.inUse += allocatedCount(b);
  }
  return [...out.values()];
}
