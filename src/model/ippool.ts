/**
 * IPPool (cluster-scoped): a range workload addresses are allocated from, split into blocks.
 * Defaults and checks follow libcalico-go (`validateIPPoolSpec` and clientv3's ippool defaults):
 * blockSize 26 (v4) / 122 (v6), v4 20–32 and v6 116–128; ipipMode/vxlanMode Never; nodeSelector
 * `all()`; allowedUses [Workload, Tunnel]; assignmentMode Automatic; the CIDR must be a network
 * (no host bits), must not overlap link-local space, and must be at least one block; IPIP is
 * IPv4 only; IPIP and VXLAN are not both enabled; LoadBalancer pools stand alone.
 * Refused as not honoured (Checker.unsupported): ipipMode/vxlanMode other than Never (tabby builds
 * no tunnels), assignmentMode Manual. Overlap with other pools is checked where the datastore is
 * (src/datastore/resource-client.ts), as in clientv3.
 * Pure: no I/O.
 */
import { arrayOf, bool, type Checker, int, object, oneOf, reorder, selectorField, str, type Field } from "./check.js";
import { parsePrefix, tryParsePrefix } from "../net/index.js";
import type { Resource } from "./resource.js";

export type EncapMode = "Never" | "Always" | "CrossSubnet";
export type IPPoolAllowedUse = "Workload" | "Tunnel" | "LoadBalancer";

export interface IPPoolSpec {
  cidr: string;
  blockSize?: number;
  ipipMode?: EncapMode;
  vxlanMode?: EncapMode;
  natOutgoing?: boolean;
  disabled?: boolean;
  disableBGPExport?: boolean;
  nodeSelector?: string;
  namespaceSelector?: string;
  allowedUses?: IPPoolAllowedUse[];
  assignmentMode?: "Automatic" | "Manual";
}
export type IPPool = Resource<"IPPool", IPPoolSpec>;

const ENCAP = ["Never", "Always", "CrossSubnet"] as const;

const FIELDS: { [K in keyof IPPoolSpec]-?: Field<IPPoolSpec[K]> } = {
  cidr: str,
  blockSize: int(0, 128),
  ipipMode: oneOf(ENCAP),
  vxlanMode: oneOf(ENCAP),
  natOutgoing: bool,
  disabled: bool,
  disableBGPExport: bool,
  nodeSelector: selectorField,
  namespaceSelector: selectorField,
  allowedUses: arrayOf(oneOf(["Workload", "Tunnel", "LoadBalancer"] as const)),
  assignmentMode: oneOf(["Automatic", "Manual"] as const),
};
const specSchema: Field<IPPoolSpec> = object<IPPoolSpec>(FIELDS);

const LINK_LOCAL_V4 = parsePrefix("169.254.0.0/16");
const LINK_LOCAL_V6 = parsePrefix("fe80::/10");

export function checkIPPoolSpec(v: unknown, c: Checker): IPPoolSpec | undefined {
  const spec = specSchema(v, "spec", c);
  if (!spec) return undefined;
  if (spec.cidr === undefined) {
    if (!c.errors.some((e) => e.path === "spec.cidr")) c.error("spec.cidr", "is required");
    return spec;
  }
  const p = tryParsePrefix(spec.cidr);
  if (!p) {
    c.error("spec.cidr", `must be a CIDR such as 192.168.0.0/16, got ${JSON.stringify(spec.cidr)}`);
    return spec;
  }
  const v4 = p.family === 4;
  if (!p.isNetwork()) c.error("spec.cidr", `must have no host bits set (did you mean ${p.network().toString()}?), got ${spec.cidr}`);
  if (p.overlaps(v4 ? LINK_LOCAL_V4 : LINK_LOCAL_V6)) {
    c.error("spec.cidr", `must not overlap the IPv${p.family} link-local range ${v4 ? LINK_LOCAL_V4 : LINK_LOCAL_V6}, got ${spec.cidr}`);
  }
  // Defaults (clientv3 and validateIPPoolSpec).
  spec.blockSize ??= v4 ? 26 : 122;
  spec.ipipMode ??= "Never";
  spec.vxlanMode ??= "Never";
  spec.nodeSelector ??= "all()";
  spec.allowedUses ??= ["Workload", "Tunnel"];
  spec.assignmentMode ??= "Automatic";

  const [lo, hi] = v4 ? [20, 32] : [116, 128];
  if (spec.blockSize < lo || spec.blockSize > hi) {
    c.error("spec.blockSize", `must be between ${lo} and ${hi} for an IPv${p.family} pool, got ${spec.blockSize}`);
  } else if (!spec.disabled && p.len > spec.blockSize) {
    c.error("spec.cidr", `pool ${spec.cidr} is smaller than one block (/${spec.blockSize}); its prefix length must be at most the block size`);
  }
  if (!v4 && spec.ipipMode !== "Never") c.error("spec.ipipMode", `must be Never on an IPv6 pool (IPIP is IPv4 only), got ${spec.ipipMode}`);
  const ipip = spec.ipipMode !== "Never";
  const vxlan = spec.vxlanMode !== "Never";
  if (ipip && vxlan) c.error("spec.vxlanMode", `cannot be enabled together with ipipMode (ipipMode ${spec.ipipMode}, vxlanMode ${spec.vxlanMode})`);
  const lb = spec.allowedUses.includes("LoadBalancer");
  if (lb) {
    spec.allowedUses.forEach((u, i) => {
      if (u !== "LoadBalancer") c.error(`spec.allowedUses[${i}]`, `LoadBalancer cannot be combined with ${u}`);
    });
    if (ipip || vxlan) c.error("spec.allowedUses", "a LoadBalancer pool cannot use IPIP or VXLAN");
    if (spec.nodeSelector !== "all()") c.error("spec.nodeSelector", `must be all() on a LoadBalancer pool, got ${JSON.stringify(spec.nodeSelector)}`);
  }
  if (new Set(spec.allowedUses).size !== spec.allowedUses.length) c.error("spec.allowedUses", "must not repeat a use");
  // Field inventory (docs/resources.md): well-formed values tabby cannot honour are refused by name.
  for (const f of ["ipipMode", "vxlanMode"] as const) {
    if (spec[f] !== "Never") c.unsupported(`spec.${f}`, `${spec[f]} is not supported: tabby is pure layer 3 and builds no tunnels; use Never`);
  }
  if (spec.assignmentMode === "Manual")
    c.unsupported("spec.assignmentMode", "Manual is not supported: tabby's IPAM assigns from every pool that fits (no per-request pool choice); use Automatic");
  return reorder(spec, Object.keys(FIELDS));
}

/** Fields that cannot change once a pool exists (Calico rejects such updates). */
export function checkIPPoolUpdate(old: IPPoolSpec, next: IPPoolSpec, c: Checker): void {
  if (old.cidr !== next.cidr) c.error("spec.cidr", `cannot be changed (was ${old.cidr}, now ${next.cidr}); create a new pool instead`);
  if (old.blockSize !== next.blockSize) c.error("spec.blockSize", `cannot be changed (was ${old.blockSize}, now ${next.blockSize})`);
}
