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
 *
 * This module is the allocator's face: the Ipam class and its read-only queries. The jobs live
 * beside it: ./auto-assign.ts (AutoAssign), ./assign-ip.ts (AssignIP), ./claim.ts (block
 * claiming and affinities), ./release.ts (ReleaseByHandle, ReleaseIPs) and ./store-ops.ts
 * (CAS retry, block and handle writes).
 */
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import type { Store } from "../datastore/store.js";
import { hostPrefix, parsePrefix, type Prefix } from "../net/prefix.js";
import type { AssignRequest, AssignResult, BlockInfo, IpamApi } from "./api.js";
import { addressOf, allocatedCount, blockSize, ordinalsOfHandle, type Block } from "./block.js";
import { BLOCK_ROOT, decodeBlock, decodeHandle, handleKey, parseBlockKey, type IpamConfig } from "./keys.js";
import { readSettings, SettingsCache } from "./settings.js";
import { selectorMatcher, type Pool, type SelectorMatcher } from "./pools.js";
import { assignIP } from "./assign-ip.js";
import { autoAssign } from "./auto-assign.js";
import { confirmedAffinities } from "./claim.js";
import { releaseByHandle, releaseIPs } from "./release.js";
import { DATASTORE_RETRIES, listAll, readBlock, type IpamState } from "./store-ops.js";

export { DEFAULT_MAX_BLOCKS_PER_HOST, orderAffine } from "./auto-assign.js";
export { EMPTY_BLOCK_MIN_RECLAIM_AGE_MS } from "./claim.js";
export { DATASTORE_RETRIES } from "./store-ops.js";

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

export class Ipam implements IpamApi {
  /** The store, options, settings cache and memory (affinities, full blocks) the jobs share. */
  private readonly st: IpamState;

  constructor(
    private readonly store: Store,
    opts: IpamOptions = {},
  ) {
    this.st = {
      store,
      clock: opts.clock ?? systemClock,
      matcher: opts.selectorMatcher ?? selectorMatcher,
      retries: opts.retries ?? DATASTORE_RETRIES,
      cache: opts.cacheSettings ? new SettingsCache(store) : undefined,
      affinities: new Map<string, Prefix[]>(),
      full: new Set<string>(),
    };
  }

  /** Stops the settings watch (cacheSettings); the store stays open. */
  close(): void {
    this.st.cache?.close();
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  async autoAssign(req: AssignRequest): Promise<AssignResult> {
    return autoAssign(this.st, req);
  }

  /**
   * Assigns one specific address (Calico's AssignIP): the address must lie in a pool; its block is
   * claimed for `node` when nobody has it yet. With strict affinity the block must be the node's.
   * Errors: IPAM_NO_POOL, IPAM_ADDRESS_IN_USE, IPAM_STRICT_AFFINITY. Returns the host prefix.
   */
  async assignIP(req: { ip: string; handle: string; node: string; attrs?: Record<string, string> }): Promise<string> {
    return assignIP(this.st, req);
  }

  /**
   * Releases every address of the handle in every block it holds addresses in, then deletes the
   * handle. Unknown handle: 0 (CNI DEL must be idempotent). A block left empty keeps its
   * affinity here; leak collection (./collect.ts runGc) releases it once it has stayed empty
   * for the grace period (never a node's last block).
   */
  async releaseByHandle(handle: string): Promise<number> {
    return releaseByHandle(this.st, handle);
  }

  /**
   * Releases addresses ("10.65.0.5" or "10.65.0.5/32") whoever holds them, lowering their
   * handles' counts. Unknown or free addresses are skipped. Returns how many were released.
   */
  async releaseIPs(addresses: string[]): Promise<number> {
    return releaseIPs(this.st, addresses);
  }

  async addressesOfHandle(handle: string): Promise<string[]> {
    const kv = await this.store.get(handleKey(handle));
    if (!kv) return [];
    const out: string[] = [];
    for (const cidr of Object.keys(decodeHandle(kv.value).block)) {
      const b = await readBlock(this.st, cidr);
      if (b) for (const o of ordinalsOfHandle(b.block, handle)) out.push(hostPrefix(addressOf(b.block, o)).toString());
    }
    return out;
  }

  async blocksOfNode(node: string): Promise<BlockInfo[]> {
    const out: BlockInfo[] = [];
    for (const cidr of await confirmedAffinities(this.st, node)) {
      const b = await readBlock(this.st, cidr);
      if (b && !b.block.deleted) out.push(blockInfo(b.block));
    }
    return sortInfos(out);
  }

  async allBlocks(): Promise<BlockInfo[]> {
    const out: BlockInfo[] = [];
    for (const kv of await listAll(this.st, BLOCK_ROOT)) {
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
}

function blockInfo(b: Block): BlockInfo {
  const info: BlockInfo = { cidr: b.cidr, allocated: allocatedCount(b), size: blockSize(b) };
  if (b.affinity) info.affinity = b.affinity;
  return info;
}

function sortInfos(infos: BlockInfo[]): BlockInfo[] {
  return infos.sort((x, y) => parsePrefix(x.cidr).addr.compare(parsePrefix(y.cidr).addr));
}
