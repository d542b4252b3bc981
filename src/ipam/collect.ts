/**
 * The effectful side of IPAM garbage collection (Calico kube-controllers' IPAM controller):
 * reads a snapshot of blocks, affinities, handles, WorkloadEndpoints and Nodes, asks the pure
 * planner (./gc.ts) what is due, and carries it out with compare-and-swap writes. Releasing an
 * empty block follows Calico's `ReleaseAffinity`: affinity → pendingDeletion, delete the block
 * only while it is still empty (CAS on its revision), then delete the affinity; if the block got
 * an address meanwhile the affinity goes back to confirmed. The affinity is deleted (or restored)
 * only at the revision of our own pendingDeletion write: an allocator that re-claimed the block
 * meanwhile (./ipam.ts re-confirms the affinity) keeps it. A gone host's block that still holds
 * addresses in use is unaffined the same way, its block kept with no affinity.
 *
 * Calico keeps the "first seen" times in the controller's memory; a one-shot `tabby ipam release
 * --leaked` has none, so they are kept in the store under GC_STATE_KEY between passes.
 */
import { hasCode } from "../errors.js";
import { kindPrefix, resourceKey } from "../model/keys.js";
import type { KV, Store } from "../datastore/store.js";
import { allocations, EMPTY_GC_STATE, planGc, type GcPlan, type GcSnapshot, type GcState } from "./gc.js";
import { Ipam } from "./ipam.js";
import { releaseBlockAffinity } from "./release-affinity.js";
import {
  BLOCK_ROOT,
  HANDLE_ROOT,
  HOST_ROOT,
  affinityKey,
  blockKey,
  decodeAffinity,
  decodeBlock,
  decodeHandle,
  parseAffinityKey,
  parseBlockKey,
} from "./keys.js";

/** Where GC passes keep their first-seen times. */
export const GC_STATE_KEY = "/tabby/ipam/gc-state";

async function listAll(store: Store, prefix: string): Promise<KV[]> {
  const out: KV[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const r = await store.list(prefix, startAfter === undefined ? { limit: 1000 } : { limit: 1000, startAfter });
    out.push(...r.items);
    if (!r.more || r.items.length === 0) return out;
    startAfter = r.items[r.items.length - 1]!.key;
  }
}

function json(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Everything the GC planner and `ipam check` look at. */
export async function readSnapshot(store: Store): Promise<GcSnapshot> {
  const [blocks, affs, handles, weps, nodes] = await Promise.all([
    listAll(store, BLOCK_ROOT),
    listAll(store, HOST_ROOT),
    listAll(store, HANDLE_ROOT),
    listAll(store, kindPrefix("WorkloadEndpoint")),
    listAll(store, kindPrefix("Node")),
  ]);
  const snap: GcSnapshot = { blocks: [], affinities: [], handles: [], workloads: [], nodes: [] };
  for (const kv of blocks) if (parseBlockKey(kv.key)) snap.blocks.push(decodeBlock(kv.value));
  for (const kv of affs) {
    const k = parseAffinityKey(kv.key);
    if (!k) continue;
    const a = decodeAffinity(kv.value);
    if (!a.deleted) snap.affinities.push({ host: k.host, cidr: k.cidr, state: a.state });
  }
  for (const kv of handles) snap.handles.push(decodeHandle(kv.value));
  for (const kv of weps) {
    const spec = json(kv.value)?.spec as { containerID?: unknown; node?: unknown; ipNetworks?: unknown } | undefined;
    if (!spec) continue;
    snap.workloads.push({
      ...(typeof spec.containerID === "string" ? { containerID: spec.containerID } : {}),
      ...(typeof spec.node === "string" ? { node: spec.node } : {}),
      ipNetworks: Array.isArray(spec.ipNetworks) ? spec.ipNetworks.filter((x): x is string => typeof x === "string") : [],
    });
  }
  for (const kv of nodes) {
    const name = (json(kv.value)?.metadata as { name?: unknown } | undefined)?.name;
    if (typeof name === "string") snap.nodes.push(name);
  }
  return snap;
}

export interface GcOptions {
  /** Epoch ms of this pass. */
  now: number;
  graceMs: number;
  /** Only these handles (and no empty blocks or orphan affinities) when given. */
  onlyHandles?: ReadonlySet<string>;
  /** Plan only; write nothing (not even the state). */
  dryRun?: boolean;
}

export interface GcResult {
  plan: GcPlan;
  /** Addresses released. */
  released: number;
  blocksReleased: string[];
  affinitiesReleased: { host: string; cidr: string }[];
  blocksUnaffined: string[];
}

/** One GC pass over the store. */
export async function runGc(store: Store, opts: GcOptions): Promise<GcResult> {
  const snap = await readSnapshot(store);
  const stateKv = await store.get(GC_STATE_KEY);
  const prev: GcState = stateKv ? { ...EMPTY_GC_STATE, ...(json(stateKv.value) as Partial<GcState>) } : { ...EMPTY_GC_STATE };
  let plan = planGc(snap, prev, opts.now, opts.graceMs);
  if (opts.onlyHandles) {
    const only = opts.onlyHandles;
    plan = {
      ...plan,
      releaseHandles: plan.releaseHandles.filter((h) => only.has(h)),
      releaseIPs: [],
      releaseBlocks: [],
      releaseAffinities: [],
      unaffineBlocks: [],
    };
  }
  const result: GcResult = { plan, released: 0, blocksReleased: [], affinitiesReleased: [], blocksUnaffined: [] };
  if (opts.dryRun) return result;
  const ipam = new Ipam(store);
  for (const h of plan.releaseHandles) result.released += await ipam.releaseByHandle(h);
  if (plan.releaseIPs.length) result.released += await ipam.releaseIPs(plan.releaseIPs);
  for (const b of plan.releaseBlocks) if (await releaseEmptyBlock(store, b.cidr, b.host)) result.blocksReleased.push(b.cidr);
  for (const b of plan.unaffineBlocks) if (await releaseBlockAffinity(store, b.cidr, b.host, false)) result.blocksUnaffined.push(b.cidr);
  for (const a of plan.releaseAffinities) if (await releaseOrphanAffinity(store, a.host, a.cidr)) result.affinitiesReleased.push(a);
  if (!opts.onlyHandles) await store.put(GC_STATE_KEY, JSON.stringify(plan.state));
  return result;
}

const quiet = (e: unknown) => hasCode(e, "DS_NOT_FOUND") || hasCode(e, "DS_CONFLICT") || hasCode(e, "DS_ALREADY_EXISTS");

/** Calico's ReleaseAffinity for one empty block. False when it was no longer empty (or already gone). */
export async function releaseEmptyBlock(store: Store, cidr: string, host: string | undefined): Promise<boolean> {
  return releaseBlockAffinity(store, cidr, host, true);
}

/**
 * Deletes an affinity whose block does not exist (a claim interrupted before the block was
 * written), or a gone host's affinity for a block that is not affine to it.
 */
export async function releaseOrphanAffinity(store: Store, host: string, cidr: string): Promise<boolean> {
  const akey = affinityKey(host, cidr);
  const a = await store.get(akey);
  if (!a) return false;
  const b = await store.get(blockKey(cidr));
  if (b) {
    const node = await store.get(resourceKey("Node", host));
    if (node || decodeBlock(b.value).affinity === `host:${host}`) return false;
  }
  try {
    await store.delete(akey, { revision: a.revision });
    return true;
  } catch (e) {
    if (!quiet(e)) throw e;
    return false;
  }
}

/** Handles that hold the address, for `ipam release --ip`. */
export function handlesOf(snap: GcSnapshot, ip: string): (string | null)[] {
  return allocations(snap.blocks)
    .filter((a) => a.ip === ip)
    .map((a) => a.handle);
}
