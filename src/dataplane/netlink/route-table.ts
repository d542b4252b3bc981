/**
 * The route driver over rtnetlink, in process: the same job and surface as routes.ts's
 * `RouteTable` (tabby's routes in the main table with protocol 152, read, diffed and written;
 * never a route of another protocol — calico-spec §4.5), without an `ip` process per read or
 * write. Reads are dumps (both families' routes; addresses and links for the connected networks);
 * each write is its own RTM_NEWROUTE / RTM_DELROUTE with an acknowledgement, so a route the kernel
 * refuses is reported with its errno (name, text, and the kernel's extended-ack words when it gave
 * them) and the others still apply, as `ip -force -batch` did. The socket is synchronous (µs per
 * message); it is opened on first use, in the namespace given (a path, or a name under
 * /run/netns). Shell (I/O); the bytes are route-codec.ts's, the mapping route-view.ts's.
 */
import { getSystemErrorMessage } from "node:util";
import { TabbyError } from "../../errors.js";
import { errnoName, loadLibc } from "../libc.js";
import { deleteLine, diffRoutes, normalizeRoute, RT_PROTO_TABBY, type Route, type RouteRefusal, replaceLine } from "../routes.js";
import { decodeLink, dumpLinks, type NlLink } from "./codec.js";
import { decodeAddr, decodeRoute, dumpAddrs, dumpRoutes, type Family, type NlAddr, type NlRoute, routeMessage } from "./route-codec.js";
import { connectedNetworks, deleteOf, ownedRoutes, writeOf } from "./route-view.js";
import { RouteSocket } from "./socket.js";
import { RTPROT_KERNEL, RT_SCOPE_LINK } from "./constants.js";

/** "ENETUNREACH: network is unreachable", with the kernel's own words after when it gave some. */
export function refusalReason(err: unknown): string {
  if (!(err instanceof TabbyError) || err.code !== "DP_NETLINK_FAILED") return err instanceof Error ? err.message : String(err);
  const n = Number(err.details?.errnoNumber);
  const text = Number.isInteger(n) && n > 0 ? `${errnoName(n)}: ${getSystemErrorMessage(-n)}` : String(err.details?.errno ?? "refused");
  return err.details?.extack ? `${text} (${String(err.details.extack)})` : text;
}

/** One route to write: replaced (created or changed) or deleted. */
export interface RouteWrite {
  op: "replace" | "del";
  route: Route;
}

export interface ReconcileResult {
  added: number;
  removed: number;
  replaced: number;
  refused: RouteRefusal[];
}

export class NetlinkRouteTable {
  private readonly netnsPath: string | undefined;
  private sock: RouteSocket | undefined;
  /** What the kernel refused on the last pass (empty when everything took). */
  refusals: RouteRefusal[] = [];
  /** The routes the last complete reconcile left (normalized); undefined: read the kernel. */
  private known: Route[] | undefined;
  /** The namespace's links, by index, as last dumped. */
  private links = new Map<number, NlLink>();

  /** `netns`: a path (/proc/PID/ns/net, /run/netns/x) or a name under /run/netns; else this one. */
  constructor(opts: { netns?: string } = {}) {
    this.netnsPath = opts.netns === undefined ? undefined : opts.netns.includes("/") ? opts.netns : `/run/netns/${opts.netns}`;
  }

  /** Runs `fn` on the socket (opened on first use); after a failure the next call opens a new one. */
  private async withSocket<T>(fn: (s: RouteSocket) => T): Promise<T> {
    await loadLibc();
    const s = (this.sock ??= RouteSocket.open(this.netnsPath));
    try {
      return fn(s);
    } catch (e) {
      this.close(); // a dump cut short may have left answers queued: start clean
      throw e;
    }
  }

  private refreshLinks(s: RouteSocket): void {
    const links = new Map<number, NlLink>();
    for (const r of s.dump("dump links", dumpLinks)) {
      const l = decodeLink(r);
      links.set(l.index, l);
    }
    this.links = links;
  }

  /** One family's routes; `keep` looks at the raw header (table, protocol, scope bytes) first, to decode only those wanted. */
  private routes(s: RouteSocket, family: Family, keep: (payload: Buffer) => boolean): NlRoute[] {
    const out: NlRoute[] = [];
    for (const r of s.dump(`dump IPv${family} routes`, (seq) => dumpRoutes(seq, family))) {
      if (r.payload.length >= 12 && !keep(r.payload)) continue;
      const route = decodeRoute(r);
      if (route) out.push(route);
    }
    return out;
  }

  private addrs(s: RouteSocket, family: Family): NlAddr[] {
    const out: NlAddr[] = [];
    for (const r of s.dump(`dump IPv${family} addresses`, (seq) => dumpAddrs(seq, family))) {
      const a = decodeAddr(r);
      if (a) out.push(a);
    }
    return out;
  }

  private readSync(s: RouteSocket): Route[] {
    this.refreshLinks(s);
    const ours = (p: Buffer) => p.readUInt8(5) === RT_PROTO_TABBY;
    const name = (i: number) => this.links.get(i)?.name;
    return [...ownedRoutes(this.routes(s, 4, ours), name), ...ownedRoutes(this.routes(s, 6, ours), name)];
  }

  /** tabby's routes in the namespace, both families. */
  async read(): Promise<Route[]> {
    return this.withSocket((s) => this.readSync(s));
  }

  /**
   * The networks this namespace reaches directly, for recursive next hops (route-resolve.ts): its
   * addresses' networks and point-to-point peers, and device routes without a gateway. IPv6's
   * routes carry no scope, so finding its on-link ones reads its whole table: `v6Routes: false`
   * skips that.
   */
  async connected(opts: { v6Routes?: boolean } = {}): Promise<string[]> {
    return this.withSocket((s) => this.connectedSync(s, opts));
  }

  private connectedSync(s: RouteSocket, opts: { v6Routes?: boolean }): string[] {
    this.refreshLinks(s);
    const addrs = [...this.addrs(s, 4), ...this.addrs(s, 6)];
    // IPv4 at link scope only; neither ours nor the kernel's (rtmsg bytes 5 and 6: protocol, scope)
    const notOursNorKernel = (p: Buffer) => p.readUInt8(5) !== RT_PROTO_TABBY && p.readUInt8(5) !== RTPROT_KERNEL;
    const v4 = this.routes(s, 4, (p) => p.readUInt8(6) === RT_SCOPE_LINK && notOursNorKernel(p));
    const v6 = opts.v6Routes === false ? [] : this.routes(s, 6, notOursNorKernel);
    return connectedNetworks(addrs, this.links, [...v4, ...v6]);
  }

  /**
   * Applies the difference, one message per route (deletions first): a route the kernel refuses
   * is reported in `refused` (and kept in `refusals`, its `line` the `ip` command it stands for),
   * the rest take effect. Throws only when the socket itself fails. The difference is against the
   * kernel's routes, dumped first — or, with `reread: false` and the last reconcile complete,
   * against what that reconcile left, as Felix's route table trusts its own writes between
   * refreshes.
   */
  async reconcile(desired: Route[], opts: { reread?: boolean } = {}): Promise<ReconcileResult> {
    return this.withSocket((s) => this.reconcileSync(s, desired, opts));
  }

  private reconcileSync(s: RouteSocket, desired: Route[], opts: { reread?: boolean }): ReconcileResult {
    const known = this.known;
    this.known = undefined; // until this reconcile is known to be complete
    const actual = opts.reread === false && known ? known : this.readSync(s);
    const ops = diffRoutes(desired, actual);
    const present = new Set(actual.map((r) => normalizeRoute(r).dst));
    const writes: RouteWrite[] = [
      ...ops.remove.map((route) => ({ op: "del" as const, route })),
      ...ops.replace.map((route) => ({ op: "replace" as const, route })),
    ];
    const outcome = this.writeSync(s, writes, { freshLinks: actual !== known }); // a dump just read the links
    const refused = outcome.filter((r): r is RouteRefusal => r !== undefined);
    const removed = outcome.slice(0, ops.remove.length).filter((r) => r === undefined).length;
    const took = ops.replace.filter((_, i) => outcome[ops.remove.length + i] === undefined);
    const added = took.filter((r) => !present.has(r.dst)).length;
    const replaced = took.length - added;
    this.refusals = refused;
    if (refused.length === 0) this.known = desired.map(normalizeRoute);
    return { added, removed, replaced, refused };
  }

  /**
   * Writes routes as given, one acknowledged message each, in order (`ip route replace` / `ip
   * route del … proto 152`): per write, undefined when it took, else the refusal. A delete of a
   * route already gone counts as done.
   */
  async write(writes: RouteWrite[]): Promise<(RouteRefusal | undefined)[]> {
    return this.withSocket((s) => this.writeSync(s, writes, { freshLinks: false }));
  }

  private writeSync(s: RouteSocket, writes: RouteWrite[], opts: { freshLinks: boolean }): (RouteRefusal | undefined)[] {
    // a device may have been made again (a new index) since the links were last dumped
    if (!opts.freshLinks && writes.some((w) => w.op === "replace" && w.route.dev !== undefined)) this.refreshLinks(s);
    const byName = new Map([...this.links.values()].map((l) => [l.name, l.index]));
    return writes.map(({ op, route: r }) => {
      const line = op === "del" ? deleteLine(r) : replaceLine(r);
      const refusal = (reason: string): RouteRefusal => ({ line, dst: normalizeRoute(r).dst, op, reason });
      const w = op === "del" ? deleteOf(r) : writeOf(r, (dev) => byName.get(dev));
      if ("missingDev" in w) return refusal(`ENODEV: no such device (${w.missingDev})`);
      try {
        s.request(`${op} route ${r.dst}`, (seq) => routeMessage(seq, op === "del" ? "delete" : "replace", w));
        return undefined;
      } catch (e) {
        if (!(e instanceof TabbyError) || e.code !== "DP_NETLINK_FAILED") throw e;
        // already gone (a link's removal takes its routes along): what was wanted
        if (op === "del" && e.details?.errno === "ESRCH") return undefined;
        return refusal(refusalReason(e));
      }
    });
  }

  /** Closes the socket (a later call opens another). */
  close(): void {
    this.sock?.close();
    this.sock = undefined;
  }
}
