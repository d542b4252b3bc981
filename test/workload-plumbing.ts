/**
 * Plumbs a test workload by hand the way the CNI plugin does (docs/cni.md), for dataplane tests
 * that run without an agent: a veth whose host side has tabby's MAC and proxy ARP, a /32 (/128)
 * route to the workload on the host, and inside the workload its address and default routes via
 * the gateway 169.254.1.1 (fe80::ecee:eeff:feee:eeee).
 */
import { execFileSync } from "node:child_process";

const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });

export function plumbWorkload(host: string, workload: string, iface: string, v4: string, v6?: string): void {
  ip(host, "link", "add", "name", iface, "address", "ee:ee:ee:ee:ee:ee", "type", "veth", "peer", "name", "eth0", "netns", workload);
  execFileSync("ip", ["netns", "exec", host, "sysctl", "-qw", `net.ipv4.conf.${iface}.proxy_arp=1`, `net.ipv4.neigh.${iface}.proxy_delay=0`]);
  ip(host, "link", "set", iface, "up");
  ip(host, "route", "add", `${v4}/32`, "dev", iface, "scope", "link");
  if (v6) ip(host, "-6", "route", "add", `${v6}/128`, "dev", iface);
  ip(workload, "link", "set", "eth0", "up");
  ip(workload, "addr", "add", `${v4}/32`, "dev", "eth0");
  if (v6) ip(workload, "-6", "addr", "add", `${v6}/128`, "dev", "eth0", "nodad");
  ip(workload, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link");
  ip(workload, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
  if (v6) ip(workload, "-6", "route", "add", "default", "via", "fe80::ecee:eeff:feee:eeee", "dev", "eth0");
}

/**
 * The host's uplink for dataplane tests: a veth `up0` in `host` to `up1` in `upstream`, the
 * host at `hostAddr`/24 and the upstream at `upAddr`/24 (IPv4, and IPv6 /64 when given), the
 * host's default routes via the upstream, forwarding on in the host.
 */
export function plumbUplink(host: string, upstream: string, v4: { host: string; up: string }, v6?: { host: string; up: string }): void {
  execFileSync("ip", ["netns", "exec", host, "sysctl", "-qw", "net.ipv4.ip_forward=1", ...(v6 ? ["net.ipv6.conf.all.forwarding=1"] : [])]);
  ip(host, "link", "add", "name", "up0", "type", "veth", "peer", "name", "up1", "netns", upstream);
  ip(host, "link", "set", "up0", "up");
  ip(upstream, "link", "set", "up1", "up");
  ip(host, "addr", "add", `${v4.host}/24`, "dev", "up0");
  ip(upstream, "addr", "add", `${v4.up}/24`, "dev", "up1");
  ip(host, "route", "add", "default", "via", v4.up);
  if (!v6) return;
  ip(host, "-6", "addr", "add", `${v6.host}/64`, "dev", "up0", "nodad");
  ip(upstream, "-6", "addr", "add", `${v6.up}/64`, "dev", "up1", "nodad");
  ip(host, "-6", "route", "add", "default", "via", v6.up);
}
