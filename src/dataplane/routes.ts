/**
 * The route driver: tabby's routes in the kernel's main table, both families, marked with route
 * protocol RT_PROTO_TABBY. Reads them back with `ip -j route show proto 152`, diffs them against
 * the desired set (pure) and applies the difference in one `ip -force -batch -`: each line stands on
 * its own, so a route the kernel refuses (a next hop not on a connected network, a device that went
 * away) does not block the others; every refusal is returned with the route and the kernel's
 * reason, kept for status, and retried on the next pass (the diff still shows it missing). Never
 * touches a route with another protocol (Felix does the same with its own protocol 80,
 * calico-spec §4.5).
 *
 * Shapes handled on read-back: ECMP as `nexthops: [{gateway, dev}]` (v4 and recent v6 kernels),
 * and older IPv6 ECMP as several entries with the same dst, one gateway each (merged here).
 */
import { TabbyError } from "../errors.js";
import { tryParsePrefix } from "../net/prefix.js";
import { type CommandRunner, commandFailed, runOk } from "./exec.js";
import { connectedFromIpAddr, onLinkFromIpRoute } from "./route-resolve.js";

/** Route protocol number stamped on every route tabby installs (unassigned in rt_protos; Felix uses 80). */
export const RT_PROTO_TABBY = 152;

export interface Route {
  /** Destination prefix ("10.65.0.0/26", "fd00::5/128"). */
  dst: string;
  type: "unicast" | "blackhole";
  dev?: string;
  /** Next hops; more than one means ECMP. */
  via?: string[];
  scope?: "link";
}

export interface RouteOps {
  /** Routes to `route replace`. */
  replace: Route[];
  /** Owned routes to delete. */
  remove: Route[];
  /** How many of `replace` were absent (added) rather than different (replaced). */
  added: number;
}

/**
 * Destinations as given → canonical form. A pass diffs every route, desired and present, a few
 * times over (diff, counts, what it leaves), and the same strings come back pass after pass: a
 * memo, bounded (emptied when full), keeps that from parsing each again. Same answers as without.
 */
const canonicalDsts = new Map<string, string>();
const CANONICAL_DSTS_MAX = 16_384;

function canonicalDst(dst: string): string {
  const known = canonicalDsts.get(dst);
  if (known !== undefined) return known;
  const p = tryParsePrefix(dst);
  if (!p) throw new TabbyError("DP_BAD_ROUTE", `not a route destination: ${JSON.stringify(dst)}`, { dst });
  const canonical = p.network().toString();
  if (canonicalDsts.size >= CANONICAL_DSTS_MAX) canonicalDsts.clear();
  canonicalDsts.set(dst, canonical);
  return canonical;
}

function family(dst: string): 4 | 6 {
  return dst.includes(":") ? 6 : 4;
}

/** The route in canonical form: canonical dst, sorted next hops, scope implied for v4 device routes. */
export function normalizeRoute(r: Route): Route {
  const dst = canonicalDst(r.dst);
  if (r.type === "blackhole") return { dst, type: "blackhole" };
  const out: Route = { dst, type: "unicast" };
  if (r.dev) out.dev = r.dev;
  if (r.via?.length) out.via = [...r.via].map((v) => v.toLowerCase()).sort();
  // iproute2 gives a v4 route without gateway scope link; v6 has no scopes to speak of.
  if (family(dst) === 4 && (r.scope === "link" || !out.via)) out.scope = "link";
  return out;
}

function sameRoute(desired: Route, actual: Route): boolean {
  if (desired.type !== actual.type) return false;
  if (desired.type === "blackhole") return true;
  if (desired.dev !== undefined && desired.dev !== actual.dev) return false;
  const a = desired.via ?? [];
  const b = actual.via ?? [];
  if (a.length !== b.length || a.some((v, i) => v !== b[i])) return false;
  return (desired.scope ?? "") === (actual.scope ?? "");
}

/** What must change to turn `actual` (owned routes) into `desired`. Pure. */
export function diffRoutes(desired: Route[], actual: Route[]): RouteOps {
  const want = new Map<string, Route>();
  for (const r of desired) {
    const n = normalizeRoute(r);
    want.set(n.dst, n);
  }
  const have = new Map<string, Route[]>();
  for (const r of actual) {
    const n = normalizeRoute(r);
    const list = have.get(n.dst) ?? [];
    list.push(n);
    have.set(n.dst, list);
  }
  const ops: RouteOps = { replace: [], remove: [], added: 0 };
  for (const [dst, r] of want) {
    const cur = have.get(dst);
    if (!cur) {
      ops.replace.push(r);
      ops.added++;
    } else if (cur.length !== 1 || !sameRoute(r, cur[0]!)) {
      // Several owned routes for one dst (different types or metrics): replace, then drop the rest.
      ops.replace.push(r);
      for (const extra of cur) if (extra.type !== r.type) ops.remove.push(extra);
    }
  }
  for (const [dst, list] of have) if (!want.has(dst)) ops.remove.push(...list);
  return ops;
}

/** One `ip -batch` line for a route (without the leading `ip`). Pure. */
export function replaceLine(r: Route): string {
  const n = normalizeRoute(r);
  if (n.type === "blackhole") return `route replace blackhole ${n.dst} proto ${RT_PROTO_TABBY}`;
  const parts = ["route", "replace", n.dst];
  const via = n.via ?? [];
  if (via.length > 1) {
    parts.push("proto", String(RT_PROTO_TABBY));
    if (n.scope) parts.push("scope", n.scope);
    for (const v of via) parts.push("nexthop", "via", v, ...(n.dev ? ["dev", n.dev] : []));
    return parts.join(" ");
  }
  if (via.length === 1) parts.push("via", via[0]!);
  if (n.dev) parts.push("dev", n.dev);
  if (n.scope) parts.push("scope", n.scope);
  parts.push("proto", String(RT_PROTO_TABBY));
  return parts.join(" ");
}

export function deleteLine(r: Route): string {
  const n = normalizeRoute(r);
  return n.type === "blackhole" ? `route del blackhole ${n.dst} proto ${RT_PROTO_TABBY}` : `route del ${n.dst} proto ${RT_PROTO_TABBY}`;
}

/** The whole `ip -batch -` input for a set of operations: deletions first, then replacements. Pure. */
export function renderBatch(ops: RouteOps): string {
  const lines = [...ops.remove.map(deleteLine), ...ops.replace.map(replaceLine)];
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** A route the kernel would not take, and why (its error message). */
export interface RouteRefusal {
  /** The `ip -batch` line that failed. */
  line: string;
  dst: string;
  op: "replace" | "del";
  reason: string;
}

/**
 * Which lines of an `ip -force -batch -` run failed, from its stderr: iproute2 prints the error
 * (one or more lines) then `Command failed -:N` (N 1-based) for each refused line. Pure.
 */
export function parseBatchFailures(stderr: string, lines: string[]): RouteRefusal[] {
  const out: RouteRefusal[] = [];
  let reason: string[] = [];
  for (const raw of stderr.split("\n")) {
    const l = raw.trim();
    if (!l) continue;
    const m = /^Command failed -:(\d+)$/.exec(l);
    if (!m) {
      reason.push(l);
      continue;
    }
    const line = lines[Number(m[1]) - 1] ?? "";
    const words = line.split(" ");
    const op = words[1] === "del" ? "del" : "replace";
    const dst = words.slice(2).find((w) => w.includes("/")) ?? words[2] ?? "";
    out.push({ line, dst, op, reason: reason.join("; ") || "refused" });
    reason = [];
  }
  return out;
}

interface IpRouteJson {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
  nexthops?: { gateway?: string; dev?: string }[];
}

/** Parses `ip -j [-6] route show` output into routes, merging split IPv6 multipath entries. Pure. */
export function parseIpRoutes(json: string, fam: 4 | 6): Route[] {
  const text = json.trim();
  if (!text) return [];
  let rows: IpRouteJson[];
  try {
    rows = JSON.parse(text) as IpRouteJson[];
  } catch (e) {
    throw new TabbyError("DP_BAD_OUTPUT", `cannot parse ip route output`, { output: text.slice(0, 200) }, { cause: e });
  }
  const out: Route[] = [];
  const byDst = new Map<string, Route>();
  for (const row of rows) {
    if (!row.dst) continue;
    const dst = row.dst === "default" ? (fam === 4 ? "0.0.0.0/0" : "::/0") : canonicalDst(row.dst);
    if (row.type === "blackhole") {
      out.push({ dst, type: "blackhole" });
      continue;
    }
    if (row.type && row.type !== "unicast") continue; // unreachable/prohibit/...: not ours to model
    const via: string[] = [];
    let dev = row.dev;
    if (row.gateway) via.push(row.gateway);
    for (const nh of row.nexthops ?? []) {
      if (nh.gateway) via.push(nh.gateway);
      dev ??= nh.dev;
    }
    const prev = byDst.get(dst);
    if (prev && fam === 6 && via.length && prev.via?.length) {
      prev.via.push(...via); // old-style v6 ECMP: one entry per next hop
      continue;
    }
    const r: Route = { dst, type: "unicast" };
    if (dev) r.dev = dev;
    if (via.length) r.via = via;
    if (row.scope === "link") r.scope = "link";
    out.push(r);
    byDst.set(dst, r);
  }
  return out;
}

/** Reads and reconciles tabby's routes in one namespace (the caller's, or `opts.netns`). */
export class RouteTable {
  private readonly netns: string | undefined;
  /** What the kernel refused on the last pass (empty when everything took). */
  refusals: RouteRefusal[] = [];

  constructor(
    private readonly runner: CommandRunner,
    opts: { netns?: string } = {},
  ) {
    this.netns = opts.netns;
  }

  private opts(input?: string) {
    return { ...(this.netns ? { netns: this.netns } : {}), ...(input !== undefined ? { input } : {}) };
  }

  /** The routes the last complete reconcile left (normalized); undefined: read the kernel. */
  private known: Route[] | undefined;

  async read(): Promise<Route[]> {
    const proto = String(RT_PROTO_TABBY);
    const v4 = await runOk(this.runner, "ip", ["-j", "-4", "route", "show", "proto", proto, "table", "main"], this.opts());
    const v6 = await runOk(this.runner, "ip", ["-j", "-6", "route", "show", "proto", proto, "table", "main"], this.opts());
    return [...parseIpRoutes(v4.stdout, 4), ...parseIpRoutes(v6.stdout, 6)];
  }

  /**
   * The networks this namespace reaches directly, for recursive next hops (route-resolve.ts): its
   * addresses' networks and point-to-point peers, and device routes without a gateway.
   */
  async connected(opts: { v6Routes?: boolean } = {}): Promise<string[]> {
    const addrs = await runOk(this.runner, "ip", ["-j", "addr", "show"], this.opts());
    // IPv4 on-link routes are the link-scope ones (the kernel filters); IPv6 routes have no scope,
    // so finding its on-link ones means reading the whole table: `v6Routes: false` skips that
    const v4 = await runOk(this.runner, "ip", ["-j", "-4", "route", "show", "table", "main", "scope", "link"], this.opts());
    const all = new Set([...connectedFromIpAddr(addrs.stdout), ...onLinkFromIpRoute(v4.stdout, 4, { scopeFiltered: true })]);
    if (opts.v6Routes !== false) {
      const v6 = await runOk(this.runner, "ip", ["-j", "-6", "route", "show", "table", "main"], this.opts());
      for (const c of onLinkFromIpRoute(v6.stdout, 6)) all.add(c);
    }
    return [...all].sort();
  }

  /**
   * Applies the difference; lines the kernel refuses are reported in `refused` (and kept in
   * `refusals`), the rest take effect. Throws only when `ip` itself fails. The difference is
   * against the kernel's routes, read first — or, with `reread: false` and the last reconcile
   * complete (every line taken), against what that reconcile left, as Felix's route table trusts
   * its own writes between refreshes: two `ip` processes fewer. The caller asks for a read
   * whenever something besides its own writes may have changed the routes (a local change, a
   * periodic resync).
   */
  async reconcile(desired: Route[], opts: { reread?: boolean } = {}): Promise<{ added: number; removed: number; replaced: number; refused: RouteRefusal[] }> {
    const known = this.known;
    this.known = undefined; // until this reconcile is known to be complete
    const actual = opts.reread === false && known ? known : await this.read();
    const ops = diffRoutes(desired, actual);
    const batch = renderBatch(ops);
    let refused: RouteRefusal[] = [];
    if (batch) {
      const args = ["-force", "-batch", "-"];
      const res = await this.runner.run("ip", args, this.opts(batch));
      if (res.code !== 0) {
        refused = parseBatchFailures(res.stderr, batch.trimEnd().split("\n"));
        if (refused.length === 0) throw commandFailed("ip", args, res, this.netns);
      }
    }
    this.refusals = refused;
    if (refused.length === 0) this.known = desired.map(normalizeRoute);
    const failed = new Set(refused.map((r) => r.line));
    const present = new Set(actual.map((r) => normalizeRoute(r).dst));
    const ok = ops.replace.filter((r) => !failed.has(replaceLine(r)));
    const added = ok.filter((r) => !present.has(r.dst)).length;
    return { added, removed: ops.remove.filter((r) => !failed.has(deleteLine(r))).length, replaced: ok.length - added, refused };
  }
}
