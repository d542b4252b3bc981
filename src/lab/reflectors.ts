/**
 * `tabby lab up --topology rr`: two route reflectors instead of the node-to-node mesh. Each is a
 * standalone `tabby bgp run` in its own namespace on the fabric (10.99.0.2/.3, fd99::2/::3), both
 * in one cluster (RFC 4456), with every host as a route reflector client; the datastore gets
 * `nodeToNodeMeshEnabled: false` and one global BGPPeer per reflector, which every agent turns
 * into a session. With two reflectors each host learns every route twice (same next hop), so
 * losing one reflector loses no route. Every reflector is on the hosts' bridge, one link away,
 * so both ends of each session run GTSM (RFC 5082, `ttlSecurity: 1`): a BGPPeer to an address
 * that is not a tabby node gets no GTSM by default, so the lab sets it on both sides.
 * The layout part is pure; `startReflectors` is the shell.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { API_VERSION, type Resource } from "../model/index.js";
import { FABRIC4, FABRIC6, type LabPlan } from "./plan.js";
import { CLI_MAIN, NODE } from "./paths.js";
import { ipBatch, labEffects, sysctls, type LabEffects } from "./sh.js";
import type { DaemonSpec } from "./supervisor.js";
import type { LabProcess } from "./state.js";

export type Topology = "mesh" | "rr" | "fabric";

export interface ReflectorPlan {
  name: string;
  netns: string;
  /** Fabric addresses with prefix length. */
  ipv4: string;
  ipv6: string;
  fabricPort: string;
}

/** The reflectors' shared cluster id (RFC 4456 §7). */
export const LAB_CLUSTER_ID = "10.99.0.1";

export function planReflectors(plan: LabPlan, count = 2): ReflectorPlan[] {
  const out: ReflectorPlan[] = [];
  for (let i = 1; i <= count; i++) {
    out.push({
      name: `rr${i}`,
      netns: `${plan.name}-rr${i}`,
      ipv4: `${FABRIC4.prefix}${1 + i}/${FABRIC4.len}`,
      ipv6: `${FABRIC6.prefix}${(1 + i).toString(16)}/${FABRIC6.len}`,
      fabricPort: `p-rr${i}`,
    });
  }
  return out;
}

const bare = (cidr: string) => cidr.split("/")[0]!;

/** `tabby bgp run` configuration of one reflector: every host a passive RR client. */
export function reflectorConfig(plan: LabPlan, rr: ReflectorPlan, control: string, holdTime: number): string {
  return stringify({
    routerId: bare(rr.ipv4),
    asNumber: plan.asNumber,
    clusterId: LAB_CLUSTER_ID,
    listen: { address: "::", port: 179 },
    control,
    // metrics on the reflector's own loopback (its namespace): `lab exec` or `ip netns exec` scrapes them
    metrics: { address: "127.0.0.1", port: 9091 },
    peers: plan.hosts.map((h) => ({
      address: bare(h.ipv4),
      asNumber: plan.asNumber,
      passive: true,
      routeReflectorClient: true,
      ttlSecurity: 1,
      holdTime,
      localAddress: bare(rr.ipv4),
      localIPv6: bare(rr.ipv6),
    })),
  });
}

/** Datastore resources for the rr topology: no mesh, a global BGPPeer per reflector. */
export function reflectorResources(plan: LabPlan, reflectors: ReflectorPlan[]): Resource[] {
  return [
    { apiVersion: API_VERSION, kind: "BGPConfiguration", metadata: { name: "default" }, spec: { asNumber: plan.asNumber, nodeToNodeMeshEnabled: false } },
    ...reflectors.map(
      (rr): Resource => ({
        apiVersion: API_VERSION,
        kind: "BGPPeer",
        metadata: { name: `lab-${rr.name}` },
        spec: { peerIP: bare(rr.ipv4), asNumber: plan.asNumber, ttlSecurity: 1 },
      }),
    ),
  ];
}

/** Makes each reflector's namespace on the fabric bridge and starts its speaker. */
export async function startReflectors(
  plan: LabPlan,
  reflectors: ReflectorPlan[],
  dir: string,
  holdTime: number,
  fx: LabEffects = labEffects(),
): Promise<LabProcess[]> {
  const procs: LabProcess[] = [];
  for (const rr of reflectors) {
    await ipBatch(fx.runner, undefined, [
      `netns add ${rr.netns}`,
      `link add eth0 netns ${rr.netns} type veth peer name ${rr.fabricPort} netns ${plan.fabricNetns}`,
    ]);
    await sysctls(fx.runner, rr.netns, ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
    await ipBatch(fx.runner, plan.fabricNetns, [`link set ${rr.fabricPort} master br0 up`]);
    await ipBatch(fx.runner, rr.netns, ["link set lo up", `addr add ${rr.ipv4} dev eth0`, `addr add ${rr.ipv6} dev eth0 nodad`, "link set eth0 up"]);
    const control = join(dir, `${rr.name}.sock`);
    writeFileSync(reflectorConfigFile(dir, rr), reflectorConfig(plan, rr, control, holdTime));
    procs.push(await fx.supervisor.start(reflectorSpec(rr, dir)));
  }
  return procs;
}

const reflectorConfigFile = (dir: string, rr: ReflectorPlan) => join(dir, `${rr.name}.yaml`);

/** The supervisor's spec of a reflector's speaker, from the config `startReflectors` wrote (also `lab heal`). */
export function reflectorSpec(rr: ReflectorPlan, dir: string): DaemonSpec {
  const config = reflectorConfigFile(dir, rr);
  // the config path is on the command line: a reused pid is never mistaken for ours
  return {
    role: "reflector",
    name: rr.name,
    cmd: NODE,
    args: [CLI_MAIN, "bgp", "run", "-c", config],
    netns: rr.netns,
    log: join(dir, `${rr.name}.log`),
    marker: config,
  };
}
