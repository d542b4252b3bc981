/**
 * Automatic assignment (libcalico-go `ipam.go` AutoAssign, autoAssign): for each family, the
 * host's own affine blocks first (those last seen full at the end), then new blocks claimed up
 * to the per-host cap (Calico's maxBlocksPerHost, default 20) when autoAllocateBlocks is on,
 * then other hosts' blocks when strictAffinity is off; reserved addresses are skipped. As in
 * Calico, the handle's count is raised before the block write and lowered again if that write
 * fails. Dual stack is all or nothing: a family that fails releases what the others got.
 */
import { TabbyError } from "../errors.js";
import { resourceKey } from "../model/keys.js";
import type { Family, IP } from "../net/ip.js";
import { hostPrefix, parsePrefix, type Prefix } from "../net/prefix.js";
import type { AssignRequest, AssignResult } from "./api.js";
import { BlockOrder, addressOf, assignNext, freeCount, type AssignAttrs, type Block } from "./block.js";
import { blockKey, blockPrefix, decodeBlock, encodeBlock, parseBlockKey } from "./keys.js";
import { reservedOrdinals } from "./reservations.js";
import { readSettings, type IpamSettings } from "./settings.js";
import { poolOfBlock, usablePools, type Pool } from "./pools.js";
import { claimBlock, listAffinities, tryClaim } from "./claim.js";
import { releaseIPs } from "./release.js";
import { changeHandle, isConflict, isNotFound, listAll, retry, RETRY, type Attempt, type IpamState } from "./store-ops.js";

/** Calico's cap on blocks per host when IPAMConfiguration.maxBlocksPerHost is 0. */
export const DEFAULT_MAX_BLOCKS_PER_HOST = 20;

interface AssignContext {
  settings: IpamSettings;
  /** Settings read from the store now (memoised for one request). */
  fresh(): Promise<IpamSettings>;
  usable(s: IpamSettings, family: Family): Pool[];
}

export async function autoAssign(st: IpamState, req: AssignRequest): Promise<AssignResult> {
  validateRequest(req);
  const settings = st.cache ? await st.cache.get() : await readSettings(st.store);
  let fresh: Promise<IpamSettings> | undefined = st.cache ? undefined : Promise.resolve(settings);
  let labels: Record<string, string> = {};
  let haveLabels = false;
  const needLabels = async (s: IpamSettings) => {
    if (haveLabels || !s.pools.some((p) => p.nodeSelector !== "all()")) return;
    labels = await nodeLabels(st, req.node);
    haveLabels = true;
  };
  await needLabels(settings);
  const ctx: AssignContext = {
    settings,
    fresh: () =>
      (fresh ??= readSettings(st.store).then(async (s) => {
        await needLabels(s);
        return s;
      })),
    usable: (s, family) => usablePools(s.pools, family, labels, req.pools, st.matcher),
  };
  // Refuse up front rather than assign v4 and then fail for want of a v6 pool (a cache that
  // has not seen a new pool yet is not trusted with that).
  for (const [family, num] of [
    [4, req.num4],
    [6, req.num6],
  ] as const) {
    if (num > 0 && ctx.usable(settings, family).length === 0 && ctx.usable(await ctx.fresh(), family).length === 0) {
      throw new TabbyError("IPAM_NO_POOL", `no enabled IPv${family} pool selects node ${req.node}`, { node: req.node, family });
    }
  }
  const attrs: AssignAttrs = { handle: req.handle, secondary: req.attrs };
  const ipv4 = await assignFamily(st, 4, req.num4, req.node, attrs, ctx);
  let ipv6: IP[];
  try {
    ipv6 = await assignFamily(st, 6, req.num6, req.node, attrs, ctx);
  } catch (err) {
    // Dual stack is all or nothing.
    await releaseIPs(st, ipv4.map(String)).catch(() => undefined);
    throw err;
  }
  return { ipv4: ipv4.map((ip) => hostPrefix(ip).toString()), ipv6: ipv6.map((ip) => hostPrefix(ip).toString()) };
}

async function assignFamily(st: IpamState, family: Family, num: number, node: string, attrs: AssignAttrs, ctx: AssignContext): Promise<IP[]> {
  if (num <= 0) return [];
  const got: IP[] = [];
  const tried = new Set<string>();
  const tryBlocks = async (cidrs: string[], reserved: Prefix[], fromMemory: boolean) => {
    for (const cidr of cidrs) {
      if (got.length >= num) return;
      if (tried.has(cidr)) continue;
      tried.add(cidr);
      got.push(...(await assignFromBlock(st, cidr, num - got.length, attrs, node, reserved, fromMemory ? "memory" : "listed")));
    }
  };
  try {
    // 1. The host's own blocks, those last seen full at the end; from memory when allowed.
    const memKey = `${node} ${family}`;
    const remembered = st.cache ? st.affinities.get(memKey) : undefined;
    let s = ctx.settings;
    const own = remembered ?? (await listAffinities(st, node, family));
    if (st.cache && !remembered) st.affinities.set(memKey, own);
    let affine = orderAffine(own, ctx.usable(s, family));
    await tryBlocks([...affine.filter((c) => !st.full.has(c)), ...affine.filter((c) => st.full.has(c))], s.reserved, remembered !== undefined);
    if (got.length < num) {
      // Whatever comes next creates state or reaches beyond this host's blocks: read afresh.
      s = await ctx.fresh();
      const pools = ctx.usable(s, family);
      if (remembered) {
        const listed = await listAffinities(st, node, family);
        st.affinities.set(memKey, listed);
        affine = orderAffine(listed, pools);
        await tryBlocks(affine, s.reserved, false);
      }
      // 2. Claim new blocks, up to the per-host cap.
      const cap = s.config.maxBlocksPerHost > 0 ? s.config.maxBlocksPerHost : DEFAULT_MAX_BLOCKS_PER_HOST;
      let owned = affine.length;
      while (got.length < num && s.config.autoAllocateBlocks && owned < cap) {
        const cidr = await claimBlock(st, node, family, pools, s.reserved);
        if (!cidr) break;
        owned++;
        st.affinities.delete(memKey);
        tried.add(cidr);
        got.push(...(await assignFromBlock(st, cidr, num - got.length, attrs, node, s.reserved, "listed")));
      }
      // 3. Borrow from other hosts' blocks.
      if (got.length < num && !s.config.strictAffinity) got.push(...(await borrow(st, node, family, num - got.length, attrs, pools, s.reserved)));
    }
    if (got.length < num) {
      throw new TabbyError("IPAM_EXHAUSTED", `no free IPv${family} address for node ${node} (wanted ${num}, found ${got.length})`, {
        node,
        family,
        wanted: num,
      });
    }
    return got;
  } catch (err) {
    if (got.length) await releaseIPs(st, got.map(String)).catch(() => undefined);
    throw err;
  }
}

/**
 * Assigns up to `n` addresses from one block. With `affineTo`, only while the block is still
 * affine to that host. `source` says where the caller learnt of the block: a block missing from
 * a freshly `listed` confirmed affinity is claimed again (Calico re-creates a block whose claim
 * was interrupted between affinity and block); one known only from `memory` is forgotten
 * instead, and the caller lists again.
 */
async function assignFromBlock(
  st: IpamState,
  cidr: string,
  n: number,
  attrs: AssignAttrs,
  affineTo?: string,
  reserved: Prefix[] = [],
  source: "memory" | "listed" = "listed",
): Promise<IP[]> {
  const key = blockKey(cidr);
  const skip = reserved.length ? reservedOrdinals(parsePrefix(cidr), reserved) : undefined;
  const forget = () => {
    st.affinities.clear();
    return [];
  };
  return retry(st, `assign from block ${cidr}`, async (): Promise<Attempt<IP[]>> => {
    const kv = await st.store.get(key);
    if (!kv) {
      if (affineTo === undefined) return [];
      if (source === "memory") return forget();
      // Claim it again (pending → block → confirmed), so that an affinity that leak collection
      // is releasing meanwhile ends confirmed or absent together with the block.
      return (await tryClaim(st, affineTo, cidr)) ? RETRY : [];
    }
    const block = decodeBlock(kv.value);
    if (block.deleted) return [];
    if (affineTo !== undefined && block.affinity !== `host:${affineTo}`) return forget();
    const { block: next, ordinals } = assignNext(block, n, attrs, skip ? { reserved: skip } : {});
    if (ordinals.length < n || freeCount(next) === 0) st.full.add(cidr);
    else st.full.delete(cidr);
    if (ordinals.length === 0) return [];
    if (attrs.handle) await changeHandle(st, attrs.handle, cidr, ordinals.length);
    try {
      await st.store.update(key, encodeBlock(next), { revision: kv.revision });
    } catch (err) {
      if (attrs.handle) await changeHandle(st, attrs.handle, cidr, -ordinals.length).catch(() => undefined);
      if (isConflict(err) || isNotFound(err)) return RETRY;
      throw err;
    }
    return ordinals.map((o) => addressOf(next, o));
  });
}

/** Addresses from any block of the pools that has room, each pool's blocks in this host's order. */
async function borrow(st: IpamState, node: string, family: Family, n: number, attrs: AssignAttrs, pools: Pool[], reserved: Prefix[] = []): Promise<IP[]> {
  const blocks: Block[] = [];
  for (const kv of await listAll(st, blockPrefix(family))) if (parseBlockKey(kv.key)) blocks.push(decodeBlock(kv.value));
  const got: IP[] = [];
  for (const pool of pools) {
    const order = new BlockOrder(pool.cidr, pool.blockSize, node);
    const candidates = blocks
      .filter((b) => !b.deleted && freeCount(b) > 0)
      .map((b) => ({ cidr: b.cidr, pos: order.positionOf(b.cidr) }))
      .filter((c) => c.pos >= 0n)
      .sort((x, y) => (x.pos < y.pos ? -1 : x.pos > y.pos ? 1 : 0));
    for (const c of candidates) {
      if (got.length >= n) return got;
      got.push(...(await assignFromBlock(st, c.cidr, n - got.length, attrs, undefined, reserved)));
    }
  }
  return got;
}

async function nodeLabels(st: IpamState, node: string): Promise<Record<string, string>> {
  const kv = await st.store.get(resourceKey("Node", node));
  if (!kv) return {};
  try {
    const labels = (JSON.parse(kv.value) as { metadata?: { labels?: unknown } }).metadata?.labels;
    return typeof labels === "object" && labels !== null ? (labels as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function validateRequest(req: AssignRequest): void {
  const bad = (why: string) => new TabbyError("IPAM_BAD_REQUEST", why, { handle: req.handle, node: req.node });
  if (!req.handle || req.handle.includes("/")) throw bad(`bad handle ${JSON.stringify(req.handle)}`);
  if (!req.node || req.node.includes("/")) throw bad(`bad node name ${JSON.stringify(req.node)}`);
  for (const n of [req.num4, req.num6]) if (!Number.isInteger(n) || n < 0) throw bad(`address counts must be non-negative integers`);
}

/** The affine blocks that lie in one of `pools`, in pool order then address order. Pure. */
export function orderAffine(affine: readonly Prefix[], pools: readonly Pool[]): string[] {
  const found: { pool: number; prefix: Prefix }[] = [];
  for (const prefix of affine) {
    const pool = poolOfBlock(pools, prefix);
    if (pool) found.push({ pool: pools.indexOf(pool), prefix });
  }
  found.sort((x, y) => x.pool - y.pool || x.prefix.addr.compare(y.prefix.addr));
  return found.map((f) => f.prefix.toString());
}
