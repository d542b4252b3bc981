/**
 * Calico's IPAM key layout and value encodings (libcalico-go `backend/model`: block.go,
 * block_affinity.go, ipam_handle.go, ipam_config.go), so that a tabby store holds IPAM state the
 * way Calico's etcd v3 backend does:
 *   block     /calico/ipam/v2/assignment/ipv4/block/10.65.0.0-26        (ipv6 for v6; "/" → "-")
 *   affinity  /calico/ipam/v2/host/<host>/ipv4/block/10.65.0.0-26
 *   handle    /calico/ipam/v2/handle/<handleID>
 *   config    /calico/ipam/v2/config
 * Values are JSON with Calico's field names. Pure: no I/O.
 */
import { TabbyError } from "../errors.js";
import type { Family } from "../net/ip.js";
import { parsePrefix, type Prefix } from "../net/prefix.js";
import type { Block } from "./block.js";

export const IPAM_ROOT = "/calico/ipam/v2/";
export const BLOCK_ROOT = `${IPAM_ROOT}assignment/`;
export const HANDLE_ROOT = `${IPAM_ROOT}handle/`;
export const HOST_ROOT = `${IPAM_ROOT}host/`;
export const CONFIG_KEY = `${IPAM_ROOT}config`;

const famDir = (family: Family) => (family === 4 ? "ipv4" : "ipv6");

/** "10.65.0.0/26" → "10.65.0.0-26" (Calico's key form of a CIDR). */
export function cidrToKeyPart(cidr: string): string {
  return cidr.replace("/", "-");
}

/** "10.65.0.0-26" → "10.65.0.0/26". The last "-" is the separator (IPv6 has none of its own). */
export function keyPartToCidr(part: string): string {
  const i = part.lastIndexOf("-");
  return i < 0 ? part : `${part.slice(0, i)}/${part.slice(i + 1)}`;
}

function familyOf(cidr: string): Family {
  return cidr.includes(":") ? 6 : 4;
}

/** Every block of one family lives under this prefix. */
export function blockPrefix(family: Family): string {
  return `${BLOCK_ROOT}${famDir(family)}/block/`;
}

export function blockKey(cidr: string): string {
  return `${blockPrefix(familyOf(cidr))}${cidrToKeyPart(cidr)}`;
}

/** The block CIDR a block key names, or undefined. */
export function parseBlockKey(key: string): string | undefined {
  const m = /^\/calico\/ipam\/v2\/assignment\/ipv[46]\/block\/([^/]+)$/.exec(key);
  return m ? keyPartToCidr(m[1]!) : undefined;
}

/** Every affinity of `host` (for one family, or both when omitted) lives under this prefix. */
export function affinityPrefix(host: string, family?: Family): string {
  return family === undefined ? `${HOST_ROOT}${host}/` : `${HOST_ROOT}${host}/${famDir(family)}/block/`;
}

export function affinityKey(host: string, cidr: string): string {
  return `${affinityPrefix(host, familyOf(cidr))}${cidrToKeyPart(cidr)}`;
}

/** Host and block CIDR an affinity key names, or undefined. */
export function parseAffinityKey(key: string): { host: string; cidr: string } | undefined {
  const m = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv[46]\/block\/([^/]+)$/.exec(key);
  return m ? { host: m[1]!, cidr: keyPartToCidr(m[2]!) } : undefined;
}

export function handleKey(handleID: string): string {
  if (handleID === "" || handleID.includes("/")) {
    throw new TabbyError("IPAM_BAD_HANDLE", `a handle id is non-empty and has no "/": ${JSON.stringify(handleID)}`, { handleID });
  }
  return `${HANDLE_ROOT}${handleID}`;
}

// ---------------------------------------------------------------------------------------------
// Values

export type AffinityState = "pending" | "confirmed" | "pendingDeletion";

/** Calico's BlockAffinity value. */
export interface Affinity {
  state: AffinityState;
  deleted: boolean;
}

/** Calico's IPAMHandle value: how many addresses the handle holds in each block (keyed by CIDR). */
export interface Handle {
  handleID: string;
  block: Record<string, number>;
  deleted: boolean;
}

/** Calico's IPAMConfig value (JSON names as Calico writes them). */
export interface IpamConfig {
  strictAffinity: boolean;
  autoAllocateBlocks: boolean;
  /** 0 = the built-in cap (20). */
  maxBlocksPerHost: number;
}

export const DEFAULT_IPAM_CONFIG: Readonly<IpamConfig> = { strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0 };

function parseJson(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new TabbyError("IPAM_BAD_VALUE", `${what}: not JSON`, { what }, { cause: err });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new TabbyError("IPAM_BAD_VALUE", `${what}: not a JSON object`, { what });
  return v as Record<string, unknown>;
}

export function encodeAffinity(a: Affinity): string {
  return JSON.stringify({ state: a.state, deleted: a.deleted });
}

export function decodeAffinity(text: string): Affinity {
  const o = parseJson(text, "block affinity");
  const state = o.state === "confirmed" || o.state === "pendingDeletion" ? o.state : "pending";
  return { state, deleted: o.deleted === true };
}

export function encodeHandle(h: Handle): string {
  return JSON.stringify({ handleID: h.handleID, block: h.block, deleted: h.deleted });
}

export function decodeHandle(text: string): Handle {
  const o = parseJson(text, "IPAM handle");
  const block: Record<string, number> = {};
  if (typeof o.block === "object" && o.block !== null) {
    for (const [k, v] of Object.entries(o.block as Record<string, unknown>)) if (typeof v === "number" && v > 0) block[k] = v;
  }
  return { handleID: typeof o.handleID === "string" ? o.handleID : "", block, deleted: o.deleted === true };
}

/** Calico writes `strict_affinity`, `auto_allocate_blocks`, `maxBlocksPerHost`. */
export function encodeConfig(c: IpamConfig): string {
  return JSON.stringify({ strict_affinity: c.strictAffinity, auto_allocate_blocks: c.autoAllocateBlocks, maxBlocksPerHost: c.maxBlocksPerHost });
}

/** Accepts Calico's names and the v3 IPAMConfiguration spec's camelCase names. */
export function decodeConfig(text: string): IpamConfig {
  const o = parseJson(text, "IPAM config");
  const src = typeof o.spec === "object" && o.spec !== null ? (o.spec as Record<string, unknown>) : o;
  const bool = (a: string, b: string, dflt: boolean) =>
    typeof src[a] === "boolean" ? (src[a] as boolean) : typeof src[b] === "boolean" ? (src[b] as boolean) : dflt;
  const max = src.maxBlocksPerHost;
  return {
    strictAffinity: bool("strict_affinity", "strictAffinity", false),
    autoAllocateBlocks: bool("auto_allocate_blocks", "autoAllocateBlocks", true),
    maxBlocksPerHost: typeof max === "number" && Number.isInteger(max) && max > 0 ? max : 0,
  };
}

export function encodeBlock(b: Block): string {
  return JSON.stringify(b);
}

/** Parses and checks a block's shape; unknown fields are dropped. */
export function decodeBlock(text: string): Block {
  const o = parseJson(text, "IPAM block");
  const bad = (why: string) => new TabbyError("IPAM_BAD_VALUE", `IPAM block: ${why}`, { value: text.slice(0, 200) });
  if (typeof o.cidr !== "string") throw bad("no cidr");
  const prefix: Prefix = parsePrefix(o.cidr, { strict: true, requireLength: true });
  const size = Number(prefix.size());
  if (!Array.isArray(o.allocations) || o.allocations.length !== size) throw bad("allocations do not match the cidr");
  if (!Array.isArray(o.unallocated)) throw bad("no unallocated list");
  const attributes = Array.isArray(o.attributes) ? o.attributes : [];
  const seqFor: Record<string, number> = {};
  if (typeof o.sequenceNumberForAllocation === "object" && o.sequenceNumberForAllocation !== null) {
    for (const [k, v] of Object.entries(o.sequenceNumberForAllocation as Record<string, unknown>)) if (typeof v === "number") seqFor[k] = v;
  }
  return {
    cidr: prefix.toString(),
    affinity: typeof o.affinity === "string" ? o.affinity : null,
    affinityClaimTime: typeof o.affinityClaimTime === "string" ? o.affinityClaimTime : null,
    allocations: o.allocations.map((a) => (typeof a === "number" ? a : null)),
    unallocated: o.unallocated.filter((u): u is number => typeof u === "number"),
    attributes: attributes.map((a) => {
      const r = (typeof a === "object" && a !== null ? a : {}) as Record<string, unknown>;
      const out: { handle_id: string | null; secondary: Record<string, string> | null } = {
        handle_id: typeof r.handle_id === "string" ? r.handle_id : null,
        secondary: typeof r.secondary === "object" && r.secondary !== null ? (r.secondary as Record<string, string>) : null,
      };
      return out;
    }),
    sequenceNumber: typeof o.sequenceNumber === "number" ? o.sequenceNumber : 0,
    sequenceNumberForAllocation: seqFor,
    deleted: o.deleted === true,
  };
}
