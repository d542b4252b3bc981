/**
 * The BGP speaker: one Loc-RIB shared by every peer session (BIRD's single-table design), a TCP
 * listener that hands inbound connections to the configured peer (others are closed), locally
 * originated routes, Adj-RIB-Out per update group (peers with identical outbound treatment share
 * one table and one encoding, update-group.ts) kept as a diff of what was sent, End-of-RIB after
 * the initial dump (RFC 4724 §2), packed UPDATEs, and batched FIB change notifications carrying
 * the ECMP next-hop set. Graceful restart (RFC 4724) as helper and as restarting speaker (R and F
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
import { exportRoute, type ExportTarget } from "./rib/export.js";
import { pathKey, prefixKey, withAttrs, type Path, type PeerInfo, type PrefixKey, type RouteAttrs } from "./rib/types.js";
import { outRouteKey } from "./pack.js";
import { UpdateGroup, type ExportResult, type GroupChange, type GroupMember } from "./update-group.js";
import type { RibEntry } from "./rib/rib.js";
import { ceaseNotification } from "./wire/messages.js";
import { CeaseSubcode, FAMILIES, RouteRefreshSubtype, SAFI, familyToAfi, type AddressFamily } from "./wire/constants.js";
import { isEndOfRib, type UpdateMessage } from "./wire/update.js";
import { dottedToU32 } from "./wire/bytes.js";
import { setConnectionKey, setListenerKey } from "./md5.js";
import { applyGtsm, inboundSynTtl, minTtl, prepareListenerForGtsm, resetTtl } from "./gtsm.js";
import { bindSecuredListener } from "./listener-socket.js";
import { describeSessionError } from "./notification-text.js";
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
  /** Runs BFD for peers whose config has `bfd` (src/bfd/service.ts); without it such peers are refused. */
  failureDetector?: FailureDetector;
}

/** A failure detector (BFD) the speaker asks to watch a peer; `onDown` when its path fails. */
export interface FailureDetector {
  watch(peer: string, localAddress: string | undefined, opts: NonNullable<PeerConfig["bfd"]>, onDown: (reason: string) => void): { close(): void };
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
  /** The update group of the session (peers sharing one Adj-RIB-Out and encoding); absent when down. */
  updateGroup?: number;
  lastError?: string;
  /** Since the speaker was made: UPDATEs received and sent, and how often the Established session was lost. */
  updatesReceived?: number;
  updatesSent?: number;
  flaps?: number;
  /** Why the session is not Established, in words: the socket error, the NOTIFICATION sent or received, a limit hit. */
  reason?: string;
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

/** A peer's place in its update group while its session is up. */
interface Member extends GroupMember {
  st: PeerState;
}

/** An update group and what its members' export shares (see exportFor). */
interface GroupState {
  group: UpdateGroup<Member>;
  /** Unique per group ever made, so the export memo never serves an old group's result. */
  id: number;
  target: ExportTarget;
  exportPolicy: CompiledPolicy;
  /** The members' configured next-hop mode (true: self, false: keep), when they set one. */
  nextHopSelf?: boolean;
  /** The last export computed (see exportFor). */
  lastExport?: { attrs: RouteAttrs; source: PeerInfo | undefined; family: AddressFamily; term: number; result: ExportResult | undefined };
}

interface PeerState {
  config: PeerConfig;
  session: Session;
  /** The update group this peer's session belongs to, and its membership (the Adj-RIB-Out). */
  group: GroupState | undefined;
  member: Member | undefined;
  /** prefixes refused on import (loops, treat-as-withdraw) */
  rejected: Set<string>;
  info: PeerInfo | undefined;
  /** The peer's graceful restart capability from the last session (RFC 4724 helper). */
  gr: Negotiated["gracefulRestart"];
  /** Families whose paths are kept stale after a graceful session loss, and the timer that ends it. */
  staleFamilies: Set<AddressFamily>;
  staleTimer: TimerHandle | undefined;
  importPolicy: CompiledPolicy;
  /** Families the peer sent End-of-RIB for in this session (restarting-speaker deferral). */
  eorReceived: Set<AddressFamily>;
  /** RFC 7313: families between the peer's BoRR and EoRR, with the timer that bounds the wait. */
  refreshing: Map<AddressFamily, TimerHandle>;
  /** The failure detector's watch on this peer (config `bfd`). */
  bfd?: { close(): void };
  /** Why the speaker itself took the session down (the maximum-prefix guard), and the timer that restarts it. */
  limit?: { reason: string; timer: TimerHandle | undefined };
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
/** How long a session reset by the maximum-prefix guard stays down before it is tried again (s). */
export const MAX_PREFIX_RESTART_TIME = 60;
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
  /** The listener saves SYNs and answers with TTL 255 (some peer has GTSM). */
  private listenerGtsm = false;
  /** Keyed peers whose key just went on the listener (setListenerKey). */
  private readonly keyQuarantine = new Set<string>();
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
  /** Update groups by key (see groupKey). */
  private groups = new Map<string, GroupState>();
  private groupIds = 0;
  /** Loc-RIB changes from UPDATEs not yet pushed to peers (see onUpdate). */
  private pending = new Map<PrefixKey, RibChange>();
  private pendingScheduled = false;
  private exportMemo = new WeakMap<object, Map<string, ExportResult | null>>();
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
      // keys and GTSM options go on the socket before it listens (listener-socket.ts)
      const configs = [...this.peers.values()].map((p) => p.config);
      const keys = configs.filter((c) => c.password).map((c) => ({ peer: canonicalAddress(c.address), key: c.password! }));
      const gtsm = configs.some((c) => c.ttlSecurity);
      const fd = keys.length > 0 || gtsm ? bindSecuredListener(listen.address, listen.port, { keys, gtsm }) : undefined;
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(fd !== undefined ? { fd } : { host: listen.address, port: listen.port }, () => {
          server.off("error", reject);
          resolve();
        });
      });
      server.on("error", (err) => this.log("error", "listener error", { err: err.message }));
      this.server = server;
      this.listenerGtsm = gtsm;
      this.log("info", "listening", listen);
    }
    for (const p of this.peers.values()) p.session.start();
    for (const [addr, p] of this.peers) if (p.config.bfd && !p.bfd) this.watchBfd(p, addr);
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
    for (const p of this.peers.values()) this.unwatchBfd(p);
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
    for (const p of this.peers.values()) this.unwatchBfd(p);
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
        this.unwatchBfd(st);
        void st.session.stop(ceaseNotification(CeaseSubcode.PEER_DECONFIGURED));
        this.dropPeerRoutes(st);
      } else if (stableJson(next) !== stableJson(st.config)) {
        if (this.changePolicies(st, next)) continue;
        this.peers.delete(addr);
        this.unwatchBfd(st);
        void st.session.stop(ceaseNotification(CeaseSubcode.OTHER_CONFIGURATION_CHANGE));
        this.dropPeerRoutes(st);
      }
    }
    for (const [addr, cfg] of want) {
      if (this.peers.has(addr)) continue;
      parseIP(cfg.address);
      if (cfg.bfd && !this.opts.failureDetector) throw new BgpError("BGP_NO_BFD", `peer ${cfg.address} asks for bfd but this speaker has no BFD service`);
      const importPolicy = this.importPolicyOf(cfg);
      const st: PeerState = { config: cfg, session: undefined as unknown as Session, group: undefined, member: undefined, rejected: new Set(), info: undefined, gr: undefined, staleFamilies: new Set(), staleTimer: undefined, importPolicy, eorReceived: new Set(), refreshing: new Map() };
      const gr = this.opts.gracefulRestart;
      const sessionCfg: PeerConfig = { ...cfg, address: addr };
      if (gr?.restartTime !== undefined && sessionCfg.gracefulRestartTime === undefined) sessionCfg.gracefulRestartTime = gr.restartTime;
      const local = gr
        ? { asNumber: this.opts.asNumber, routerId: this.opts.routerId, restartState: () => ({ restarting: this.deferring, forwarding: gr.preserveForwarding ?? true }) }
        : { asNumber: this.opts.asNumber, routerId: this.opts.routerId };
      st.session = new Session(sessionCfg, local, this.clock, this.hooksFor(st));
      this.peers.set(addr, st);
      this.setListenerKey(cfg);
      if (cfg.ttlSecurity && this.server && !this.listenerGtsm) {
        try {
          prepareListenerForGtsm(this.server);
          this.listenerGtsm = true;
        } catch (e) {
          this.log("error", "cannot set GTSM options on the listener", { peer: cfg.address, err: e instanceof Error ? e.message : String(e) });
        }
      }
      if (this.started) st.session.start();
      if (cfg.bfd) this.watchBfd(st, addr);
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
        prefixesAdvertised: p.group && p.member ? p.group.group.advertised(p.member) : 0,
        updatesReceived: s.counters.updatesReceived,
        updatesSent: s.counters.updatesSent,
        flaps: s.counters.flaps,
      };
      if (p.group) st.updateGroup = p.group.id;
      if (s.establishedAt !== undefined) st.uptimeSeconds = Math.floor((this.clock.now() - s.establishedAt) / 1000);
      if (s.lastError) st.lastError = s.lastError;
      if (!s.established) {
        const why = p.limit?.reason ?? (s.lastError ? describeSessionError(s.lastError) : undefined);
        if (why) st.reason = why;
      }
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

  /**
   * BFD on the peer's address: once it has been Up and goes Down, the forwarding path is gone, so
   * the session is reset at once with Cease/10 "BFD Down" (RFC 9384), which goes out as a Hard
   * Reset under RFC 8538 and so flushes the peer's routes even with graceful restart; the session
   * then starts again and comes back when the peer can be reached.
   */
  private watchBfd(st: PeerState, addr: string): void {
    if (!this.started || st.bfd || !st.config.bfd || !this.opts.failureDetector) return;
    st.bfd = this.opts.failureDetector.watch(addr, st.config.localAddress, st.config.bfd, (reason) => {
      if (this.peers.get(addr) !== st || !this.started) return;
      this.log("warn", "BFD down: resetting the BGP session", { peer: addr, reason, state: st.session.state });
      const closed = st.session.stop(ceaseNotification(CeaseSubcode.BFD_DOWN));
      st.session.lastError = `${reason}: session reset (Cease 6/10)`;
      void closed.then(() => {
        if (this.peers.get(addr) === st && this.started) st.session.start();
      });
    });
  }

  private unwatchBfd(st: PeerState): void {
    st.bfd?.close();
    st.bfd = undefined;
  }

  /**
   * RFC 2385: the listener needs the peer's key so the peer's SYN is accepted. A key added to a
   * listening socket does not cover a connection that completed its handshake before and waits
   * in the accept queue: connections from the address are refused until the event loop has
   * polled the listener once more (two setImmediate turns), so such a one is never accepted.
   */
  private setListenerKey(cfg: PeerConfig, remove = false): void {
    if ((!cfg.password && !remove) || !this.server) return;
    try {
      const addr = canonicalAddress(cfg.address);
      if (!remove) {
        this.keyQuarantine.add(addr);
        setImmediate(() => setImmediate(() => this.keyQuarantine.delete(addr)));
      }
      setListenerKey(this.server, addr, cfg.password ?? "");
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
    const refusal = this.keyQuarantine.has(canonicalAddress(addr!))
      ? "TCP-MD5: the connection may predate the peer's key on the listener"
      : this.secureInbound(socket, st.config);
    if (refusal) {
      this.log("warn", "refusing connection", { peer: st.config.address, reason: refusal });
      st.session.lastError = refusal;
      socket.destroy();
      return;
    }
    st.session.acceptInbound(socket);
  }

  /**
   * GTSM (RFC 5082) and TCP-MD5 (RFC 2385) on an accepted connection, before anything is read
   * from it: the SYN must have come from within `ttlSecurity` hops, and from now on the kernel
   * drops segments from further away and unsigned ones. Returns why the connection is refused.
   */
  private secureInbound(socket: net.Socket, cfg: PeerConfig): string | undefined {
    try {
      const addr = canonicalAddress(cfg.address);
      if (cfg.ttlSecurity) {
        const ttl = inboundSynTtl(socket);
        const min = minTtl(cfg.ttlSecurity);
        if (ttl === undefined) return "GTSM: the connection's SYN was not saved, so its TTL cannot be checked";
        if (ttl < min) return `GTSM: SYN arrived with TTL ${ttl}, below ${min} (ttlSecurity ${cfg.ttlSecurity} hops)`;
        applyGtsm(socket, parseIP(addr).family, cfg.ttlSecurity);
      }
      else if (this.listenerGtsm) {
        // not a GTSM peer: free the saved SYN, and send with the system's default TTL again
        // rather than the 255 inherited from the listener
        inboundSynTtl(socket);
        resetTtl(socket, parseIP(addr).family);
      }
      if (cfg.password) setConnectionKey(socket, addr, cfg.password);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    return undefined;
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
        if (st.config.allowOwnAs) st.info.allowOwnAs = st.config.allowOwnAs;
        if (st.limit) this.clearLimit(st);
        this.leaveGroup(st);
        st.gr = n.gracefulRestart;
        st.eorReceived.clear();
        this.grReestablished(st);
        // restarting: the peer joins its group once selection is done (RFC 4724 §4.1)
        if (this.deferring) this.checkDeferral();
        else this.joinGroup(st);
      },
      update: (_s, u) => this.onUpdate(st, u),
      down: (_s, _reason, wasEstablished, graceful) => {
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

  /** RFC 4724 helper, session lost (or ended by a NOTIFICATION under RFC 8538): keep the peer's routes stale for its restart time. */
  private grKeep(st: PeerState): boolean {
    if (!st.gr || !st.info || st.gr.families.size === 0) return false;
    const keep = new Set(st.gr.families.keys());
    this.log("info", "peer lost gracefully (no NOTIFICATION, or one under the N bit): keeping its routes (graceful restart helper)", { peer: st.config.address, families: [...keep], restartTime: st.gr.restartTime });
    this.leaveGroup(st);
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
    for (const st of this.peers.values()) if (st.session.established && st.session.negotiated && st.info && !st.group) this.joinGroup(st);
    // the whole FIB at once: listeners replace what the previous run left installed
    if (this.fibListeners.length > 0) {
      for (const e of this.rib.all()) this.fibDiff(e.key, e.prefix, e.decision.best, e.decision.multipath);
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
    this.leaveGroup(st);
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
        const term = evaluate(pol, p.prefix, p.attrs.communities, p.attrs.largeCommunities, st.info.ibgp ? "ibgp" : "ebgp");
        if (term === undefined) {
          // refused by import policy: gone from the RIB as if withdrawn, counted as received
          this.rib.remove(st.info.id, p.prefix, p.pathId, changes);
          st.rejected.add(`${pathKey(p)}#${p.pathId}`);
          continue;
        }
        if (term >= 0 && pol.terms[term]!.set) {
          setMemo ??= new Map();
          let byTerm = setMemo.get(p.attrs);
          if (!byTerm) setMemo.set(p.attrs, (byTerm = new Map()));
          let attrs = byTerm.get(term);
          if (!attrs) byTerm.set(term, (attrs = applySet(p.attrs, pol.terms[term]!)));
          p = withAttrs(p, attrs);
        }
      }
      if (st.rejected.size > 0) st.rejected.delete(`${pathKey(p)}#${p.pathId}`);
      this.rib.upsert(p, changes);
    }
    const max = st.config.maxPrefixes;
    if (max !== undefined && this.rib.peerPathCount(st.info.id) > max) {
      this.maxPrefixesReached(st, max, r.announce[0]?.family ?? "ipv4");
      return;
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

  /**
   * The maximum-prefix guard (RFC 4486): more paths accepted from the peer than `maxPrefixes`
   * (all families together) ends the session with Cease 6/1 (a Hard Reset under RFC 8538, so the
   * peer does not keep our routes stale either), drops the peer's routes, and tries the session
   * again after MAX_PREFIX_RESTART_TIME. The data carries the family and the bound.
   */
  private maxPrefixesReached(st: PeerState, max: number, family: AddressFamily): void {
    const count = this.rib.peerPathCount(st.info!.id);
    const reason = `maximum prefixes reached: more than ${max} accepted (${count}); sent NOTIFICATION 6/1 (Cease / Maximum Number of Prefixes Reached), retrying in ${MAX_PREFIX_RESTART_TIME}s`;
    this.log("warn", "maximum prefixes reached: resetting the session", { peer: st.config.address, max, count });
    const data = new Uint8Array(7);
    const dv = new DataView(data.buffer);
    dv.setUint16(0, familyToAfi(family));
    dv.setUint8(2, SAFI.UNICAST);
    dv.setUint32(3, max);
    const addr = canonicalAddress(st.config.address);
    if (st.limit?.timer) this.clock.clearTimeout(st.limit.timer);
    st.limit = { reason, timer: undefined };
    void st.session.stop({ ...ceaseNotification(CeaseSubcode.MAX_PREFIXES_REACHED), data });
    this.dropPeerRoutes(st);
    st.limit.timer = this.clock.setTimeout(() => {
      if (st.limit) st.limit.timer = undefined;
      if (this.started && this.peers.get(addr) === st) st.session.start();
    }, MAX_PREFIX_RESTART_TIME * 1000);
  }

  private clearLimit(st: PeerState): void {
    if (st.limit?.timer) this.clock.clearTimeout(st.limit.timer);
    st.limit = undefined;
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
   * What makes two sessions' outbound treatment identical, so they share an update group: export
   * policy, negotiated families, ADD-PATH send mode and 4-byte AS (the encoding), iBGP/eBGP and
   * reflector-client role (export.ts), our next-hop-self address on the session, and the peer's
   * configured next-hop mode (nextHopSelf).
   */
  private groupKey(st: PeerState, n: Negotiated, self: Partial<Record<AddressFamily, IP>>): string {
    const exp = st.config.export === undefined ? null : st.config.export;
    return JSON.stringify([exp, [...n.families].sort(), n.tx.as4, n.tx.addPath.ipv4, n.tx.addPath.ipv6, st.session.ibgp, !!st.config.routeReflectorClient, self.ipv4?.toString() ?? "", self.ipv6?.toString() ?? "", st.config.nextHopSelf ?? null]);
  }

  /**
   * A change of a peer's import or export policy (or next-hop mode) alone, applied without
   * resetting its session (BIRD's and FRR's soft reconfiguration). Export: the peer moves to the
   * update group of its new treatment and is sent that group's table between BoRR and EoRR (RFC
   * 7313), after which it drops what was not sent again; a peer without enhanced route refresh
   * could not be told to, so it is reset as before. Import: the peer is asked for its routes again
   * (ROUTE-REFRESH, RFC 2918), and each is imported under the new policy (a route it now refuses
   * leaves the RIB as if withdrawn); a peer without route refresh is reset. A session that is not
   * up just takes the new policies when it comes up. False when anything else changed, or the
   * session must be reset.
   */
  private changePolicies(st: PeerState, next: PeerConfig): boolean {
    const rest = (c: PeerConfig) => stableJson({ ...c, import: null, export: null, nextHopSelf: null });
    if (rest(next) !== rest(st.config)) return false;
    // the next-hop mode is outbound treatment too: part of the update group's key, like export
    const outbound = (c: PeerConfig) => stableJson({ p: c.export ?? null, n: c.nextHopSelf ?? null });
    const exportChanged = outbound(next) !== outbound(st.config);
    const importChanged = stableJson({ p: next.import ?? null }) !== stableJson({ p: st.config.import ?? null });
    const n = st.session.established ? st.session.negotiated : undefined;
    if (n && ((exportChanged && !n.enhancedRouteRefresh) || (importChanged && !n.routeRefresh))) return false;
    const importPolicy = this.importPolicyOf(next); // refuses a bad policy before anything changes
    st.config = next;
    st.importPolicy = importPolicy;
    if (!n) return true;
    this.log("info", "peer policy changed, session kept", { peer: next.address, import: importChanged, export: exportChanged });
    if (exportChanged && st.group) {
      this.leaveGroup(st);
      this.joinGroup(st, true);
    }
    if (importChanged) this.requestRefresh(next.address);
    return true;
  }

  /**
   * A peer's compiled import policy; its export policy is compiled too, so that a bad one is
   * refused now rather than when the session comes up (the update group compiles its own).
   */
  private importPolicyOf(cfg: PeerConfig): CompiledPolicy {
    const ibgp = cfg.asNumber === this.opts.asNumber;
    if (cfg.export !== undefined) compilePolicy(cfg.export, ibgp);
    return cfg.import === undefined ? ACCEPT_ALL : compilePolicy(cfg.import, ibgp);
  }

  /**
   * Session up: join (or make) the peer's update group, then send it the group's table and
   * End-of-RIB; `refresh`: the table between BoRR and EoRR instead (a policy change, RFC 7313).
   */
  private joinGroup(st: PeerState, refresh = false): void {
    const n = st.session.negotiated!;
    const info = st.info!;
    const self = this.selfNextHops(st);
    const key = this.groupKey(st, n, self);
    // the group's table must be current before a member joins (its dump is that table)
    this.propagate(new Map());
    let g = this.groups.get(key);
    if (!g) {
      const id = ++this.groupIds;
      const gs: GroupState = {
        group: undefined as unknown as UpdateGroup<Member>,
        id,
        // the peer identity is the group's; per-peer split horizon is the group's exceptions
        target: { peer: { ...info, id: `group#${id}` }, localAs: this.opts.asNumber, routerId: this.opts.routerId, clusterId: this.identity.clusterId, selfNextHop: self },
        exportPolicy: st.config.export === undefined ? ACCEPT_ALL : compilePolicy(st.config.export, info.ibgp),
        ...(st.config.nextHopSelf !== undefined ? { nextHopSelf: st.config.nextHopSelf } : {}),
      };
      gs.group = new UpdateGroup<Member>(key, [...n.families], n.tx, (p) => this.exportFor(gs, p), (p) => this.outPathId(p));
      gs.group.sync(entryChanges(this.rib.all()));
      this.groups.set(key, gs);
      g = gs;
      this.log("debug", "update group created", { group: id, peer: st.config.address });
    }
    const member: Member = { id: info.id, routerId: n.peerRouterId, st };
    g.group.join(member);
    st.group = g;
    st.member = member;
    for (const family of FAMILIES) this.dumpTo(st, family, refresh);
  }

  /** Session down (or re-established): the peer leaves its group; an empty group is dropped. */
  private leaveGroup(st: PeerState): void {
    const g = st.group;
    if (!g || !st.member) return;
    g.group.leave(st.member);
    st.group = undefined;
    st.member = undefined;
    if (g.group.members.size === 0 && this.groups.get(g.group.key) === g) this.groups.delete(g.group.key);
  }

  /** The group's table for one family to one member, then End-of-RIB, or within BoRR/EoRR (RFC 7313). */
  private dumpTo(st: PeerState, family: AddressFamily, enhanced = false): void {
    if (!st.group || !st.member) return;
    const frames = st.group.group.dump(st.member, family, enhanced);
    if (frames.length > 0) st.session.sendEncoded(frames);
  }

  /** Route refresh (RFC 2918, RFC 7313): the group's current table again, to this peer only. */
  private resend(st: PeerState, family: AddressFamily): void {
    this.propagate(new Map());
    this.dumpTo(st, family, st.session.negotiated?.enhancedRouteRefresh ?? false);
  }

  /**
   * The route as this group sends it. Memoised per attribute object (paths of one UPDATE, or local
   * routes with equal attributes, share one), per source and per group, so a big table costs one
   * export computation per attribute set and group, not per prefix and peer.
   */
  private exportFor(g: GroupState, path: Path): ExportResult | undefined {
    // export policy: the term that matches is part of the memo key (its set actions shape the route)
    let term = -1;
    if (g.exportPolicy !== ACCEPT_ALL) {
      const t = evaluate(g.exportPolicy, path.prefix, path.attrs.communities, path.attrs.largeCommunities, !path.source ? "local" : path.source.ibgp ? "ibgp" : "ebgp");
      if (t === undefined) return undefined;
      term = t;
    }
    // consecutive paths usually share attributes (one UPDATE's prefixes): skip the memo lookup
    const last = g.lastExport;
    if (last && last.attrs === path.attrs && last.source === path.source && last.family === path.family && last.term === term) return last.result;
    const result = this.exportMemoised(g, path, term);
    g.lastExport = { attrs: path.attrs, source: path.source, family: path.family, term, result };
    return result;
  }

  private exportMemoised(g: GroupState, path: Path, term: number): ExportResult | undefined {
    let memo = this.exportMemo.get(path.attrs);
    if (!memo) this.exportMemo.set(path.attrs, (memo = new Map()));
    const mk = `${path.source ? path.source.id : "local"}|${path.family}|${g.id}|${term}`;
    const hit = memo.get(mk);
    if (hit !== undefined) return hit ?? undefined;
    let out = exportRoute(path, g.target);
    // per-peer next-hop mode (Calico nextHopMode Self/Keep, part of the group key); a policy term's set.nextHop still wins
    const nhMode = g.nextHopSelf;
    if (out && nhMode !== undefined) {
      const nextHop = nhMode ? (g.target.selfNextHop[path.family] ?? out.nextHop) : (path.attrs.nextHop ?? out.nextHop);
      if (nextHop !== out.nextHop) out = { attrs: out.attrs, nextHop };
    }
    const t = term >= 0 ? g.exportPolicy.terms[term] : undefined;
    if (out && t?.set) {
      const attrs = applySet(out.attrs, t);
      if (!g.target.peer.ibgp) delete attrs.localPref; // LOCAL_PREF never goes to another AS
      let nextHop = out.nextHop;
      if (t.set.nextHop === "self") nextHop = g.target.selfNextHop[path.family] ?? nextHop;
      else if (t.set.nextHop === "keep" && path.attrs.nextHop) nextHop = path.attrs.nextHop;
      out = { attrs, nextHop };
    }
    const r: ExportResult | null = out ? { out, key: this.intern(outRouteKey(out, g.group.tx)), from: path.source?.id, originatorId: out.attrs.originatorId } : null;
    memo.set(mk, r);
    return r ?? undefined;
  }

  /** One copy of each distinct attribute key, so export results share strings. */
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

  /** Pushes Loc-RIB changes to every update group (once per group, not per peer) and to FIB listeners. */
  private propagate(changes: Map<PrefixKey, RibChange>): void {
    if (this.pending.size > 0) {
      // what came in from peers first, in order
      const earlier = this.pending;
      this.pending = new Map();
      this.propagate(earlier);
    }
    if (changes.size === 0 || this.deferring) return;
    for (const g of this.groups.values()) {
      const out = g.group.sync(changes.values());
      if (out.shared.length === 0 && out.own.size === 0) continue;
      for (const m of g.group.members) {
        const frames: Uint8Array[] = [];
        for (const s of out.shared) if (s.except.length === 0 || !s.except.includes(m)) frames.push(s.bytes);
        const own = out.own.get(m);
        if (own) for (const f of own) frames.push(f);
        if (frames.length > 0) m.st.session.sendEncoded(frames);
      }
    }
    if (this.fibListeners.length === 0) return;
    for (const c of changes.values()) this.fibDiff(c.key, c.prefix, c.best, c.multipath);
    if (this.pendingFib.size > 0 && !this.fibFlushScheduled) {
      this.fibFlushScheduled = true;
      setImmediate(() => this.flushFib());
    }
  }

  private fibDiff(key: PrefixKey, prefix: Prefix, best: Path | undefined, multipath: Path[]): void {
    const hops = best?.source ? fibHops(multipath) : [];
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

/** Loc-RIB entries as changes from nothing (to fill a new group's table). */
function* entryChanges(entries: Iterable<RibEntry>): Generator<GroupChange> {
  for (const e of entries) yield { key: e.key, family: e.family, best: e.decision.best, multipath: e.decision.multipath };
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
