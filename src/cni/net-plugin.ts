/**
 * `tabby`: the CNI network plugin (Calico's `calico` plugin, calico-spec §1.6 and §4.5).
 *
 * ADD: a veth, host side `tab…` (MAC ee:ee:ee:ee:ee:ee) and container side `CNI_IFNAME`, beside
 * addresses from IPAM (tabby-ipam in process; any other type exec'd from CNI_PATH) → in the
 * container the /32 and /128, a link route to 169.254.1.1 and default routes via 169.254.1.1 and
 * fe80::ecee:eeff:feee:eeee → in the host a `/32` (`/128`) route per address onto the veth,
 * proto 152, after its sysctls (proxy ARP, forwarding, IPv6 on for its link-local) → the
 * WorkloadEndpoint in the store. The kernel work is rtnetlink from this process (plumbing.ts):
 * ADD waits on nothing but IPAM and the datastore.
 * Every step registers its undo; a failure part-way runs them in reverse before the error is
 * reported, so a failed ADD leaves nothing behind.
 *
 * DEL: idempotent, works without CNI_NETNS; removes the host veth (the kernel removes its routes
 * and the container side with it), the WorkloadEndpoint (unless it now belongs to another
 * container of the same pod), and the addresses by handle. Anything already gone counts as done.
 *
 * CHECK: the veth, the container's addresses and the host routes are as ADD left them.
 *
 * After another plugin in a chain (a prevResult on ADD), the result is the earlier plugins' with
 * ours appended. The veth's MTU is the config's `mtu`, else the host uplink's (mtu.ts). tabby-ipam
 * calls run under the host-wide IPAM lock (lock.ts).
 */
import type { Clock } from "../clock.js";
import { ensureNamespaceProfile, ensureNetworkProfile } from "./namespace-profile.js";
import { resourceKey } from "../model/keys.js";
import type { Store } from "../datastore/store.js";
import { hasCode } from "../errors.js";
import type { IpamApi } from "../ipam/api.js";
import type { CommandRunner } from "../dataplane/exec.js";
import { GATEWAY_V4, HOST_VETH_LINK_LOCAL, HOST_VETH_MAC, Links } from "../dataplane/links.js";
import { isErrno } from "../dataplane/netlink/socket.js";
import { RT_PROTO_TABBY, RouteTable } from "../dataplane/routes.js";
import { applySysctls, hostSysctls, workloadSysctls, type Sysctl, type SysctlWriter } from "../dataplane/sysctl.js";
import type { CniArgs, CniEnv, NetConf } from "./config.js";
import type { DelegateIpam } from "./delegate.js";
import { CNI_ERR, CniError } from "./errors.js";
import { workloadLabels } from "./labels.js";
import { buildWep, hostIfName, wepName, workloadIdentity, type WorkloadEndpoint } from "./identity.js";
import { hostCidr, ipamAdd, ipamCheck, ipamDel } from "./ipam-plugin.js";
import { mergeResults, parseResult, type CniResult } from "./result.js";
import type { HostLock } from "./lock.js";
import { randomUid } from "./uid.js";
import type { PlumbedRoute, WorkloadPlumbing } from "./plumbing.js";

export const TABBY_IPAM_TYPE = "tabby-ipam";

export interface NetPluginDeps {
  /** ADD's and DEL's kernel work (netlink in production). */
  plumbing: WorkloadPlumbing;
  /** CHECK's reads (`ip`). */
  runner: CommandRunner;
  /** The namespace standing for the host (tests); undefined: the plugin's own namespace. */
  hostNetns?: string;
  hostSysctl: SysctlWriter;
  /** The datastore, opened on first use (while the kernel creates the veth). */
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
  /** Waits until the agent has programmed the endpoint (endpoint-status.ts); absent: no wait. */
  waitProgrammed?: (w: { dir: string; iface: string; id: string; addrs: string[]; timeoutMs: number }) => Promise<boolean>;
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

/** The host's routes to the workload: each address onto the veth (IPv4 on-link). Pure. */
export function hostRoutes(addrs: string[]): PlumbedRoute[] {
  return addrs.map((a) => (a.includes(":") ? { dst: a } : { dst: a, scope: "link" as const }));
}

/**
 * The container's routes: IPv4 through 169.254.1.1 (on-link; the host answers ARP for it), IPv6
 * through the host veth's link-local. Pure.
 */
export function containerRoutes(fams: { v4: boolean; v6: boolean }): PlumbedRoute[] {
  return [
    ...(fams.v4
      ? [
          { dst: `${GATEWAY_V4}/32`, scope: "link" as const },
          { dst: "0.0.0.0/0", gateway: GATEWAY_V4 },
        ]
      : []),
    ...(fams.v6 ? [{ dst: "::/0", gateway: HOST_VETH_LINK_LOCAL }] : []),
  ];
}

/** The container's sysctls: IPv6 on for the interface, without DAD (its addresses are unique). Pure. */
export function containerSysctls(ifname: string, v6: boolean): Sysctl[] {
  return v6
    ? [
        { path: `net/ipv6/conf/${ifname}/disable_ipv6`, value: "0" },
        { path: `net/ipv6/conf/${ifname}/accept_dad`, value: "0" },
      ]
    : [];
}

/**
 * Creates the veth pair. No look before the create: "exists" (EEXIST) is either a host veth left
 * by an earlier attempt for this workload (removed, then created again) or the interface name taken
 * in the container (the runtime's error).
 */
async function createVeth(plumbing: WorkloadPlumbing, hostIf: string, env: CniEnv, mtu: number | undefined): Promise<void> {
  const v = { hostIf, hostMac: HOST_VETH_MAC, ifname: env.ifname, netnsPath: env.netns, ...(mtu ? { mtu } : {}) };
  const taken = () => new CniError(CNI_ERR.INVALID_ENV, `interface ${env.ifname} already exists in ${env.netns}`);
  try {
    await plumbing.createVeth(v);
  } catch (e) {
    if (hasCode(e, "DP_NETNS_MISSING")) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_NETNS ${env.netns} is not a network namespace`, undefined, { cause: e });
    if (!isErrno(e, "EEXIST")) throw e;
    if (!(await plumbing.deleteLink(hostIf))) throw taken();
    try {
      await plumbing.createVeth(v);
    } catch (e2) {
      if (isErrno(e2, "EEXIST")) throw taken();
      throw e2;
    }
  }
}

export async function netAdd(conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<CniResult> {
  if (!conf.ipam) throw new CniError(CNI_ERR.INVALID_CONFIG, "network configuration: ipam is required");
  const id = workloadIdentity(env.containerId, args);
  const hostIf = hostIfName(id);
  // Labels are checked before anything is made: a bad one fails the ADD with nothing to undo.
  const labels = workloadLabels(conf.runtimeLabels, conf.labelRules);
  const plumbing = deps.plumbing;
  const undo: (() => Promise<unknown>)[] = [];
  try {
    // The kernel creates the veth (on a pool thread: some ms) while IPAM loads the datastore and
    // assigns. Both undo steps are registered whatever happens.
    undo.push(() => plumbing.deleteLink(hostIf));
    const vethP = createVeth(plumbing, hostIf, env, conf.mtu ?? (await deps.detectMtu?.()));
    const [vethR, ipamR] = await Promise.allSettled([vethP, ipamRun("ADD", conf, env, args, deps)]);
    if (ipamR.status === "fulfilled") undo.push(() => ipamRun("DEL", conf, env, args, deps));
    if (vethR.status === "rejected") throw vethR.reason;
    if (ipamR.status === "rejected") throw ipamR.reason;
    const addrs = (ipamR.value?.ips ?? []).map((ip) => hostCidr(ip.address));
    if (!addrs.length) throw new CniError(CNI_ERR.NO_ADDRESS, "IPAM returned no addresses");
    const fams = { v4: addrs.some((a) => !a.includes(":")), v6: addrs.some((a) => a.includes(":")) };
    const mac = args.mac ?? conf.runtimeMac;
    const cont = await plumbing.setupContainer(env.netns, {
      ifname: env.ifname,
      ...(mac ? { mac } : {}),
      sysctls: containerSysctls(env.ifname, fams.v6),
      addrs,
      routes: containerRoutes(fams),
    });
    // The host side once its sysctls are set, so its link-local comes up without DAD.
    await applySysctls(deps.hostSysctl, [...hostSysctls(fams), ...workloadSysctls(hostIf, fams)]);
    await plumbing.setupHost(hostIf, hostRoutes(addrs), RT_PROTO_TABBY);

    // The WorkloadEndpoint.
    const name = wepName(deps.node, id, env.ifname);
    const key = resourceKey("WorkloadEndpoint", name, id.namespace);
    const store = await deps.store();
    const [prev, , netProfile] = await Promise.all([
      store.get(key),
      ensureNamespaceProfile(store, id.namespace, deps.clock.now()),
      id.orchestrator === "cni" ? ensureNetworkProfile(store, conf.name, deps.clock.now()) : undefined,
    ]);
    let uid = await randomUid();
    let created = new Date(deps.clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
    if (prev) {
      const old = JSON.parse(prev.value) as WorkloadEndpoint;
      if (old.spec?.containerID === env.containerId && old.metadata?.uid) {
        uid = old.metadata.uid;
        created = old.metadata.creationTimestamp ?? created;
      }
    }
    const wep = buildWep({
      node: deps.node,
      id,
      endpoint: env.ifname,
      interfaceName: hostIf,
      mac: cont.mac,
      ipNetworks: addrs,
      uid,
      creationTimestamp: created,
      labels,
      ...(netProfile ? { profiles: [netProfile] } : {}),
    });
    // resourceVersion is not stored: as in Calico's etcd backend, readers take it from the key's
    // revision, which is only known after the write.
    await store.put(key, JSON.stringify(wep));
    undo.push(() => store.delete(key));
    // Until the agent programs the endpoint, the dataplane drops everything on its interface
    // (an unknown `tab*` fails closed); wait for that so the workload starts with its policy.
    if (deps.waitProgrammed && conf.policySetupTimeoutSeconds > 0) {
      await deps.waitProgrammed({ dir: conf.endpointStatusDir, iface: hostIf, id: key, addrs, timeoutMs: conf.policySetupTimeoutSeconds * 1000 });
    }

    const ours: CniResult = {
      interfaces: [
        { name: hostIf, mac: HOST_VETH_MAC },
        { name: env.ifname, mac: cont.mac, sandbox: env.netns },
      ],
      ips: addrs.map((address) => ({ address, interface: 1 })),
      routes: [...(fams.v4 ? [{ dst: "0.0.0.0/0", gw: GATEWAY_V4 }] : []), ...(fams.v6 ? [{ dst: "::/0", gw: HOST_VETH_LINK_LOCAL }] : [])],
      dns: {},
    };
    return conf.prevResult ? mergeResults(parseResult(conf.prevResult), ours) : ours;
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    throw e;
  }
}

export async function netDel(conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<void> {
  const id = workloadIdentity(env.containerId, args);
  const hostIf = hostIfName(id);
  const key = resourceKey("WorkloadEndpoint", wepName(deps.node, id, env.ifname), id.namespace);
  const deleteVeth = () => deps.plumbing.deleteLink(hostIf);
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
