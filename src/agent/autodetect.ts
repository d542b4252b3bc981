/**
 * Finding this host's address when none is given (Calico's `IP=autodetect`, method
 * first-found): the first global address on an interface that is up and is not loopback or a
 * workload interface — one whose name starts with a FelixConfiguration `interfacePrefix` prefix
 * (src/net/iface-prefix.ts; tabby's default "tab"), as Calico's first-found skips Felix's
 * workload interfaces (`cali*` and the like).
 */
import { DEFAULT_INTERFACE_PREFIXES, matchesPrefix } from "../net/iface-prefix.js";

export interface IpAddrJson {
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

export function firstFoundAddress(links: IpAddrJson[], family: 4 | 6, workloadPrefixes: readonly string[] = DEFAULT_INTERFACE_PREFIXES): string | undefined {
  const fam = family === 4 ? "inet" : "inet6";
  for (const link of links) {
    if (link.ifname === "lo" || matchesPrefix(link.ifname, workloadPrefixes)) continue;
    if (link.flags && !link.flags.includes("UP")) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family === fam && a.scope === "global") return `${a.local}/${a.prefixlen}`;
    }
  }
  return undefined;
}
