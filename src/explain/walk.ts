/**
 * `tabby explain`: the path of one packet as it is NOW, hop by hop. Calico's model (calico-spec
 * §3.3, §4): a packet leaving a workload passes the anti-spoofing check and the workload's egress
 * policy on its host, is routed by each host's kernel (routes that came from BGP), and passes the
 * destination workload's ingress policy; the smallest link MTU on the way bounds its size.
 *
 * The routes are not recomputed: each hop is asked through an injected `HopOracle` (the agents'
 * control sockets, a router's kernel). The policy verdicts come from the same evaluator as
 * `tabby lab check` (calc/policy-eval.ts). The first step that fails is named with its reason; a
 * hop whose oracle cannot answer (an agent that cannot be reached) fails as such.
 *
 * A next hop that is no known place (a ToR or spine of a real fabric, which runs no agent) is
 * crossed only by inference, and says so: when the hop's BGP route for the destination was
 * learned from a BGPPeer the topology knows, the router segment is recorded as "not asked —
 * forwarding inferred from BGP" (the prefix and AS path the router advertised) and the walk goes
 * on at the host that originates the destination (`originOf`), asking its agent. Otherwise the
 * walk fails there as before. Pure apart from the oracle it is given.
 */
import type { PolicyEvaluator, EvalProtocol, Verdict } from "../calc/policy-eval.js";
import type { ExplainRouteAnswer } from "./route-lookup.js";
import { TABBY_PROTO } from "./route-lookup.js";

export interface Place {
  kind: "workload" | "host" | "router";
  name: string;
  /** Workloads: the host they run on, the host-side interface and the endpoint key (namespace/name). */
  host?: string;
  iface?: string;
  endpoint?: string;
  addrs: string[];
  /** Workloads: the endpoint's labels (for the map). */
  labels?: Record<string, string>;
  /** Hosts: a tabby agent answers for it (routers are asked through their kernel). */
  agent?: boolean;
}

export interface Topology {
  /** The place that holds `addr` (a host's or router's interface, a workload) as seen from `near`. */
  ownerOf(addr: string, near?: Place): Place | undefined;
  /** The workload behind a host's interface. */
  workloadOn(host: string, iface: string): Place | undefined;
  place(name: string): Place | undefined;
  /** The interface of `place` that holds `addr`, and its MTU (a packet arrives through it). */
  ingressLink?(place: Place, addr: string): { dev: string; mtu: number } | undefined;
  /** A router configured as a BGPPeer (by its peer IP): its resource name and AS. */
  bgpPeer?(ip: string): { name: string; asNumber?: number } | undefined;
  /** The host that originates `addr` into BGP (its workload's host, its own address, its IPAM block's affinity), and why. */
  originOf?(addr: string): { place: Place; why: string } | undefined;
}

/** A router segment explain crossed without asking anyone: what BGP said about it. */
export interface InferredHop {
  /** The router's address (the BGP peer the route was learned from). */
  router: string;
  /** Its BGPPeer resource and AS. */
  bgpPeer: string;
  asNumber?: number;
  /** The BGP route the host before it holds for the destination: prefix and AS path. */
  prefix: string;
  asPath: number[];
  /** When the kernel's next hop is another BGPPeer than the one the best path came from (ECMP): that one. */
  learnedFrom?: string;
  /** The host the walk went on at, and why that host. */
  continuedAt: string;
  why: string;
}

export interface HopOracle {
  route(at: Place, req: { dst: string; src?: string; iif?: string }): Promise<ExplainRouteAnswer & { via: string }>;
  /** The MTU of a workload's own interface (eth0 inside it). */
  workloadMtu?(w: Place): Promise<number | undefined>;
}

export interface ExplainRequest {
  src: Place;
  dst: Place;
  srcAddr: string;
  dstAddr: string;
  protocol: EvalProtocol;
  port?: number;
  /** Packet size to check against the path MTU; default: the source interface's MTU. */
  size?: number;
  /** Failsafe inbound ports (FelixConfiguration failsafeInboundHostPorts), "tcp:22" etc. */
  failsafeInbound?: { protocol: string; port: number }[];
}

export type StepKind = "anti-spoofing" | "egress policy" | "route" | "mtu" | "ingress policy" | "failsafe" | "arrive";

export interface Step {
  at: string;
  kind: StepKind;
  ok: boolean;
  detail: string;
  /** Route steps: the agent's answer; policy steps: the verdict. */
  route?: ExplainRouteAnswer & { via: string };
  verdict?: Verdict;
  /** A router segment that was not asked: forwarding inferred from BGP. */
  inferred?: InferredHop;
}

export interface Explanation {
  src: string;
  dst: string;
  srcAddr: string;
  dstAddr: string;
  protocol: EvalProtocol;
  port?: number;
  arrives: boolean;
  /** The first step that failed. */
  failed?: { at: string; kind: StepKind; reason: string };
  /** Names of the places the packet crosses, in order. */
  path: string[];
  pathMtu?: number;
  size?: number;
  steps: Step[];
  /**
   * Router segments that were inferred from BGP, never asked (their forwarding, links and MTUs
   * are not known to explain); absent when every hop was asked.
   */
  inferred?: InferredHop[];
}

const MAX_HOPS = 16;

export async function explainPath(req: ExplainRequest, topo: Topology, oracle: HopOracle, evaluator: PolicyEvaluator): Promise<Explanation> {
  const steps: Step[] = [];
  const path: string[] = [req.src.name];
  const out: Explanation = {
    src: req.src.name,
    dst: req.dst.name,
    srcAddr: req.srcAddr,
    dstAddr: req.dstAddr,
    protocol: req.protocol,
    ...(req.port !== undefined ? { port: req.port } : {}),
    arrives: false,
    path,
    steps,
  };
  const fail = (s: Step): Explanation => {
    steps.push(s);
    out.failed = { at: s.at, kind: s.kind, reason: s.detail };
    return out;
  };
  const packet = { src: req.srcAddr, dst: req.dstAddr, protocol: req.protocol, ...(req.port !== undefined ? { dstPort: req.port } : {}) };

  let size = req.size;
  const mtus: { at: string; dev: string; mtu: number; ingress?: boolean }[] = [];
  let current: Place;
  let iif: string | undefined;
  if (req.src.kind === "workload") {
    const own = req.src.addrs.includes(req.srcAddr);
    const spoof: Step = {
      at: req.src.name,
      kind: "anti-spoofing",
      ok: own,
      detail: own
        ? `${req.srcAddr} is ${req.src.name}'s own address`
        : `${req.srcAddr} is not an address of ${req.src.name}: its host drops the packet as spoofed`,
    };
    if (!own) return fail(spoof);
    steps.push(spoof);
    const ev = evaluator.evaluate(packet, at(req.src, req.dst), true);
    const st: Step = {
      at: `${req.src.host} (${req.src.name} egress)`,
      kind: "egress policy",
      ok: ev.egress.allowed,
      detail: verdictText(ev.egress),
      verdict: ev.egress,
    };
    if (!ev.egress.allowed) return fail(st);
    steps.push(st);
    const wmtu = await oracle.workloadMtu?.(req.src);
    if (wmtu !== undefined) {
      mtus.push({ at: req.src.name, dev: "eth0", mtu: wmtu });
      size ??= wmtu;
    }
    const host = topo.place(req.src.host ?? "");
    if (!host) return fail({ at: req.src.name, kind: "route", ok: false, detail: `the host of ${req.src.name} (${req.src.host}) is not known` });
    current = host;
    iif = req.src.iface;
    path.push(host.name);
  } else current = req.src;

  const visited = new Set<string>();
  let reached: Place | undefined;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    if (visited.has(current.name))
      return fail({ at: current.name, kind: "route", ok: false, detail: `routing loop: the packet comes back to ${current.name} (path ${path.join(" → ")})` });
    visited.add(current.name);
    if (current.addrs.includes(req.dstAddr)) {
      reached = current;
      break;
    }
    let ans: ExplainRouteAnswer & { via: string };
    try {
      ans = await oracle.route(current, { dst: req.dstAddr, ...(iif ? { src: req.srcAddr, iif } : {}) });
    } catch (err) {
      // a hop nobody could ask is reported as unknown, never guessed
      return fail({
        at: current.name,
        kind: "route",
        ok: false,
        detail: `cannot ask how ${current.name} forwards to ${req.dstAddr}: ${(err as Error).message}`,
      });
    }
    iif = undefined;
    const fibText = ans.fib
      ? `${ans.fib.prefix}${ans.fib.gateways.length ? ` via ${ans.fib.gateways.join(", ")}` : ""}${ans.fib.dev ? ` dev ${ans.fib.dev}` : ""} (${protoName(ans.fib.protocol)})`
      : "no route";
    const bgpText = ans.bgp
      ? `BGP ${ans.bgp.prefix} via ${ans.bgp.nextHops.join(", ")}${ans.bgp.peer ? ` from ${ans.bgp.peer}` : ""}${ans.bgp.asPath.length ? ` AS path ${ans.bgp.asPath.join(" ")}` : ""}`
      : "no BGP route";
    const problems = ans.problems?.length ? `; the agent reports: ${ans.problems.map((p) => `${p.dst}: ${p.reason}`).join("; ")}` : "";
    if (ans.fib && ["blackhole", "unreachable", "prohibit"].includes(ans.fib.type)) {
      const why =
        ans.fib.protocol === TABBY_PROTO && ans.fib.type === "blackhole"
          ? ` (tabby's blackhole for a block this host holds: no workload has ${req.dstAddr})`
          : "";
      return fail({
        at: current.name,
        kind: "route",
        ok: false,
        detail: `${current.name}'s kernel has a ${ans.fib.type} route ${ans.fib.prefix}${why}; ${bgpText}${problems}`,
        route: ans,
      });
    }
    if (!ans.chosen)
      return fail({
        at: current.name,
        kind: "route",
        ok: false,
        detail: `${current.name}'s kernel will not forward to ${req.dstAddr}: ${ans.error ?? "no route"}; ${bgpText}${problems}`,
        route: ans,
      });
    const fibLen = ans.fib ? prefixLen(ans.fib.prefix) : -1;
    if (current.agent && ans.bgp && fibLen < prefixLen(ans.bgp.prefix) && !ans.chosen.dev.startsWith("tab")) {
      return fail({
        at: current.name,
        kind: "route",
        ok: false,
        detail: `${current.name}'s kernel does not follow BGP: ${bgpText}, but the kernel's route is ${fibText} — the route was deleted or overridden${problems}`,
        route: ans,
      });
    }
    const next = ans.chosen.dev.startsWith("tab") ? topo.workloadOn(current.name, ans.chosen.dev) : topo.ownerOf(ans.chosen.gateway ?? req.dstAddr, current);
    const mtu = Math.min(ans.devMtu ?? Infinity, ans.routeMtu ?? Infinity);
    if (mtu !== Infinity) mtus.push({ at: current.name, dev: ans.chosen.dev, mtu });
    const st: Step = {
      at: current.name,
      kind: "route",
      ok: !!next,
      detail: `${current.name} → ${next?.name ?? "?"}: kernel route ${fibText}${ans.chosen.gateway ? `, next hop ${ans.chosen.gateway}` : ""}${ans.fib?.dev === ans.chosen.dev ? "" : ` dev ${ans.chosen.dev}`}${mtu !== Infinity ? ` mtu ${mtu}` : ""}; ${bgpText} [${ans.via}]`,
      route: ans,
    };
    if (!next) {
      const inferred = inferThroughRouter(current, ans, req.dstAddr, topo);
      if (inferred) {
        st.ok = true;
        st.detail = `${current.name} → router ${inferred.router}: kernel route ${fibText}${ans.chosen.gateway ? `, next hop ${ans.chosen.gateway}` : ""}${ans.fib?.dev === ans.chosen.dev ? "" : ` dev ${ans.chosen.dev}`}${mtu !== Infinity ? ` mtu ${mtu}` : ""}; ${bgpText} [${ans.via}]`;
        steps.push(st);
        const as = inferred.asNumber !== undefined ? `, AS ${inferred.asNumber}` : "";
        steps.push({
          at: `router ${inferred.router}`,
          kind: "route",
          ok: true,
          detail: `router ${inferred.router} (BGPPeer ${inferred.bgpPeer}${as}): not asked — forwarding inferred from BGP: ${inferred.learnedFrom ? `${current.name}'s kernel chose it (ECMP); the best path to ${inferred.prefix} came from ${inferred.learnedFrom}` : `it advertised ${inferred.prefix}`} with AS path [${inferred.asPath.join(" ")}] to ${current.name}; the walk goes on at ${inferred.continuedAt}, ${inferred.why} (the routers' links and MTUs are not known)`,
          inferred,
        });
        (out.inferred ??= []).push(inferred);
        path.push(`router ${inferred.router}`);
        const origin = topo.place(inferred.continuedAt)!;
        path.push(origin.name);
        current = origin;
        continue;
      }
      st.detail = `${current.name} sends it to ${ans.chosen.gateway ?? req.dstAddr} dev ${ans.chosen.dev}, which is no host, router or workload this explain knows (route ${fibText})${problems}`;
      return fail(st);
    }
    steps.push(st);
    const inLink = next.kind !== "workload" ? topo.ingressLink?.(next, ans.chosen.gateway ?? req.dstAddr) : undefined;
    if (inLink) mtus.push({ at: next.name, dev: inLink.dev, mtu: inLink.mtu, ingress: true });
    path.push(next.name);
    current = next;
    if (current.kind === "workload") {
      reached = current;
      break;
    }
  }
  if (!reached) return fail({ at: current.name, kind: "route", ok: false, detail: `more than ${MAX_HOPS} hops` });

  // The path MTU, and the first link a packet of `size` bytes (default: what the source's first link takes) does not fit.
  if (mtus.length) {
    size ??= mtus[0]!.mtu;
    out.pathMtu = Math.min(...mtus.map((m) => m.mtu));
    if (size !== undefined) {
      out.size = size;
      const small = mtus.find((m) => m.mtu < size!);
      if (small) {
        const how = small.ingress
          ? `it arrives through ${small.at}'s ${small.dev} (mtu ${small.mtu}), which drops larger frames on receipt with no ICMP to tell the source — an MTU mismatch between the two ends of a link`
          : `it leaves through ${small.at}'s ${small.dev} (mtu ${small.mtu}): with DF set it is dropped there and only an ICMP "fragmentation needed" reaching the source lets it shrink`;
        return fail({ at: small.at, kind: "mtu", ok: false, detail: `a ${size}-byte packet does not fit: ${how}; the path MTU is ${out.pathMtu}` });
      }
      steps.push({ at: path.join(" → "), kind: "mtu", ok: true, detail: `path MTU ${out.pathMtu}; a ${size}-byte packet fits` });
    }
  }

  if (reached.kind === "workload") {
    const ev = evaluator.evaluate(packet, at(req.src, reached), true);
    const st: Step = {
      at: `${reached.host} (${reached.name} ingress)`,
      kind: "ingress policy",
      ok: ev.ingress.allowed,
      detail: verdictText(ev.ingress),
      verdict: ev.ingress,
    };
    if (!ev.ingress.allowed) return fail(st);
    steps.push(st);
  } else {
    const fs = req.protocol !== "icmp" && req.port !== undefined && req.failsafeInbound?.some((f) => f.protocol === req.protocol && f.port === req.port);
    steps.push({
      at: reached.name,
      kind: "failsafe",
      ok: true,
      detail: fs
        ? `${req.protocol} ${req.port} is a failsafe inbound port: allowed to the host whatever its host endpoint policy says`
        : `to the host itself: host endpoint policy for traffic to a host is not evaluated by explain`,
    });
  }
  steps.push({ at: reached.name, kind: "arrive", ok: true, detail: `arrives at ${reached.name} (${req.dstAddr})` });
  out.arrives = true;
  if (reached.name !== req.dst.name) out.dst = `${req.dst.name} (reached ${reached.name})`;
  return out;
}

/**
 * The router segment after `current`, when BGP names it: the kernel's gateway if it is a BGPPeer
 * among the BGP route's next hops, else the peer the BGP route was learned from if it is a
 * BGPPeer; and the host that originates `dst`. Undefined when either is missing.
 */
function inferThroughRouter(current: Place, ans: ExplainRouteAnswer, dst: string, topo: Topology): InferredHop | undefined {
  if (!ans.bgp?.peer || !topo.bgpPeer || !topo.originOf) return undefined;
  const learned = topo.bgpPeer(ans.bgp.peer);
  if (!learned) return undefined;
  const origin = topo.originOf(dst);
  if (!origin || origin.place.name === current.name) return undefined;
  // the router the packet goes to: the kernel's next hop when it is a BGPPeer too (ECMP over two ToRs), else the peer BGP names
  const gw = ans.chosen?.gateway;
  const viaGw = gw && gw !== ans.bgp.peer ? topo.bgpPeer(gw) : undefined;
  const [router, peer] = viaGw ? [gw!, viaGw] : [ans.bgp.peer, learned];
  return {
    router,
    bgpPeer: peer.name,
    ...(peer.asNumber !== undefined ? { asNumber: peer.asNumber } : {}),
    prefix: ans.bgp.prefix,
    asPath: ans.bgp.asPath,
    ...(router !== ans.bgp.peer ? { learnedFrom: ans.bgp.peer } : {}),
    continuedAt: origin.place.name,
    why: origin.why,
  };
}

function at(src: Place, dst: Place): { src?: string; dst?: string } {
  return { ...(src.endpoint ? { src: src.endpoint } : {}), ...(dst.endpoint ? { dst: dst.endpoint } : {}) };
}

export function verdictText(v: Verdict): string {
  const rule = v.rule ? `: ${JSON.stringify(v.rule)}` : "";
  const tier = v.tier && v.policy ? ` in tier ${v.tier}` : "";
  return `${v.allowed ? "allowed" : "denied"} by ${v.by}${tier}${rule}`;
}

function protoName(p: string | undefined): string {
  if (p === TABBY_PROTO) return "tabby";
  return p ? `proto ${p}` : "proto kernel";
}

function prefixLen(p: string): number {
  if (p === "default") return 0;
  const l = p.split("/")[1];
  return l === undefined ? (p.includes(":") ? 128 : 32) : Number(l);
}
