/**
 * The agent's side of `tabby explain`: the control-socket op `{"op":"explain-route","dst",
 * "src"?, "iif"?}` answers how THIS host's kernel forwards a packet to `dst` right now — the
 * route the kernel chose (`ip route get`, with `from SRC iif DEV` for a packet leaving a local
 * workload, so the kernel's own source checks apply), the FIB entry that matched (prefix, route
 * protocol, type: `ip route show match`), the egress link's MTU, and the BGP route in the
 * speaker's Loc-RIB that covers `dst` (longest match). Nothing is recomputed: the kernel and the
 * speaker are asked. The parsing is pure; the commands are an injected CommandRunner.
 */
import type { CommandRunner } from "../dataplane/exec.js";
import { tryParseIP, tryParsePrefix } from "../net/index.js";
import { TabbyError } from "../errors.js";

/** tabby's route protocol number (src/dataplane/routes.ts). */
export const TABBY_PROTO = "152";

export interface ExplainRouteRequest {
  op: "explain-route";
  dst: string;
  src?: string;
  iif?: string;
}

export interface FibEntry {
  prefix: string;
  type: string;
  protocol?: string;
  dev?: string;
  gateways: string[];
}

export interface BgpCover {
  prefix: string;
  nextHops: string[];
  peer?: string;
  asPath: number[];
}

export interface ExplainRouteAnswer {
  dst: string;
  /** The kernel's choice, when it would forward. */
  chosen?: { dev: string; gateway?: string; prefsrc?: string };
  /** Why the kernel will not forward (its message), when it would not. */
  error?: string;
  /** The most specific FIB entry covering dst (main table). */
  fib?: FibEntry;
  /** The egress link's MTU, and the route's own `mtu` metric when set. */
  devMtu?: number;
  routeMtu?: number;
  /** The best BGP path covering dst in this host's speaker, if any. */
  bgp?: BgpCover;
  /** Learned routes the agent could not program, with reasons (agent.routeProblems()). */
  problems?: { dst: string; reason: string }[];
}

interface RoutesView {
  prefix: string;
  paths: { nextHop: string; asPath: number[]; peer: string; best: boolean }[];
}

export interface RouteLookupDeps {
  runner: CommandRunner;
  /** The speaker's Loc-RIB (speaker.routes()); empty when no speaker runs. */
  routes(family: "ipv4" | "ipv6"): RoutesView[];
  problems?(): { dst: string; reason: string }[];
}

export function validateRequest(req: Partial<ExplainRouteRequest>): ExplainRouteRequest {
  if (typeof req.dst !== "string" || !tryParseIP(req.dst))
    throw new TabbyError("AGENT_BAD_REQUEST", `explain-route: dst must be an IP address, not ${JSON.stringify(req.dst)}`);
  if (req.src !== undefined && (typeof req.src !== "string" || !tryParseIP(req.src)))
    throw new TabbyError("AGENT_BAD_REQUEST", `explain-route: src must be an IP address`);
  if (req.iif !== undefined && (typeof req.iif !== "string" || !/^[A-Za-z0-9_.-]{1,15}$/.test(req.iif)))
    throw new TabbyError("AGENT_BAD_REQUEST", `explain-route: iif must be an interface name`);
  return { op: "explain-route", dst: req.dst, ...(req.src ? { src: req.src } : {}), ...(req.iif ? { iif: req.iif } : {}) };
}

export async function lookupRoute(reqIn: Partial<ExplainRouteRequest>, deps: RouteLookupDeps): Promise<ExplainRouteAnswer> {
  const req = validateRequest(reqIn);
  const fam = req.dst.includes(":") ? "-6" : "-4";
  const out: ExplainRouteAnswer = { dst: req.dst };
  const getArgs = ["-j", fam, "route", "get", req.dst, ...(req.src && req.iif ? ["from", req.src, "iif", req.iif] : [])];
  const got = await deps.runner.run("ip", getArgs);
  if (got.code === 0) {
    const c = parseRouteGet(got.stdout);
    if (c) out.chosen = c;
  } else out.error = got.stderr.trim() || `ip route get exited ${got.code}`;
  const match = await deps.runner.run("ip", ["-j", fam, "route", "show", "match", req.dst]);
  if (match.code === 0) {
    const fib = bestFibEntry(match.stdout);
    if (fib) {
      out.fib = fib.entry;
      if (fib.mtu !== undefined) out.routeMtu = fib.mtu;
    }
  }
  const dev = out.chosen?.dev ?? out.fib?.dev;
  if (dev) {
    const link = await deps.runner.run("ip", ["-j", "link", "show", "dev", dev]);
    if (link.code === 0) {
      const mtu = (JSON.parse(link.stdout || "[]") as { mtu?: number }[])[0]?.mtu;
      if (mtu !== undefined) out.devMtu = mtu;
    }
  }
  const bgp = coveringBgpRoute(deps.routes(fam === "-6" ? "ipv6" : "ipv4"), req.dst);
  if (bgp) out.bgp = bgp;
  const problems = deps.problems?.().filter((p) => prefixCovers(p.dst, req.dst));
  if (problems?.length) out.problems = problems;
  return out;
}

/** `ip -j route get` → the chosen device and gateway. Pure. */
export function parseRouteGet(json: string): ExplainRouteAnswer["chosen"] | undefined {
  const row = (JSON.parse(json || "[]") as { dev?: string; gateway?: string; prefsrc?: string; type?: string }[])[0];
  if (!row?.dev) return undefined;
  return { dev: row.dev, ...(row.gateway ? { gateway: row.gateway } : {}), ...(row.prefsrc ? { prefsrc: row.prefsrc } : {}) };
}

interface ShowRow {
  dst: string;
  type?: string;
  protocol?: string;
  dev?: string;
  gateway?: string;
  nexthops?: { gateway?: string; dev?: string }[];
  metric?: number;
  metrics?: { mtu?: number }[];
}

/** `ip -j route show match DST` → the longest (then lowest-metric) entry. Pure. */
export function bestFibEntry(json: string): { entry: FibEntry; mtu?: number } | undefined {
  const rows = JSON.parse(json || "[]") as ShowRow[];
  const len = (r: ShowRow) => (r.dst === "default" ? 0 : Number(r.dst.split("/")[1] ?? (r.dst.includes(":") ? 128 : 32)));
  const best = [...rows].sort((a, b) => len(b) - len(a) || (a.metric ?? 0) - (b.metric ?? 0))[0];
  if (!best) return undefined;
  const gateways = best.nexthops ? best.nexthops.map((n) => n.gateway).filter((g): g is string => !!g) : best.gateway ? [best.gateway] : [];
  const entry: FibEntry = { prefix: best.dst, type: best.type ?? "unicast", gateways };
  if (best.protocol !== undefined) entry.protocol = best.protocol;
  const dev = best.dev ?? best.nexthops?.[0]?.dev;
  if (dev) entry.dev = dev;
  const mtu = best.metrics?.find((m) => m.mtu !== undefined)?.mtu;
  return mtu !== undefined ? { entry, mtu } : { entry };
}

/** The most specific Loc-RIB route covering `dst`, with its best path(s). Pure. */
export function coveringBgpRoute(routes: RoutesView[], dst: string): BgpCover | undefined {
  let best: { r: RoutesView; len: number } | undefined;
  for (const r of routes) {
    if (!prefixCovers(r.prefix, dst)) continue;
    const len = Number(r.prefix.split("/")[1]);
    if (!best || len > best.len) best = { r, len };
  }
  if (!best) return undefined;
  const paths = best.r.paths.filter((p) => p.best);
  const first = paths[0] ?? best.r.paths[0];
  return {
    prefix: best.r.prefix,
    nextHops: (paths.length ? paths : best.r.paths.slice(0, 1)).map((p) => p.nextHop),
    asPath: first?.asPath ?? [],
    ...(first?.peer ? { peer: first.peer } : {}),
  };
}

export function prefixCovers(prefix: string, addr: string): boolean {
  const p = tryParsePrefix(prefix.includes("/") ? prefix : `${prefix}/${prefix.includes(":") ? 128 : 32}`);
  const ip = tryParseIP(addr);
  return !!p && !!ip && p.family === ip.family && p.contains(ip);
}
