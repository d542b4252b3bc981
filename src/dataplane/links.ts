/**
 * Interfaces for workloads: the veth pair, host side named `tab` + 11 hex chars of sha1(workload
 * id) (15 characters, IFNAMSIZ-1; Calico's `cali` names are made the same way), MAC
 * ee:ee:ee:ee:ee:ee on the host side (so every workload's gateway has the same MAC and the same IPv6
 * link-local fe80::ecee:eeff:feee:eeee), the peer created straight inside the container's
 * namespace under its final name (by the CNI plugin over rtnetlink: cni/plumbing.ts). Here: those
 * names and constants, and reading links and addresses or deleting a link with `ip` (CHECK, GC),
 * through a CommandRunner; `ip -j` output is parsed by pure functions.
 */
import { sha1 } from "@noble/hashes/legacy.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { TabbyError } from "../errors.js";
import { type CommandRunner, commandFailed, runOk } from "./exec.js";

export const HOST_VETH_PREFIX = "tab";
export const HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee";
/** The EUI-64 link-local of HOST_VETH_MAC: the workload's IPv6 gateway. */
export const HOST_VETH_LINK_LOCAL = "fe80::ecee:eeff:feee:eeee";
/** The workload's IPv4 gateway, answered by proxy ARP on the host side. */
export const GATEWAY_V4 = "169.254.1.1";

/**
 * Calico's host-side name: "tab" + the first 11 hex digits of SHA-1(workload id). SHA-1 from
 * @noble/hashes: node:crypto takes a CNI plugin process ~7 ms to load, for one short hash.
 */
export function hostVethName(workloadId: string): string {
  return HOST_VETH_PREFIX + bytesToHex(sha1(utf8ToBytes(workloadId))).slice(0, 11);
}

export interface LinkInfo {
  ifname: string;
  ifindex: number;
  mac: string;
  mtu: number;
  up: boolean;
}

export interface AddrInfo {
  /** "10.65.0.5/32". */
  cidr: string;
  family: 4 | 6;
  scope: string;
}

interface IpLinkJson {
  ifname: string;
  ifindex: number;
  address?: string;
  mtu: number;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text.trim() || "[]") as T;
  } catch (e) {
    throw new TabbyError("DP_BAD_OUTPUT", `cannot parse ${what}`, { output: text.slice(0, 200) }, { cause: e });
  }
}

/** Parses `ip -j link show`. Pure. */
export function parseLinks(json: string): LinkInfo[] {
  return parseJson<IpLinkJson[]>(json, "ip link output").map((l) => ({
    ifname: l.ifname,
    ifindex: l.ifindex,
    mac: l.address ?? "",
    mtu: l.mtu,
    up: (l.flags ?? []).includes("UP"),
  }));
}

/** Parses `ip -j addr show` (one or more links). Pure. */
export function parseAddrs(json: string): AddrInfo[] {
  const out: AddrInfo[] = [];
  for (const l of parseJson<IpLinkJson[]>(json, "ip addr output")) {
    for (const a of l.addr_info ?? []) {
      if (a.family !== "inet" && a.family !== "inet6") continue;
      out.push({ cidr: `${a.local}/${a.prefixlen}`, family: a.family === "inet" ? 4 : 6, scope: a.scope ?? "global" });
    }
  }
  return out;
}

const NOT_FOUND = /does not exist|Cannot find device|No such device/;

/** Veth and address operations in one namespace (the caller's, or `netns`). */
export class Links {
  constructor(
    private readonly runner: CommandRunner,
    private readonly netns?: string,
  ) {}

  private o() {
    return this.netns ? { netns: this.netns } : {};
  }

  /** Deletes a link (its peer and its routes go with it); false when it did not exist. */
  async deleteLink(ifname: string): Promise<boolean> {
    const args = ["link", "del", "dev", ifname];
    const res = await this.runner.run("ip", args, this.o());
    if (res.code === 0) return true;
    if (NOT_FOUND.test(res.stderr)) return false;
    throw commandFailed("ip", args, res, this.netns);
  }

  /** The link, or undefined when it does not exist. */
  async link(ifname: string): Promise<LinkInfo | undefined> {
    const res = await this.runner.run("ip", ["-j", "link", "show", "dev", ifname], this.o());
    if (res.code !== 0) {
      if (NOT_FOUND.test(res.stderr)) return undefined;
      throw commandFailed("ip", ["-j", "link", "show", "dev", ifname], res, this.netns);
    }
    return parseLinks(res.stdout)[0];
  }

  async links(): Promise<LinkInfo[]> {
    return parseLinks((await runOk(this.runner, "ip", ["-j", "link", "show"], this.o())).stdout);
  }

  async addrs(ifname: string): Promise<AddrInfo[]> {
    return parseAddrs((await runOk(this.runner, "ip", ["-j", "addr", "show", "dev", ifname], this.o())).stdout);
  }

  /** Adds an address; IPv6 without duplicate address detection (the address is ours alone). */
}
