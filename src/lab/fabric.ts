/**
 * `tabby lab up --topology fabric`, the shell side: makes the routers' and hosts' namespaces,
 * the point-to-point veths between them (fabric-plan.ts has the layout), starts the routers'
 * daemons from the generated configurations (fabric-config.ts: BIRD, FRR's zebra + bgpd, or
 * `tabby bgp run`), writes the datastore resources that make the hosts peer with their ToRs
 * (BGPConfiguration without the mesh, one BGPPeer per ToR selecting the rack's nodes by label),
 * labels the Nodes, and places the anycast address on one workload per rack.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import type { ResourceClient } from "../datastore/resource-client.js";
import { API_VERSION, type Resource, type WorkloadEndpoint } from "../model/index.js";
import { LAB_NAMESPACE } from "./plan.js";
import type { FabricHost, FabricPlan, RouterPlan } from "./fabric-plan.js";
import { birdConfig, frrConfig, tabbyTorConfig, zebraConfig } from "./fabric-config.js";
import { CLI_MAIN, NODE } from "./paths.js";
import { eachLimited, ipBatch, labEffects, sh, sysctls, type LabEffects } from "./sh.js";
import { LAB_ROOT, type LabProcess, type LabState } from "./state.js";
import type { CommandRunner } from "../dataplane/exec.js";

export const FRR_DIR = "/usr/lib/frr";

const NETNS_SYSCTLS = [
  "net.ipv6.conf.all.accept_dad=0",
  "net.ipv6.conf.default.accept_dad=0",
  "net.ipv4.conf.all.rp_filter=0",
  "net.ipv4.conf.default.rp_filter=0",
];
// routers forward; hosts get forwarding from their agent
const ROUTER_SYSCTLS = [...NETNS_SYSCTLS, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"];

/**
 * Namespaces, links and addresses of the whole fabric, hosts included (before any daemon): the
 * namespaces and veths in one `ip -batch` in the root namespace, then each namespace's sysctls
 * and one `ip -n NS -batch` with its links, addresses and routes.
 */
export async function buildFabricTopology(labName: string, fabric: FabricPlan, runner: CommandRunner = labEffects().runner): Promise<void> {
  const nsOf = (name: string) => `${labName}-${name}`;
  const spine = fabric.routers.find((r) => r.role === "spine")!;
  const tors = fabric.routers.filter((r) => r.role === "tor");
  const root: string[] = [...fabric.routers.map((r) => `netns add ${r.netns}`), ...fabric.hosts.map((h) => `netns add ${nsOf(h.name)}`)];
  // Per namespace, in order: its links up (every end, before any address: the kernel adds an
  // IPv6 peer's route only on a link that is up), then its addresses and routes.
  const links = new Map<string, string[]>();
  const addrs = new Map<string, string[]>();
  const routes = new Map<string, string[]>();
  const add = (m: Map<string, string[]>, ns: string, ...l: string[]) => m.set(ns, [...(m.get(ns) ?? []), ...l]);
  for (const r of fabric.routers) add(links, r.netns, "link set lo up");
  for (const tor of tors) {
    const up = tor.up!;
    root.push(`link add ${up.ifname} netns ${tor.netns} type veth peer name ${up.peerIfname} netns ${spine.netns}`);
    add(links, tor.netns, `link set ${up.ifname} up`);
    add(links, spine.netns, `link set ${up.peerIfname} up`);
    add(addrs, tor.netns, `addr add ${up.ipv4} dev ${up.ifname}`, `addr add ${up.ipv6} dev ${up.ifname} nodad`);
    add(addrs, spine.netns, `addr add ${up.peerIPv4}/31 dev ${up.peerIfname}`, `addr add ${up.peerIPv6}/127 dev ${up.peerIfname} nodad`);
  }
  for (const h of fabric.hosts) {
    const ns = nsOf(h.name);
    add(links, ns, "link set lo up");
    for (const u of h.uplinks) {
      const tor = fabric.routers.find((r) => r.name === u.tor)!;
      const down = tor.down.find((d) => d.peerName === h.name)!;
      root.push(`link add ${u.ifname} netns ${ns} type veth peer name ${down.ifname} netns ${tor.netns}`);
      add(links, ns, `link set ${u.ifname} up`);
      add(links, tor.netns, `link set ${down.ifname} up`);
      // one /32 (/128) on both uplinks, each with its ToR as the point-to-point peer
      add(addrs, ns, `addr add ${h.ipv4}/32 peer ${u.torIPv4}/32 dev ${u.ifname}`, `addr add ${h.ipv6}/128 peer ${u.torIPv6}/128 dev ${u.ifname} nodad`);
      add(addrs, tor.netns, `addr add ${down.ipv4} peer ${h.ipv4}/32 dev ${down.ifname}`, `addr add ${down.ipv6} peer ${h.ipv6}/128 dev ${down.ifname} nodad`);
    }
    // A server's static default over both uplinks (proxy ARP for the workloads' gateway needs a
    // route); the specific routes, which win, come from BGP.
    add(routes, ns, `route replace default ${h.uplinks.map((u) => `nexthop via ${u.torIPv4} dev ${u.ifname}`).join(" ")}`);
    add(routes, ns, `route replace ::/0 ${h.uplinks.map((u) => `nexthop via ${u.torIPv6} dev ${u.ifname}`).join(" ")}`);
  }
  await ipBatch(runner, undefined, root);
  const routerNs = new Set(fabric.routers.map((r) => r.netns));
  const all = [...links.keys()];
  await eachLimited(all, 6, async (ns) => {
    await sysctls(runner, ns, routerNs.has(ns) ? ROUTER_SYSCTLS : NETNS_SYSCTLS);
    await ipBatch(runner, ns, links.get(ns)!);
  });
  await eachLimited(all, 6, (ns) => ipBatch(runner, ns, addrs.get(ns) ?? []));
  // The IPv6 peer routes the default's next hops need come a moment after their addresses (the
  // address is tentative until the kernel's address work has run, even with nodad): the routes
  // go last, and are tried again (`replace` is idempotent) while the kernel says "No route to host".
  await eachLimited([...routes.keys()], 6, async (ns) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await ipBatch(runner, ns, routes.get(ns)!);
      } catch (err) {
        if (attempt >= 40 || !/No route to host/.test((err as Error).message)) throw err;
        await sleep(50);
      }
    }
  });
}

/** The directory of a router's files inside the lab directory. */
export function routerDir(labDir: string, r: RouterPlan): string {
  return join(labDir, r.name);
}

/** Starts every router's daemon(s), handing each router's processes to `started` as it goes. */
export async function startRouters(
  state: LabState,
  fabric: FabricPlan,
  holdTime: number,
  started: (procs: LabProcess[]) => void,
  fx: LabEffects = labEffects(),
): Promise<void> {
  if (fabric.routers.some((r) => r.kind === "frr")) {
    if (!existsSync(join(FRR_DIR, "bgpd")) || !existsSync(join(FRR_DIR, "zebra")))
      throw new TabbyError("LAB_NO_DAEMON", `--tor frr/mixed needs FRR (${FRR_DIR}/zebra and bgpd: apt-get install frr)`);
    // zebra drops to the frr user: it must be able to reach its directory (search permission only)
    for (const d of [LAB_ROOT, state.dir]) chmodSync(d, 0o711);
  }
  for (const r of fabric.routers) started(await startRouter(state, fabric, r, holdTime, fx));
}

export async function startRouter(state: LabState, fabric: FabricPlan, r: RouterPlan, holdTime: number, fx: LabEffects = labEffects()): Promise<LabProcess[]> {
  const dir = routerDir(state.dir, r);
  mkdirSync(dir, { recursive: true });
  const files = { dir, holdTime };
  if (r.kind === "bird") {
    const conf = join(dir, "bird.conf");
    writeFileSync(conf, birdConfig(fabric, r, files));
    return [
      await fx.supervisor.start({
        role: "router",
        name: r.name,
        cmd: "bird",
        args: ["-c", conf, "-s", join(dir, "bird.ctl"), "-P", join(dir, "bird.pid")],
        netns: r.netns,
        log: join(dir, "bird.out"),
        marker: conf,
        pidFile: join(dir, "bird.pid"),
        daemonizes: true,
      }),
    ];
  }
  if (r.kind === "frr") {
    const zconf = join(dir, "zebra.conf");
    const bconf = join(dir, "bgpd.conf");
    const fconf = join(dir, "bfdd.conf");
    writeFileSync(zconf, zebraConfig(r, files));
    writeFileSync(bconf, frrConfig(fabric, r, files));
    writeFileSync(join(dir, "vtysh.conf"), "");
    if (fabric.bfd) writeFileSync(fconf, [`hostname ${r.name}-bfdd`, `log file ${dir}/bfdd.log`, ""].join("\n"));
    // FRR's daemons drop to the frr user: their directory and configurations are its
    await sh(fx.runner, "chown", ["frr:frr", dir, zconf, bconf, join(dir, "vtysh.conf"), ...(fabric.bfd ? [fconf] : [])]);
    const zserv = join(dir, "zserv.api");
    const frrd = (daemon: string, name: string, conf: string, args: string[]) =>
      fx.supervisor.start({
        role: "router",
        name,
        cmd: join(FRR_DIR, daemon),
        args: ["-d", "-f", conf, "-i", join(dir, `${daemon}.pid`), "--vty_socket", dir, "-z", zserv, "-P", "0", ...args],
        netns: r.netns,
        log: join(dir, `${daemon}.out`),
        marker: conf,
        pidFile: join(dir, `${daemon}.pid`),
        daemonizes: true,
      });
    // the real zebra, one per namespace, all its paths private to this router
    const extra: LabProcess[] = [await frrd("zebra", `${r.name}-zebra`, zconf, [])];
    try {
      // bfdd serves bgpd's `neighbor X bfd` sessions
      if (fabric.bfd) extra.push(await frrd("bfdd", `${r.name}-bfdd`, fconf, ["--bfdctl", join(dir, "bfdd.sock")]));
      // bgpd first in the list: it is the router's BGP daemon (status, kill drills)
      return [await frrd("bgpd", r.name, bconf, ["-S", "-p", "179"]), ...extra];
    } catch (err) {
      await fx.supervisor.stop(extra);
      throw err;
    }
  }
  const conf = join(dir, "tabby.yaml");
  writeFileSync(conf, tabbyTorConfig(fabric, r, { ...files, control: join(dir, "tabby.sock") }));
  return [
    await fx.supervisor.start({
      role: "router",
      name: r.name,
      cmd: NODE,
      args: [CLI_MAIN, "bgp", "run", "-c", conf],
      netns: r.netns,
      log: join(dir, "tabby.log"),
      marker: conf,
    }),
  ];
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
          spec: {
            nodeSelector: `rack == '${r.rack}'`,
            peerIP: r.rackIPv4,
            asNumber: r.asNumber,
            ttlSecurity: FABRIC_TTL_SECURITY,
            ...(fabric.bfd ? { failureDetectionMode: "BFDIfDirectlyConnected" } : {}),
          },
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
export async function placeAnycast(
  client: ResourceClient,
  fabric: FabricPlan,
  w: { netns: string; containerId: string },
  runner: CommandRunner = labEffects().runner,
): Promise<void> {
  await ipBatch(runner, w.netns, [`addr add ${fabric.anycast.ipv4}/32 dev eth0`, `addr add ${fabric.anycast.ipv6}/128 dev eth0 nodad`]);
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
