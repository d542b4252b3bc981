/**
 * `tabby lab up`: builds a virtual data center on this machine. A fabric namespace holds a
 * bridge (one L2 segment) and a gateway address standing for the rest of the network; every
 * host is a namespace on the fabric running a real `tabby node run`; every workload is a
 * namespace plugged into its host by running the real CNI plugin exactly as a container
 * runtime does, with a small TCP service inside. Progress is reported as it builds.
 */
import { explainPkiPaths, makeExplainPki } from "./pki.js";
import { DEFAULT_EXPLAIN_PORT, DEFAULT_UI_LISTEN } from "../ports.js";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import { resourceKey } from "../model/keys.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { API_VERSION, type Resource } from "../model/index.js";
import type { Store } from "../datastore/store.js";
import { parsePrefix } from "../net/index.js";
import { planLab, isLabNamespace, TCP_PORTS, LAB_NAMESPACE, type LabPlan, type LabShape, type HostPlan, type WorkloadPlan } from "./plan.js";
import { labDir, processIsOurs, readLabState, setCurrentLab, writeLabState, type LabProcess, type LabState, type LabWorkload } from "./state.js";
import { eachLimited, ipBatch, labEffects, listNetns, netnsPath, sh, sysctls, type LabEffects } from "./sh.js";
import { tail, type DaemonSpec } from "./supervisor.js";
import type { CommandRunner } from "../dataplane/exec.js";
import { RouteTable } from "../dataplane/routes.js";
import { labDown } from "./down.js";
import { labelWorkload, namespaceProfile } from "./workloads.js";
import { CLI_MAIN, NODE, RESPONDER } from "./paths.js";
import type { ResponderSpec } from "./responder.js";
import { pluginEntry } from "../cni/plugin-files.js";
import { labDatastoreFor, labEtcdUrl, openLabStore, startLabEtcd } from "./etcd.js";
import { planReflectors, reflectorResources, startReflectors, type Topology } from "./reflectors.js";
import { planFabric, type AsModel, type TorChoice } from "./fabric-plan.js";
import { startLabVms } from "./vms.js";
import { anycastWorkloads, buildFabricTopology, fabricAgentArgs, fabricResources, labelNodes, placeAnycast, startRouters } from "./fabric.js";

export interface LabUpOptions extends LabShape {
  /** Resources to apply once the datastore is seeded (validated by the caller). */
  policies?: Resource[];
  /** BGP hold time for the lab's sessions (seconds). */
  holdTime?: number;
  /** `sqlite` (default): a file in the lab dir; `etcd`: etcd in the fabric (src/lab/etcd.ts). */
  datastore?: "sqlite" | "etcd";
  /**
   * "mesh" (default): node-to-node mesh; "rr": two tabby route reflectors (see reflectors.ts);
   * "fabric": racks behind ToR routers and a spine (fabric-plan.ts), `hosts` counting per rack.
   */
  topology?: Topology;
  /** `fabric`: BFD on the host↔ToR sessions with these timers (ms, count). */
  bfd?: { minRx: number; minTx: number; multiplier: number };
  /** `fabric`: racks (default 2), ToR daemons (default mixed), AS model (default rack). */
  racks?: number;
  tor?: TorChoice;
  asModel?: AsModel;
  /** `--vms N`: N QEMU VMs per host on taps, addressed by DHCP (src/lab/vms.ts). */
  vms?: number;
  say?: (line: string) => void;
}

export async function labUp(opts: LabUpOptions, fx: LabEffects = labEffects()): Promise<LabState> {
  const say = opts.say ?? (() => {});
  const fabric =
    opts.topology === "fabric"
      ? planFabric(opts.name, { racks: opts.racks ?? 2, hosts: opts.hosts, tor: opts.tor ?? "mixed", asModel: opts.asModel ?? "rack" })
      : undefined;
  if (opts.bfd && !fabric)
    throw new TabbyError("LAB_UNSUPPORTED", "--bfd applies to --topology fabric (the host↔ToR sessions are the directly connected ones)");
  if (fabric && opts.bfd) fabric.bfd = opts.bfd;
  if (fabric && opts.datastore === "etcd") {
    throw new TabbyError(
      "LAB_UNSUPPORTED",
      "--datastore etcd is not available with --topology fabric yet (etcd lives on the bridge fabric's gateway, which a routed fabric does not have)",
    );
  }
  const plan = planLab(opts, fabric);
  const topology = opts.topology ?? (plan.hosts.length > AUTO_RR_ABOVE ? "rr" : "mesh");
  await clearLeftovers(plan, say, fx);

  const dir = labDir(plan.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: LabState = {
    name: plan.name,
    plan,
    dir,
    datastore: opts.datastore === "etcd" ? labEtcdUrl(plan, dir) : `sqlite://${join(dir, "tabby.db")}`,
    createdAt: new Date().toISOString(),
    processes: [],
    workloads: [],
    ready: false,
    holdTime: opts.holdTime ?? 9,
  };
  if (topology === "rr") {
    state.topology = "rr";
    state.reflectors = planReflectors(plan);
    if (opts.topology === undefined)
      say(`topology: ${plan.hosts.length} hosts, more than ${AUTO_RR_ABOVE}: two route reflectors instead of a full mesh (--topology mesh to insist)`);
  }
  if (fabric) {
    state.topology = "fabric";
    state.fabric = fabric;
    if (fabric.bfd) state.bfd = fabric.bfd;
  }
  writeLabState(state);
  writeWrappers(dir);
  // the agents' certificates are made while the network is built (openssl, in parallel)
  const pki = makeExplainPki(
    fx.runner,
    dir,
    plan.name,
    plan.hosts.map((h) => ({ name: h.name, ips: [h.ipv4.split("/")[0]!, h.ipv6.split("/")[0]!] })),
  );
  pki.catch(() => {}); // awaited below; a failure there is reported there

  if (fabric) {
    const tors = fabric.routers.filter((r) => r.role === "tor");
    say(
      `fabric: ${fabric.racks} rack(s) of ${fabric.hostsPerRack} host(s), each host dual-homed to its rack's ToRs (${tors.map((r) => `${r.name}: ${r.kind}`).join(", ")}), ToRs to spine sp1 (bird); AS model ${fabric.asModel}`,
    );
    await buildFabricTopology(plan.name, fabric, fx.runner);
  } else {
    say(`fabric: bridge in ${plan.fabricNetns}, ${plan.hosts.length} host(s) on 10.99.0.0/24 and fd99::/64`);
    await buildBridgeFabric(plan, fx.runner);
  }

  await raiseNeighbourLimits(plan, fx.runner);
  // The workloads' namespaces before any daemon starts in a namespace of its own: `ip netns
  // exec` gives each its own mount namespace, which every later `ip netns add` (a bind mount
  // under the shared /run/netns) propagates to. Then the one responder readies and serves them.
  if (plan.workloads.length) {
    await makeWorkloadNamespaces(plan.workloads, fx.runner);
    state.processes.push(await startResponder(state, plan.workloads, fx));
    writeLabState(state);
  }

  if (opts.datastore === "etcd") {
    state.processes.push(await startLabEtcd(state, fx));
    writeLabState(state);
    say(`etcd: running in ${plan.fabricNetns}, serving ${state.datastore} to the hosts`);
  }
  const { store, close: closeStore } = await openLabStore(state);
  try {
    await seedDatastore(store, plan, (opts.vms ?? 0) > 0);
    if (opts.policies?.length) {
      const client = new ResourceClient(store);
      for (const r of opts.policies) await client.apply(r);
      say(`policy: applied ${opts.policies.length} resource(s): ${opts.policies.map((r) => `${r.kind} ${r.metadata.name}`).join(", ")}`);
    }
    say(
      `datastore: ${state.datastore} (pools ${plan.pool4}, ${plan.pool6}; AS ${plan.asNumber}, ${fabric ? `routed fabric, AS model ${fabric.asModel}` : state.reflectors ? "route reflectors" : "node-to-node mesh"})`,
    );
    if (state.reflectors) {
      const client = new ResourceClient(store);
      for (const r of reflectorResources(plan, state.reflectors)) await client.apply(r);
      state.processes.push(...(await startReflectors(plan, state.reflectors, dir, opts.holdTime ?? 9, fx)));
      writeLabState(state);
      say(`reflectors: tabby bgp run in ${state.reflectors.map((r) => `${r.netns} (${r.ipv4.split("/")[0]})`).join(", ")}, one cluster, every host a client`);
    }

    if (fabric) {
      const client = new ResourceClient(store);
      for (const r of fabricResources(fabric, plan.asNumber)) await client.apply(r);
      // recorded one router at a time, so `down` stops whatever started if a later one fails
      await startRouters(
        state,
        fabric,
        opts.holdTime ?? 9,
        (procs) => {
          state.processes.push(...procs);
          writeLabState(state);
        },
        fx,
      );
      say(`routers: ${fabric.routers.map((r) => `${r.name} (${r.kind}, AS ${r.asNumber})`).join(", ")}; configs in ${dir}/<router>/`);
      say(
        `datastore: mesh off, BGPPeer per ToR selecting its rack (${fabric.routers
          .filter((r) => r.role === "tor")
          .map((r) => `lab-${r.name}`)
          .join(", ")})`,
      );
    }

    await pki;
    for (const h of plan.hosts) {
      state.processes.push(await startAgent(state, h, state.holdTime ?? 9, fx));
      writeLabState(state);
    }
    say(
      `agents: started tabby node run in ${plan.hosts.length > 6 ? `${plan.hosts[0]!.netns} … ${plan.hosts.at(-1)!.netns}` : plan.hosts.map((h) => h.netns).join(", ")}`,
    );
    say(
      `explain: every agent serves its explain API (mutual TLS) on its fabric IPv4 address, port ${DEFAULT_EXPLAIN_PORT}; certificates in ${dir}/explain-pki`,
    );
    say(
      `metrics: every agent${state.reflectors ? " and reflector" : ""} serves http://127.0.0.1:9091/metrics in its namespace, agents also /readyz on :9099 (tabby lab exec h1 -- curl -s 127.0.0.1:9091/metrics)`,
    );
    await waitForNodes(store, state, fx);
    if (fabric) {
      await labelNodes(new ResourceClient(store), fabric);
      say(`nodes: labelled ${fabric.hosts.map((h) => `${h.name} rack=${h.rack}`).join(", ")}`);
    }

    // Workloads are plugged WORKLOAD_CONCURRENCY at a time, as a runtime starting many pods
    // does, taking the hosts in turn (every host's first, then every host's second...), so the
    // ADDs in flight are on different hosts: different IPAM locks, blocks and agents. Each is
    // recorded (and reported) as it comes, and the list is put in plan order.
    const client = new ResourceClient(store);
    await eachLimited(acrossHosts(plan.workloads), WORKLOAD_CONCURRENCY, async (w) => {
      const wl = await plugWorkload(state, w, fx, { netnsMade: true });
      await labelWorkload(client, w);
      state.workloads.push(wl);
      writeLabState(state);
      say(`workload ${w.name} on ${w.host}: ${wl.ipv4 ?? "-"} ${wl.ipv6 ?? "-"} (${wl.interface})`);
    });
    const order = new Map(plan.workloads.map((w, i) => [w.name, i]));
    state.workloads.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
    writeLabState(state);

    if (fabric) {
      const holders = anycastWorkloads(
        fabric,
        state.workloads.map((w) => w.name),
      );
      for (const name of holders) await placeAnycast(new ResourceClient(store), fabric, plan.workloads.find((w) => w.name === name)!, fx.runner);
      if (holders.length) {
        state.anycast = [fabric.anycast.ipv4, fabric.anycast.ipv6].map((address) => ({ address, workloads: holders }));
        writeLabState(state);
        say(`anycast: ${fabric.anycast.ipv4} and ${fabric.anycast.ipv6} on ${holders.join(", ")} (range listed in serviceLoadBalancerIPs)`);
      }
    }

    if (opts.vms) await startLabVms(state, store, opts.vms, say, fx);

    say("waiting for BGP to spread every host's blocks...");
    await waitForRoutes(store, state, say, fx.runner);
  } finally {
    await closeStore();
  }
  state.ready = true;
  writeLabState(state);
  setCurrentLab(state);
  say(`lab ${plan.name} is up: try \`tabby lab check\`, \`tabby lab status\`, \`tabby lab exec h1 -- tabby node status\``);
  say(`map: \`tabby ui\` serves it at http://${DEFAULT_UI_LISTEN}/ ; \`tabby explain h1-w1 h2-w1\` walks a packet's path`);
  return state;
}

/** The workloads with the hosts taken in turn: each host's first, then each host's second, ... Pure. */
export function acrossHosts(workloads: readonly WorkloadPlan[]): WorkloadPlan[] {
  const byHost = new Map<string, WorkloadPlan[]>();
  for (const w of workloads) byHost.set(w.host, [...(byHost.get(w.host) ?? []), w]);
  const out: WorkloadPlan[] = [];
  for (let i = 0; out.length < workloads.length; i++) for (const ws of byHost.values()) if (ws[i]) out.push(ws[i]!);
  return out;
}

/**
 * The kernel's neighbour tables (ARP, NDP) are one table per family for ALL network namespaces,
 * and past `gc_thresh3` entries (default 1,024) every new neighbour fails: "neighbour table
 * overflow" in the kernel log, first contacts dropped. A lab needs about two entries per workload
 * (the workload's for its gateway, the host's for the workload) and one per host a host talks to;
 * a 50 × 10 lab that checks its matrix needs ~3,600 a family. The limits are raised (never
 * lowered) in the root namespace, where the kernel keeps them, as a data center host running many
 * pods would configure them.
 */
async function raiseNeighbourLimits(plan: LabPlan, runner: CommandRunner): Promise<void> {
  const hosts = plan.hosts.length + 4; // routers, reflectors, the gateway
  const need = 2 * plan.workloads.length + hosts * hosts + 1024;
  const keys = ["ipv4", "ipv6"].flatMap((f) => [2, 3].map((n) => `net.${f}.neigh.default.gc_thresh${n}`));
  const now = (await sh(runner, "sysctl", ["-n", ...keys])).split("\n").map((v) => Number.parseInt(v, 10) || 0);
  const want = keys.map((k, i) => [k, Math.max(now[i] ?? 0, k.endsWith("3") ? need : need / 2)] as const);
  const raise = want.filter(([, v], i) => v > (now[i] ?? 0)).map(([k, v]) => `${k}=${Math.ceil(v)}`);
  if (raise.length) await sh(runner, "sysctl", ["-q", "-w", ...raise]);
}

/** Above this many hosts, `lab up` without --topology uses route reflectors: a full mesh is n(n-1)/2 sessions. */
export const AUTO_RR_ABOVE = 20;
/** CNI ADDs (and their labels) in flight at once. */
export const WORKLOAD_CONCURRENCY = 6;
/** Namespaces configured at once (a sysctl and an `ip -batch` each). */
const NETNS_CONCURRENCY = 6;

async function clearLeftovers(plan: LabPlan, say: (l: string) => void, fx: LabEffects): Promise<void> {
  const prior = readLabState(plan.name);
  if (prior?.ready && prior.processes.some((p) => p.role === "agent" && processIsOurs(p))) {
    throw new TabbyError("LAB_ALREADY_UP", `lab "${plan.name}" is already up; run \`tabby lab down\` first (or pick another --name)`);
  }
  const stale = (await listNetns(fx.runner)).filter((ns) => isLabNamespace(plan.name, ns));
  if (prior || stale.length) {
    say(`found leftovers of an earlier lab "${plan.name}" (${stale.length} namespace(s)); removing them`);
    await labDown(plan.name, () => {}, fx);
  }
}

/**
 * Node's compile cache for the lab's processes (NODE_COMPILE_CACHE: V8's compiled code kept on
 * disk, so the 50 agents and the CNI plugin started for every workload do not each compile the
 * same code again; measured ~10 % of a CNI ADD's CPU).
 */
export const compileCache = (dir: string) => join(dir, "node-compile-cache");

/**
 * Shell wrappers: the CNI bin dir a runtime would use (the plugins as `tabby cni install` puts
 * them: the bundles when built), and `tabby` on PATH for `lab exec`.
 */
function writeWrappers(dir: string): void {
  const cache = `NODE_COMPILE_CACHE="${compileCache(dir)}"`;
  const files: [string, string][] = [
    [join(dir, "cni-bin", "tabby"), `${cache} exec "${NODE}" "${pluginEntry("tabby").entry}" "$@"`],
    [join(dir, "cni-bin", "tabby-ipam"), `${cache} exec "${NODE}" "${pluginEntry("tabby-ipam").entry}" "$@"`],
    [join(dir, "bin", "tabby"), `${cache} exec "${NODE}" "${CLI_MAIN}" "$@"`],
  ];
  for (const [file, body] of files) {
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
  }
}

const NO_DAD = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"];

/**
 * The bridge fabric and its hosts: every namespace and veth made by one `ip -batch` in the root
 * namespace, then each namespace's sysctls and its own `ip -n NS -batch` (links, addresses, routes).
 */
async function buildBridgeFabric(plan: LabPlan, runner: CommandRunner): Promise<void> {
  const fab = plan.fabricNetns;
  await ipBatch(runner, undefined, [
    `netns add ${fab}`,
    ...plan.hosts.map((h) => `netns add ${h.netns}`),
    ...plan.hosts.map((h) => `link add eth0 netns ${h.netns} type veth peer name ${h.fabricPort} netns ${fab}`),
  ]);
  await sysctls(runner, fab, NO_DAD);
  await ipBatch(runner, fab, [
    "link set lo up",
    "link add br0 type bridge",
    "link set br0 up",
    `addr add ${plan.gateway4}/24 dev br0`,
    `addr add ${plan.gateway6}/64 dev br0 nodad`,
    ...plan.hosts.map((h) => `link set ${h.fabricPort} master br0 up`),
  ]);
  await eachLimited(plan.hosts, NETNS_CONCURRENCY, async (h) => {
    await sysctls(runner, h.netns, NO_DAD);
    await ipBatch(runner, h.netns, hostLines(plan, h));
  });
}

/** A bridge-fabric host's own configuration, as `ip -batch` lines. */
function hostLines(plan: LabPlan, h: { ipv4: string; ipv6: string }): string[] {
  return [
    "link set lo up",
    `addr add ${h.ipv4} dev eth0`,
    `addr add ${h.ipv6} dev eth0 nodad`,
    "link set eth0 up",
    // A host in a data center has a default route; proxy ARP for the workloads' gateway needs one.
    `route add default via ${plan.gateway4}`,
    `route add ::/0 via ${plan.gateway6}`,
  ];
}

/** Every workload's namespace in one `ip -batch` (the responder readies them: responder.ts). */
async function makeWorkloadNamespaces(workloads: WorkloadPlan[], runner: CommandRunner): Promise<void> {
  await ipBatch(
    runner,
    undefined,
    workloads.map((w) => `netns add ${w.netns}`),
  );
}

/** One process per workload namespace (entered with nsenter: see sh.ts netnsPath). */
const prepareWorkloadNetns = async (runner: CommandRunner, netns: string): Promise<void> =>
  void (await sh(runner, "sh", ["-c", `sysctl -q -w ${NO_DAD.join(" ")} && ip link set lo up`], { netns: netnsPath(netns) }));

async function seedDatastore(store: Store, plan: LabPlan, vms = false): Promise<void> {
  const client = new ResourceClient(store);
  const resources: Resource[] = [
    { apiVersion: API_VERSION, kind: "BGPConfiguration", metadata: { name: "default" }, spec: { asNumber: plan.asNumber, nodeToNodeMeshEnabled: true } },
    { apiVersion: API_VERSION, kind: "IPPool", metadata: { name: "lab-ipv4" }, spec: { cidr: plan.pool4, blockSize: 26, natOutgoing: true } },
    { apiVersion: API_VERSION, kind: "IPPool", metadata: { name: "lab-ipv6" }, spec: { cidr: plan.pool6, blockSize: 122 } },
    namespaceProfile(),
    // every agent serves metrics and health on its own loopback (each host is a namespace)
    {
      apiVersion: API_VERSION,
      kind: "FelixConfiguration",
      metadata: { name: "default" },
      spec: { prometheusMetricsEnabled: true, healthEnabled: true, ...(vms ? { interfacePrefix: "tab,tap" } : {}) },
    },
  ];
  for (const r of resources) await client.apply(r);
}

/** The supervisor's spec of a host's agent: `tabby node run` in the host's namespace. */
export function agentSpec(state: LabState, h: HostPlan, holdTime: number): DaemonSpec {
  const control = join(state.dir, `${h.name}.sock`);
  const fh = state.fabric?.hosts.find((f) => f.name === h.name);
  const args = [
    CLI_MAIN,
    "node",
    "run",
    "--name",
    h.name,
    ...(fh ? fabricAgentArgs(fh, state.fabric?.bfd) : ["--ip", h.ipv4, "--ip6", h.ipv6]),
    "--datastore",
    labDatastoreFor(state, "agent"),
    "--control",
    control,
    "--hold-time",
    String(holdTime),
    ...labExplainApiArgs(state.dir, h),
  ];
  return {
    role: "agent",
    name: h.name,
    cmd: NODE,
    args,
    netns: h.netns,
    log: join(state.dir, `${h.name}.log`),
    marker: control,
    env: { ...process.env, NODE_COMPILE_CACHE: compileCache(state.dir) },
  };
}

export function startAgent(state: LabState, h: HostPlan, holdTime: number, fx: LabEffects = labEffects()): Promise<LabProcess> {
  return fx.supervisor.start(agentSpec(state, h, holdTime));
}

/** Every lab agent serves the explain API on its fabric IPv4 address (`tabby explain` in the lab asks it there). */
export function labExplainApiArgs(dir: string, h: HostPlan): string[] {
  const p = explainPkiPaths(dir, [h.name]);
  const pair = p.hosts[h.name]!;
  return [
    "--explain-listen",
    `${h.ipv4.split("/")[0]}:${DEFAULT_EXPLAIN_PORT}`,
    "--explain-tls-ca",
    p.ca,
    "--explain-tls-cert",
    pair.cert,
    "--explain-tls-key",
    pair.key,
  ];
}

/**
 * The lab's one responder (responder.ts): it readies every workload namespace (lo up, no DAD)
 * and serves the lab's TCP ports in each; `lab up` goes on once it says every one is served.
 */
function startResponder(state: LabState, workloads: WorkloadPlan[], fx: LabEffects): Promise<LabProcess> {
  const file = join(state.dir, "responder.json");
  const ready = join(state.dir, "responder.ready");
  rmSync(ready, { force: true });
  const spec: ResponderSpec = { ports: [...TCP_PORTS], workloads: workloads.map((w) => ({ name: w.name, netns: netnsPath(w.netns) })), ready };
  writeFileSync(file, JSON.stringify(spec, null, 1) + "\n");
  return fx.supervisor.start({
    role: "responder",
    name: "responder",
    cmd: NODE,
    args: [RESPONDER, file],
    log: join(state.dir, "responder.log"),
    marker: RESPONDER,
    ready: async () => existsSync(ready),
    readyTimeoutMs: 120_000,
  });
}

async function waitForNodes(store: Store, state: LabState, fx: LabEffects): Promise<void> {
  const waiting = new Set(state.plan.hosts.map((h) => h.name));
  for (let i = 0; i < 600; i++) {
    for (const name of [...waiting]) if (await store.get(resourceKey("Node", name))) waiting.delete(name);
    if (waiting.size === 0) return;
    const dead = state.processes.find((p) => p.role === "agent" && fx.supervisor.exitOf(p.pid));
    if (dead) {
      const log = join(state.dir, `${dead.name}.log`);
      throw new TabbyError("LAB_AGENT_FAILED", `agent ${dead.name} (pid ${dead.pid}) ${fx.supervisor.exitOf(dead.pid)}; the end of ${log}:\n${tail(log, 15)}`);
    }
    await sleep(100);
  }
  throw new TabbyError("LAB_TIMEOUT", `agents did not register within 60 s (${[...waiting].join(", ")} missing); see the logs in ${state.dir}`);
}

/**
 * Runs the real CNI plugin in the host's namespace with one verb, as a container runtime does
 * (the CNI_* variables set through `env`, so the recorded command shows them). ADD waits until
 * the host's agent has programmed the new endpoint's policy (the agent's endpoint status
 * directory, named after its control socket: src/cli/node-run.ts).
 */
async function runCni(
  state: LabState,
  w: { name: string; host: string; netns: string; containerId: string },
  command: "ADD" | "DEL",
  runner: CommandRunner,
): Promise<string> {
  const host = state.plan.hosts.find((h) => h.name === w.host)!;
  const conf = {
    cniVersion: "1.0.0",
    name: "tabby-lab",
    type: "tabby",
    nodename: host.name,
    datastore: labDatastoreFor(state, "cni"),
    endpoint_status_dir: join(state.dir, `${host.name}.endpoint-status`),
    ipam: { type: "tabby-ipam" },
  };
  const vars = [
    `CNI_COMMAND=${command}`,
    `CNI_CONTAINERID=${w.containerId}`,
    `CNI_NETNS=/run/netns/${w.netns}`,
    "CNI_IFNAME=eth0",
    `CNI_PATH=${join(state.dir, "cni-bin")}`,
    // each host its own IPAM lock, as each machine has its own /var/run (src/cni/lock.ts)
    `TABBY_IPAM_LOCK=${join(state.dir, `${host.name}.ipam.lock`)}`,
    `CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=${LAB_NAMESPACE};K8S_POD_NAME=${w.name}`,
  ];
  const r = await runner.run("env", [...vars, join(state.dir, "cni-bin", "tabby")], { netns: host.netns, input: JSON.stringify(conf) });
  if (r.code !== 0) throw new TabbyError("LAB_CNI_FAILED", `CNI ${command} for ${w.name} failed: ${r.stdout.trim() || r.stderr.trim()}`);
  return r.stdout;
}

/** Plugs a workload in: its namespace (unless made already), then the CNI plugin's ADD. */
export async function plugWorkload(state: LabState, w: WorkloadPlan, fx: LabEffects = labEffects(), opts: { netnsMade?: boolean } = {}): Promise<LabWorkload> {
  if (!opts.netnsMade) {
    await sh(fx.runner, "ip", ["netns", "add", w.netns]);
    await prepareWorkloadNetns(fx.runner, w.netns);
  }
  const result = JSON.parse(await runCni(state, w, "ADD", fx.runner)) as { ips?: { address: string }[]; interfaces?: { name: string; sandbox?: string }[] };
  const wl: LabWorkload = { name: w.name, host: w.host, netns: w.netns };
  for (const ip of result.ips ?? []) {
    const p = parsePrefix(ip.address);
    if (p.family === 4) wl.ipv4 = p.addr.toString();
    else wl.ipv6 = p.addr.toString();
  }
  const hostIf = (result.interfaces ?? []).find((i) => !i.sandbox);
  if (hostIf) wl.interface = hostIf.name;
  return wl;
}

/** Runs the CNI plugin's DEL for a workload, as a container runtime does when it goes away. */
export async function unplugWorkload(
  state: LabState,
  w: { name: string; host: string; netns: string; containerId: string },
  fx: LabEffects = labEffects(),
): Promise<void> {
  await runCni(state, w, "DEL", fx.runner);
}

/** Waits until every host has a tabby route for every other host's blocks. */
async function waitForRoutes(store: Store, state: LabState, say: (l: string) => void, runner: CommandRunner): Promise<void> {
  let missing: string[] = [];
  for (let i = 0; i < 120; i++) {
    const aff = await store.list("/calico/ipam/v2/host/");
    const blocks: { node: string; cidr: string }[] = [];
    for (const kv of aff.items) {
      const m = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv[46]\/block\/(.+)$/.exec(kv.key);
      if (m && (JSON.parse(kv.value) as { state?: string }).state === "confirmed") {
        blocks.push({ node: m[1]!, cidr: m[2]!.replace(/-(\d+)$/, "/$1") });
      }
    }
    missing = [];
    await eachLimited(state.plan.hosts, NETNS_CONCURRENCY, async (h) => {
      const routes = await tabbyRoutes(h.netns, runner);
      for (const b of blocks) if (b.node !== h.name && !routes.has(b.cidr)) missing.push(`${h.name}→${b.cidr}`);
    });
    if (missing.length === 0) return;
    await sleep(250);
  }
  say(`warning: routes still missing after 30 s: ${missing.slice(0, 8).join(", ")}`);
}

/** tabby's routes in a namespace (protocol RT_PROTO_TABBY, read by the agent's own route driver): destination → next hops. */
export async function tabbyRoutes(netns: string, runner: CommandRunner = labEffects().runner): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const r of await new RouteTable(runner, { netns }).read()) out.set(r.dst, r.via ?? []);
  return out;
}
