/**
 * The MTU for a workload's veth when the network config gives none: the MTU of the host's uplink,
 * the interface holding the IPv4 default route (else the IPv6 one), as Calico's auto-detection
 * does. Reads /proc/net/route, /proc/net/ipv6_route and /sys/class/net/DEV/mtu: no process to
 * start in the common case. Parsing is pure; `detectUplinkMtu` is the effect.
 */
import { readFile } from "node:fs/promises";
import { type CommandRunner, runOk } from "../dataplane/exec.js";

/** The interface of the IPv4 default route in /proc/net/route text. Pure. */
export function defaultRouteDev4(procNetRoute: string): string | undefined {
  for (const line of procNetRoute.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; RTF_UP is flag 1.
    if (f.length >= 8 && f[1] === "00000000" && f[7] === "00000000" && (Number.parseInt(f[3]!, 16) & 1) === 1) return f[0];
  }
  return undefined;
}

/** The interface of the IPv6 default route in /proc/net/ipv6_route text. Pure. */
export function defaultRouteDev6(procNetIpv6Route: string): string | undefined {
  for (const line of procNetIpv6Route.split("\n")) {
    const f = line.trim().split(/\s+/);
    // dst dstlen src srclen nexthop metric refcnt use flags dev; skip the unreachable default on lo.
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === "00" && f[9] !== "lo") return f[9];
  }
  return undefined;
}

const SCRIPT =
  'cat /proc/net/route; echo "#"; cat /proc/net/ipv6_route; echo "#"; for f in /sys/class/net/*/mtu; do d=${f%/mtu}; echo "${d##*/} $(cat $f)"; done';

/** The uplink's MTU, or undefined when the host has no default route. */
export async function detectUplinkMtu(runner: CommandRunner, hostNetns?: string): Promise<number | undefined> {
  let r4: string, r6: string, mtuOf: (dev: string) => Promise<string | undefined>;
  if (hostNetns) {
    const out = (await runOk(runner, "sh", ["-c", SCRIPT], { netns: hostNetns })).stdout.split("#\n");
    r4 = out[0] ?? "";
    r6 = out[1] ?? "";
    const table = new Map((out[2] ?? "").split("\n").filter(Boolean).map((l) => l.split(" ") as [string, string]));
    mtuOf = async (dev) => table.get(dev);
  } else {
    [r4, r6] = await Promise.all([readFile("/proc/net/route", "utf8").catch(() => ""), readFile("/proc/net/ipv6_route", "utf8").catch(() => "")]);
    mtuOf = (dev) => readFile(`/sys/class/net/${dev}/mtu`, "utf8").catch(() => undefined);
  }
  const dev = defaultRouteDev4(r4) ?? defaultRouteDev6(r6);
  if (!dev || dev.includes("/")) return undefined;
  const mtu = Number.parseInt((await mtuOf(dev)) ?? "", 10);
  return Number.isInteger(mtu) && mtu >= 68 ? mtu : undefined;
}
