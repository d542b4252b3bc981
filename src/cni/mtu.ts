/**
 * The MTU for a workload's veth when the network config gives none: the MTU of the host's uplink,
 * the interface holding the IPv4 default route (else the IPv6 one), as Calico's auto-detection
 * does. Reads /proc/net/route, /proc/net/ipv6_route and /sys/class/net/DEV/mtu: no process to
 * start in the common case. /proc/net always shows the caller's network namespace but /sys shows
 * the one sysfs was mounted in (a runtime entered with `nsenter --net` keeps the host's), so the
 * sysfs entry is used only when its ifindex matches the one /proc/net/if_inet6 or /proc/net/igmp
 * gives; otherwise `ip link show` answers. Parsing is pure; `detectUplinkMtu` is the effect. The
 * /proc and /sys reads are synchronous: they never wait on a disk, and a plugin process has
 * nothing else to do meanwhile (each asynchronous read is a round trip through the thread pool).
 */
import { readFileSync } from "node:fs";
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
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${f%/mtu} is the shell's, not a template's
  'cat /proc/net/route; echo "#"; cat /proc/net/ipv6_route; echo "#"; for f in /sys/class/net/*/mtu; do d=${f%/mtu}; echo "${d##*/} $(cat $f)"; done';

/** The ifindex of `dev` in /proc/net/if_inet6 or /proc/net/igmp text. Pure. */
export function ifindexFromProc(ifInet6: string, igmp: string, dev: string): number | undefined {
  for (const line of ifInet6.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && f[5] === dev) return Number.parseInt(f[1]!, 16);
  }
  for (const line of igmp.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2 && f[1] === dev && /^\d+$/.test(f[0]!)) return Number.parseInt(f[0]!, 10);
  }
  return undefined;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The uplink's MTU, or undefined when the host has no default route. */
export async function detectUplinkMtu(runner: CommandRunner, hostNetns?: string): Promise<number | undefined> {
  let r4: string, r6: string, mtuOf: (dev: string) => Promise<string | undefined>;
  if (hostNetns) {
    const out = (await runOk(runner, "sh", ["-c", SCRIPT], { netns: hostNetns })).stdout.split("#\n");
    r4 = out[0] ?? "";
    r6 = out[1] ?? "";
    const table = new Map(
      (out[2] ?? "")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ") as [string, string]),
    );
    mtuOf = async (dev) => table.get(dev);
  } else {
    r4 = read("/proc/net/route") ?? "";
    r6 = read("/proc/net/ipv6_route") ?? "";
    mtuOf = async (dev) => {
      const want = ifindexFromProc(read("/proc/net/if_inet6") ?? "", read("/proc/net/igmp") ?? "", dev);
      if (want !== undefined && Number.parseInt(read(`/sys/class/net/${dev}/ifindex`) ?? "", 10) === want) return read(`/sys/class/net/${dev}/mtu`);
      const r = await runner.run("ip", ["-o", "link", "show", "dev", dev]);
      return /\bmtu (\d+)/.exec(r.stdout)?.[1];
    };
  }
  const dev = defaultRouteDev4(r4) ?? defaultRouteDev6(r6);
  if (!dev || dev.includes("/")) return undefined;
  const mtu = Number.parseInt((await mtuOf(dev)) ?? "", 10);
  return Number.isInteger(mtu) && mtu >= 68 ? mtu : undefined;
}
