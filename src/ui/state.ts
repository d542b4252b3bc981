/**
 * What the map (`tabby ui`) draws, read from the lab as it is now: hosts and routers by rack
 * (the lab's state), each host's BGP sessions and the prefixes it originates (asked from its
 * agent's control socket: `peers`, `routes`), and the workloads with their addresses and labels
 * (the datastore's WorkloadEndpoints). A session is drawn once per pair of ends; an end whose
 * agent does not answer counts as down. `mapModel` is pure; `readMapState` does the I/O.
 */
import { join } from "node:path";
import { queryControl } from "../bgp/control.js";
import type { LabState } from "../lab/state.js";
import type { LabExplainContext } from "../explain/lab.js";

export interface MapNode {
  name: string;
  kind: "host" | "router";
  rack?: string;
  role?: string;
  addrs: string[];
  /** Hosts: the agent answered. Routers: always true (their daemons are not asked). */
  up: boolean;
  prefixes: string[];
}

export interface MapSession {
  a: string;
  b: string;
  /** "Established" when every end that answered says so and no end is silent; else the first other state. */
  state: string;
  established: boolean;
  /** A session between routers (ToR to spine): in the plan, its state not asked of the routers' daemons. */
  unknown?: boolean;
}

export interface MapWorkload {
  name: string;
  host: string;
  addrs: string[];
  labels: Record<string, string>;
}

export interface MapState {
  lab: string;
  topology: string;
  at: string;
  nodes: MapNode[];
  sessions: MapSession[];
  workloads: MapWorkload[];
}

export interface AgentView {
  host: string;
  /** undefined: the agent did not answer. */
  peers?: { address: string; state: string; established: boolean }[];
  routes?: { prefix: string; paths: { peer: string }[] }[];
}

/** Sessions from what each agent says, keyed by the pair of ends. Pure. */
export function mapSessions(
  views: AgentView[],
  ownerOf: (addr: string) => string | undefined,
  lastPeers: ReadonlyMap<string, AgentView["peers"]> = new Map(),
): MapSession[] {
  const byPair = new Map<string, { a: string; b: string; states: (string | undefined)[] }>();
  for (const v of views) {
    // a silent agent's sessions are the ones it last reported (then drawn down)
    for (const p of v.peers ?? lastPeers.get(v.host) ?? []) {
      const other = ownerOf(p.address);
      if (!other) continue;
      const [a, b] = [v.host, other].sort() as [string, string];
      const key = `${a}\0${b}`;
      const e = byPair.get(key) ?? { a, b, states: [] };
      e.states.push(p.established ? "Established" : p.state);
      byPair.set(key, e);
    }
  }
  // an agent that does not answer: its sessions are down, whatever the other end last heard
  const silent = new Set(views.filter((v) => !v.peers).map((v) => v.host));
  return [...byPair.values()].map((e) => {
    const down = silent.has(e.a) || silent.has(e.b);
    const other = e.states.find((s) => s !== "Established");
    const state = down ? "Down (agent not answering)" : (other ?? "Established");
    return { a: e.a, b: e.b, state, established: state === "Established" };
  });
}

/** `lastPeers`: each host's peers as last heard, kept by the caller across readings (updated here). */
export async function readMapState(state: LabState, ctx: LabExplainContext, lastPeers: Map<string, AgentView["peers"]> = new Map()): Promise<MapState> {
  const hosts = state.plan.hosts;
  const views: AgentView[] = await Promise.all(
    hosts.map(async (h) => {
      const sock = join(state.dir, `${h.name}.sock`);
      try {
        const peers = (await queryControl(sock, { op: "peers" }, 2000)) as AgentView["peers"];
        const routes = [
          ...((await queryControl(sock, { op: "routes", family: "ipv4" }, 2000)) as NonNullable<AgentView["routes"]>),
          ...((await queryControl(sock, { op: "routes", family: "ipv6" }, 2000)) as NonNullable<AgentView["routes"]>),
        ];
        return { host: h.name, peers, routes };
      } catch {
        return { host: h.name };
      }
    }),
  );
  const places = ctx.topo.places;
  const nodes: MapNode[] = [];
  for (const h of hosts) {
    const v = views.find((x) => x.host === h.name)!;
    const p = places.find((x) => x.name === h.name);
    nodes.push({
      name: h.name,
      kind: "host",
      ...(h.rack ? { rack: h.rack } : {}),
      addrs: p?.addrs ?? [],
      up: !!v.peers,
      prefixes: (v.routes ?? []).filter((r) => r.paths.some((x) => x.peer === "local")).map((r) => r.prefix),
    });
  }
  for (const r of state.fabric?.routers ?? []) {
    nodes.push({
      name: r.name,
      kind: "router",
      role: r.role,
      ...(r.rack ? { rack: r.rack } : {}),
      addrs: places.find((x) => x.name === r.name)?.addrs ?? [],
      up: true,
      prefixes: [],
    });
  }
  for (const r of state.reflectors ?? [])
    nodes.push({ name: r.name, kind: "router", role: "reflector", addrs: [r.ipv4.split("/")[0]!, r.ipv6.split("/")[0]!], up: true, prefixes: [] });
  const ownerOf = (addr: string) => nodes.find((n) => n.addrs.includes(addr))?.name;
  const sessions = mapSessions(views, ownerOf, lastPeers);
  for (const r of state.fabric?.routers ?? []) {
    for (const l of r.down)
      if (state.fabric!.routers.some((t) => t.name === l.peerName))
        sessions.push({ a: r.name, b: l.peerName, state: "not asked (router daemons)", established: false, unknown: true });
  }
  for (const v of views) if (v.peers) lastPeers.set(v.host, v.peers);
  const workloads: MapWorkload[] = places
    .filter((p) => p.kind === "workload")
    .map((p) => ({ name: p.name, host: p.host ?? "", addrs: p.addrs, labels: p.labels ?? {} }));
  return { lab: state.name, topology: state.topology ?? "mesh", at: new Date().toISOString(), nodes, sessions, workloads };
}
