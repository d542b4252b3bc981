/**
 * A workload's plumbing in the kernel, as the CNI plugin's ADD and DEL need it (calico-spec §4.5:
 * the veth with the host end `tab…` and the container end CNI_IFNAME, the container's addresses
 * and gateway routes, the host's /32 and /128 routes onto the veth). `NetlinkPlumbing` speaks
 * rtnetlink from this process: no `ip` processes on a path whose cost is mostly process start-up.
 * Tests substitute the interface. Shell (I/O).
 */
import { closeSync, writeFileSync } from "node:fs";
import { TabbyError } from "../errors.js";
import { decodeLink, delLink, getLink, newAddr, newVeth, setLink, type NlLink } from "../dataplane/netlink/codec.js";
import { loadLibc } from "../dataplane/libc.js";
import { RouteSocket, inNetns, isErrno, openNetns } from "../dataplane/netlink/socket.js";
import { sysctlName, type Sysctl } from "../dataplane/sysctl.js";
import { RTPROT_BOOT, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from "../dataplane/netlink/constants.js";
import { newRoute } from "../dataplane/netlink/route-codec.js";

/** A route the plumbing installs: onto the interface, through a gateway or on-link. */
export interface PlumbedRoute {
  dst: string;
  gateway?: string;
  /** "link" for an on-link IPv4 route; default: universe. */
  scope?: "link";
}

export interface ContainerSetup {
  ifname: string;
  /** The interface's MAC, when the runtime asked for one. */
  mac?: string;
  sysctls: Sysctl[];
  /** Host-length addresses ("10.0.0.1/32"); IPv6 ones without DAD. */
  addrs: string[];
  routes: PlumbedRoute[];
}

export interface WorkloadPlumbing {
  /**
   * The veth pair: `hostIf` (MAC `hostMac`) here, `ifname` in the namespace at `netnsPath`. A name
   * already taken fails with DP_NETLINK_FAILED errno EEXIST; a missing namespace with
   * DP_NETNS_MISSING.
   */
  createVeth(v: { hostIf: string; hostMac: string; ifname: string; netnsPath: string; mtu?: number }): Promise<void>;
  /** Inside the container: sysctls, MAC, up, addresses, routes. Returns the interface's MAC. */
  setupContainer(netnsPath: string, s: ContainerSetup): Promise<{ mac: string }>;
  /** In the host: the veth up, and routes onto it with `protocol`. */
  setupHost(hostIf: string, routes: PlumbedRoute[], protocol: number): Promise<void>;
  /** Deletes a host link; false when there was none. */
  deleteLink(name: string): Promise<boolean>;
  close(): void;
}

/**
 * rtnetlink from this process; the host is `hostNetns` (tests: a name under /var/run/netns, or a
 * path) or this process's namespace.
 */
export class NetlinkPlumbing implements WorkloadPlumbing {
  private host: RouteSocket | undefined;

  private constructor(private readonly hostNetns?: string) {}

  /**
   * Loads the FFI first, so that every method sends its first request in the same tick it is
   * called: DEL's veth removal (tens of ms in the kernel) is then under way before the datastore
   * starts loading beside it, not after.
   */
  static async create(hostNetns?: string): Promise<NetlinkPlumbing> {
    await loadLibc();
    return new NetlinkPlumbing(hostNetns);
  }

  private hostSocket(): RouteSocket {
    const ns = this.hostNetns;
    this.host ??= RouteSocket.open(ns === undefined ? undefined : ns.startsWith("/") ? ns : `/var/run/netns/${ns}`);
    return this.host;
  }

  async createVeth(v: { hostIf: string; hostMac: string; ifname: string; netnsPath: string; mtu?: number }): Promise<void> {
    const sock = this.hostSocket();
    const fd = openNetns(v.netnsPath);
    try {
      const req = { name: v.hostIf, mac: v.hostMac, peerName: v.ifname, peerNetnsFd: fd, ...(v.mtu ? { mtu: v.mtu, peerMtu: v.mtu } : {}) };
      await sock.requestOffThread(`create veth ${v.hostIf} (peer ${v.ifname})`, (seq) => newVeth(seq, req));
    } finally {
      closeSync(fd);
    }
  }

  async setupContainer(netnsPath: string, s: ContainerSetup): Promise<{ mac: string }> {
    // One visit to the namespace: its sysctls (/proc/sys/net is the caller's namespace's), and the
    // socket that programs it.
    const sock = inNetns(netnsPath, () => {
      for (const x of s.sysctls) {
        try {
          writeFileSync(`/proc/sys/${x.path}`, x.value);
        } catch (e) {
          throw new TabbyError(
            "DP_SYSCTL_FAILED",
            `cannot set ${sysctlName(x.path)}=${x.value} in ${netnsPath}: ${(e as Error).message}`,
            { path: x.path, value: x.value },
            { cause: e },
          );
        }
      }
      return RouteSocket.here(netnsPath);
    });
    try {
      const link = lookup(sock, s.ifname);
      sock.request(`set ${s.ifname} up`, (seq) => setLink(seq, link.index, { up: true, ...(s.mac ? { mac: s.mac } : {}) }));
      for (const a of s.addrs) sock.request(`add ${a} to ${s.ifname}`, (seq) => newAddr(seq, link.index, a, { nodad: a.includes(":") }));
      addRoutes(sock, link, s.routes, RTPROT_BOOT);
      return { mac: s.mac ? s.mac.toLowerCase() : link.mac };
    } finally {
      sock.close();
    }
  }

  async setupHost(hostIf: string, routes: PlumbedRoute[], protocol: number): Promise<void> {
    const sock = this.hostSocket();
    const link = lookup(sock, hostIf);
    sock.request(`set ${hostIf} up`, (seq) => setLink(seq, link.index, { up: true }));
    addRoutes(sock, link, routes, protocol);
  }

  async deleteLink(name: string): Promise<boolean> {
    try {
      await this.hostSocket().requestOffThread(`delete ${name}`, (seq) => delLink(seq, name));
      return true;
    } catch (e) {
      if (isErrno(e, "ENODEV")) return false;
      throw e;
    }
  }

  close(): void {
    this.host?.close();
    this.host = undefined;
  }
}

function lookup(sock: RouteSocket, name: string): NlLink {
  const [reply] = sock.request(`look up ${name}`, (seq) => getLink(seq, name));
  if (!reply) throw new TabbyError("DP_NETLINK_DECODE", `the kernel answered the look-up of ${name} with nothing`);
  return decodeLink(reply);
}

function addRoutes(sock: RouteSocket, link: NlLink, routes: PlumbedRoute[], protocol: number): void {
  for (const r of routes) {
    const req = {
      dst: r.dst,
      oif: link.index,
      scope: r.scope === "link" ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
      protocol,
      ...(r.gateway ? { gateway: r.gateway } : {}),
    };
    sock.request(`route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""} dev ${link.name}`, (seq) => newRoute(seq, req));
  }
}
