/**
 * The BGP speaker: one Loc-RIB shared by every peer session (BIRD's single-table design), a TCP
 * listener that hands inbound connections to the configured peer (others are closed), locally
 * originated routes, Adj-RIB-Out per peer kept as a diff of what was sent, End-of-RIB after the
 * initial dump (RFC 4724 §2), packed UPDATEs, and batched FIB change notifications carrying the
 * ECMP next-hop set. Graceful restart (RFC 4724) as helper and as restarting speaker (R and F
 * bits, route selection deferred until End-of-RIB from the peers or the deferral timer);
 * enhanced route refresh (RFC 7313: BoRR/EoRR around a refresh, stale marking on receipt).
 * Used by the host agent and by `tabby bgp run`.
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
import { CeaseSubcode, FAMILIES, RouteRefreshSubtype, SAFI, familyToAfi, type AddressFamily } from "./wire/constants.js";
import { endOfRib, isEndOfRib, type UpdateMessage } from "./wire/update.js";
import { dottedToU32 } from "./wire/bytes.js";
import { setListenerKey } from "./md5.js";
import { ACCEPT_ALL, applySet, compilePolicy, evaluate, parseLargeCommunity, type CompiledPolicy } from "./policy.js";

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
  /**
   * Graceful restart as a restarting speaker (RFC 4724). Without it the speaker is a helper only
   * (it keeps a restarting peer's routes, and lists no families of its own).
   */
  gracefulRestart?: GracefulRestartOptions;
}

export interface GracefulRestartOptions {
  /** Restart time advertised (seconds, ≤ 4095): how long peers keep our routes. Default 120. */
  restartTime?: number;
  /** This start is a restart: set the R bit and defer selection until the peers' End-of-RIB. */
  restarting?: boolean;
  /** The F bit for every family: our forwarding state survives a restart (default true). */
  preserveForwarding?: boolean;
  /** Upper bound on the deferral (seconds, default 360 as in FRR). */
  selectionDeferralTime?: number;
}

export interface OriginatedRoute {
  prefix: string;
  nextHop?: string;
  communities?: string[];
  /** RFC 8092 large communities, "global:local1:local2". */
  largeCommunities?: string[];
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
  /** Families the peer sent End-of-RIB for in this session (restarting-speaker deferral). */
  eorReceived: Set<AddressFamily>;
  /** RFC 7313: families between the peer's BoRR and EoRR, with the timer that bounds the wait. */
  refreshing: Map<AddressFamily, TimerHandle>;
}

const ORIGINS = ["igp", "egp", "incomplete"];

interface LocalRoute {
  prefix: Prefix;
  family: AddressFamily;
  nextHop?: IP;
  communities: number[];
  large: [number, number, number][];
}
/** Loc-RIB changes gathered from peers' UPDATEs before they are pushed out (see onUpdate). */
const PENDING_MAX = 2048;
/** How long stale paths may wait for End-of-RIB after the peer is back (BIRD/FRR: 360 s). */
const STALE_PATH_TIME = 360;
/** RFC 4724 §4.1 selection deferral timer default (FRR's `select-defer-time`). */
const SELECTION_DEFERRAL_TIME = 360;

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
  private local = new Map<PrefixKey, LocalRoute>();
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
  /** RFC 4724 §4.1: restarting, best paths are neither sent nor installed until this ends. */
  private deferring: boolean;
  private deferTimer: TimerHandle | undefined;
  private selectionDone: { promise: Promise<void>; resolve: () => void };

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
    const rt = opts.gracefulRestart?.restartTime;
    if (rt !== undefined && (!Number.isInteger(rt) || rt < 0 || rt > 4095)) throw new BgpError("BGP_BAD_RESTART_TIME", `graceful restart time must be 0..4095 seconds: ${rt}`);
    this.deferring = !!opts.gracefulRestart?.restarting;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.selectionDone = { promise, resolve };
    if (!this.deferring) resolve();
  }

  /** Resolves once route selection is no longer deferred (at once unless restarting). */
  whenSelectionDone(): Promise<void> {
    return this.selectionDone.promise;
  }

  /** True while a restarting speaker defers route selection (RFC 4724 §4.1). */
  get selectionDeferred(): boolean {
    return this.deferring;
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
    if (this.deferring) {
      const secs = this.opts.gracefulRestart?.selectionDeferralTime ?? SELECTION_DEFERRAL_TIME;
      this.log("info", "restarting: route selection deferred until End-of-RIB from the peers", { maxSeconds: secs });
      this.deferTimer = this.clock.setTimeout(() => {
        this.deferTimer = undefined;
        this.endDeferral("selection deferral timer expired");
      }, secs * 1000);
    }
  }

  /**
   * Stops for a graceful restart: every session is dropped without a NOTIFICATION, so peers that
   * help (RFC 4724) keep our routes for the restart time; nothing is withdrawn or uninstalled.
   */
  async stopForRestart(): Promise<void> {
    this.started = false;
    if (this.deferTimer) this.clock.clearTimeout(this.deferTimer);
    const server = this.server;
    this.server = undefined;
    const closing = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    await Promise.all([...this.peers.values()].map((p) => p.session.abort()));
    await closing;
  }

  /**
   * Asks peers to send their routes again (ROUTE-REFRESH, RFC 2918): one peer or all, one family
   * or both. Peers that did not negotiate route refresh or the family are skipped. Returns how
   * many requests went out.
   */
  requestRefresh(peer?: string, family?: AddressFamily): number {
    let sent = 0;
    const want = peer === undefined ? undefined : canonicalAddress(peer);
    if (want !== undefined && !this.peers.has(want)) throw new BgpError("BGP_NO_PEER", `no peer ${peer}`);
    for (const [addr, st] of this.peers) {
      const n = st.session.negotiated;
      if ((want !== undefined && addr !== want) || !st.session.established || !n?.routeRefresh) continue;
      for (const f of FAMILIES) {
        if ((family && f !== family) || !n.families.includes(f)) continue;
        st.session.send([{ type: "route-refresh", afi: familyToAfi(f), safi: SAFI.UNICAST, subtype: RouteRefreshSubtype.REQUEST }]);
        sent++;
      }
    }
    return sent;
  }

  /** The port actually listened on (useful with port 0). */
  listenPort(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? a.port : undefined;
  }

  async stop(reason?: string): Promise<void> {
    this.started = false;
    if (this.deferTimer) this.clock.clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
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
      const st: PeerState = { config: cfg, session: undefined as unknown as Session, adjOut: new PrefixMap(), rejected: new Set(), info: undefined, gr: undefined, staleFamilies: new Set(), staleTimer: undefined, target: undefined, epoch: 0, importPolicy, exportPolicy, eorReceived: new Set(), refreshing: new Map() };
      const gr = this.opts.gracefulRestart;
      const sessionCfg: PeerConfig = { ...cfg, address: addr };
      if (gr?.restartTime !== undefined) sessionCfg.gracefulRestartTime = gr.restartTime;
      const local = gr
        ? { asNumber: this.opts.asNumber, routerId: this.opts.routerId, restartState: () => ({ restarting: this.deferring, forwarding: gr.preserveForwarding ?? true }) }
        : { asNumber: this.opts.asNumber, routerId: this.opts.routerId };
      st.session = new Session(sessionCfg, local, this.clock, this.hooksFor(st));
      this.peers.set(addr, st);
      this.setListenerKey(cfg);
      if (this.started) st.session.start();
    }
    this.checkDeferral();
  }

  setOriginated(routes: OriginatedRoute[]): void {
    const next = new Map<PrefixKey, LocalRoute>();
    for (const r of routes) {
      const prefix = parsePrefix(r.prefix).network();
      const v: LocalRoute = {
        prefix,
        family: prefix.family === 4 ? "ipv4" : "ipv6",
        communities: (r.communities ?? []).map(parseCommunity),
        large: (r.largeCommunities ?? []).map(parseLargeCommunity),
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
      const sig = `${v.nextHop ?? ""}|${v.communities.join(",")}|${v.large.join(";")}`;
      if (old && `${old.nextHop ?? ""}|${old.communities.join(",")}|${old.large.join(";")}` === sig) {
        next.set(k, old);
        continue;
      }
      let attrs = shared.get(sig);
      if (!attrs) {
        attrs = { origin: 0, asPath: [], communities: v.communities, largeCommunities: v.large, clusterList: [] };
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
        st.eorReceived.clear();
        this.grReestablished(st);
        // restarting: the table goes out once selection is done (RFC 4724 §4.1)
        if (this.deferring) this.checkDeferral();
        else this.initialDump(st);
      },
      update: (s, u) => this.onUpdate(st, u),
      down: (_s, reason, wasEstablished, graceful) => {
        this.clearRefreshing(st);
        if (wasEstablished && graceful && this.grKeep(st)) return;
        this.dropPeerRoutes(st);
      },
      routeRefresh: (_s, family) => {
        if (!this.deferring) this.resend(st, family);
      },
      refreshMarker: (_s, family, marker) => this.onRefreshMarker(st, family, marker),
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

  /**
   * RFC 7313 §4: BoRR marks the peer's routes of the family stale; UPDATEs that follow replace
   * them; EoRR removes what is still stale. An EoRR without a BoRR is ignored. The wait for EoRR
   * is bounded (as for graceful restart) so a peer that never sends it cannot pin stale routes.
   */
  private onRefreshMarker(st: PeerState, family: AddressFamily, marker: "begin" | "end"): void {
    if (!st.info) return;
    if (marker === "begin") {
      this.pendingFlush();
      const prev = st.refreshing.get(family);
      if (prev) this.clock.clearTimeout(prev);
      const n = this.rib.markFamilyStale(st.info.id, family);
      this.log("debug", "BoRR received: routes marked stale", { peer: st.config.address, family, routes: n });
      st.refreshing.set(
        family,
        this.clock.setTimeout(() => {
          this.log("warn", "no EoRR in time: flushing stale routes", { peer: st.config.address, family });
          this.finishRefresh(st, family);
        }, STALE_PATH_TIME * 1000),
      );
      return;
    }
    if (!st.refreshing.has(family)) {
      this.log("debug", "EoRR without BoRR ignored", { peer: st.config.address, family });
      return;
    }
    this.finishRefresh(st, family);
  }

  private finishRefresh(st: PeerState, family: AddressFamily): void {
    const t = st.refreshing.get(family);
    if (t) this.clock.clearTimeout(t);
    st.refreshing.delete(family);
    if (!st.info) return;
    const changes = new Map<PrefixKey, RibChange>();
    this.rib.flushStale(st.info.id, family, changes);
    this.log("debug", "EoRR received: stale routes flushed", { peer: st.config.address, family, changed: changes.size });
    this.propagate(changes);
  }

  private clearRefreshing(st: PeerState): void {
    for (const t of st.refreshing.values()) this.clock.clearTimeout(t);
    st.refreshing.clear();
  }

  /** UPDATEs of this read not yet applied to peers go out before a marker changes the RIB. */
  private pendingFlush(): void {
    if (this.pending.size > 0) this.propagate(new Map());
  }

  /**
   * RFC 4724 §4.1: selection is done when every configured peer is up and has sent End-of-RIB
   * for each negotiated family (peers without the capability, or restarting themselves, are not
   * waited for), or when the deferral timer fires.
   */
  private checkDeferral(): void {
    if (!this.deferring || !this.started || this.peers.size === 0) return;
    for (const st of this.peers.values()) {
      const n = st.session.negotiated;
      if (!st.session.established || !n) return;
      if (!n.gracefulRestart || n.gracefulRestart.restarting) continue;
      if (!n.families.every((f) => st.eorReceived.has(f))) return;
    }
    this.endDeferral("End-of-RIB received from every peer");
  }

  private endDeferral(why: string): void {
    if (!this.deferring) return;
    this.deferring = false;
    if (this.deferTimer) this.clock.clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    this.log("info", "route selection done after restart", { why });
    this.pendingFlush();
    for (const st of this.peers.values()) if (st.session.established && st.session.negotiated) this.initialDump(st);
    // the whole FIB at once: listeners replace what the previous run left installed
    if (this.fibListeners.length > 0) {
      for (const e of this.rib.all()) this.fibDiff(prefixKey(e.prefix), e.prefix, e.decision.best, e.decision.multipath);
    }
    this.flushFib();
    this.selectionDone.resolve();
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
      this.pendingFlush();
      this.log("debug", "End-of-RIB received", { peer: st.config.address, family: eor });
      st.eorReceived.add(eor);
      this.grEndOfRib(st, eor);
      this.checkDeferral();
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
        const term = evaluate(pol, p.prefix, p.attrs.communities, p.attrs.largeCommunities);
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
      const t = evaluate(st.exportPolicy, path.prefix, path.attrs.communities, path.attrs.largeCommunities);
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
    // per-peer next-hop mode (Calico nextHopMode Self/Keep); a policy term's set.nextHop still wins
    const nhMode = st.config.nextHopSelf;
    if (out && nhMode !== undefined) {
      const nextHop = nhMode ? (st.target!.selfNextHop[path.family] ?? out.nextHop) : (path.attrs.nextHop ?? out.nextHop);
      if (nextHop !== out.nextHop) out = { attrs: out.attrs, nextHop };
    }
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

  /**
   * Sends the whole table for a family followed by End-of-RIB (initial dump, route refresh); with
   * `enhanced` (RFC 7313 §4) framed by BoRR and EoRR instead.
   */
  private dump(st: PeerState, family: AddressFamily, enhanced = false): void {
    const n = st.session.negotiated;
    if (!n || !n.families.includes(family)) return;
    st.adjOut.clearKind(family === "ipv4" ? "ipv4" : "other");
    const announce: Announcement[] = [];
    const withdraw: Nlri[] = [];
    for (const e of this.rib.all(family) as Iterable<RibEntry>) this.syncPrefix(st, family, prefixKey(e.prefix), e.prefix, e.decision.best, e.decision.multipath, announce, withdraw);
    if (enhanced) {
      const rr = (subtype: number) => ({ type: "route-refresh" as const, afi: familyToAfi(family), safi: SAFI.UNICAST, subtype });
      st.session.send([rr(RouteRefreshSubtype.BORR), ...packAnnouncements(family, announce, n.tx), rr(RouteRefreshSubtype.EORR)]);
    } else st.session.send([...packAnnouncements(family, announce, n.tx), endOfRib(family)]);
  }

  private initialDump(st: PeerState): void {
    for (const family of FAMILIES) this.dump(st, family);
  }

  private resend(st: PeerState, family: AddressFamily): void {
    this.dump(st, family, st.session.negotiated?.enhancedRouteRefresh ?? false);
  }

  /** Pushes Loc-RIB changes to every established peer's Adj-RIB-Out and to FIB listeners. */
  private propagate(changes: Map<PrefixKey, RibChange>): void {
    if (this.pending.size > 0) {
      // what came in from peers first, in order
      const earlier = this.pending;
      this.pending = new Map();
      this.propagate(earlier);
    }
    if (changes.size === 0 || this.deferring) return;
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
    for (const c of changes.values()) this.fibDiff(c.key, c.prefix, c.best, c.multipath);
    if (this.pendingFib.size > 0 && !this.fibFlushScheduled) {
      this.fibFlushScheduled = true;
      setImmediate(() => this.flushFib());
    }
  }

  private fibDiff(key: PrefixKey, prefix: Prefix, best: Path | undefined, multipath: Path[]): void {
    const hops = best && best.source ? fibHops(multipath) : [];
    const sig = hops.length === 1 ? hops[0]! : hops.join(",");
    if ((this.fibState.get(key) ?? "") === sig) return;
    if (sig === "") this.fibState.delete(key);
    else this.fibState.set(key, this.intern(sig));
    this.pendingFib.set(key, { prefix: prefix.toString(), nextHops: hops });
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
