/**
 * Which host interfaces are workload interfaces: Felix's `interfacePrefix` (FelixConfiguration,
 * a comma-separated list of name prefixes, e.g. "tab,tap": veths made by the CNI plugin and taps
 * made by a hypervisor), plus the exact `interfaceName` of every local WorkloadEndpoint that no
 * prefix covers (a libvirt `vnet3`). tabby's default is "tab". Used by the nft renderer
 * (dataplane/nft/iface-match.ts), the agent (sysctls, DHCP) and `tabby workload add`. Pure: no I/O.
 */
import { TabbyError } from "../errors.js";

export const DEFAULT_INTERFACE_PREFIXES: readonly string[] = ["tab"];

/** A prefix: what a Linux interface name may start with (IFNAMSIZ-1 = 15, so at most 14 here). */
const PREFIX = /^[A-Za-z0-9_.-]{1,14}$/;

/** Why `p` is not a usable prefix, or undefined. */
export function badInterfacePrefix(p: string): string | undefined {
  if (!PREFIX.test(p)) return `${JSON.stringify(p)} is not an interface name prefix (1-14 of A-Z a-z 0-9 _ . -)`;
  return undefined;
}

/**
 * Parses Felix's comma-separated `interfacePrefix` ("tab,tap"); undefined or "" gives the
 * default. Throws MODEL_BAD_INTERFACE_PREFIX naming the bad part (never ignores one).
 */
export function parseInterfacePrefixes(v: unknown): string[] {
  if (v === undefined || v === "") return [...DEFAULT_INTERFACE_PREFIXES];
  if (typeof v !== "string")
    throw new TabbyError("MODEL_BAD_INTERFACE_PREFIX", `interfacePrefix must be a comma-separated string such as "tab,tap", got ${JSON.stringify(v)}`);
  const out: string[] = [];
  for (const raw of v.split(",")) {
    const p = raw.trim();
    const bad = badInterfacePrefix(p);
    if (bad) throw new TabbyError("MODEL_BAD_INTERFACE_PREFIX", `interfacePrefix: ${bad}`, { prefix: p });
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** True when `ifname` starts with one of `prefixes`. */
export function matchesPrefix(ifname: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => ifname.startsWith(p));
}
