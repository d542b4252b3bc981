/**
 * Finding this host's address when none is given (Calico's `IP=autodetect`, method
 * first-found): the first global address on an interface that is up and is not loopback or
 * one of tabby's workload veths.
 */
export interface IpAddrJson {
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

export function firstFoundAddress(links: IpAddrJson[], family: 4 | 6): string | undefined {
  const fam = family === 4 ? "inet" : "inet6";
  for (const link of links) {
    if (link.ifname === "lo" || link.ifname.startsWith("tab")) continue;
    if (link.flags && !link.flags.includes("UP")) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family === fam && a.scope === "global") return `${a.local}/${a.prefixlen}`;
    }
  }
  return undefined;
}
