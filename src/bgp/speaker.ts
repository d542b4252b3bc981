/**
 * The BGP speaker: one Loc-RIB shared by every peer session (BIRD's single-table design), a TCP
 * listener that hands inbound connections to the configured peer (others are closed), locally
 * originated routes, Adj-RIB-Out per peer kept as a diff of what was sent, End-of-RIB after the
 * initial dump (RFC 4724 §2), packed UPDATEs, and batched FIB change notifications carrying the
 * ECMP next-hop set. Used by the host agent and by `tabby bgp run`.
 */
import * as net from "node:net";
import { systemClock, type Clock, type TimerHandle } from "../clock.js";
import type { Negotiated } from "./negotiate.js";
import { parseIP, tryParseIP, type IP } from "../net/ip.js";
import { parsePrefix, type Prefix } from "../net/prefix.js";
import { BgpError } from "./errors.js";
import { Session, stripMapped, type PeerConfig, type SessionHooks } from "./session.js";
import { Rib, type RibChange } from "./rib/rib.js";
import { PrefixMap } from "./rib/prefix-map.js";
import { importUpdate, type LocalIdentity } from "./rib/import.js";
import { exportRoute, type ExportTarget, type OutRoute } from "./rib/export.js";
import { prefixKey, type Path, type PeerInfo, type PrefixKey, type RouteAttrs } from "./rib/types.js";
import { outRouteKey, packAnnouncements, packWithdrawals, type Announcement } from "./pack.js";
import type { Nlri } from "./wire/nlri.js";
import type { RibEntry } from "./rib/rib.js";
import { ceaseNotification } from "./wire/messages.js";
import { CeaseSubcode, FAMILIES, type AddressFamily } from "./wire/constants.js";
import { endOfRib, isEndOfRib, type UpdateMessage } from "./wire/update.js";
import { dottedToU32 } from "./wire/bytes.js";
import { setListenerKey } from "./md5.js";
import { ACCEPT_ALL, applySet, compilePolicy, evaluate, type CompiledPolicy } from "./policy.js";

export type { PeerConfig } from "./session.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export interface SpeakerOptions {
  routerId: string;
  asNumber: number;
  listen?: { address: string; port: number } | false;
  clusterId?: string;
  clock?: Clock;
  log?: LogFn;
}

export interface OriginatedRoute {
  prefix: string;
  nextHop?: string;
  communities?: string[];
}

export interface FibChange {
  prefix: string;
  nextHops: string[];
}

export interface PeerStatus {
  address: string;
  asNumber: number;
  state: string;
  established: boolean;
  uptimeSeconds?: number;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesAdvertised: number;
  lastError?: string;
}

export interface RouteView {
  prefix: string;
  paths: {
    nextHop: string;
    asPath: number[];
    origin: string;
    localPref?: number;
    med?: number;
    communities: string[];
    /** RFC 8092, as "global:local1:local2"; present when the path has any. */
    largeCommunities?: string[];
    peer: string;
    best: boolean;
    originatorId?: string;
    clusterList?: string[];
  }[];
}

/**
 * Kept small: one per prefix per peer. Without ADD-PATH it is just the (interned) attribute key
 * of what was sent under path id 0; with ADD-PATH, `ids[i]` was sent with attributes `keys[i]`.
 */
type AdjOutEntry = string | { ids: number[]; keys: string[] };

interface PeerState {
  config: PeerConfig;
  session: Session;
  /** Adj-RIB-Out: prefix key → the path ids sent and the (interned) attribute key of each. */
  adjOut: PrefixMap<AdjOutEntry>;
  /** prefixes refused on import (loops, treat-as-withdraw) */
  rejected: Set<string>;
  info: PeerInfo | undefined;
  /** The peer's graceful restart capability from the last session (RFC 4724 helper). */
  gr: Negotiated["gracefulRestart"];
  /** Families whose paths are kept stale after a graceful session loss, and the timer that ends it. */
  staleFamilies: Set<AddressFamily>;
  staleTimer: TimerHandle | undefined;
  /** Export context of the current session (next-hop self addresses), and a counter per session. */
  target: ExportTarget | undefined;
  epoch: number;
  /** The last export computed for this peer (see exportFor). */
  lastExport?: { attrs: RouteAttrs; source: PeerInfo | undefined; family: AddressFamily; epoch: number; term: number; result: { out: OutRoute; key: string } | undefined };
  importPolicy: CompiledPolicy;
  exportPolicy: CompiledPolicy;
}

const ORIGINS = ["igp", "egp", "incomplete"];
/** Loc-RIB changes gathered from peers' UPDATEs before they are pushed out (see onUpdate). */
const PENDING_MAX = 2048;
/** How long stale paths may wait for End-of-RIB after the peer is back (BIRD/FRR: 360 s). */
const STALE_PATH_TIME = 360;

export function parseCommunity(s: string): number {
  const named: Record<string, number> = { "no-export": 0xffffff01, "no-advertise": 0xffffff02, "no-export-subconfed": 0xffffff03 };
  const n = named[s.toLowerCase()];
  if (n !== undefined) return n;
  const m = /^(\d+):(\d+)$/.exec(s);
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) throw new BgpError("BGP_BAD_COMMUNITY", `not a community: ${s}`);
  return ((Number(m[1]) << 16) | Number(m[2])) >>> 0;
}

export function formatCommunity(c: number): string {
  return `${c >>> 16}:${c & 0xffff}`;
}

export class Speaker {
  private readonly opts: SpeakerOptions;
  private readonly clock: Clock;
  private readonly log: LogFn;
  private readonly rib: Rib;
  private readonly identity: LocalIdentity;
  private readonly peers = new Map<string, PeerState>();
  private local = new Map<PrefixKey, { prefix: Prefix; family: AddressFamily; nextHop?: IP; communities: number[] }>();
  private server: net.Server | undefined;
  private fibListeners: ((changes: FibChange[]) => void)[] = [];
  /** Next hops last reported per prefix (only kept while someone listens). */
  private fibState = new PrefixMap<string>();
  private pendingFib = new Map<PrefixKey, FibChange>();
  private fibFlushScheduled = false;
  private started = false;
  /** ADD-PATH identifiers we assign to paths we send: source path → id. */
  private outPathIds = new Map<string, number>();
  private nextOutPathId = 1;
  private interned = new Map<string, string>();
  private epochs = 0;
  /** Loc-RIB changes from UPDATEs not yet pushed to peers (see onUpdate). */
  private pending = new Map<PrefixKey, RibChange>();
  private pendingScheduled = false;
  private exportMemo = new WeakMap<object, Map<string, { out: OutRoute; key: string } | null>>();

  constructor(opts: SpeakerOptions) {
    if (!tryParseIP(opts.routerId) || tryParseIP(opts.routerId)!.family !== 4 || dottedToU32(opts.routerId) === 0) {
      throw new BgpError("BGP_BAD_ROUTER_ID", `router id must be a non-zero dotted quad: ${opts.routerId}`);
    }
    if (!Number.isInteger(opts.asNumber) || opts.asNumber < 1 || opts.asNumber > 0xffffffff) {
      throw new BgpError("BGP_BAD_AS", `AS number out of range: ${opts.asNumber}`);
    }
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? (() => {});
    this.rib = new Rib(opts.asNumber);
    this.identity = { asNumber: opts.asNumber, routerId: opts.routerId, clusterId: opts.clusterId ?? opts.routerId };
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const listen = this.opts.listen;
    if (listen) {
      const server = net.createServer((socket) => this.onInbound(socket));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ host: listen.address, port: listen.port }, () => {
          server.off("error", reject);
          resolve();
        });
      });
      server.on("error", (err) => this.log("error", "listener error", { err: err.message }));
      this.server = server;
      for (const p of this.peers.values()) this.setListenerKey(p.config);
      this.log("info", "listening", listen);
    }
    for (const p of this.peers.values()) p.session.start();
  }

  /** The port actually listened on (useful with port 0). */
  listenPort(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? a.port : undefined;
  }

  async stop(reason?: string): Promise<void> {
    this.started = false;
    const note = ceaseNotification(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, reason);
    const server = this.server;
    this.server = undefined;
    const closing = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.peers.values()].map((p) => p.session.stop(note)));
    await closing;
    for (const p of this.peers.values()) this.dropPeerRoutes(p);
    this.flushFib();
  }

  setPeers(peers: PeerConfig[]): void {
    const want = new Map(peers.map((p) => [canonicalAddress(p.address), p]));
    for (const [addr, st] of this.peers) {
      const next = want.get(addr);
      if ((!next || next.password !== st.config.password) && st.config.password) this.setListenerKey({ ...st.config, password: "" }, true);
      if (!next) {
        this.peers.delete(addr);
        void st.session.stop(ceaseNotification(CeaseSubcode.PEER_DECONFIGURED));
        this.dropPeerRoutes(st);
      } else if (stableJson(next) !== stableJson(st.config)) {
        this.peers.delete(addr);
        void st.session.stop(ceaseNotification(CeaseSubcode.OTHER_CONFIGURATION_CHANGE));
        this.dropPeerRoutes(st);
      }
    }
    for (const [addr, cfg] of want) {
      if (this.peers.has(addr)) continue;
      parseIP(cfg.address);
      const ebgp = cfg.asNumber !== this.opts.asNumber;
      const importPolicy = cfg.import === undefined ? ACCEPT_ALL : compilePolicy(cfg.import, !ebgp);
      const exportPolicy = cfg.export === undefined ? ACCEPT_ALL : compilePolicy(cfg.export, !ebgp);
      const st: PeerState = { config: cfg, session: undefined as unknown as Session, adjOut: new PrefixMap(), rejected: new Set(), info: undefined, gr: undefined, staleFamilies: new Set(), staleTimer: undefined, target: undefined, epoch: 0, importPolicy, exportPolicy };
      st.session = new Session({ ...cfg, address: addr }, { asNumber: this.opts.asNumber, routerId: this.opts.routerId }, this.clock, this.hooksFor(st));
      this.peers.set(addr, st);
      this.setListenerKey(cfg);
      if (this.started) st.session.start();
    }
  }

  setOriginated(routes: OriginatedRoute[]): void {
    const next = new Map<PrefixKey, { prefix: Prefix; family: AddressFamily; nextHop?: IP; communities: number[] }>();
    for (const r of routes) {
      const prefix = parsePrefix(r.prefix).network();
      const v: { prefix: Prefix; family: AddressFamily; nextHop?: IP; communities: number[] } = {
        prefix,
        family: prefix.family === 4 ? "ipv4" : "ipv6",
        communities: (r.communities ?? []).map(parseCommunity),
      };
      if (r.nextHop) v.nextHop = parseIP(r.nextHop);
      next.set(prefixKey(prefix), v);
    }
    const changes = new Map<PrefixKey, RibChange>();
    for (const [k, v] of this.local) {
      if (!next.has(k)) this.rib.remove("local", v.prefix, 0, changes);
    }
    const shared = new Map<string, RouteAttrs>();
    for (const [k, v] of next) {
      const old = this.local.get(k);
      const sig = `${v.nextHop ?? ""}|${v.communities.join(",")}`;
      if (old && `${old.nextHop ?? ""}|${old.communities.join(",")}` === sig) {
        next.set(k, old);
        continue;
      }
      let attrs = shared.get(sig);
      if (!attrs) {
        attrs = { origin: 0, asPath: [], communities: v.communities, largeCommunities: [], clusterList: [] };
        if (v.nextHop) attrs.nextHop = v.nextHop;
        shared.set(sig, attrs);
      }
      this.rib.upsert({ family: v.family, prefix: v.prefix, pathId: 0, attrs, source: undefined, learnedAt: this.clock.now() }, changes);
    }
    this.local = next;
    this.propagate(changes);
  }

  onFibChange(listener: (changes: FibChange[]) => void): void {
    this.fibListeners.push(listener);
  }

  peerStatus(): PeerStatus[] {
    return [...this.peers.values()].map((p) => {
      const s = p.session;
      const accepted = p.info ? this.rib.peerPathCount(p.info.id) : 0;
      const st: PeerStatus = {
        address: p.config.address,
        asNumber: p.config.asNumber,
        state: s.state,
        established: s.established,
        prefixesReceived: accepted + p.rejected.size,
        prefixesAccepted: accepted,
        prefixesAdvertised: p.adjOut.size,
      };
      if (s.establishedAt !== undefined) st.uptimeSeconds = Math.floor((this.clock.now() - s.establishedAt) / 1000);
      if (s.lastError) st.lastError = s.lastError;
      return st;
    });
  }

  routes(family?: AddressFamily): RouteView[] {
    const entries = [...this.rib.all(family)].sort((a, b) => a.prefix.addr.compare(b.prefix.addr) || a.prefix.len - b.prefix.len);
    const out: RouteView[] = [];
    for (const e of entries) {
      const paths = e.paths.map((p) => {
        const v: RouteView["paths"][number] = {
          nextHop: p.attrs.nextHop ? p.attrs.nextHop.toString() : "self",
          asPath: p.attrs.asPath.flatMap((s) => s.asns),
          origin: ORIGINS[p.attrs.origin] ?? "incomplete",
          communities: p.attrs.communities.map(formatCommunity),
          peer: p.source ? p.source.id : "local",
          best: p === e.decision.best,
        };
        if (p.attrs.largeCommunities.length > 0) v.largeCommunities = p.attrs.largeCommunities.map((c) => c.join(":"));
        if (p.attrs.localPref !== undefined) v.localPref = p.attrs.localPref;
        if (p.attrs.med !== undefined) v.med = p.attrs.med;
        if (p.attrs.originatorId) v.originatorId = p.attrs.originatorId;
        if (p.attrs.clusterList.length > 0) v.clusterList = p.attrs.clusterList;
        return v;
      });
      paths.sort((a, b) => Number(b.best) - Number(a.best));
      out.push({ prefix: e.prefix.toString(), paths });
    }
    return out;
  }

  // ---- internals ----

  /** RFC 2385: the listener needs the peer's key so the peer's SYN is accepted. */
  private setListenerKey(cfg: PeerConfig, remove = false): void {
    if ((!cfg.password && !remove) || !this.server) return;
    try {
      setListenerKey(this.server, canonicalAddress(cfg.address), cfg.password ?? "");
    } catch (e) {
      this.log("error", "cannot set the TCP-MD5 key on the listener", { peer: cfg.address, err: e instanceof Error ? e.message : String(e) });
    }
  }

  private onInbound(socket: net.Socket): void {
    const addr = stripMapped(socket.remoteAddress);
    const st = addr ? this.peers.get(canonicalAddress(addr)) : undefined;
    if (!st) {
      this.log("info", "refusing connection from an unconfigured address", { address: addr });
      socket.destroy();
      return;
    }
    st.session.acceptInbound(socket);
  }

  private hooksFor(st: PeerState): SessionHooks {
    return {
      established: (s) => {
        const n = s.negotiated!;
        st.info = {
          id: canonicalAddress(st.config.address),
          address: parseIP(canonicalAddress(st.config.address)),
          asNumber: st.config.asNumber,
          routerId: n.peerRouterId,
          ibgp: s.ibgp,
          rrClient: !!st.config.routeReflectorClient,
        };
        st.adjOut.clear();
        st.epoch = ++this.epochs; // speaker-wide, so a re-created peer never hits an old memo
        st.target = {
          peer: st.info,
          localAs: this.opts.asNumber,
          routerId: this.opts.routerId,
          clusterId: this.identity.clusterId,
          selfNextHop: this.selfNextHops(st),
        };
        st.gr = n.gracefulRestart;
        this.grReestablished(st);
        this.initialDump(st);
      },
      update: (s, u) => this.onUpdate(st, u),
      down: (_s, reason, wasEstablished, graceful) => {
        if (wasEstablished && graceful && this.grKeep(st)) return;
        this.dropPeerRoutes(st);
      },
      routeRefresh: (_s, family) => this.resend(st, family),
      log: (level, msg, fields) => this.log(level, msg, fields),
    };
  }

  /** RFC 4724 helper, session lost: keep the peer's routes stale for its restart time. */
  private grKeep(st: PeerState): boolean {
    if (!st.gr || !st.info || st.gr.families.size === 0) return false;
    const keep = new Set(st.gr.families.keys());
    this.log("info", "peer lost without NOTIFICATION: keeping its routes (graceful restart helper)", { peer: st.config.address, families: [...keep], restartTime: st.gr.restartTime });
    st.adjOut.clear();
    st.rejected.clear();
    const changes = new Map<PrefixKey, RibChange>();
    this.rib.markStale(st.info.id, keep, changes);
    this.propagate(changes);
    st.staleFamilies = keep;
    this.setStaleTimer(st, st.gr.restartTime);
    return true;
  }

  /** RFC 4724 helper, session back: flush families the peer no longer preserves; others wait for End-of-RIB. */
  private grReestablished(st: PeerState): void {
    if (st.staleFamilies.size === 0 || !st.info) return;
    const changes = new Map<PrefixKey, RibChange>();
    for (const f of [...st.staleFamilies]) {
      if (st.gr?.families.get(f) === true) continue;
      this.rib.flushStale(st.info.id, f, changes);
      st.staleFamilies.delete(f);
    }
    this.propagate(changes);
    if (st.staleFamilies.size > 0) this.setStaleTimer(st, STALE_PATH_TIME);
    else this.clearStale(st);
  }

  private grEndOfRib(st: PeerState, family: AddressFamily): void {
    if (!st.staleFamilies.has(family) || !st.info) return;
    const changes = new Map<PrefixKey, RibChange>();
    this.rib.flushStale(st.info.id, family, changes);
    st.staleFamilies.delete(family);
    if (st.staleFamilies.size === 0) this.clearStale(st);
    this.propagate(changes);
  }

  private setStaleTimer(st: PeerState, seconds: number): void {
    if (st.staleTimer) this.clock.clearTimeout(st.staleTimer);
    st.staleTimer = this.clock.setTimeout(() => {
      st.staleTimer = undefined;
      if (!st.info || st.staleFamilies.size === 0) return;
      this.log("info", "graceful restart timer expired: flushing stale routes", { peer: st.config.address });
      const changes = new Map<PrefixKey, RibChange>();
      this.rib.flushStale(st.info.id, undefined, changes);
      st.staleFamilies.clear();
      this.propagate(changes);
    }, seconds * 1000);
  }

  private clearStale(st: PeerState): void {
    st.staleFamilies.clear();
    if (st.staleTimer) this.clock.clearTimeout(st.staleTimer);
    st.staleTimer = undefined;
  }

  private dropPeerRoutes(st: PeerState): void {
    this.clearStale(st);
    st.adjOut.clear();
    st.rejected.clear();
    if (!st.info) return;
    const changes = new Map<PrefixKey, RibChange>();
    this.rib.removePeer(st.info.id, changes);
    this.propagate(changes);
  }

  private onUpdate(st: PeerState, u: UpdateMessage): void {
    if (!st.info) return;
    const eor = isEndOfRib(u);
    if (eor) {
      this.grEndOfRib(st, eor);
      return;
    }
    for (const e of u.errors ?? []) this.log("warn", "UPDATE error", { peer: st.config.address, action: e.action, err: e.message });
    const r = importUpdate(u, st.info, this.identity, this.clock.now());
    if (r.treatAsWithdraw) this.log("warn", "UPDATE treated as withdraw", { peer: st.config.address, reason: r.treatAsWithdraw });
    // changes gather across the UPDATEs of one read and go out together (fewer, fuller UPDATEs)
    const changes = this.pending;
    for (const w of r.withdraw) {
      this.rib.remove(st.info.id, w.prefix, w.pathId, changes);
      if (st.rejected.size > 0) st.rejected.delete(`${prefixKey(w.prefix)}#${w.pathId}`);
    }
    if (r.treatAsWithdraw) for (const w of r.withdraw) st.rejected.add(`${prefixKey(w.prefix)}#${w.pathId}`);
    const pol = st.importPolicy;
    const filtering = pol !== ACCEPT_ALL;
    let setMemo: Map<RouteAttrs, Map<number, RouteAttrs>> | undefined;
    for (let p of r.announce) {
      if (filtering) {
        const term = evaluate(pol, p.prefix, p.attrs.communities);
        if (term === undefined) {
          // refused by import policy: gone from the RIB as if withdrawn, counted as received
          this.rib.remove(st.info.id, p.prefix, p.pathId, changes);
          st.rejected.add(`${prefixKey(p.prefix)}#${p.pathId}`);
          continue;
        }
        if (term >= 0 && pol.terms[term]!.set) {
          setMemo ??= new Map();
          let byTerm = setMemo.get(p.attrs);
          if (!byTerm) setMemo.set(p.attrs, (byTerm = new Map()));
          let attrs = byTerm.get(term);
          if (!attrs) byTerm.set(term, (attrs = applySet(p.attrs, pol.terms[term]!)));
          p = { ...p, attrs };
        }
      }
      if (st.rejected.size > 0) st.rejected.delete(`${prefixKey(p.prefix)}#${p.pathId}`);
      this.rib.upsert(p, changes);
    }
    // bounded, so the change records die young (a big batch would be promoted and slow the GC)
    if (changes.size >= PENDING_MAX) this.propagate(new Map());
    else if (!this.pendingScheduled && changes.size > 0) {
      this.pendingScheduled = true;
      setImmediate(() => {
        this.pendingScheduled = false;
        this.propagate(new Map());
      });
    }
  }

  private selfNextHops(st: PeerState): Partial<Record<AddressFamily, IP>> {
    const out: Partial<Record<AddressFamily, IP>> = {};
    const la = st.session.localAddress;
    if (la?.family === 4) out.ipv4 = la;
    else if (st.config.localAddress && tryParseIP(st.config.localAddress)?.family === 4) out.ipv4 = parseIP(st.config.localAddress);
    if (st.config.localIPv6) out.ipv6 = parseIP(st.config.localIPv6);
    else if (la?.family === 6) out.ipv6 = la;
    return out;
  }

  /**
   * The route as it goes to this peer, and its attribute key. Memoised per attribute object (paths
   * of one UPDATE, or local routes with equal attributes, share one), per source and per session,
   * so a big table costs one export computation per attribute set, not per prefix.
   */
  private exportFor(st: PeerState, path: Path | undefined): { out: OutRoute; key: string } | undefined {
    if (!path || !st.info || !st.target) return undefined;
    // export policy: the term that matches is part of the memo key (its set actions shape the route)
    let term = -1;
    if (st.exportPolicy !== ACCEPT_ALL) {
      const t = evaluate(st.exportPolicy, path.prefix, path.attrs.communities);
      if (t === undefined) return undefined;
      term = t;
    }
    // consecutive paths usually share attributes (one UPDATE's prefixes): skip the memo lookup
    const last = st.lastExport;
    if (last && last.attrs === path.attrs && last.source === path.source && last.family === path.family && last.epoch === st.epoch && last.term === term) return last.result;
    const result = this.exportMemoised(st, path, term);
    st.lastExport = { attrs: path.attrs, source: path.source, family: path.family, epoch: st.epoch, term, result };
    return result;
  }

  private exportMemoised(st: PeerState, path: Path, term: number): { out: OutRoute; key: string } | undefined {
    let memo = this.exportMemo.get(path.attrs);
    if (!memo) this.exportMemo.set(path.attrs, (memo = new Map()));
    const mk = `${path.source ? path.source.id : "local"}|${path.family}|${st.epoch}|${term}`;
    const hit = memo.get(mk);
    if (hit !== undefined) return hit ?? undefined;
    let out = exportRoute(path, st.target!);
    const t = term >= 0 ? st.exportPolicy.terms[term] : undefined;
    if (out && t?.set) {
      const attrs = applySet(out.attrs, t);
      if (!st.info?.ibgp) delete attrs.localPref; // LOCAL_PREF never goes to another AS
      let nextHop = out.nextHop;
      if (t.set.nextHop === "self") nextHop = st.target!.selfNextHop[path.family] ?? nextHop;
      else if (t.set.nextHop === "keep" && path.attrs.nextHop) nextHop = path.attrs.nextHop;
      out = { attrs, nextHop };
    }
    const r = out ? { out, key: this.intern(outRouteKey(out, st.session.negotiated!.tx)) } : null;
    memo.set(mk, r);
    return r ?? undefined;
  }

  /** One copy of each distinct attribute key, so Adj-RIB-Out entries share strings. */
  private intern(s: string): string {
    const have = this.interned.get(s);
    if (have !== undefined) return have;
    if (this.interned.size > 100_000) this.interned.clear();
    this.interned.set(s, s);
    return s;
  }

  private outPathId(p: Path): number {
    const k = `${p.source ? p.source.id : "local"}#${p.pathId}`;
    let id = this.outPathIds.get(k);
    if (id === undefined) this.outPathIds.set(k, (id = this.nextOutPathId++));
    return id;
  }

  /**
   * Brings one prefix of a peer's Adj-RIB-Out to what the Loc-RIB says: the best path, or with
   * ADD-PATH send negotiated the whole multipath set, each path under its own identifier.
   */
  private syncPrefix(st: PeerState, family: AddressFamily, key: PrefixKey, prefix: Prefix, best: Path | undefined, multipath: Path[], announce: Announcement[], withdraw: Nlri[]): void {
    const n = st.session.negotiated!;
    if (!n.tx.addPath[family]) {
      // the common case, without allocating: one path (id 0) or none
      const r = this.exportFor(st, best);
      const sent = st.adjOut.get(key);
      const sentKey = typeof sent === "string" ? sent : undefined;
      if (r) {
        if (sentKey !== r.key) {
          announce.push({ prefix, pathId: 0, out: r.out, key: r.key });
          st.adjOut.set(key, r.key);
        }
      } else if (sent !== undefined) {
        withdraw.push({ prefix, pathId: 0 });
        st.adjOut.delete(key);
      }
      return;
    }
    const desired = new Map<number, { out: OutRoute; key: string }>();
    if (n.tx.addPath[family]) {
      for (const p of multipath) {
        const r = this.exportFor(st, p);
        if (r) desired.set(this.outPathId(p), r);
      }
    } else {
      const r = this.exportFor(st, best);
      if (r) desired.set(0, r);
    }
    const sent = st.adjOut.get(key);
    const entry = typeof sent === "string" ? { ids: [0], keys: [sent] } : sent;
    const ids: number[] = [];
    const keys: string[] = [];
    for (const [id, d] of desired) {
      const i = entry ? entry.ids.indexOf(id) : -1;
      if (!entry || entry.keys[i] !== d.key) announce.push({ prefix, pathId: id, out: d.out, key: d.key });
      ids.push(id);
      keys.push(d.key);
    }
    if (entry) for (const id of entry.ids) if (!desired.has(id)) withdraw.push({ prefix, pathId: id });
    if (ids.length === 0) st.adjOut.delete(key);
    else st.adjOut.set(key, { ids, keys });
  }

  /** Sends the whole table for a family followed by End-of-RIB (initial dump, route refresh). */
  private dump(st: PeerState, family: AddressFamily): void {
    const n = st.session.negotiated;
    if (!n || !n.families.includes(family)) return;
    st.adjOut.clearKind(family === "ipv4" ? "ipv4" : "other");
    const announce: Announcement[] = [];
    const withdraw: Nlri[] = [];
    for (const e of this.rib.all(family) as Iterable<RibEntry>) this.syncPrefix(st, family, prefixKey(e.prefix), e.prefix, e.decision.best, e.decision.multipath, announce, withdraw);
    st.session.send([...packAnnouncements(family, announce, n.tx), endOfRib(family)]);
  }

  private initialDump(st: PeerState): void {
    for (const family of FAMILIES) this.dump(st, family);
  }

  private resend(st: PeerState, family: AddressFamily): void {
    this.dump(st, family);
  }

  /** Pushes Loc-RIB changes to every established peer's Adj-RIB-Out and to FIB listeners. */
  private propagate(changes: Map<PrefixKey, RibChange>): void {
    if (this.pending.size > 0) {
      // what came in from peers first, in order
      const earlier = this.pending;
      this.pending = new Map();
      this.propagate(earlier);
    }
    if (changes.size === 0) return;
    for (const st of this.peers.values()) {
      const n = st.session.negotiated;
      if (!st.session.established || !n || !st.info) continue;
      const msgs: UpdateMessage[] = [];
      for (const family of FAMILIES) {
        if (!n.families.includes(family)) continue;
        const announce: Announcement[] = [];
        const withdraw: Nlri[] = [];
        for (const c of changes.values()) {
          if (c.family === family) this.syncPrefix(st, family, c.key, c.prefix, c.best, c.multipath, announce, withdraw);
        }
        // no push(...spread): a large batch would overflow the call stack
        for (const m of packWithdrawals(family, withdraw, n.tx)) msgs.push(m);
        for (const m of packAnnouncements(family, announce, n.tx)) msgs.push(m);
      }
      if (msgs.length > 0) st.session.send(msgs);
    }
    if (this.fibListeners.length === 0) return;
    for (const c of changes.values()) {
      const hops = c.best && c.best.source ? fibHops(c.multipath) : [];
      const sig = hops.length === 1 ? hops[0]! : hops.join(",");
      if ((this.fibState.get(c.key) ?? "") === sig) continue;
      if (sig === "") this.fibState.delete(c.key);
      else this.fibState.set(c.key, this.intern(sig));
      this.pendingFib.set(c.key, { prefix: c.prefix.toString(), nextHops: hops });
    }
    if (this.pendingFib.size > 0 && !this.fibFlushScheduled) {
      this.fibFlushScheduled = true;
      setImmediate(() => this.flushFib());
    }
  }

  private flushFib(): void {
    this.fibFlushScheduled = false;
    if (this.pendingFib.size === 0) return;
    const batch = [...this.pendingFib.values()];
    this.pendingFib.clear();
    for (const l of this.fibListeners) {
      try {
        l(batch);
      } catch (e) {
        this.log("error", "FIB listener failed", { err: String(e) });
      }
    }
  }
}

/** Sorted distinct next hops of a multipath set. */
function fibHops(multipath: Path[]): string[] {
  if (multipath.length === 1) return [multipath[0]!.attrs.nextHop!.toString()];
  return [...new Set(multipath.map((p) => p.attrs.nextHop!.toString()))].sort();
}

function stableJson(v: object): string {
  return JSON.stringify(Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => a.localeCompare(b))));
}

function canonicalAddress(a: string): string {
  return parseIP(a).toString();
}
