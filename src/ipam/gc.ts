/**
 * IPAM garbage collection and consistency checks, as pure functions over a snapshot of the
 * store (Calico kube-controllers' IPAM controller, `ipam.go`: an allocation is a leak candidate
 * when its node is gone or its workload is gone; it is released only after it has stayed a
 * candidate for a grace period (default 15 minutes), and a handle's addresses are released all
 * together or not at all; an empty block's affinity is released once it has stayed empty for the
 * grace period, but never a node's last block). When a Node is gone, its blocks that still hold
 * addresses in use (borrowed by workloads on other hosts) lose their affinity after the grace
 * period, like Calico's node controller releasing a deleted node's affinities, so no block stays
 * affine to a host that will never route it; its empty blocks go as empty blocks.
 *
 * tabby identifies a workload by its WorkloadEndpoint: an allocation's workload exists while a
 * WorkloadEndpoint has its containerID (the allocation attribute `containerID`, else the part of
 * the handle after its first "."), or lists its address in `ipNetworks`. Allocations that name
 * no container (tunnel addresses, handles without a ".") are candidates only when their node is
 * gone. Pure: no I/O; time is a parameter.
 */
import { TabbyError } from "../errors.js";
import { parsePrefix } from "../net/prefix.js";
import { addressOf, type Block } from "./block.js";
import type { AffinityState, Handle } from "./keys.js";

export const DEFAULT_LEAK_GRACE_MS = 15 * 60 * 1000;

export interface GcWorkload {
  containerID?: string;
  node?: string;
  /** Addresses as in WorkloadEndpoint ipNetworks ("10.65.0.5/32"). */
  ipNetworks?: string[];
}

export interface GcAffinity {
  host: string;
  cidr: string;
  state: AffinityState;
}

export interface GcSnapshot {
  blocks: Block[];
  affinities: GcAffinity[];
  handles: Handle[];
  workloads: GcWorkload[];
  /** Names of the Node resources. */
  nodes: string[];
}

export interface Allocation {
  ip: string;
  cidr: string;
  handle: string | null;
  node: string | undefined;
  containerID: string | undefined;
}

export type LeakReason = "node-gone" | "workload-gone";

export interface Leak extends Allocation {
  reason: LeakReason;
}

/** Every allocated address of every (not deleted) block. */
export function allocations(blocks: readonly Block[]): Allocation[] {
  const out: Allocation[] = [];
  for (const b of blocks) {
    if (b.deleted) continue;
    const host = b.affinity?.startsWith("host:") ? b.affinity.slice(5) : undefined;
    b.allocations.forEach((idx, ordinal) => {
      if (idx === null) return;
      const attr = b.attributes[idx];
      const handle = attr?.handle_id ?? null;
      const sec = attr?.secondary ?? {};
      const dot = handle?.indexOf(".") ?? -1;
      out.push({
        ip: addressOf(b, ordinal).toString(),
        cidr: b.cidr,
        handle,
        node: sec.node ?? host,
        containerID: sec.containerID ?? (handle && dot > 0 ? handle.slice(dot + 1) : undefined),
      });
    });
  }
  return out;
}

/** Allocations whose node or workload is gone (regardless of how long). */
export function findLeaks(s: GcSnapshot): Leak[] {
  const nodes = new Set(s.nodes);
  const cids = new Set<string>();
  const ips = new Set<string>();
  for (const w of s.workloads) {
    if (w.containerID) cids.add(w.containerID);
    for (const n of w.ipNetworks ?? []) {
      try {
        ips.add(parsePrefix(n).addr.toString());
      } catch {
        // not an address: names no allocation
      }
    }
  }
  const out: Leak[] = [];
  for (const a of allocations(s.blocks)) {
    if (a.node !== undefined && !nodes.has(a.node)) out.push({ ...a, reason: "node-gone" });
    else if (a.containerID !== undefined && !cids.has(a.containerID) && !ips.has(a.ip)) out.push({ ...a, reason: "workload-gone" });
  }
  return out;
}

/** Handle records that hold addresses in no block (a crash between handle and block writes). */
export function staleHandles(s: GcSnapshot): string[] {
  const held = new Set<string>();
  for (const a of allocations(s.blocks)) if (a.handle !== null) held.add(a.handle);
  return s.handles
    .filter((h) => !h.deleted && !held.has(h.handleID))
    .map((h) => h.handleID)
    .sort();
}

/** What has been seen when (epoch ms), carried from one GC pass to the next. */
export interface GcState {
  /** "h:<handle>" or "ip:<addr>" → first seen as a leak candidate. */
  leaks: Record<string, number>;
  /** block CIDR → first seen empty. */
  emptyBlocks: Record<string, number>;
  /** "<host> <cidr>" → first seen as an affinity without a block (or a gone host's affinity for a block not its). */
  orphanAffinities: Record<string, number>;
  /** block CIDR → first seen holding addresses in use while affine to a host that is no Node. */
  orphanBlocks: Record<string, number>;
}

export const EMPTY_GC_STATE: Readonly<GcState> = { leaks: {}, emptyBlocks: {}, orphanAffinities: {}, orphanBlocks: {} };

export interface GcPlan {
  state: GcState;
  /** Handles to release in full (their every address is a candidate past the grace period). */
  releaseHandles: string[];
  /** Addresses without a handle to release. */
  releaseIPs: string[];
  /** Empty blocks whose affinity to release (block and affinity deleted). */
  releaseBlocks: { cidr: string; host: string | undefined }[];
  /** Affinities without a block (or of a gone host, for a block not affine to it) to delete. */
  releaseAffinities: { host: string; cidr: string }[];
  /** Blocks of gone hosts that hold addresses in use: their affinity goes, the block stays. */
  unaffineBlocks: { cidr: string; host: string }[];
}

/**
 * One GC pass: which candidates have now been candidates for `graceMs` (time `now`, epoch ms).
 * A handle is released only when every address it holds is a candidate and the handle has been
 * one for the whole grace period; handle records holding nothing are deleted the same way.
 */
export function planGc(s: GcSnapshot, prev: GcState, now: number, graceMs: number): GcPlan {
  const leaks = findLeaks(s);
  const leakIPs = new Set(leaks.map((l) => l.ip));
  const state: GcState = { leaks: {}, emptyBlocks: {}, orphanAffinities: {}, orphanBlocks: {} };
  const due = (map: Record<string, number>, key: string, into: Record<string, number>) => {
    const first = map[key] ?? now;
    into[key] = first;
    return now - first >= graceMs;
  };
  // Per handle: all or none.
  const byHandle = new Map<string, { all: number; leaked: number }>();
  for (const a of allocations(s.blocks)) {
    if (a.handle === null) continue;
    const e = byHandle.get(a.handle) ?? { all: 0, leaked: 0 };
    e.all++;
    if (leakIPs.has(a.ip)) e.leaked++;
    byHandle.set(a.handle, e);
  }
  const releaseHandles: string[] = [];
  for (const [h, e] of byHandle) if (e.leaked === e.all && due(prev.leaks, `h:${h}`, state.leaks)) releaseHandles.push(h);
  for (const h of staleHandles(s)) if (due(prev.leaks, `h:${h}`, state.leaks)) releaseHandles.push(h);
  const releaseIPs: string[] = [];
  for (const l of leaks) if (l.handle === null && due(prev.leaks, `ip:${l.ip}`, state.leaks)) releaseIPs.push(l.ip);

  // Empty blocks: release the affinity after the grace period, never a node's last block.
  const blocksOfHost = new Map<string, number>();
  for (const b of s.blocks) {
    const host = b.affinity?.startsWith("host:") ? b.affinity.slice(5) : undefined;
    if (host !== undefined && !b.deleted) blocksOfHost.set(host, (blocksOfHost.get(host) ?? 0) + 1);
  }
  const nodes = new Set(s.nodes);
  const releaseBlocks: GcPlan["releaseBlocks"] = [];
  const sorted = [...s.blocks].filter((b) => !b.deleted).sort((x, y) => (x.cidr < y.cidr ? -1 : x.cidr > y.cidr ? 1 : 0));
  for (const b of sorted) {
    if (b.allocations.some((a) => a !== null)) continue;
    const host = b.affinity?.startsWith("host:") ? b.affinity.slice(5) : undefined;
    if (!due(prev.emptyBlocks, b.cidr, state.emptyBlocks)) continue;
    // A live node keeps its last block; a missing node's blocks all go.
    if (host !== undefined && nodes.has(host)) {
      const n = blocksOfHost.get(host) ?? 0;
      if (n <= 1) continue;
      blocksOfHost.set(host, n - 1);
    }
    releaseBlocks.push({ cidr: b.cidr, host });
  }
  // A gone host's blocks that still hold addresses in use (none of them a candidate): unaffine.
  const unaffineBlocks: GcPlan["unaffineBlocks"] = [];
  const leakCidrs = new Set(leaks.map((l) => l.cidr));
  for (const b of sorted) {
    const host = b.affinity?.startsWith("host:") ? b.affinity.slice(5) : undefined;
    if (host === undefined || nodes.has(host) || !b.allocations.some((a) => a !== null)) continue;
    // The clock runs from the node's disappearance; the block goes once its leaks have gone.
    if (due(prev.orphanBlocks, b.cidr, state.orphanBlocks) && !leakCidrs.has(b.cidr)) unaffineBlocks.push({ cidr: b.cidr, host });
  }
  const affinityOf = new Map(s.blocks.filter((b) => !b.deleted).map((b) => [b.cidr, b.affinity ?? null]));
  const releaseAffinities: GcPlan["releaseAffinities"] = [];
  for (const a of s.affinities) {
    const blockAffinity = affinityOf.get(a.cidr);
    const orphan = blockAffinity === undefined || (!nodes.has(a.host) && blockAffinity !== `host:${a.host}`);
    if (!orphan) continue;
    if (due(prev.orphanAffinities, `${a.host} ${a.cidr}`, state.orphanAffinities)) releaseAffinities.push({ host: a.host, cidr: a.cidr });
  }
  return { state, releaseHandles: releaseHandles.sort(), releaseIPs: releaseIPs.sort(), releaseBlocks, releaseAffinities, unaffineBlocks };
}

export interface IpamProblems {
  /** Addresses whose workload or node is gone. */
  leaks: Leak[];
  /** Addresses allocated to more than one handle (overlapping blocks). */
  duplicates: { ip: string; handles: (string | null)[] }[];
  /** Blocks claimed by more than one host (block affinity and affinity keys disagree). */
  sharedBlocks: { cidr: string; hosts: string[] }[];
  /** Affinities whose block does not exist. */
  orphanAffinities: GcAffinity[];
  /** Blocks affine to a host that is not a Node. */
  orphanBlocks: { cidr: string; host: string }[];
  /** Handle records that hold addresses in no block. */
  staleHandles: string[];
}

export function problemCount(p: IpamProblems): number {
  return p.leaks.length + p.duplicates.length + p.sharedBlocks.length + p.orphanAffinities.length + p.orphanBlocks.length + p.staleHandles.length;
}

/** `tabby ipam check`: everything wrong with the IPAM data. */
export function checkIpam(s: GcSnapshot): IpamProblems {
  const owners = new Map<string, (string | null)[]>();
  for (const a of allocations(s.blocks)) owners.set(a.ip, [...(owners.get(a.ip) ?? []), a.handle]);
  const duplicates = [...owners].filter(([, hs]) => hs.length > 1).map(([ip, handles]) => ({ ip, handles }));
  const hostsOf = new Map<string, Set<string>>();
  const add = (cidr: string, host: string) => hostsOf.set(cidr, (hostsOf.get(cidr) ?? new Set()).add(host));
  const live = s.blocks.filter((b) => !b.deleted);
  for (const b of live) if (b.affinity?.startsWith("host:")) add(b.cidr, b.affinity.slice(5));
  for (const a of s.affinities) if (a.state === "confirmed") add(a.cidr, a.host);
  const sharedBlocks = [...hostsOf].filter(([, hs]) => hs.size > 1).map(([cidr, hs]) => ({ cidr, hosts: [...hs].sort() }));
  const cidrs = new Set(live.map((b) => b.cidr));
  const nodes = new Set(s.nodes);
  return {
    leaks: findLeaks(s),
    duplicates,
    sharedBlocks,
    orphanAffinities: s.affinities.filter((a) => !cidrs.has(a.cidr)),
    orphanBlocks: live
      .filter((b) => b.affinity?.startsWith("host:") && !nodes.has(b.affinity.slice(5)))
      .map((b) => ({ cidr: b.cidr, host: b.affinity!.slice(5) })),
    staleHandles: staleHandles(s),
  };
}

/** Go-style durations as Calico takes them: "15m", "90s", "1h30m", "250ms", "0". */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let pos = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== text.length) throw new TabbyError("IPAM_BAD_DURATION", `not a duration: ${JSON.stringify(text)} (e.g. 15m, 90s, 0)`, { text });
  return Math.round(total);
}
