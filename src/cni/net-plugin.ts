/**
 * `tabby`: the CNI network plugin (Calico's `calico` plugin, calico-spec §1.6 and §4.5).
 *
 * ADD: addresses from IPAM (tabby-ipam in process; any other type exec'd from CNI_PATH) → a veth,
 * host side `tab…` (MAC ee:ee:ee:ee:ee:ee, sysctls for proxy ARP / forwarding, IPv6 on for its
 * link-local) and container side `CNI_IFNAME` → in the container the /32 and /128, a link route to
 * 169.254.1.1 and default routes via 169.254.1.1 and fe80::ecee:eeff:feee:eeee → in the host a
 * `/32` (`/128`) route per address onto the veth, proto 152 → the WorkloadEndpoint in the store.
 * Every step registers its undo; a failure part-way runs them in reverse before the error is
 * reported, so a failed ADD leaves nothing behind.
 *
 * DEL: idempotent, works without CNI_NETNS; removes the host veth (the kernel removes its routes
 * and the container side with it), the WorkloadEndpoint (unless it now belongs to another container of the
 * same pod), and the addresses by handle. Anything already gone counts as done.
 *
 * CHECK: the veth, the container's addresses and the host routes are as ADD left them.
 *
 * After another plugin in a chain (a prevResult on ADD), the result is the earlier plugins' with
 * ours appended. The veth's MTU is the config's `mtu`, else the host uplink's (mtu.ts). tabby-ipam
 * calls run under the host-wide IPAM lock (lock.ts).
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.js";
import { ensureNamespaceProfile } from "./namespace-profile.js";
import { resourceKey } from "../datastore/keys.js";
import type { Store } from "../datastore/store.js";
import { TabbyError, hasCode } from "../errors.js";
import type { IpamApi } from "../ipam/api.js";
import { type CommandRunner, runOk } from "../dataplane/exec.js";
import { GATEWAY_V4, HOST_VETH_LINK_LOCAL, HOST_VETH_MAC, Links, parseLinks } from "../dataplane/links.js";
import { RT_PROTO_TABBY, RouteTable, renderBatch, type Route } from "../dataplane/routes.js";
import { applySysctls, hostSysctls, workloadSysctls, type SysctlWriter } from "../dataplane/sysctl.js";
import type { CniArgs, CniEnv, NetConf } from "./config.js";
import type { DelegateIpam } from "./delegate.js";
import { CNI_ERR, CniError } from "./errors.js";
import { buildWep, hostIfName, wepName, workloadIdentity, type WorkloadEndpoint } from "./identity.js";
import { hostCidr, ipamAdd, ipamCheck, ipamDel } from "./ipam-plugin.js";
import { mergeResults, parseResult, type CniResult } from "./result.js";
import type { HostLock } from "./lock.js";

export const TABBY_IPAM_TYPE = "tabby-ipam";

export interface NetPluginDeps {
  runner: CommandRunner;
  /** The namespace standing for the host (tests); undefined: the plugin's own namespace. */
  hostNetns?: string;
  hostSysctl: SysctlWriter;
  /** The datastore, opened on first use (the first kernel command starts before it loads). */
  store: () => Promise<Store>;
  /** tabby's IPAM, for `ipam.type: tabby-ipam` (opened only when needed). */
  ipam: () => Promise<IpamApi>;
  /** Runs any other IPAM plugin. */
  delegateIpam: DelegateIpam;
  node: string;
  clock: Clock;
  /** The host-wide IPAM lock (default: none). */
  lock?: HostLock;
  /** The MTU to use when the config gives none (default: the kernel's). */
  detectMtu?: () => Promise<number | undefined>;
  /** Pool selection by namespace (gc-status.ts namespacePools). */
  namespacePools?: (namespace: string) => Promise<string[] | undefined>;
}

function ns(netns: string | undefined) {
  return netns ? { netns } : {};
}

async function ipamRun(cmd: "ADD" | "DEL", conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<CniResult | undefined> {
  const type = conf.ipam!.type;
  if (type === TABBY_IPAM_TYPE) {
    const ipam = { ipam: await deps.ipam(), node: deps.node, ...(deps.namespacePools ? { namespacePools: deps.namespacePools } : {}) };
    const lock = deps.lock ?? ((fn) => fn());
    if (cmd === "ADD") return lock(() => ipamAdd(conf, env, args, ipam));
    await lock(() => ipamDel(env, ipam));
    return undefined;
  }
  return deps.delegateIpam(cmd, conf, env);
}

function hostRoutes(hostIf: string, addrs: string[]): Route[] {
  return addrs.map((a) => (a.includes(":") ? { dst: a, type: "unicast", dev: hostIf } : { dst: a, type: "unicast", dev: hostIf, scope: "link" }));
}

/**
 * Run in the container: reads a first line of sysctl path/value pairs (space-separated; empty for
 * none), sets them, then becomes `ip -j -batch -` on the rest of stdin (no second process). It is
 * started before the addresses are known and waits on stdin meanwhile. Stops at the first failure;
 * an empty stdin (the ADD failed before its input was written) changes nothing.
 */
export const CONTAINER_SCRIPT =
  'set -ef; read -r s; set -- $s; while [ $# -gt 1 ]; do printf "%s\\n" "$2" > "/proc/sys/$1"; shift 2; done; exec ip -j -batch -';

/** CONTAINER_SCRIPT's stdin: the sysctls' line, then the batch. Pure. */
export function containerInput(sysctls: { path: string; value: string }[], batch: string): string {
  return sysctls.flatMap((x) => [x.path, x.value]).join(" ") + "\n" + batch;
}

/**
 * The container side's `ip -batch` input: interface up, /32 and /128 (no DAD), gateway routes,
 * then the interface read back (the only line that prints under `-j`: its JSON, for the MAC). Pure.
 */
export function containerBatch(ifname: string, addrs: string[], mac?: string): string {
  const lines: string[] = [];
  if (mac) lines.push(`link set dev ${ifname} address ${mac}`);
  lines.push(`link set dev ${ifname} up`);
  for (const a of addrs) lines.push(`addr replace ${a} dev ${ifname}${a.includes(":") ? " nodad" : ""}`);
  if (addrs.some((a) => !a.includes(":"))) {
    lines.push(`route replace ${GATEWAY_V4} dev ${ifname} scope link`, `route replace default via ${GATEWAY_V4} dev ${ifname}`);
  }
  if (addrs.some((a) => a.includes(":"))) lines.push(`route replace default via ${HOST_VETH_LINK_LOCAL} dev ${ifname}`);
  lines.push(`link show dev ${ifname}`);
  return lines.join("\n") + "\n";
}

/**
 * Creates the veth pair. No look before the create (one process less on every ADD): "File exists"
 * is either a host veth left by an earlier attempt for this workload (removed, then created again)
 * or the interface name taken in the container (the runtime's error).
 */
async function createVeth(host: Links, hostIf: string, env: CniEnv, mtu: number | undefined): Promise<void> {
  const taken = (e: unknown) => hasCode(e, "DP_COMMAND_FAILED") && /File exists/.test(String((e as TabbyError).details?.stderr));
  try {
    await host.createVeth(hostIf, env.ifname, env.netns, mtu);
  } catch (e) {
    if (!taken(e)) throw e;
    if (!(await host.deleteLink(hostIf))) throw new CniError(CNI_ERR.INVALID_ENV, `interface ${env.ifname} already exists in ${env.netns}`);
    try {
      await host.createVeth(hostIf, env.ifname, env.netns, mtu);
    } catch (e2) {
      if (taken(e2)) throw new CniError(CNI_ERR.INVALID_ENV, `interface ${env.ifname} already exists in ${env.netns}`);
      throw e2;
    }
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export async function netAdd(conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<CniResult> {
  if (!conf.ipam) throw new CniError(CNI_ERR.INVALID_CONFIG, "network configuration: ipam is required");
  const id = workloadIdentity(env.containerId, args);
  const hostIf = hostIfName(id);
  const host = new Links(deps.runner, deps.hostNetns);
  const undo: (() => Promise<unknown>)[] = [];
  // The processes that program the container and the host start with the veth's, before the
  // addresses are known, and wait on stdin: their start-up overlaps IPAM and the datastore's
  // loading. Each gets its input once everything it depends on is done; on a failure before
  // that, its stdin is closed empty and it changes nothing.
  const contIn = deferred<string>();
  const hostIn = deferred<string>();
  let programs: Promise<unknown>[] = [];
  try {
    // The veth does not depend on the addresses: create it while IPAM works (its datastore round
    // trips overlap the `ip` process). Both undo steps are registered whatever happens.
    undo.push(() => host.deleteLink(hostIf));
    const vethP = createVeth(host, hostIf, env, conf.mtu ?? (await deps.detectMtu?.()));
    // Inside the container, in one process (start-up dominates the cost of each command): the
    // IPv6 sysctls, then one `ip -batch` that ends by reading the interface back for its MAC.
    const contP = runOk(deps.runner, "sh", ["-c", CONTAINER_SCRIPT], { ...ns(env.netns), input: contIn.promise });
    // In the host (once its sysctls are set, so the link-local comes up without DAD): the veth up
    // and the routes to the workload, in one transaction.
    const hostP = runOk(deps.runner, "ip", ["-batch", "-"], { ...ns(deps.hostNetns), input: hostIn.promise });
    programs = [contP, hostP];
    const [ipamR, vethR] = await Promise.allSettled([ipamRun("ADD", conf, env, args, deps), vethP]);
    if (ipamR.status === "fulfilled") undo.push(() => ipamRun("DEL", conf, env, args, deps));
    if (vethR.status === "rejected") throw vethR.reason;
    if (ipamR.status === "rejected") throw ipamR.reason;
    const addrs = (ipamR.value?.ips ?? []).map((ip) => hostCidr(ip.address));
    const v4 = addrs.filter((a) => !a.includes(":"));
    const v6 = addrs.filter((a) => a.includes(":"));
    if (!addrs.length) throw new CniError(CNI_ERR.NO_ADDRESS, "IPAM returned no addresses");
    const fams = { v4: v4.length > 0, v6: v6.length > 0 };
    const contSysctls = fams.v6
      ? [
          { path: `net/ipv6/conf/${env.ifname}/disable_ipv6`, value: "0" },
          { path: `net/ipv6/conf/${env.ifname}/accept_dad`, value: "0" },
        ]
      : [];
    contIn.resolve(containerInput(contSysctls, containerBatch(env.ifname, addrs, args.mac ?? conf.runtimeMac)));
    await applySysctls(deps.hostSysctl, [...hostSysctls(fams), ...workloadSysctls(hostIf, fams)]);
    const routes = hostRoutes(hostIf, addrs);
    hostIn.resolve(`link set dev ${hostIf} up\n` + renderBatch({ replace: routes, remove: [], added: routes.length }));
    const [setup] = await Promise.all([contP, hostP]);
    const contLink = parseLinks(setup.stdout)[0];
    if (!contLink) throw new CniError(CNI_ERR.IO_FAILURE, `${env.ifname} vanished from ${env.netns}`);

    // The WorkloadEndpoint.
    const name = wepName(deps.node, id, env.ifname);
    const key = resourceKey("WorkloadEndpoint", name, id.namespace);
    const store = await deps.store();
    const [prev] = await Promise.all([store.get(key), ensureNamespaceProfile(store, id.namespace, deps.clock.now())]);
    let uid: string = randomUUID();
    let created = new Date(deps.clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
    if (prev) {
      const old = JSON.parse(prev.value) as WorkloadEndpoint;
      if (old.spec?.containerID === env.containerId && old.metadata?.uid) {
        uid = old.metadata.uid;
        created = old.metadata.creationTimestamp ?? created;
      }
    }
    const wep = buildWep({ node: deps.node, id, endpoint: env.ifname, interfaceName: hostIf, mac: contLink.mac, ipNetworks: addrs, uid, creationTimestamp: created });
    // resourceVersion is not stored: as in Calico's etcd backend, readers take it from the key's
    // revision, which is only known after the write.
    await store.put(key, JSON.stringify(wep));
    undo.push(() => store.delete(key));

    const ours: CniResult = {
      interfaces: [{ name: hostIf, mac: HOST_VETH_MAC }, { name: env.ifname, mac: contLink.mac, sandbox: env.netns }],
      ips: addrs.map((address) => ({ address, interface: 1 })),
      routes: [
        ...(fams.v4 ? [{ dst: "0.0.0.0/0", gw: GATEWAY_V4 }] : []),
        ...(fams.v6 ? [{ dst: "::/0", gw: HOST_VETH_LINK_LOCAL }] : []),
      ],
      dns: {},
    };
    return conf.prevResult ? mergeResults(parseResult(conf.prevResult), ours) : ours;
  } catch (e) {
    // Unfed programs exit on their empty stdin; wait for them so nothing runs after the undo.
    contIn.reject(e);
    hostIn.reject(e);
    await Promise.allSettled(programs);
    for (const u of undo.reverse()) await u().catch(() => undefined);
    throw e;
  }
}

export async function netDel(conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<void> {
  const id = workloadIdentity(env.containerId, args);
  const hostIf = hostIfName(id);
  const key = resourceKey("WorkloadEndpoint", wepName(deps.node, id, env.ifname), id.namespace);
  const deleteVeth = () => new Links(deps.runner, deps.hostNetns).deleteLink(hostIf);
  // The kernel removes every route through the veth with it; no route can name a missing device.
  // A veth named after the container id is this container's alone: its removal (a process) starts
  // at once and runs beside the datastore's loading and writes. One named after a pod may belong
  // to a newer container of the same pod: the WorkloadEndpoint says whose it is first.
  const work: Promise<unknown>[] = [];
  const ownVeth = id.workloadId === env.containerId;
  if (ownVeth) work.push(deleteVeth());
  let store: Store;
  let prev: Awaited<ReturnType<Store["get"]>>;
  try {
    store = await deps.store();
    prev = await store.get(key);
  } catch (e) {
    await Promise.allSettled(work);
    throw e;
  }
  let foreign = false;
  if (prev) {
    try {
      const wep = JSON.parse(prev.value) as WorkloadEndpoint;
      foreign = !!wep.spec?.containerID && wep.spec.containerID !== env.containerId;
    } catch {
      /* unreadable: ours to remove */
    }
  }
  // A pod re-created under the same name owns the veth and the endpoint now: leave them be.
  if (!foreign) {
    if (!ownVeth) work.push(deleteVeth());
    if (prev) {
      work.push(
        store.delete(key, { revision: prev.revision }).catch((e: unknown) => {
          if (!hasCode(e, "DS_NOT_FOUND")) throw e;
        }),
      );
    }
  }
  if (conf.ipam) work.push(ipamRun("DEL", conf, env, args, deps));
  const failed = (await Promise.allSettled(work)).find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

export async function netCheck(conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<void> {
  if (!conf.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, "CHECK needs prevResult");
  const prev = parseResult(conf.prevResult);
  const want = prev.ips.map((ip) => hostCidr(ip.address));
  const id = workloadIdentity(env.containerId, args);
  const hostIf = hostIfName(id);
  const fail = (msg: string) => new CniError(CNI_ERR.CHECK_FAILED, msg);
  const hostLink = await new Links(deps.runner, deps.hostNetns).link(hostIf);
  if (!hostLink) throw fail(`host interface ${hostIf} is missing`);
  if (!hostLink.up) throw fail(`host interface ${hostIf} is down`);
  const cont = new Links(deps.runner, env.netns);
  if (!(await cont.link(env.ifname))) throw fail(`${env.ifname} is missing from ${env.netns}`);
  const have = (await cont.addrs(env.ifname)).map((a) => a.cidr);
  const missingAddrs = want.filter((a) => !have.includes(a));
  if (missingAddrs.length) throw fail(`${env.ifname} lacks ${missingAddrs.join(", ")}`);
  const routes = await new RouteTable(deps.runner, ns(deps.hostNetns)).read();
  const missingRoutes = want.filter((a) => !routes.some((r) => r.dst === a && r.dev === hostIf));
  if (missingRoutes.length) throw fail(`host routes (proto ${RT_PROTO_TABBY}) via ${hostIf} missing for ${missingRoutes.join(", ")}`);
  if (conf.ipam?.type === TABBY_IPAM_TYPE) await ipamCheck(env, { ipam: await deps.ipam(), node: deps.node }, want);
}
