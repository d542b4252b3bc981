/**
 * Sysctls under /proc/sys. The lists of what tabby sets are pure (Felix's
 * `configureProcSysForInterface`, calico-spec §4.5): on a workload's host-side interface proxy ARP
 * (the workload's gateway 169.254.1.1 is answered by the host), forwarding, proxy_delay 0 (answer at
 * once), route_localnet; for IPv6 proxy_ndp, forwarding, no router advertisements. Host-wide:
 * forwarding for both families. Writers are effects: straight to /proc/sys in the caller's
 * namespace, or through a CommandRunner inside another one.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { TabbyError } from "../errors.js";
import { type CommandRunner, runOk } from "./exec.js";

/** A sysctl by its path under /proc/sys ("net/ipv4/conf/tab1234/proxy_arp": slashes, so
 * interface names with dots stay intact), and the value to write. */
export interface Sysctl {
  path: string;
  value: string;
}

/** The dotted name `sysctl(8)` prints, for messages. */
export function sysctlName(path: string): string {
  return path.split("/").join(".");
}

export interface SysctlWriter {
  write(path: string, value: string): Promise<void>;
  read(path: string): Promise<string>;
  /** Several at once, in order, stopping at the first failure (one process where that matters). */
  writeAll?(list: Sysctl[]): Promise<void>;
}

/** Writes /proc/sys of the process's own network namespace. */
export class ProcSysctl implements SysctlWriter {
  constructor(private readonly root = "/proc/sys") {}
  async write(path: string, value: string): Promise<void> {
    return this.writeAll([{ path, value }]);
  }
  async read(path: string): Promise<string> {
    return readFileSync(`${this.root}/${path}`, "utf8").trim();
  }
  /**
   * The list in order with blocking writes (and blocking reads above): /proc/sys never waits on a
   * disk, a dozen writes through the thread pool cost a dozen round trips (the CNI plugin's ADD
   * sets 11), and node:fs/promises costs a CNI plugin a few ms to load.
   */
  async writeAll(list: Sysctl[]): Promise<void> {
    for (const s of list) {
      try {
        writeFileSync(`${this.root}/${s.path}`, s.value);
      } catch (e) {
        throw new TabbyError(
          "DP_SYSCTL_FAILED",
          `cannot set ${sysctlName(s.path)}=${s.value}: ${(e as Error).message}`,
          { path: s.path, value: s.value },
          { cause: e },
        );
      }
    }
  }
}

/** Writes path/value pairs given as arguments; fails (naming the sysctl) at the first that cannot be set. */
const WRITE_SCRIPT = 'while [ $# -gt 1 ]; do printf "%s\\n" "$2" > "/proc/sys/$1" || { echo "cannot set $1" >&2; exit 1; }; shift 2; done';

/** Writes /proc/sys inside a network namespace (path or name) through `sh`, run by the runner. */
export class NetnsSysctl implements SysctlWriter {
  constructor(
    private readonly runner: CommandRunner,
    private readonly netns: string,
  ) {}
  async write(path: string, value: string): Promise<void> {
    await this.writeAll([{ path, value }]);
  }
  /** One `sh` for the whole list: process start-up dominates the cost of a sysctl write. */
  async writeAll(list: Sysctl[]): Promise<void> {
    if (!list.length) return;
    const args = list.flatMap((s) => [s.path, s.value]);
    await runOk(this.runner, "sh", ["-c", WRITE_SCRIPT, "sh", ...args], { netns: this.netns });
  }
  async read(path: string): Promise<string> {
    return (await runOk(this.runner, "cat", [`/proc/sys/${path}`], { netns: this.netns })).stdout.trim();
  }
}

/** Sysctls for a workload's host-side interface. Pure. */
export function workloadSysctls(ifname: string, families: { v4: boolean; v6: boolean }): Sysctl[] {
  const out: Sysctl[] = [];
  if (families.v4) {
    out.push(
      { path: `net/ipv4/conf/${ifname}/route_localnet`, value: "1" },
      { path: `net/ipv4/neigh/${ifname}/proxy_delay`, value: "0" },
      { path: `net/ipv4/conf/${ifname}/proxy_arp`, value: "1" },
      { path: `net/ipv4/conf/${ifname}/forwarding`, value: "1" },
    );
  }
  if (families.v6) {
    out.push(
      // The host side needs IPv6 on for its link-local (the workload's v6 gateway); no DAD: every
      // host-side veth has the same MAC and so the same link-local, each on its own link.
      { path: `net/ipv6/conf/${ifname}/disable_ipv6`, value: "0" },
      { path: `net/ipv6/conf/${ifname}/accept_dad`, value: "0" },
      { path: `net/ipv6/conf/${ifname}/proxy_ndp`, value: "1" },
      { path: `net/ipv6/conf/${ifname}/forwarding`, value: "1" },
      { path: `net/ipv6/conf/${ifname}/accept_ra`, value: "0" },
    );
  }
  return out;
}

/** Host-wide forwarding. Pure. */
export function hostSysctls(families: { v4: boolean; v6: boolean }): Sysctl[] {
  const out: Sysctl[] = [];
  if (families.v4) out.push({ path: "net/ipv4/ip_forward", value: "1" });
  if (families.v6) out.push({ path: "net/ipv6/conf/all/forwarding", value: "1" });
  return out;
}

/** Writes each sysctl in order; stops at the first failure. */
export async function applySysctls(writer: SysctlWriter, list: Sysctl[]): Promise<void> {
  if (writer.writeAll) return writer.writeAll(list);
  for (const s of list) await writer.write(s.path, s.value);
}
