/**
 * Calico's IPAM over the store (libcalico-go `lib/ipam/ipam.go`, `ipam_block_reader_writer.go`):
 * hosts claim blocks of an IP pool (affinity pending → block created with affinity
 * `host:<node>` → affinity confirmed, each step compare-and-swap) and hand out addresses from
 * their own blocks first, claiming a new block when those are full, and borrowing from other
 * hosts' blocks only when `strictAffinity` is off. Every write is CAS on the key's revision with
 * bounded retry (Calico's datastoreRetries = 100).
 *
 * Ordering for crash safety, as in Calico: on assign, the handle's count is raised before the
 * block write (and lowered again if that write fails), so a handle never under-counts and
 * releasing by handle always finds every block it holds addresses in; on release, the block is
 * written first and the handle lowered after. A crash between the two leaves a handle that
 * over-counts, which the next release by handle cleans up.
 *
 * IPReservations: automatic assignment skips reserved addresses and never claims a block that is
 * reserved in full (assignIP of a named address ignores them, as Calico's AssignIP does).
 * Configuration comes from the IPAMConfiguration resource `default`, else the raw
 * `/calico/ipam/v2/config` key, else Calico's defaults (./settings.ts).
 *
 * Round trips: pools, configuration and reservations come in one list (plus the raw config key
 * beside it), or from a watch-fed SettingsCache with `cacheSettings`; such an allocator also
 * remembers its host's affinities and which of its blocks it last saw full. Memory only picks
 * the order of the host's own blocks to try: before anything that creates state (claiming or
 * re-creating a block, borrowing) the settings and affinities are read afresh, so a disabled or
 * deleted pool never gets a new block and reservations are honoured at claim time. A new
 * handle is created without reading it first. In the steady state an allocation is three round
 * trips: read the block, create the handle, write the block.
 *
 * When a host finds every pool fully carved, it takes over another host's empty block claimed
 * more than a minute ago (Calico's EmptyBlockMinReclaimAge). Not here: per-address cooldown.
 * Leak and empty-block collection is src/ipam/gc.ts (decisions), src/ipam/collect.ts (store)
 * and src/ipam/controller.ts (the periodic, leader-elected collector).
 */
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import { TabbyError, hasCode } from "../errors.js";
import { resourceKey } from "../model/keys.js";
import type { KV, Store } from "../datastore/store.js";
import type { Family, IP } from "../net/ip.js";
import { hostPrefix, parsePrefix, type Prefix } from "../net/prefix.js";
import type { AssignRequest, AssignResult, BlockInfo, IpamApi } from "./api.js";
import {
  BlockOrder,
  addressOf,
  allocatedCount,
  assignAddress,
  assignNext,
  blockCidrOf,
  blockSize,
  freeCount,
  newBlock,
  ordinalsOfHandle,
  releaseAddresses,
  releaseByHandle as releaseHandleInBlockPure,
  type AssignAttrs,
  type Block,
} from "./block.js";
import {
  BLOCK_ROOT,
  affinityKey,
  affinityPrefix,
  blockKey,
  blockPrefix,
  decodeAffinity,
  decodeBlock,
  decodeHandle,
  encodeAffinity,
  encodeBlock,
  encodeHandle,
  handleKey,
  parseAffinityKey,
  parseBlockKey,
  type IpamConfig,
} from "./keys.js";
import { fullyReserved, reservedOrdinals } from "./reservations.js";
import { readSettings, SettingsCache, type IpamSettings } from "./settings.js";
import { releaseBlockAffinity } from "./release-affinity.js";
import { DEFAULT_BLOCK_SIZE, poolOfBlock, selectorMatcher, usablePools, type Pool, type SelectorMatcher } from "./pools.js";

/** Calico's cap on blocks per host when IPAMConfiguration.maxBlocksPerHost is 0. */
export const DEFAULT_MAX_BLOCKS_PER_HOST = 20;
/** Calico's datastoreRetries. */
export const DATASTORE_RETRIES = 100;
/** Calico's EmptyBlockMinReclaimAge: another host's empty block may be taken over once claimed this long ago. */
export const EMPTY_BLOCK_MIN_RECLAIM_AGE_MS = 60_000;

export interface IpamOptions {
  clock?: Clock;
  /** Evaluates pool nodeSelectors other than `all()` against the Node's labels; default Calico's selector language (pools.ts selectorMatcher). */
  selectorMatcher?: SelectorMatcher;
  /** CAS attempts per write before IPAM_CONFLICT (default 100). */
  retries?: number;
  /**
   * Keep pools, configuration and reservations in a watch-fed cache, and this allocator's
   * affinities in memory (for a long-lived allocator; call close() when done). Off by default:
   * a one-shot CNI call gains nothing from a watch.
   */
  cacheSettings?: boolean;
}

interface AssignContext {
  settings: IpamSettings;
  /** Settings read from the store now (memoised for one request). */
  fresh(): Promise<IpamSettings>;
  usable(s: IpamSettings, family: Family): Pool[];
}

const RETRY = Symbol("retry");
type Attempt<T> = T | typeof RETRY;

const isConflict = (e: unknown) => hasCode(e, "DS_CONFLICT");
const isExists = (e: unknown) => hasCode(e, "DS_ALREADY_EXISTS");
const isNotFound = (e: unknown) => hasCode(e, "DS_NOT_FOUND");

export class Ipam implements IpamApi {
  private readonly clock: Clock;
  private readonly matcher: SelectorMatcher;
  private readonly retries: number;
  private readonly cache: SettingsCache | undefined;
  /** With cacheSettings: "<node> <family>" → confirmed affine blocks, as last listed. */
  private readonly affinities = new Map<string, Prefix[]>();
  /** Blocks this allocator last saw with no address to give: tried last. */
  private readonly full = new Set<string>();

  constructor(
    private readonly store: Store,
    opts: IpamOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.matcher = opts.selectorMatcher ?? selectorMatcher;
    this.retries = opts.retries ?? DATASTORE_RETRIES;
    this.cache = opts.cacheSettings ? new SettingsCache(store) : undefined;
  }

  /** Stops the settings watch (cacheSettings); the store stays open. */
  close(): void {
    this.cache?.close();
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  async autoAssign(req: AssignRequest): Promise<AssignResult> {
    validateRequest(req);
    const settings = this.cache ? await this.cache.get() : await readSettings(this.store);
    let fresh: Promise<IpamSettings> | undefined = this.cache ? undefined : Promise.resolve(settings);
    let labels: Record<string, string> = {};
    let haveLabels = false;
    const needLabels = async (s: IpamSettings) => {
      if (haveLabels || !s.pools.some((p) => p.nodeSelector !== "all()")) return;
      labels = await this.nodeLabels(req.node);
      haveLabels = true;
    };
    await needLabels(settings);
    const ctx: AssignContext = {
      settings,
      fresh: () =>
        (fresh ??= readSettings(this.store).then(async (s) => {
          await needLabels(s);
          return s;
        })),
      usable: (s, family) => usablePools(s.pools, family, labels, req.pools, this.matcher),
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
    const ipv4 = await this.assignFamily(4, req.num4, req.node, attrs, ctx);
    let ipv6: IP[];
    try {
      ipv6 = await this.assignFamily(6, req.num6, req.node, attrs, ctx);
    } catch (err) {
      // Dual stack is all or nothing.
      await this.releaseIPs(ipv4.map(String)).catch(() => undefined);
      throw err;
    }
    return { ipv4: ipv4.map((ip) => hostPrefix(ip).toString()), ipv6: ipv6.map((ip) => hostPrefix(ip).toString()) };
  }

  /**
   * Assigns one specific address (Calico's AssignIP): the address must lie in a pool; its block is
   * claimed for `node` when nobody has it yet. With strict affinity the block must be the node's.
   * Errors: IPAM_NO_POOL, IPAM_ADDRESS_IN_USE, IPAM_STRICT_AFFINITY. Returns the host prefix.
   */
  async assignIP(req: { ip: string; handle: string; node: string; attrs?: Record<string, string> }): Promise<string> {
    validateRequest({ handle: req.handle, node: req.node, num4: 0, num6: 0 });
    const ip = parsePrefix(req.ip).addr;
    const { pools, config } = await readSettings(this.store);
    const pool = pools.find((p) => p.cidr.contains(ip));
    if (!pool) throw new TabbyError("IPAM_NO_POOL", `${ip} is in no IP pool`, { ip: ip.toString() });
    const cidr = blockCidrOf(ip, pool.blockSize).toString();
    const key = blockKey(cidr);
    const attrs: AssignAttrs = { handle: req.handle, secondary: req.attrs };
    const want = `host:${req.node}`;
    await this.retry(`assign ${ip}`, async (): Promise<Attempt<void>> => {
      const kv = await this.store.get(key);
      if (!kv) {
        await this.tryClaim(req.node, cidr);
        return RETRY; // claimed by us or someone else: read it again either way
      }
      const block = decodeBlock(kv.value);
      if (config.strictAffinity && block.affinity !== want) {
        throw new TabbyError("IPAM_STRICT_AFFINITY", `${ip} is in block ${cidr} of ${block.affinity ?? "no host"}, and affinity is strict`, {
          ip: ip.toString(),
          cidr,
        });
      }
      const { block: next } = assignAddress(block, ip, attrs);
      await this.changeHandle(req.handle, cidr, 1);
      try {
        await this.store.update(key, encodeBlock(next), { revision: kv.revision });
      } catch (err) {
        await this.changeHandle(req.handle, cidr, -1).catch(() => undefined);
        if (isConflict(err) || isNotFound(err)) return RETRY;
        throw err;
      }
      return undefined;
    });
    return hostPrefix(ip).toString();
  }

  /**
   * Releases every address of the handle in every block it holds addresses in, then deletes the
   * handle. Unknown handle: 0 (CNI DEL must be idempotent). A block left empty keeps its
   * affinity here; leak collection (./collect.ts runGc) releases it once it has stayed empty
   * for the grace period (never a node's last block).
   */
  async releaseByHandle(handle: string): Promise<number> {
    const key = handleKey(handle);
    let total = 0;
    const done = await this.retry(`release handle ${handle}`, async (): Promise<Attempt<number>> => {
      const kv = await this.store.get(key);
      if (!kv) return total;
      for (const cidr of Object.keys(decodeHandle(kv.value).block)) total += await this.releaseHandleInBlock(cidr, handle);
      try {
        await this.store.delete(key, { revision: kv.revision });
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
  async releaseIPs(addresses: string[]): Promise<number> {
    const byBlock = new Map<string, IP[]>();
    const pools = addresses.length ? await this.pools() : [];
    for (const a of addresses) {
      const ip = parsePrefix(a).addr;
      const cidr = await this.blockHolding(ip, pools);
      if (!cidr) continue;
      const list = byBlock.get(cidr) ?? [];
      list.push(ip);
      byBlock.set(cidr, list);
    }
    let total = 0;
    for (const [cidr, ips] of byBlock) {
      this.full.delete(cidr);
      const byHandle = await this.updateBlock(cidr, (b) => {
        const r = releaseAddresses(b, ips);
        return r.released.length ? { block: r.block, value: r.byHandle } : { value: r.byHandle };
      });
      for (const [handle, n] of Object.entries(byHandle ?? {})) {
        total += n;
        if (handle !== "") await this.changeHandle(handle, cidr, -n);
      }
    }
    return total;
  }

  async addressesOfHandle(handle: string): Promise<string[]> {
    const kv = await this.store.get(handleKey(handle));
    if (!kv) return [];
    const out: string[] = [];
    for (const cidr of Object.keys(decodeHandle(kv.value).block)) {
      const b = await this.readBlock(cidr);
      if (b) for (const o of ordinalsOfHandle(b.block, handle)) out.push(hostPrefix(addressOf(b.block, o)).toString());
    }
    return out;
  }

  async blocksOfNode(node: string): Promise<BlockInfo[]> {
    const out: BlockInfo[] = [];
    for (const cidr of await this.confirmedAffinities(node)) {
      const b = await this.readBlock(cidr);
      if (b && !b.block.deleted) out.push(blockInfo(b.block));
    }
    return sortInfos(out);
  }

  async allBlocks(): Promise<BlockInfo[]> {
    const out: BlockInfo[] = [];
    for (const kv of await this.listAll(BLOCK_ROOT)) {
      if (!parseBlockKey(kv.key)) continue;
      const b = decodeBlock(kv.value);
      if (!b.deleted) out.push(blockInfo(b));
    }
    return sortInfos(out);
  }

  /** The IPPools in the store (unparseable ones are skipped). */
  async pools(): Promise<Pool[]> {
    return (await readSettings(this.store)).pools;
  }

  /**
   * The IPAM configuration: the IPAMConfiguration resource `default`, else the raw
   * `/calico/ipam/v2/config` key, else Calico's defaults.
   */
  async config(): Promise<IpamConfig> {
    return (await readSettings(this.store)).config;
  }

  /** Every reserved CIDR of every IPReservation resource. */
  async reservations(): Promise<Prefix[]> {
    return (await readSettings(this.store)).reserved;
  }

  // -------------------------------------------------------------------------------------------
  // Assignment

  private async assignFamily(family: Family, num: number, node: string, attrs: AssignAttrs, ctx: AssignContext): Promise<IP[]> {
    if (num <= 0) return [];
    const got: IP[] = [];
    const tried = new Set<string>();
    const tryBlocks = async (cidrs: string[], reserved: Prefix[], fromMemory: boolean) => {
      for (const cidr of cidrs) {
        if (got.length >= num) return;
        if (tried.has(cidr)) continue;
        tried.add(cidr);
        got.push(...(await this.assignFromBlock(cidr, num - got.length, attrs, node, reserved, fromMemory ? "memory" : "listed")));
      }
    };
    try {
      // 1. The host's own blocks, those last seen full at the end; from memory when allowed.
      const memKey = `${node} ${family}`;
      const remembered = this.cache ? this.affinities.get(memKey) : undefined;
      let s = ctx.settings;
      const own = remembered ?? (await this.listAffinities(node, family));
      if (this.cache && !remembered) this.affinities.set(memKey, own);
      let affine = orderAffine(own, ctx.usable(s, family));
      await tryBlocks([...affine.filter((c) => !this.full.has(c)), ...affine.filter((c) => this.full.has(c))], s.reserved, remembered !== undefined);
      if (got.length < num) {
        // Whatever comes next creates state or reaches beyond this host's blocks: read afresh.
        s = await ctx.fresh();
        const pools = ctx.usable(s, family);
        if (remembered) {
          const listed = await this.listAffinities(node, family);
          this.affinities.set(memKey, listed);
          affine = orderAffine(listed, pools);
          await tryBlocks(affine, s.reserved, false);
        }
        // 2. Claim new blocks, up to the per-host cap.
        const cap = s.config.maxBlocksPerHost > 0 ? s.config.maxBlocksPerHost : DEFAULT_MAX_BLOCKS_PER_HOST;
        let owned = affine.length;
        while (got.length < num && s.config.autoAllocateBlocks && owned < cap) {
          const cidr = await this.claimBlock(node, family, pools, s.reserved);
          if (!cidr) break;
          owned++;
          this.affinities.delete(memKey);
          tried.add(cidr);
          got.push(...(await this.assignFromBlock(cidr, num - got.length, attrs, node, s.reserved, "listed")));
        }
        // 3. Borrow from other hosts' blocks.
        if (got.length < num && !s.config.strictAffinity) got.push(...(await this.borrow(node, family, num - got.length, attrs, pools, s.reserved)));
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
      if (got.length) await this.releaseIPs(got.map(String)).catch(() => undefined);
      throw err;
    }
  }

  /** Every confirmed affinity of `node` for one family (one list). */
  private async listAffinities(node: string, family: Family): Promise<Prefix[]> {
    const out: Prefix[] = [];
    for (const kv of await this.listAll(affinityPrefix(node, family))) {
      const k = parseAffinityKey(kv.key);
      if (!k || k.host !== node) continue;
      const a = decodeAffinity(kv.value);
      if (a.state === "confirmed" && !a.deleted) out.push(parsePrefix(k.cidr));
    }
    return out;
  }

  /**
   * Assigns up to `n` addresses from one block. With `affineTo`, only while the block is still
   * affine to that host. `source` says where the caller learnt of the block: a block missing from
   * a freshly `listed` confirmed affinity is claimed again (Calico re-creates a block whose claim
   * was interrupted between affinity and block); one known only from `memory` is forgotten
   * instead, and the caller lists again.
   */
  private async assignFromBlock(
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
      this.affinities.clear();
      return [];
    };
    return this.retry(`assign from block ${cidr}`, async (): Promise<Attempt<IP[]>> => {
      const kv = await this.store.get(key);
      if (!kv) {
        if (affineTo === undefined) return [];
        if (source === "memory") return forget();
        // Claim it again (pending → block → confirmed), so that an affinity that leak collection
        // is releasing meanwhile ends confirmed or absent together with the block.
        return (await this.tryClaim(affineTo, cidr)) ? RETRY : [];
      }
      const block = decodeBlock(kv.value);
      if (block.deleted) return [];
      if (affineTo !== undefined && block.affinity !== `host:${affineTo}`) return forget();
      const { block: next, ordinals } = assignNext(block, n, attrs, skip ? { reserved: skip } : {});
      if (ordinals.length < n || freeCount(next) === 0) this.full.add(cidr);
      else this.full.delete(cidr);
      if (ordinals.length === 0) return [];
      if (attrs.handle) await this.changeHandle(attrs.handle, cidr, ordinals.length);
      try {
        await this.store.update(key, encodeBlock(next), { revision: kv.revision });
      } catch (err) {
        if (attrs.handle) await this.changeHandle(attrs.handle, cidr, -ordinals.length).catch(() => undefined);
        if (isConflict(err) || isNotFound(err)) return RETRY;
        throw err;
      }
      return ordinals.map((o) => addressOf(next, o));
    });
  }

  /**
   * Claims a block for `node`: the first block, in the host's pseudo-random order over each pool,
   * that does not exist yet. When every pool is fully carved, an empty block of another host
   * (or of none) claimed more than EMPTY_BLOCK_MIN_RECLAIM_AGE_MS ago is taken over, as Calico
   * does: its affinity released (compare-and-swap on the block read empty), then claimed.
   * Returns the CIDR, or undefined when there is nothing to claim.
   */
  private async claimBlock(node: string, family: Family, pools: Pool[], reserved: Prefix[] = []): Promise<string | undefined> {
    const existing = new Set<string>();
    const kvs = await this.listAll(blockPrefix(family));
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
        if (await this.tryClaim(node, cidr)) return cidr;
        existing.add(cidr); // another host won it
        taken++;
      }
    }
    return this.reclaimEmptyBlock(node, kvs, pools, reserved);
  }

  private async reclaimEmptyBlock(node: string, kvs: KV[], pools: Pool[], reserved: Prefix[]): Promise<string | undefined> {
    const now = this.clock.now();
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
      if (!(await releaseBlockAffinity(this.store, c.cidr, c.host, true))) continue;
      if (await this.tryClaim(node, c.cidr)) return c.cidr;
    }
    return undefined;
  }

  /** Calico's claim: pending affinity → create block → confirm affinity. False if another host owns the block. */
  private async tryClaim(node: string, cidr: string): Promise<boolean> {
    const akey = affinityKey(node, cidr);
    try {
      await this.store.create(akey, encodeAffinity({ state: "pending", deleted: false }));
    } catch (err) {
      // An affinity already there is ours (the key names the host): another claim by this host in
      // flight, or one that was interrupted. Carry on; the block decides.
      if (!isExists(err)) throw err;
    }
    const want = `host:${node}`;
    try {
      await this.store.create(blockKey(cidr), encodeBlock(newBlock(cidr, want, this.clock.now())));
    } catch (err) {
      if (!isExists(err)) throw err;
      const b = await this.readBlock(cidr);
      if (!b || b.block.affinity !== want) {
        await this.dropPendingAffinity(akey);
        return false;
      }
    }
    await this.confirmAffinity(akey);
    return true;
  }

  private async confirmAffinity(akey: string): Promise<void> {
    const confirmed = encodeAffinity({ state: "confirmed", deleted: false });
    await this.retry(`confirm affinity ${akey}`, async (): Promise<Attempt<void>> => {
      const kv = await this.store.get(akey);
      try {
        if (!kv) await this.store.create(akey, confirmed);
        else if (decodeAffinity(kv.value).state !== "confirmed") await this.store.update(akey, confirmed, { revision: kv.revision });
        return undefined;
      } catch (err) {
        if (isConflict(err) || isExists(err) || isNotFound(err)) return RETRY;
        throw err;
      }
    });
  }

  private async dropPendingAffinity(akey: string): Promise<void> {
    await this.retry(`drop affinity ${akey}`, async (): Promise<Attempt<void>> => {
      const kv = await this.store.get(akey);
      if (!kv || decodeAffinity(kv.value).state !== "pending") return undefined;
      try {
        await this.store.delete(akey, { revision: kv.revision });
        return undefined;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (isConflict(err)) return RETRY;
        throw err;
      }
    });
  }

  /** Addresses from any block of the pools that has room, each pool's blocks in this host's order. */
  private async borrow(node: string, family: Family, n: number, attrs: AssignAttrs, pools: Pool[], reserved: Prefix[] = []): Promise<IP[]> {
    const blocks: Block[] = [];
    for (const kv of await this.listAll(blockPrefix(family))) if (parseBlockKey(kv.key)) blocks.push(decodeBlock(kv.value));
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
        got.push(...(await this.assignFromBlock(c.cidr, n - got.length, attrs, undefined, reserved)));
      }
    }
    return got;
  }

  // -------------------------------------------------------------------------------------------
  // Release

  private async releaseHandleInBlock(cidr: string, handle: string): Promise<number> {
    this.full.delete(cidr);
    const n = await this.updateBlock(cidr, (b) => {
      const r = releaseHandleInBlockPure(b, handle);
      return r.released.length ? { block: r.block, value: r.released.length } : { value: 0 };
    });
    return n ?? 0;
  }

  /** The CIDR of the existing block holding `ip`, if any. */
  private async blockHolding(ip: IP, pools: Pool[]): Promise<string | undefined> {
    // Try the block size of the pool holding the address first (one read), then scan.
    const lens = new Set<number>();
    for (const p of pools) if (p.cidr.contains(ip)) lens.add(p.blockSize);
    lens.add(DEFAULT_BLOCK_SIZE[ip.family]);
    for (const len of lens) {
      const cidr = blockCidrOf(ip, len).toString();
      if (await this.store.get(blockKey(cidr))) return cidr;
    }
    for (const kv of await this.listAll(blockPrefix(ip.family))) {
      const cidr = parseBlockKey(kv.key);
      if (cidr && parsePrefix(cidr).contains(ip)) return cidr;
    }
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Store helpers

  /**
   * Read-modify-write of one block under CAS. `fn` returns the new block (or none to leave it
   * alone) and a value; resolves to the value, or undefined when the block does not exist.
   */
  private async updateBlock<T>(cidr: string, fn: (b: Block) => { block?: Block; value: T }): Promise<T | undefined> {
    const key = blockKey(cidr);
    return this.retry(`update block ${cidr}`, async (): Promise<Attempt<T | undefined>> => {
      const kv = await this.store.get(key);
      if (!kv) return undefined;
      const r = fn(decodeBlock(kv.value));
      if (!r.block) return r.value;
      try {
        await this.store.update(key, encodeBlock(r.block), { revision: kv.revision });
        return r.value;
      } catch (err) {
        if (isConflict(err)) return RETRY;
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  /** Adds `delta` to the handle's count for a block; drops the block at 0 and the handle when empty. */
  private async changeHandle(handle: string, cidr: string, delta: number): Promise<void> {
    const key = handleKey(handle);
    if (delta > 0) {
      // A new handle (CNI ADD's usual case) needs no read first.
      try {
        await this.store.create(key, encodeHandle({ handleID: handle, block: { [cidr]: delta }, deleted: false }));
        return;
      } catch (err) {
        if (!isExists(err)) throw err;
      }
    }
    await this.retry(`update handle ${handle}`, async (): Promise<Attempt<void>> => {
      const kv = await this.store.get(key);
      try {
        if (!kv || decodeHandle(kv.value).deleted) {
          if (delta <= 0) return undefined;
          const value = encodeHandle({ handleID: handle, block: { [cidr]: delta }, deleted: false });
          if (kv) await this.store.update(key, value, { revision: kv.revision });
          else await this.store.create(key, value);
          return undefined;
        }
        const h = decodeHandle(kv.value);
        const count = (h.block[cidr] ?? 0) + delta;
        if (count > 0) h.block[cidr] = count;
        else delete h.block[cidr];
        if (Object.keys(h.block).length === 0) await this.store.delete(key, { revision: kv.revision });
        else await this.store.update(key, encodeHandle(h), { revision: kv.revision });
        return undefined;
      } catch (err) {
        if (isConflict(err) || isExists(err) || isNotFound(err)) return RETRY;
        throw err;
      }
    });
  }

  private async readBlock(cidr: string): Promise<{ kv: KV; block: Block } | undefined> {
    const kv = await this.store.get(blockKey(cidr));
    return kv ? { kv, block: decodeBlock(kv.value) } : undefined;
  }

  private async confirmedAffinities(node: string): Promise<string[]> {
    const out: string[] = [];
    for (const kv of await this.listAll(affinityPrefix(node))) {
      const k = parseAffinityKey(kv.key);
      if (!k || k.host !== node) continue;
      const a = decodeAffinity(kv.value);
      if (a.state === "confirmed" && !a.deleted) out.push(k.cidr);
    }
    return out;
  }

  private async nodeLabels(node: string): Promise<Record<string, string>> {
    const kv = await this.store.get(resourceKey("Node", node));
    if (!kv) return {};
    try {
      const labels = (JSON.parse(kv.value) as { metadata?: { labels?: unknown } }).metadata?.labels;
      return typeof labels === "object" && labels !== null ? (labels as Record<string, string>) : {};
    } catch {
      return {};
    }
  }

  /** Every KV under a prefix, following pagination. */
  private async listAll(prefix: string): Promise<KV[]> {
    const out: KV[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const r = await this.store.list(prefix, startAfter === undefined ? { limit: 1000 } : { limit: 1000, startAfter });
      out.push(...r.items);
      if (!r.more || r.items.length === 0) return out;
      startAfter = r.items[r.items.length - 1]!.key;
    }
  }

  /** Runs `attempt` until it returns something other than RETRY, at most `retries` times. */
  private async retry<T>(what: string, attempt: () => Promise<Attempt<T>>): Promise<T> {
    for (let i = 0; i < this.retries; i++) {
      const r = await attempt();
      if (r !== RETRY) return r;
    }
    throw new TabbyError("IPAM_CONFLICT", `${what}: still conflicting after ${this.retries} attempts`, { what });
  }
}

function validateRequest(req: AssignRequest): void {
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

function blockInfo(b: Block): BlockInfo {
  const info: BlockInfo = { cidr: b.cidr, allocated: allocatedCount(b), size: blockSize(b) };
  if (b.affinity) info.affinity = b.affinity;
  return info;
}

function sortInfos(infos: BlockInfo[]): BlockInfo[] {
  return infos.sort((x, y) => parsePrefix(x.cidr).addr.compare(parsePrefix(y.cidr).addr));
}
