/**
 * IP pools as IPAM sees them: Calico v3 IPPool resources (`spec.cidr`, `spec.blockSize` default
 * 26 / 122, `spec.disabled`, `spec.nodeSelector` default `all()`, `spec.allowedUses` default
 * [Workload, Tunnel]) and which of them serve a workload on a node (libcalico-go
 * `ipam.go` determinePools: enabled, allowed for workloads, selecting the node; pools the caller
 * names explicitly bypass the node selector). Pure: no I/O.
 */
import { TabbyError } from "../errors.js";
import type { Family } from "../net/ip.js";
import { tryParsePrefix, type Prefix } from "../net/prefix.js";
import { parseSelector, type Selector } from "../selector/index.js";

export interface Pool {
  name: string;
  cidr: Prefix;
  /** Prefix length of the pool's blocks. */
  blockSize: number;
  disabled: boolean;
  nodeSelector: string;
  allowedUses: string[];
}

/** Evaluates a Calico selector against a label map. */
export type SelectorMatcher = (selector: string, labels: Readonly<Record<string, string>>) => boolean;

export const DEFAULT_BLOCK_SIZE: Readonly<Record<Family, number>> = { 4: 26, 6: 122 };

/** Parses an IPPool resource (JSON text or object); throws IPAM_BAD_POOL when unusable. */
export function poolFromResource(value: string | unknown): Pool {
  const o = (typeof value === "string" ? JSON.parse(value) : value) as {
    metadata?: { name?: unknown };
    spec?: { cidr?: unknown; blockSize?: unknown; disabled?: unknown; nodeSelector?: unknown; allowedUses?: unknown };
  };
  const name = typeof o?.metadata?.name === "string" ? o.metadata.name : "";
  const spec = o?.spec ?? {};
  const bad = (why: string) => new TabbyError("IPAM_BAD_POOL", `IPPool ${name || "(unnamed)"}: ${why}`, { name });
  const cidr = typeof spec.cidr === "string" ? tryParsePrefix(spec.cidr, { requireLength: true }) : undefined;
  if (!cidr) throw bad(`bad cidr ${JSON.stringify(spec.cidr)}`);
  const net = cidr.network();
  const blockSize = typeof spec.blockSize === "number" ? spec.blockSize : DEFAULT_BLOCK_SIZE[net.family];
  const [lo, hi] = net.family === 4 ? [20, 32] : [116, 128];
  if (!Number.isInteger(blockSize) || blockSize < lo || blockSize > hi) throw bad(`blockSize ${blockSize} outside ${lo}-${hi}`);
  if (blockSize < net.len) throw bad(`blockSize /${blockSize} is larger than the pool ${net}`);
  return {
    name,
    cidr: net,
    blockSize,
    disabled: spec.disabled === true,
    nodeSelector: typeof spec.nodeSelector === "string" && spec.nodeSelector.trim() !== "" ? spec.nodeSelector.trim() : "all()",
    allowedUses: Array.isArray(spec.allowedUses) ? spec.allowedUses.filter((u): u is string => typeof u === "string") : ["Workload", "Tunnel"],
  };
}

const parsed = new Map<string, Selector | null>();

/**
 * Calico's selector language (src/selector) against the Node's labels: the matcher every IPAM
 * caller gets unless it injects another. A selector that does not parse selects no node (the
 * model refuses such pools; one written around it must not widen where addresses come from).
 */
export const selectorMatcher: SelectorMatcher = (selector, labels) => {
  let sel = parsed.get(selector);
  if (sel === undefined) {
    try {
      sel = parseSelector(selector);
    } catch {
      sel = null;
    }
    if (parsed.size > 1000) parsed.clear();
    parsed.set(selector, sel);
  }
  return sel?.matches(labels) === true;
};

/** True when the pool's nodeSelector selects a node with these labels. `all()` always does. */
export function poolSelectsNode(pool: Pool, labels: Readonly<Record<string, string>>, matcher: SelectorMatcher = selectorMatcher): boolean {
  if (pool.nodeSelector === "all()") return true;
  return matcher(pool.nodeSelector, labels);
}

/**
 * The pools of `family` a workload on a node with `labels` may get addresses from, in a stable
 * order (by name). `requested` (pool names or CIDRs) restricts the choice and bypasses the
 * node selector.
 */
export function usablePools(
  pools: readonly Pool[],
  family: Family,
  labels: Readonly<Record<string, string>>,
  requested?: readonly string[],
  matcher?: SelectorMatcher,
): Pool[] {
  const want = requested && requested.length > 0 ? new Set(requested.map(normalise)) : undefined;
  return pools
    .filter((p) => p.cidr.family === family && !p.disabled && p.allowedUses.includes("Workload"))
    .filter((p) => (want ? want.has(p.name) || want.has(p.cidr.toString()) : poolSelectsNode(p, labels, matcher)))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.cidr.addr.compare(b.cidr.addr)));
}

function normalise(s: string): string {
  const p = s.includes("/") ? tryParsePrefix(s) : undefined;
  return p ? p.network().toString() : s;
}

/** The pool (of those given) whose CIDR holds a block, if any. */
export function poolOfBlock(pools: readonly Pool[], block: Prefix): Pool | undefined {
  return pools.find((p) => p.cidr.containsPrefix(block));
}
