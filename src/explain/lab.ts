/**
 * `tabby explain` in the lab: the places (hosts, routers, workloads, anycast holders) from the
 * lab's state; each host's route asked from its agent: over its explain API (mutual TLS, the same
 * API as across real machines, src/explain/api.ts) on its fabric address — reached through a byte
 * pipe run in a namespace that routes to the hosts (the root namespace has none into the lab;
 * src/lab/explain-pipe.ts), the TLS session end to end — or, with `via: "control"` (the live map,
 * `tabby explain --via control`), over its control socket in the lab directory
 * (`<lab dir>/<host>.sock`); both answer with the agent's own `explain-route` code. A router's route read
 * from its kernel with `ip route get` in its namespace (routers run BIRD, FRR or a tabby speaker,
 * not an agent); a workload's MTU from its eth0. The policies are read from the lab's datastore
 * as `lab check` reads them. The shell of explain: all the I/O, none of the logic (walk.ts).
 */
import { join } from "node:path";
import { spawn } from "node:child_process";
import { EXPLAIN_PIPE, NODE } from "../lab/paths.js";
import { explainPkiPaths } from "../lab/pki.js";
import { DEFAULT_EXPLAIN_PORT, queryExplainApi } from "./api.js";
import { queryControl } from "../bgp/control.js";
import { ExecRunner, type CommandRunner } from "../dataplane/exec.js";
import { TabbyError } from "../errors.js";
import { PolicyEvaluator } from "../calc/policy-eval.js";
import { loadWorld } from "../lab/check.js";
import { openLabStore } from "../lab/etcd.js";
import { ResourceClient } from "../datastore/resource-client.js";
import type { LabState } from "../lab/state.js";
import { lookupRoute, type ExplainRouteAnswer } from "./route-lookup.js";
import type { HopOracle, Place } from "./walk.js";
import { failsafeFromFelix, placesTopology, type PlacesTopology } from "./topology.js";

export interface LabExplainContext {
  /** FelixConfiguration `default`'s failsafe inbound ports (Calico's defaults when unset or unreadable). */
  failsafeInbound: { protocol: string; port: number }[];
  topo: PlacesTopology;
  oracle: HopOracle;
  evaluator: PolicyEvaluator;
  netnsOf(name: string): string | undefined;
  /** Ends what asking started (the explain API pipes). */
  close(): Promise<void>;
}

/** Inside a network namespace, for a router's kernel. */
function nsRunner(runner: CommandRunner, netns: string): CommandRunner {
  return { run: (cmd, args, opts) => runner.run(cmd, args, { ...opts, netns }) };
}

export interface LabExplainOptions {
  /**
   * How a host's agent is asked: `api` (default for `tabby explain`) its explain API on its fabric
   * address with the lab's explain client certificate, through a pipe run in a namespace that
   * routes to the hosts (`explainPipe`); `control` its control socket in the lab directory.
   */
  via?: "api" | "control";
}

/** The namespace that routes to every host's fabric address: the bridge's, or a routed fabric's spine. */
export function labRoutingNetns(state: LabState): string {
  return state.fabric?.routers.find((r) => r.role === "spine")?.netns ?? state.plan.fabricNetns;
}

/** Starts the byte pipe (src/lab/explain-pipe.ts) in `netns` to host:port; resolves when it listens. */
async function startPipe(netns: string, socketPath: string, host: string, port: number): Promise<{ close(): void }> {
  const child = spawn("ip", ["netns", "exec", netns, NODE, EXPLAIN_PIPE, socketPath, host, String(port)], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new TabbyError("LAB_COMMAND_FAILED", `the explain pipe in ${netns} ended (${code}): ${err.trim()}`)));
    child.once("error", reject);
  });
  // `ip netns exec` execs node in place: this pid is the pipe's; closing its stdin ends it
  return { close: () => child.stdin.end() };
}

export async function labExplainContext(state: LabState, runner: CommandRunner = new ExecRunner(), opts: LabExplainOptions = {}): Promise<LabExplainContext> {
  if (!state.ready) throw new TabbyError("LAB_NOT_READY", `lab "${state.name}" did not finish coming up; run \`tabby lab up\` again`);
  const { world } = await loadWorld(state);
  const evaluator = new PolicyEvaluator(world);
  const places: Place[] = [];
  const netns = new Map<string, string>();
  // every address of a namespace, and the link (name, MTU) that holds it
  const links = new Map<string, Map<string, { dev: string; mtu: number }>>();
  const nsAddrs = async (ns: string): Promise<string[]> => {
    const r = await runner.run("ip", ["-j", "addr", "show"], { netns: ns });
    if (r.code !== 0) return [];
    const byAddr = new Map<string, { dev: string; mtu: number }>();
    for (const l of JSON.parse(r.stdout || "[]") as { ifname: string; mtu: number; addr_info?: { local?: string; scope?: string }[] }[]) {
      for (const a of l.addr_info ?? []) if (a.local && a.scope === "global") byAddr.set(a.local, { dev: l.ifname, mtu: l.mtu });
    }
    links.set(ns, byAddr);
    return [...byAddr.keys()];
  };
  const hostNames = new Set(state.plan.hosts.map((h) => h.name));
  await Promise.all([
    ...state.plan.hosts.map(async (h) => {
      places.push({ kind: "host", name: h.name, addrs: await nsAddrs(h.netns), agent: true });
      netns.set(h.name, h.netns);
    }),
    ...(state.fabric?.routers ?? []).map(async (r) => {
      places.push({ kind: "router", name: r.name, addrs: await nsAddrs(r.netns) });
      netns.set(r.name, r.netns);
    }),
    ...(state.fabric
      ? []
      : [
          (async () => {
            places.push({ kind: "router", name: "fabric", addrs: await nsAddrs(state.plan.fabricNetns) });
            netns.set("fabric", state.plan.fabricNetns);
          })(),
        ]),
  ]);
  for (const w of state.workloads) {
    const addrs = [w.ipv4, w.ipv6].filter((a): a is string => !!a);
    for (const a of state.anycast ?? []) if (a.workloads.includes(w.name)) addrs.push(a.address);
    const ep = world.endpoints.find((e) => e.addrs.includes(w.ipv4 ?? "") || e.addrs.includes(w.ipv6 ?? ""));
    places.push({
      kind: "workload",
      name: w.name,
      host: w.host,
      ...(w.interface ? { iface: w.interface } : {}),
      ...(ep ? { endpoint: `${ep.namespace}/${ep.name}`, labels: ep.labels } : {}),
      addrs,
    });
    netns.set(w.name, w.netns);
  }
  // workload endpoints that are not lab workloads (made by hand) by their endpoint name
  for (const e of world.endpoints) {
    if (places.some((p) => p.endpoint === `${e.namespace}/${e.name}`)) continue;
    if (e.node && hostNames.has(e.node))
      places.push({ kind: "workload", name: e.name, host: e.node, endpoint: `${e.namespace}/${e.name}`, labels: e.labels, addrs: e.addrs });
  }
  const topo = placesTopology(places, world.hostEndpoints, (place, addr) => {
    const ns = netns.get(place.name);
    return ns ? links.get(ns)?.get(addr) : undefined;
  });
  const pipes = new Map<string, Promise<{ close(): void }>>();
  const askApi = async (at: Place, req: { dst: string; src?: string; iif?: string }) => {
    const h = state.plan.hosts.find((x) => x.name === at.name);
    if (!h) throw new TabbyError("LAB_NOT_FOUND", `no lab host ${at.name}`);
    const host = h.ipv4.split("/")[0]!;
    const sock = join(state.dir, `${at.name}-explain.sock`);
    const ns = labRoutingNetns(state);
    if (!pipes.has(at.name)) pipes.set(at.name, startPipe(ns, sock, host, DEFAULT_EXPLAIN_PORT));
    await pipes.get(at.name);
    const p = explainPkiPaths(state.dir, []);
    const ans = (await queryExplainApi(
      { host, port: DEFAULT_EXPLAIN_PORT },
      { ca: p.ca, cert: p.client.cert, key: p.client.key },
      { op: "explain-route", ...req },
      5000,
      sock,
    )) as ExplainRouteAnswer;
    return { ...ans, via: `${at.name}'s agent (explain API ${host}:${DEFAULT_EXPLAIN_PORT}, from ${ns})` };
  };
  const oracle: HopOracle = {
    async route(at, req) {
      if (at.agent && opts.via === "api") return askApi(at, req);
      if (at.agent) {
        const sock = join(state.dir, `${at.name}.sock`);
        try {
          const ans = (await queryControl(sock, { op: "explain-route", ...req })) as ExplainRouteAnswer;
          return { ...ans, via: `${at.name}'s agent` };
        } catch (err) {
          throw new TabbyError("AGENT_UNREACHABLE", `cannot ask ${at.name}'s agent (${sock}): ${(err as Error).message}`);
        }
      }
      const ns = netns.get(at.name);
      if (!ns) throw new TabbyError("LAB_NOT_FOUND", `no namespace for ${at.name}`);
      const ans = await lookupRoute({ op: "explain-route", dst: req.dst }, { runner: nsRunner(runner, ns), routes: () => [] });
      return { ...ans, via: `${at.name}'s kernel` };
    },
    async workloadMtu(w) {
      const ns = netns.get(w.name);
      if (!ns) return undefined;
      const r = await runner.run("ip", ["-j", "link", "show", "dev", "eth0"], { netns: ns });
      if (r.code !== 0) return undefined;
      return (JSON.parse(r.stdout || "[]") as { mtu?: number }[])[0]?.mtu;
    },
  };
  return {
    failsafeInbound: await failsafeInbound(state),
    topo,
    oracle,
    evaluator,
    netnsOf: (n) => netns.get(n),
    close: async () => {
      for (const p of pipes.values()) (await p.catch(() => undefined))?.close();
    },
  };
}

async function failsafeInbound(state: LabState): Promise<{ protocol: string; port: number }[]> {
  try {
    const { store, close } = await openLabStore(state);
    try {
      return failsafeFromFelix((await new ResourceClient(store).list("FelixConfiguration")).items);
    } finally {
      await close();
    }
  } catch {
    return failsafeFromFelix([]);
  }
}
