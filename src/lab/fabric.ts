/**
 * `tabby lab up --topology fabric`, the shell side: makes the routers' and hosts' namespaces,
 * the point-to-point veths between them (fabric-plan.ts has the layout), starts the routers'
 * daemons from the generated configurations (fabric-config.ts: BIRD, FRR's zebra + bgpd, or
 * `tabby bgp run`), writes the datastore resources that make the hosts peer with their ToRs
 * (BGPConfiguration without the mesh, one BGPPeer per ToR selecting the rack's nodes by label),
 * labels the Nodes, and places the anycast address on one workload per rack.
 */
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import type { ResourceClient } from "../datastore/resource-client.js";
import { API_VERSION, type Resource, type WorkloadEndpoint } from "../model/index.js";
import { LAB_NAMESPACE } from "./plan.js";
import type { FabricHost, FabricPlan, RouterPlan } from "./fabric-plan.js";
import { birdConfig, frrConfig, tabbyTorConfig, zebraConfig } from "./fabric-config.js";
import { CLI_MAIN, NODE } from "./paths.js";
import { ipIn, sh } from "./sh.js";
import { LAB_ROOT, processIsOurs, type LabProcess, type LabState } from "./state.js";

export const FRR_DIR = "/usr/lib/frr";

async function makeNetns(ns: string, router: boolean): Promise<void> {
  await sh("ip", ["netns", "add", ns]);
  await ipIn(ns, "link", "set", "lo", "up");
  const settings = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"];
  // routers forward; hosts get forwarding from their agent
  if (router) settings.push("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
  await sh("ip", ["netns", "exec", ns, "sysctl", "-q", "-w", ...settings]);
}

/** Namespaces, links and addresses of the whole fabric, hosts included (before any daemon). */
export async function buildFabricTopology(labName: string, fabric: FabricPlan): Promise<void> {
  for (const r of fabric.routers) await makeNetns(r.netns, true);
  const nsOf = (name: string) => `${labName}-${name}`;
  const spine = fabric.routers.find((r) => r.role === "spine")!;
  for (const tor of fabric.routers.filter((r) => r.role === "tor")) {
    const up = tor.up!;
    await sh("ip", ["link", "add", up.ifname, "netns", tor.netns, "type", "veth", "peer", "name", up.peerIfname, "netns", spine.netns]);
    // links up before addresses: the kernel adds an IPv6 peer's route only on an up link
    await ipIn(tor.netns, "link", "set", up.ifname, "up");
    await ipIn(spine.netns, "link", "set", up.peerIfname, "up");
    await ipIn(tor.netns, "addr", "add", up.ipv4, "dev", up.ifname);
    await ipIn(tor.netns, "addr", "add", up.ipv6, "dev", up.ifname, "nodad");
    await ipIn(spine.netns, "addr", "add", `${up.peerIPv4}/31`, "dev", up.peerIfname);
    await ipIn(spine.netns, "addr", "add", `${up.peerIPv6}/127`, "dev", up.peerIfname, "nodad");
  }
  for (const h of fabric.hosts) {
    const ns = nsOf(h.name);
    await makeNetns(ns, false);
    for (const u of h.uplinks) {
      const tor = fabric.routers.find((r) => r.name === u.tor)!;
      const down = tor.down.find((d) => d.peerName === h.name)!;
      await sh("ip", ["link", "add", u.ifname, "netns", ns, "type", "veth", "peer", "name", down.ifname, "netns", tor.netns]);
      await ipIn(ns, "link", "set", u.ifname, "up");
      await ipIn(tor.netns, "link", "set", down.ifname, "up");
      // one /32 (/128) on both uplinks, each with its ToR as the point-to-point peer
      await ipIn(ns, "addr", "add", `${h.ipv4}/32`, "peer", `${u.torIPv4}/32`, "dev", u.ifname);
      await ipIn(ns, "addr", "add", `${h.ipv6}/128`, "peer", `${u.torIPv6}/128`, "dev", u.ifname, "nodad");
      await ipIn(tor.netns, "addr", "add", down.ipv4, "peer", `${h.ipv4}/32`, "dev", down.ifname);
      await ipIn(tor.netns, "addr", "add", down.ipv6, "peer", `${h.ipv6}/128`, "dev", down.ifname, "nodad");
    }
    // A server's static default over both uplinks (proxy ARP for the workloads' gateway needs a
    // route); the specific routes, which win, come from BGP.
    const hops4 = h.uplinks.flatMap((u) => ["nexthop", "via", u.torIPv4, "dev", u.ifname]);
    const hops6 = h.uplinks.flatMap((u) => ["nexthop", "via", u.torIPv6, "dev", u.ifname]);
    await ipIn(ns, "route", "add", "default", ...hops4);
    await ipIn(ns, "-6", "route", "add", "default", ...hops6);
  }
}

/** The directory of a router's files inside the lab directory. */
export function routerDir(labDir: string, r: RouterPlan): string {
  return join(labDir, r.name);
}

/** Starts every router's daemon(s), handing each router's processes to `started` as it goes. */
export async function startRouters(state: LabState, fabric: FabricPlan, holdTime: number, started: (procs: LabProcess[]) => void): Promise<void> {
  if (fabric.routers.some((r) => r.kind === "frr")) {
    if (!existsSync(join(FRR_DIR, "bgpd")) || !existsSync(join(FRR_DIR, "zebra"))) throw new TabbyError("LAB_NO_DAEMON", `--tor frr/mixed needs FRR (${FRR_DIR}/zebra and bgpd: apt-get install frr)`);
    // zebra drops to the frr user: it must be able to reach its directory (search permission only)
    for (const d of [LAB_ROOT, state.dir]) chmodSync(d, 0o711);
  }
  for (const r of fabric.routers) started(await startRouter(state, fabric, r, holdTime));
}

export async function startRouter(state: LabState, fabric: FabricPlan, r: RouterPlan, holdTime: number): Promise<LabProcess[]> {
  const dir = routerDir(state.dir, r);
  mkdirSync(dir, { recursive: true });
  const files = { dir, holdTime };
  if (r.kind === "bird") {
    const conf = join(dir, "bird.conf");
    writeFileSync(conf, birdConfig(fabric, r, files));
    await sh("ip", ["netns", "exec", r.netns, "bird", "-c", conf, "-s", join(dir, "bird.ctl"), "-P", join(dir, "bird.pid")]);
    return [{ role: "router", name: r.name, pid: await pidFile(join(dir, "bird.pid")), marker: conf }];
  }
  if (r.kind === "frr") {
    const zconf = join(dir, "zebra.conf");
    const bconf = join(dir, "bgpd.conf");
    writeFileSync(zconf, zebraConfig(r, files));
    writeFileSync(bconf, frrConfig(fabric, r, files));
    writeFileSync(join(dir, "vtysh.conf"), "");
    const uid = Number(execFileSync("id", ["-u", "frr"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "frr"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
    for (const f of [zconf, bconf, join(dir, "vtysh.conf")]) chownSync(f, uid, gid);
    const zserv = join(dir, "zserv.api");
    // the real zebra, one per namespace, all its paths private to this router
    await sh("ip", ["netns", "exec", r.netns, join(FRR_DIR, "zebra"), "-d", "-f", zconf, "-i", join(dir, "zebra.pid"), "--vty_socket", dir, "-z", zserv, "-P", "0"]);
    const zebra: LabProcess = { role: "router", name: `${r.name}-zebra`, pid: await pidFile(join(dir, "zebra.pid")), marker: zconf };
    const extra: LabProcess[] = [zebra];
    try {
      if (fabric.bfd) {
        // bfdd serves bgpd's `neighbor X bfd` sessions
        const fconf = join(dir, "bfdd.conf");
        writeFileSync(fconf, [`hostname ${r.name}-bfdd`, `log file ${dir}/bfdd.log`, ""].join("\n"));
        chownSync(fconf, uid, gid);
        await sh("ip", ["netns", "exec", r.netns, join(FRR_DIR, "bfdd"), "-d", "-f", fconf, "-i", join(dir, "bfdd.pid"), "--vty_socket", dir, "-z", zserv, "-P", "0", "--bfdctl", join(dir, "bfdd.sock")]);
        extra.push({ role: "router", name: `${r.name}-bfdd`, pid: await pidFile(join(dir, "bfdd.pid")), marker: fconf });
      }
      await sh("ip", ["netns", "exec", r.netns, join(FRR_DIR, "bgpd"), "-d", "-S", "-P", "0", "-f", bconf, "-i", join(dir, "bgpd.pid"), "--vty_socket", dir, "-z", zserv, "-p", "179"]);
      // bgpd first in the list: it is the router's BGP daemon (status, kill drills)
      return [{ role: "router", name: r.name, pid: await pidFile(join(dir, "bgpd.pid")), marker: bconf }, ...extra];
    } catch (err) {
      for (const p of extra) if (processIsOurs(p)) process.kill(p.pid, "SIGTERM");
      throw err;
    }
  }
  const conf = join(dir, "tabby.yaml");
  writeFileSync(conf, tabbyTorConfig(fabric, r, { ...files, control: join(dir, "tabby.sock") }));
  const fd = openSync(join(dir, "tabby.log"), "a");
  try {
    const child = spawn("ip", ["netns", "exec", r.netns, NODE, CLI_MAIN, "bgp", "run", "-c", conf], { detached: true, stdio: ["ignore", fd, fd] });
    child.unref();
    if (child.pid === undefined) throw new TabbyError("LAB_COMMAND_FAILED", `could not start router ${r.name}`);
    return [{ role: "router", name: r.name, pid: child.pid, marker: conf }];
  } finally {
    closeSync(fd);
  }
}

async function pidFile(file: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    if (existsSync(file)) {
      const pid = Number(readFileSync(file, "utf8").trim());
      if (pid > 0) return pid;
    }
    await sleep(50);
  }
  throw new TabbyError("LAB_ROUTER_FAILED", `no pid file ${file} after 5 s: the daemon did not start (see its log beside it)`);
}

/** GTSM hop count between hosts and their ToRs: one link, so anything from further away is dropped. */
export const FABRIC_TTL_SECURITY = 1;

/** Datastore resources of the fabric: no mesh, one BGPPeer per ToR for its rack, the anycast range. */
export function fabricResources(fabric: FabricPlan, asNumber: number): Resource[] {
  return [
    {
      apiVersion: API_VERSION,
      kind: "BGPConfiguration",
      metadata: { name: "default" },
      spec: { asNumber, nodeToNodeMeshEnabled: false, serviceLoadBalancerIPs: [{ cidr: fabric.anycast.range4 }, { cidr: fabric.anycast.range6 }] },
    },
    ...fabric.routers
      .filter((r) => r.role === "tor")
      .map(
        (r): Resource => ({
          apiVersion: API_VERSION,
          kind: "BGPPeer",
          metadata: { name: `lab-${r.name}` },
          // the ToR is on the host's link: GTSM (RFC 5082), as the ToR's config has it towards the hosts
          spec: { nodeSelector: `rack == '${r.rack}'`, peerIP: r.rackIPv4, asNumber: r.asNumber, ttlSecurity: FABRIC_TTL_SECURITY, ...(fabric.bfd ? { failureDetectionMode: "BFDIfDirectlyConnected" } : {}) },
        }),
      ),
  ];
}

/** Puts `rack: rN` on each host's Node once its agent registered it (retried on conflict). */
export async function labelNodes(client: ResourceClient, fabric: FabricPlan): Promise<void> {
  for (const h of fabric.hosts) {
    for (let attempt = 0; ; attempt++) {
      const node = await client.get("Node", h.name);
      if (!node) throw new TabbyError("LAB_NO_NODE", `node ${h.name} is not registered`);
      node.metadata.labels = { ...(node.metadata.labels ?? {}), rack: h.rack };
      try {
        await client.update(node);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== "DS_CONFLICT" || attempt > 20) throw err;
      }
    }
  }
}

/** The extra `tabby node run` arguments of a fabric host: its /32 and /128 and its AS. */
export function fabricAgentArgs(h: FabricHost, bfd?: FabricPlan["bfd"]): string[] {
  const timers = bfd ? ["--bfd-min-rx", String(bfd.minRx), "--bfd-min-tx", String(bfd.minTx), "--bfd-multiplier", String(bfd.multiplier)] : [];
  return ["--ip", `${h.ipv4}/32`, "--ip6", `${h.ipv6}/128`, "--as", String(h.asNumber), ...timers];
}

/** The workloads that serve the anycast address: the first workload of each rack's first host. */
export function anycastWorkloads(fabric: FabricPlan, workloadNames: string[]): string[] {
  const out: string[] = [];
  for (let r = 1; r <= fabric.racks; r++) {
    const first = fabric.hosts.find((h) => h.rack === `r${r}`)!;
    const w = workloadNames.find((n) => n.startsWith(`${first.name}-w`));
    if (w) out.push(w);
  }
  return out;
}

/** Adds the anycast addresses inside the workload and to its WorkloadEndpoint's ipNetworks. */
export async function placeAnycast(client: ResourceClient, fabric: FabricPlan, w: { netns: string; containerId: string }): Promise<void> {
  await ipIn(w.netns, "addr", "add", `${fabric.anycast.ipv4}/32`, "dev", "eth0");
  await ipIn(w.netns, "addr", "add", `${fabric.anycast.ipv6}/128`, "dev", "eth0", "nodad");
  for (let attempt = 0; ; attempt++) {
    const { items } = await client.list<WorkloadEndpoint>("WorkloadEndpoint", LAB_NAMESPACE);
    const wep = items.find((e) => e.spec.containerID === w.containerId);
    if (!wep) throw new TabbyError("LAB_NO_ENDPOINT", `no WorkloadEndpoint for container ${w.containerId}`);
    const nets = new Set(wep.spec.ipNetworks ?? []);
    nets.add(`${fabric.anycast.ipv4}/32`);
    nets.add(`${fabric.anycast.ipv6}/128`);
    wep.spec.ipNetworks = [...nets];
    try {
      await client.update(wep);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "DS_CONFLICT" || attempt > 20) throw err;
    }
  }
}

