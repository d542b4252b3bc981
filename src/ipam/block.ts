/**
 * Calico's IPAM allocation block (libcalico-go `lib/ipam/ipam_block.go`, model `AllocationBlock`),
 * as pure functions over plain data: a block is a CIDR carved from a pool whose addresses
 * ("ordinals", offsets within the block) are handed out from a FIFO of free ordinals, so a
 * released address goes to the back of the queue and is reused as late as possible.
 *
 * Every mutating function returns a new block (the input is not touched) with `sequenceNumber`
 * bumped, and records the sequence number each allocation was made at (Calico's ABA guard for
 * releases). Also here: the hostname-seeded order in which a host tries a pool's blocks.
 *
 * Deviation: Calico starts `sequenceNumber` at UnixNano, beyond JavaScript's exact integers;
 * tabby starts it at Unix milliseconds. Monotonic per block and distinct across re-creations,
 * which is what it is for. Pure: no I/O; time is a parameter.
 */
import { TabbyError } from "../errors.js";
import { type IP, ipFromBigInt } from "../net/ip.js";
import { Prefix, parsePrefix } from "../net/prefix.js";
import { Prng } from "./prng.js";

/** One allocation's owner (Calico's AllocationAttribute; JSON names as Calico writes them). */
export interface AllocationAttribute {
  handle_id: string | null;
  /** Calico's `secondary` (namespace, pod, node, ...). */
  secondary: Record<string, string> | null;
}

export interface Block {
  cidr: string;
  /** "host:<node>" (or Calico's "virtual:<name>"), null when unaffine. */
  affinity: string | null;
  /** RFC 3339 time of the affinity claim. */
  affinityClaimTime: string | null;
  /** ordinal → index into `attributes`, or null when free. */
  allocations: (number | null)[];
  /** Free ordinals, in the order they will be handed out. */
  unallocated: number[];
  attributes: AllocationAttribute[];
  sequenceNumber: number;
  /** ordinal (decimal string) → sequenceNumber at which it was allocated. */
  sequenceNumberForAllocation: Record<string, number>;
  deleted: boolean;
}

export interface AssignAttrs {
  handle?: string | undefined;
  secondary?: Record<string, string> | undefined;
}

const err = (code: string, msg: string, details?: Record<string, unknown>) => new TabbyError(code, msg, details);

function prefixOf(cidr: string | Prefix): Prefix {
  const p = typeof cidr === "string" ? parsePrefix(cidr, { strict: true, requireLength: true }) : cidr.network();
  return p;
}

/** A new block: every ordinal free, in address order. */
export function newBlock(cidr: string | Prefix, affinity: string | null, now: number): Block {
  const p = prefixOf(cidr);
  const bits = p.maxLen - p.len;
  if (bits > 16) throw err("IPAM_BAD_BLOCK", `block ${p} is too large (at most 65536 addresses)`, { cidr: p.toString() });
  const size = 1 << bits;
  return {
    cidr: p.toString(),
    affinity,
    affinityClaimTime: affinity === null ? null : new Date(now).toISOString(),
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    sequenceNumber: Math.floor(now),
    sequenceNumberForAllocation: {},
    deleted: false,
  };
}

function clone(b: Block): Block {
  return {
    ...b,
    allocations: [...b.allocations],
    unallocated: [...b.unallocated],
    attributes: b.attributes.map((a) => ({ handle_id: a.handle_id, secondary: a.secondary ? { ...a.secondary } : null })),
    sequenceNumberForAllocation: { ...b.sequenceNumberForAllocation },
  };
}

export function blockSize(b: Block): number {
  return b.allocations.length;
}

export function freeCount(b: Block): number {
  return b.unallocated.length;
}

export function allocatedCount(b: Block): number {
  let n = 0;
  for (const a of b.allocations) if (a !== null) n++;
  return n;
}

export function isEmpty(b: Block): boolean {
  return allocatedCount(b) === 0;
}

/** The address at `ordinal`. */
export function addressOf(b: Block, ordinal: number): IP {
  return prefixOf(b.cidr).nth(ordinal);
}

/** The ordinal of `ip` in the block, or -1 when it lies outside. */
export function ordinalOf(b: Block, ip: IP | string): number {
  const addr = typeof ip === "string" ? parsePrefix(ip).addr : ip;
  return Number(prefixOf(b.cidr).offsetOf(addr));
}

/** True when `ip` lies in the block CIDR. */
export function blockContains(cidr: string | Prefix, ip: IP | string): boolean {
  const addr = typeof ip === "string" ? parsePrefix(ip).addr : ip;
  return prefixOf(cidr).contains(addr);
}

/** The CIDR of the block of length `blockLen` that holds `ip`. */
export function blockCidrOf(ip: IP | string, blockLen: number): Prefix {
  const addr = typeof ip === "string" ? parsePrefix(ip).addr : ip;
  return new Prefix(addr, blockLen).network();
}

function sameSecondary(a: Record<string, string> | null, b: Record<string, string> | null): boolean {
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  return ka.every((k) => b?.[k] === a?.[k]);
}

/** Index of an attribute equal to `attrs`, appending one if none (Calico's findOrAddAttribute). */
function attributeIndex(b: Block, attrs: AssignAttrs): number {
  const want: AllocationAttribute = { handle_id: attrs.handle ?? null, secondary: attrs.secondary ? { ...attrs.secondary } : null };
  const i = b.attributes.findIndex((a) => a.handle_id === want.handle_id && sameSecondary(a.secondary, want.secondary));
  if (i >= 0) return i;
  b.attributes.push(want);
  return b.attributes.length - 1;
}

/** Drops attributes no allocation refers to and renumbers the rest (Calico does the same on release). */
function compactAttributes(b: Block): void {
  const used = new Set<number>();
  for (const a of b.allocations) if (a !== null) used.add(a);
  if (used.size === b.attributes.length) return;
  const remap = new Map<number, number>();
  const kept: AllocationAttribute[] = [];
  b.attributes.forEach((a, i) => {
    if (used.has(i)) {
      remap.set(i, kept.length);
      kept.push(a);
    }
  });
  b.attributes = kept;
  b.allocations = b.allocations.map((a) => (a === null ? null : remap.get(a)!));
}

export interface AssignResultOrdinals {
  block: Block;
  /** Ordinals assigned, in the order they left the FIFO. */
  ordinals: number[];
}

/**
 * Assigns up to `n` ordinals from the head of the FIFO, skipping ordinals in `reserved` (they stay
 * where they are in the queue). Assigns fewer when the block runs out.
 */
export function assignNext(b: Block, n: number, attrs: AssignAttrs, opts: { reserved?: ReadonlySet<number> } = {}): AssignResultOrdinals {
  const out = clone(b);
  const ordinals: number[] = [];
  if (n <= 0) return { block: b, ordinals };
  const keep: number[] = [];
  let i = 0;
  for (; i < out.unallocated.length && ordinals.length < n; i++) {
    const o = out.unallocated[i]!;
    if (opts.reserved?.has(o)) keep.push(o);
    else ordinals.push(o);
  }
  if (ordinals.length === 0) return { block: b, ordinals };
  out.unallocated = [...keep, ...out.unallocated.slice(i)];
  const idx = attributeIndex(out, attrs);
  for (const o of ordinals) {
    out.allocations[o] = idx;
    out.sequenceNumberForAllocation[String(o)] = out.sequenceNumber;
  }
  out.sequenceNumber++;
  return { block: out, ordinals };
}

/** Assigns one specific address; IPAM_ADDRESS_IN_USE when taken, IPAM_NOT_IN_BLOCK when outside. */
export function assignAddress(b: Block, ip: IP | string, attrs: AssignAttrs): AssignResultOrdinals {
  const o = ordinalOf(b, ip);
  if (o < 0) throw err("IPAM_NOT_IN_BLOCK", `${String(ip)} is not in block ${b.cidr}`, { ip: String(ip), cidr: b.cidr });
  if (b.allocations[o] !== null) throw err("IPAM_ADDRESS_IN_USE", `${String(ip)} is already assigned`, { ip: String(ip) });
  const out = clone(b);
  out.unallocated = out.unallocated.filter((u) => u !== o);
  out.allocations[o] = attributeIndex(out, attrs);
  out.sequenceNumberForAllocation[String(o)] = out.sequenceNumber;
  out.sequenceNumber++;
  return { block: out, ordinals: [o] };
}

export interface ReleaseResult {
  block: Block;
  /** Ordinals freed, in the order they were appended to the FIFO. */
  released: number[];
  /** How many of the freed ordinals each handle held (handle "" = none). */
  byHandle: Record<string, number>;
}

function releaseOrdinals(b: Block, ordinals: number[]): ReleaseResult {
  const out = clone(b);
  const released: number[] = [];
  const byHandle: Record<string, number> = {};
  for (const o of ordinals) {
    const a = out.allocations[o];
    if (a === null || a === undefined) continue;
    const h = out.attributes[a]?.handle_id ?? "";
    byHandle[h] = (byHandle[h] ?? 0) + 1;
    out.allocations[o] = null;
    delete out.sequenceNumberForAllocation[String(o)];
    out.unallocated.push(o);
    released.push(o);
  }
  if (released.length === 0) return { block: b, released, byHandle };
  compactAttributes(out);
  out.sequenceNumber++;
  return { block: out, released, byHandle };
}

/**
 * Releases addresses; addresses that are free or outside the block are ignored. With
 * `sequenceNumbers` (address → the sequence number it was allocated at), an address whose
 * recorded number differs is not released (IPAM_BAD_SEQUENCE_NUMBER), Calico's guard against
 * releasing an address that has meanwhile been handed to someone else.
 */
export function releaseAddresses(b: Block, ips: (IP | string)[], sequenceNumbers?: ReadonlyMap<string, number>): ReleaseResult {
  const ordinals: number[] = [];
  for (const ip of ips) {
    const o = ordinalOf(b, ip);
    if (o < 0) continue;
    const want = sequenceNumbers?.get(String(ip));
    const have = b.sequenceNumberForAllocation[String(o)];
    if (want !== undefined && b.allocations[o] !== null && have !== undefined && have !== want) {
      throw err("IPAM_BAD_SEQUENCE_NUMBER", `${String(ip)} was re-allocated (sequence ${have}, expected ${want})`, { ip: String(ip) });
    }
    ordinals.push(o);
  }
  return releaseOrdinals(b, ordinals);
}

/** Releases every address held by `handle`, lowest ordinal first. */
export function releaseByHandle(b: Block, handle: string): ReleaseResult {
  return releaseOrdinals(b, ordinalsOfHandle(b, handle));
}

export function ordinalsOfHandle(b: Block, handle: string): number[] {
  const idx = new Set<number>();
  b.attributes.forEach((a, i) => a.handle_id === handle && idx.add(i));
  const out: number[] = [];
  b.allocations.forEach((a, o) => a !== null && idx.has(a) && out.push(o));
  return out;
}

/** Handle → number of addresses it holds in the block. */
export function handleCounts(b: Block): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of b.allocations) {
    if (a === null) continue;
    const h = b.attributes[a]?.handle_id ?? "";
    m.set(h, (m.get(h) ?? 0) + 1);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Block order

/**
 * The order in which `hostname` tries the blocks of a pool: a pseudo-random permutation of the
 * pool's block indices, seeded by the hostname, so hosts spread over the pool instead of racing
 * for its first block (Calico's randomBlockGenerator). The block count is a power of two, so
 * i ↦ (a·i + c) mod N with a odd is a bijection: lazy, O(1) per step and invertible, which
 * matters for IPv6 pools with 2^60 blocks.
 */
export class BlockOrder {
  readonly pool: Prefix;
  readonly blockLen: number;
  /** Number of blocks in the pool. */
  readonly count: bigint;
  private readonly a: bigint;
  private readonly aInv: bigint;
  private readonly c: bigint;
  private readonly mask: bigint;
  private readonly step: bigint;
  private readonly base: bigint;

  constructor(pool: string | Prefix, blockLen: number, hostname: string) {
    this.pool = prefixOf(pool);
    if (!Number.isInteger(blockLen) || blockLen < this.pool.len || blockLen > this.pool.maxLen) {
      throw err("IPAM_BAD_POOL", `block size /${blockLen} does not fit pool ${this.pool}`, { pool: this.pool.toString(), blockLen });
    }
    this.blockLen = blockLen;
    const bits = blockLen - this.pool.len;
    this.count = 1n << BigInt(bits);
    this.mask = this.count - 1n;
    const rng = Prng.fromString(hostname);
    this.a = (rng.nextBits(bits) | 1n) & this.mask || 1n;
    this.c = rng.nextBits(bits);
    this.aInv = inverseMod2k(this.a, bits);
    this.step = 1n << BigInt(this.pool.maxLen - blockLen);
    this.base = this.pool.addr.toBigInt();
  }

  /** The i-th block in this host's order. */
  at(i: bigint): Prefix {
    const idx = (this.a * i + this.c) & this.mask;
    return new Prefix(ipFromBigInt(this.pool.family, this.base + idx * this.step), this.blockLen);
  }

  /** Position of a block of the pool in this host's order, or -1n if it is not one of the pool's blocks. */
  positionOf(block: string | Prefix): bigint {
    const p = prefixOf(block);
    if (p.len !== this.blockLen || !this.pool.containsPrefix(p)) return -1n;
    const idx = (p.addr.toBigInt() - this.base) / this.step;
    return (this.aInv * (idx - this.c)) & this.mask;
  }

  *[Symbol.iterator](): Generator<Prefix> {
    for (let i = 0n; i < this.count; i++) yield this.at(i);
  }
}

/** Inverse of odd `a` modulo 2^bits (Newton's iteration doubles the correct bits each step). */
function inverseMod2k(a: bigint, bits: number): bigint {
  if (bits === 0) return 0n;
  const mask = (1n << BigInt(bits)) - 1n;
  let x = a; // correct to 3 bits for odd a
  for (let good = 3; good < bits; good *= 2) x = (x * (2n - a * x)) & mask;
  return x & mask;
}

/** Every block of the pool, once each, in `hostname`'s order (lazily). */
export function blockOrder(poolCidr: string | Prefix, blockLen: number, hostname: string): Generator<Prefix> {
  return new BlockOrder(poolCidr, blockLen, hostname)[Symbol.iterator]();
}
