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
 * DEL: idempotent, works without CNI_NETNS; removes the host veth (its routes go with it, and any
 * left over are removed), the WorkloadEndpoint (unless it now belongs to another container of the
 * same pod), and the addresses by handle. Anything already gone counts as done.
 *
 * CHECK: the veth, the container's addresses and the host routes are as ADD left them.
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../clock.js";
import { resourceKey } from "../datastore/keys.js";
import type { Store } from "../datastore/store.js";
import { hasCode } from "../errors.js";
import type { IpamApi } from "../ipam/api.js";
import { type CommandRunner, runOk } from "../dataplane/exec.js";
import { GATEWAY_V4, HOST_VETH_LINK_LOCAL, HOST_VETH_MAC, Links } from "../dataplane/links.js";
import { RT_PROTO_TABBY, RouteTable, deleteLine, renderBatch, type Route } from "../dataplane/routes.js";
import { NetnsSysctl, applySysctls, hostSysctls, workloadSysctls, type SysctlWriter } from "../dataplane/sysctl.js";
import type { CniArgs, CniEnv, NetConf } from "./config.js";
import type { DelegateIpam } from "./delegate.js";
import { CNI_ERR, CniError } from "./errors.js";
import { buildWep, hostIfName, wepName, workloadIdentity, type WorkloadEndpoint } from "./identity.js";
import { hostCidr, ipamAdd, ipamCheck, ipamDel } from "./ipam-plugin.js";
import { parseResult, type CniResult } from "./result.js";

export const TABBY_IPAM_TYPE = "tabby-ipam";

export interface NetPluginDeps {
  runner: CommandRunner;
  /** The namespace standing for the host (tests); undefined: the plugin's own namespace. */
  hostNetns?: string;
  hostSysctl: SysctlWriter;
  store: Store;
  /** tabby's IPAM, for `ipam.type: tabby-ipam` (opened only when needed). */
  ipam: () => Promise<IpamApi>;
  /** Runs any other IPAM plugin. */
  delegateIpam: DelegateIpam;
  node: string;
  clock: Clock;
}

function ns(netns: string | undefined) {
  return netns ? { netns } : {};
}

async function ipamRun(cmd: "ADD" | "DEL", conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<CniResult | undefined> {
  const type = conf.ipam!.type;
  if (type === TABBY_IPAM_TYPE) {
    const ipam = { ipam: await deps.ipam(), node: deps.node };
    if (cmd === "ADD") return ipamAdd(conf, env, args, ipam);
    await ipamDel(env, ipam);
    return undefined;
  }
  return deps.delegateIpam(cmd, conf, env);
}

function hostRoutes(hostIf: string, addrs: string[]): Route[] {
  return addrs.map((a) => (a.includes(":") ? { dst: a, type: "unicast", dev: hostIf } : { dst: a, type: "unicast", dev: hostIf, scope: "link" }));
}

export async function netAdd(conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<CniResult> {
  if (!conf.ipam) throw new CniError(CNI_ERR.INVALID_CONFIG, "network configuration: ipam is required");
  const id = workloadIdentity(env.containerId, args);
  const hostIf = hostIfName(id);
  const host = new Links(deps.runner, deps.hostNetns);
  const cont = new Links(deps.runner, env.netns);
  const undo: (() => Promise<unknown>)[] = [];
  try {
    const ipamResult = await ipamRun("ADD", conf, env, args, deps);
    undo.push(() => ipamRun("DEL", conf, env, args, deps));
    const addrs = (ipamResult?.ips ?? []).map((ip) => hostCidr(ip.address));
    const v4 = addrs.filter((a) => !a.includes(":"));
    const v6 = addrs.filter((a) => a.includes(":"));
    if (!addrs.length) throw new CniError(CNI_ERR.NO_ADDRESS, "IPAM returned no addresses");
    const fams = { v4: v4.length > 0, v6: v6.length > 0 };

    // A host veth left by an earlier attempt for this workload would make the create fail.
    await host.deleteLink(hostIf);
    if (await cont.link(env.ifname)) {
      throw new CniError(CNI_ERR.INVALID_ENV, `interface ${env.ifname} already exists in ${env.netns}`);
    }
    await host.createVeth(hostIf, env.ifname, env.netns, conf.mtu);
    undo.push(() => host.deleteLink(hostIf));
    await applySysctls(deps.hostSysctl, [...hostSysctls(fams), ...workloadSysctls(hostIf, fams)]);
    await host.setUp(hostIf);

    // Inside the container.
    if (args.mac) await cont.setMac(env.ifname, args.mac);
    if (fams.v6) {
      await applySysctls(new NetnsSysctl(deps.runner, env.netns), [
        { path: `net/ipv6/conf/${env.ifname}/disable_ipv6`, value: "0" },
        { path: `net/ipv6/conf/${env.ifname}/accept_dad`, value: "0" },
      ]);
    }
    await cont.setUp(env.ifname);
    for (const a of addrs) await cont.addAddr(env.ifname, a);
    const o = ns(env.netns);
    if (fams.v4) {
      await runOk(deps.runner, "ip", ["-4", "route", "replace", GATEWAY_V4, "dev", env.ifname, "scope", "link"], o);
      await runOk(deps.runner, "ip", ["-4", "route", "replace", "default", "via", GATEWAY_V4, "dev", env.ifname], o);
    }
    if (fams.v6) await runOk(deps.runner, "ip", ["-6", "route", "replace", "default", "via", HOST_VETH_LINK_LOCAL, "dev", env.ifname], o);
    const contLink = await cont.link(env.ifname);
    if (!contLink) throw new CniError(CNI_ERR.IO_FAILURE, `${env.ifname} vanished from ${env.netns}`);

    // In the host: the routes to the workload.
    const routes = hostRoutes(hostIf, addrs);
    await runOk(deps.runner, "ip", ["-batch", "-"], { ...ns(deps.hostNetns), input: renderBatch({ replace: routes, remove: [], added: routes.length }) });

    // The WorkloadEndpoint.
    const name = wepName(deps.node, id, env.ifname);
    const key = resourceKey("WorkloadEndpoint", name, id.namespace);
    const prev = await deps.store.get(key);
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
    await deps.store.put(key, JSON.stringify(wep));
    undo.push(() => deps.store.delete(key));

    return {
      interfaces: [{ name: hostIf, mac: HOST_VETH_MAC }, { name: env.ifname, mac: contLink.mac, sandbox: env.netns }],
      ips: addrs.map((address) => ({ address, interface: 1 })),
      routes: [
        ...(fams.v4 ? [{ dst: "0.0.0.0/0", gw: GATEWAY_V4 }] : []),
        ...(fams.v6 ? [{ dst: "::/0", gw: HOST_VETH_LINK_LOCAL }] : []),
      ],
      dns: {},
    };
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    throw e;
  }
}

export async function netDel(conf: NetConf, env: CniEnv, args: CniArgs, deps: NetPluginDeps): Promise<void> {
  const id = workloadIdentity(env.containerId, args);
  const hostIf = hostIfName(id);
  const key = resourceKey("WorkloadEndpoint", wepName(deps.node, id, env.ifname), id.namespace);
  const prev = await deps.store.get(key);
  let foreign = false;
  let addrs: string[] = [];
  if (prev) {
    try {
      const wep = JSON.parse(prev.value) as WorkloadEndpoint;
      foreign = !!wep.spec?.containerID && wep.spec.containerID !== env.containerId;
      addrs = wep.spec?.ipNetworks ?? [];
    } catch {
      /* unreadable: ours to remove */
    }
  }
  // A pod re-created under the same name owns the veth and the endpoint now: leave them be.
  if (!foreign) {
    await new Links(deps.runner, deps.hostNetns).deleteLink(hostIf);
    // Routes on the veth went with it; remove any owned host route left for these addresses.
    const table = new RouteTable(deps.runner, ns(deps.hostNetns));
    const left = (await table.read()).filter((r) => addrs.some((a) => hostCidr(a) === r.dst) && (r.dev === hostIf || r.dev === undefined));
    if (left.length) {
      await runOk(deps.runner, "ip", ["-batch", "-"], { ...ns(deps.hostNetns), input: left.map(deleteLine).join("\n") + "\n" });
    }
    if (prev) {
      await deps.store.delete(key, { revision: prev.revision }).catch((e: unknown) => {
        if (!hasCode(e, "DS_NOT_FOUND")) throw e;
      });
    }
  }
  if (conf.ipam) await ipamRun("DEL", conf, env, args, deps);
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
