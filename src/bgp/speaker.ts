/**
 * The BGP speaker: one Loc-RIB shared by every peer session (BIRD's single-table design), a
 * listener that hands inbound connections to the configured peer (others are closed), locally
 * originated routes, and the peer table: each configured peer's session, its import side and its
 * per-peer state. Used by the host agent and by `tabby bgp run`. The rest is delegated by what it
 * owns:
 *   - outbound.ts: update groups (one Adj-RIB-Out and encoding per outbound treatment), End-of-RIB
 *     after the initial dump (RFC 4724 §2), route refresh answers (RFC 2918, RFC 7313);
 *   - route-flow.ts: Loc-RIB changes to the groups and the FIB feed, gathered per read;
 *   - fib-feed.ts: batched FIB changes with the ECMP next-hop set;
 *   - stale-tracker.ts: graceful restart helper (RFC 4724 §4.2);
 *   - inbound-refresh.ts: enhanced route refresh on receipt (RFC 7313 §4);
 *   - deferral.ts: restarting speaker, selection deferred until End-of-RIB (RFC 4724 §4.1);
 *   - peer-import.ts: an UPDATE through import policy into the RIB;
 *   - speaker-views.ts: peer status and route views;
 *   - transport.ts: connections come from an injected network (TCP by default).
 */
import { soon, systemClock, type Clock, type TimerHandle } from "../clock.js";
import { parseIP, tryParseIP, type IP } from "../net/ip.js";
import { parsePrefix, type Prefix } from "../net/prefix.js";
import { BgpError } from "./errors.js";
import { checkRouterId, Session, stripMapped, type PeerConfig, type SessionHooks } from "./session.js";
import { Rib, type RibChange } from "./rib/rib.js";
import type { LocalIdentity } from "./rib/import.js";
import { prefixKey, type PeerInfo, type PrefixKey, type RouteAttrs } from "./rib/types.js";
import { ceaseNotification } from "./wire/messages.js";
import { CeaseSubcode, FAMILIES, RouteRefreshSubtype, SAFI, familyToAfi, type AddressFamily } from "./wire/constants.js";
import { isEndOfRib, type UpdateMessage } from "./wire/update.js";
import { dottedToU32 } from "./wire/bytes.js";
import { ACCEPT_ALL, compilePolicy, parseLargeCommunity, type CompiledPolicy } from "./policy.js";
import type { Negotiated } from "./negotiate.js";
import type { BgpListener, BgpNetwork, ByteStream } from "./transport.js";
import { tcpNetwork } from "./tcp-transport.js";
import { Outbound } from "./outbound.js";
import { FibFeed } from "./fib-feed.js";
import { RouteFlow } from "./route-flow.js";
import { StaleTracker, type StaleDeps } from "./stale-tracker.js";
import { InboundRefresh } from "./inbound-refresh.js";
import { SELECTION_DEFERRAL_TIME, SelectionDeferral, selectionReady } from "./deferral.js";
import { importInto } from "./peer-import.js";
import { DEFAULT_PACING, SendPacer } from "./send-pacer.js";
import { parseCommunity, peerStatusOf, routeViews } from "./speaker-views.js";
import type { FibChange, LogFn, OriginatedRoute, PeerStatus, RouteView, SpeakerOptions } from "./speaker-types.js";

export type { PeerConfig } from "./session.js";
export type {
  FailureDetector,
  FibChange,
  GracefulRestartOptions,
  LogFn,
  LogLevel,
  OriginatedRoute,
  PeerStatus,
  RouteView,
  SpeakerOptions,
} from "./speaker-types.js";
export { formatCommunity, parseCommunity } from "./speaker-views.js";

/** A configured peer: its session and what the speaker keeps for it. */
interface PeerState {
  config: PeerConfig;
  /** stableJson(config), kept so that a routing pass compares each peer's config once, not twice per pass. */
  configJson: string;
  session: Session;
  /** prefixes refused on import (loops, treat-as-withdraw, policy) */
  rejected: Set<string>;
  info: PeerInfo | undefined;
  /** The peer's graceful restart capability from the last session (RFC 4724 helper). */
  gr: Negotiated["gracefulRestart"];
  stale: StaleTracker;
  importPolicy: CompiledPolicy;
  /** Families the peer sent End-of-RIB for in this session (restarting-speaker deferral). */
  eorReceived: Set<AddressFamily>;
  /** RFC 7313: the peer's BoRR/EoRR. */
  refresh: InboundRefresh;
  /** The failure detector's watch on this peer (config `bfd`). */
  bfd?: { close(): void };
  /** Why the speaker itself took the session down (the maximum-prefix guard), and the timer that restarts it. */
  limit?: { reason: string; timer: TimerHandle | undefined };
}

interface LocalRoute {
  prefix: Prefix;
  family: AddressFamily;
  nextHop?: IP;
  communities: number[];
  large: [number, number, number][];
}
/** How long a session reset by the maximum-prefix guard stays down before it is tried again (s). */
export const MAX_PREFIX_RESTART_TIME = 60;

export class Speaker {
  private readonly opts: SpeakerOptions;
  private readonly clock: Clock;
  private readonly log: LogFn;
  private readonly network: BgpNetwork;
  private readonly rib: Rib;
  private readonly identity: LocalIdentity;
  private readonly peers = new Map<string, PeerState>();
  private local = new Map<PrefixKey, LocalRoute>();
  private listener: BgpListener | undefined;
  private started = false;
  private readonly outbound: Outbound<PeerState>;
  private readonly fib: FibFeed;
  private readonly flow: RouteFlow;
  private readonly deferral: SelectionDeferral;
  private readonly staleDeps: StaleDeps;
  /** One for all sessions: UPDATE writes in rounds, never ahead of accepts and reads (send-pacer.ts). */
  private readonly pacer: SendPacer;
  /** The configured peers' addresses (as given to the last setPeers) → canonical form. */
  private canonical = new Map<string, string>();

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
    this.network = opts.network ?? tcpNetwork;
    this.rib = new Rib(opts.asNumber);
    this.identity = { asNumber: opts.asNumber, routerId: opts.routerId, clusterId: opts.clusterId ?? opts.routerId };
    const rt = opts.gracefulRestart?.restartTime;
    if (rt !== undefined && (!Number.isInteger(rt) || rt < 0 || rt > 4095))
      throw new BgpError("BGP_BAD_RESTART_TIME", `graceful restart time must be 0..4095 seconds: ${rt}`);
    this.deferral = new SelectionDeferral(!!opts.gracefulRestart?.restarting, this.clock);
    this.outbound = new Outbound<PeerState>(this.identity, this.rib, this.log);
    const turn = (fn: () => void) => soon(this.clock, fn);
    this.fib = new FibFeed(turn, this.log, (s) => this.outbound.intern(s));
    this.flow = new RouteFlow(this.outbound, this.fib, turn, () => this.deferral.active);
    this.pacer = new SendPacer(this.clock, opts.pacing ?? DEFAULT_PACING);
    this.staleDeps = { rib: this.rib, commit: (c) => this.flow.commit(c), clock: this.clock, log: this.log };
  }

  /** Resolves once route selection is no longer deferred (at once unless restarting). */
  whenSelectionDone(): Promise<void> {
    return this.deferral.whenDone();
  }

  /** True while a restarting speaker defers route selection (RFC 4724 §4.1). */
  get selectionDeferred(): boolean {
    return this.deferral.active;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const listen = this.opts.listen;
    if (listen) {
      // keys and GTSM options go on the socket before it listens (tcp-transport.ts)
      const configs = [...this.peers.values()].map((p) => p.config);
      const keys = configs.filter((c) => c.password).map((c) => ({ peer: canonicalAddress(c.address), key: c.password! }));
      const gtsm = configs.some((c) => c.ttlSecurity);
      this.listener = await this.network.listen(
        listen,
        { keys, gtsm },
        (s) => this.onInbound(s),
        (err) => this.log("error", "listener error", { err: err.message }),
      );
      this.log("info", "listening", listen);
    }
    for (const p of this.peers.values()) p.session.start();
    for (const [addr, p] of this.peers) if (p.config.bfd && !p.bfd) this.watchBfd(p, addr);
    if (this.deferral.active) {
      const secs = this.opts.gracefulRestart?.selectionDeferralTime ?? SELECTION_DEFERRAL_TIME;
      this.log("info", "restarting: route selection deferred until End-of-RIB from the peers", { maxSeconds: secs });
      this.deferral.arm(secs, () => this.endDeferral("selection deferral timer expired"));
    }
  }

  /**
   * Stops for a graceful restart: every session is dropped without a NOTIFICATION, so peers that
   * help (RFC 4724) keep our routes for the restart time; nothing is withdrawn or uninstalled.
   */
  async stopForRestart(): Promise<void> {
    this.started = false;
    this.deferral.disarm();
    const closing = this.closeListener();
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
    return this.listener?.port;
  }

  async stop(reason?: string): Promise<void> {
    this.started = false;
    this.deferral.disarm();
    const note = ceaseNotification(CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, reason);
    const closing = this.closeListener();
    for (const p of this.peers.values()) this.unwatchBfd(p);
    await Promise.all([...this.peers.values()].map((p) => p.session.stop(note)));
    await closing;
    for (const p of this.peers.values()) this.dropPeerRoutes(p);
    this.fib.flush();
  }

  /**
   * Makes the configured peers these. Whatever can refuse a peer (an address that does not parse,
   * BFD without a failure detector, a policy that does not compile) is checked for every peer
   * first: a refusal throws with every peer as it was, never half of the set applied.
   */
  setPeers(peers: PeerConfig[]): void {
    // the agent hands the same address strings on every routing pass: parse only new ones
    const canonical = new Map<string, string>();
    for (const p of peers) canonical.set(p.address, this.canonical.get(p.address) ?? canonicalAddress(p.address));
    this.canonical = canonical;
    const want = new Map(peers.map((p) => [canonical.get(p.address)!, p]));
    const { importPolicies, json } = this.checkPeers(want);
    for (const [addr, st] of this.peers) {
      const next = want.get(addr);
      if ((!next || next.password !== st.config.password) && st.config.password) this.setListenerKey({ ...st.config, password: "" }, true);
      if (!next) {
        this.peers.delete(addr);
        this.unwatchBfd(st);
        void st.session.stop(ceaseNotification(CeaseSubcode.PEER_DECONFIGURED));
        this.dropPeerRoutes(st);
      } else if (json.get(addr) !== st.configJson) {
        const bfdChanged = stableJson({ b: next.bfd ?? null }) !== stableJson({ b: st.config.bfd ?? null });
        if (this.changePolicies(st, next, json.get(addr)!, importPolicies.get(addr)!)) {
          if (bfdChanged) this.rewatchBfd(st, addr);
          continue;
        }
        this.peers.delete(addr);
        this.unwatchBfd(st);
        void st.session.stop(ceaseNotification(CeaseSubcode.OTHER_CONFIGURATION_CHANGE));
        this.dropPeerRoutes(st);
      }
    }
    for (const [addr, cfg] of want) {
      if (this.peers.has(addr)) continue;
      const importPolicy = importPolicies.get(addr)!;
      const gr = this.opts.gracefulRestart;
      const sessionCfg: PeerConfig = { ...cfg, address: addr };
      if (gr?.restartTime !== undefined && sessionCfg.gracefulRestartTime === undefined) sessionCfg.gracefulRestartTime = gr.restartTime;
      const local = gr
        ? {
            asNumber: this.opts.asNumber,
            routerId: this.opts.routerId,
            restartState: () => ({ restarting: this.deferral.active, forwarding: gr.preserveForwarding ?? true }),
          }
        : { asNumber: this.opts.asNumber, routerId: this.opts.routerId };
      const st: PeerState = {
        config: cfg,
        configJson: json.get(addr)!,
        session: undefined as unknown as Session,
        rejected: new Set(),
        info: undefined,
        gr: undefined,
        stale: new StaleTracker(addr, cfg.address, this.staleDeps),
        importPolicy,
        eorReceived: new Set(),
        refresh: new InboundRefresh(addr, cfg.address, this.staleDeps),
      };
      st.session = new Session(sessionCfg, local, this.clock, this.hooksFor(st), this.network, this.pacer);
      this.peers.set(addr, st);
      this.setListenerKey(cfg);
      if (cfg.ttlSecurity && this.listener) {
        try {
          this.listener.enableGtsm();
        } catch (e) {
          this.log("error", "cannot set GTSM options on the listener", { peer: cfg.address, err: e instanceof Error ? e.message : String(e) });
        }
      }
      if (this.started) st.session.start();
      if (cfg.bfd) this.watchBfd(st, addr);
    }
    this.checkDeferral();
  }

  /**
   * The checks of setPeers, without changing anything: each new or changed peer's address, BFD
   * and policies. Returns their compiled import policies (an unchanged peer keeps its own) and
   * every wanted peer's config as stableJson, computed once here for setPeers' comparisons.
   */
  private checkPeers(want: Map<string, PeerConfig>): { importPolicies: Map<string, CompiledPolicy>; json: Map<string, string> } {
    const out = new Map<string, CompiledPolicy>();
    const json = new Map<string, string>();
    // the peers of a mesh share their policy objects: each is serialised once per call
    const memo = new Map<object, string>();
    for (const [addr, cfg] of want) {
      const st = this.peers.get(addr);
      const j = stableJson(cfg, memo);
      json.set(addr, j);
      if (st && j === st.configJson) continue;
      parseIP(cfg.address);
      if (cfg.expectedRouterId !== undefined) checkRouterId(cfg.expectedRouterId, cfg.address);
      if (cfg.bfd && !this.opts.failureDetector) throw new BgpError("BGP_NO_BFD", `peer ${cfg.address} asks for bfd but this speaker has no BFD service`);
      out.set(addr, this.importPolicyOf(cfg));
    }
    return { importPolicies: out, json };
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
    this.flow.commit(changes);
  }

  onFibChange(listener: (changes: FibChange[]) => void): void {
    this.fib.listen(listener);
  }

  peerStatus(): PeerStatus[] {
    const now = this.clock.now();
    return [...this.peers.values()].map((p) =>
      peerStatusOf(
        {
          config: p.config,
          session: p.session,
          accepted: p.info ? this.rib.peerPathCount(p.info.id) : 0,
          rejected: p.rejected.size,
          advertised: this.outbound.advertised(p),
          updateGroup: this.outbound.groupOf(p),
          limitReason: p.limit?.reason,
        },
        now,
      ),
    );
  }

  routes(family?: AddressFamily): RouteView[] {
    return routeViews(this.rib, family);
  }

  // ---- internals ----

  private closeListener(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    return l ? l.close() : Promise.resolve();
  }

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

  /** The peer's BFD options changed (added, removed or retuned) and the session stays: a new watch. */
  private rewatchBfd(st: PeerState, addr: string): void {
    this.unwatchBfd(st);
    this.watchBfd(st, addr);
    this.log("info", "peer BFD changed, session kept", { peer: st.config.address, bfd: st.config.bfd !== undefined });
  }

  private unwatchBfd(st: PeerState): void {
    st.bfd?.close();
    st.bfd = undefined;
  }

  /** RFC 2385: the listener needs the peer's key so the peer's SYN is accepted (tcp-transport.ts). */
  private setListenerKey(cfg: PeerConfig, remove = false): void {
    if ((!cfg.password && !remove) || !this.listener) return;
    try {
      this.listener.setKey(canonicalAddress(cfg.address), cfg.password ?? "");
    } catch (e) {
      this.log("error", "cannot set the TCP-MD5 key on the listener", { peer: cfg.address, err: e instanceof Error ? e.message : String(e) });
    }
  }

  private onInbound(socket: ByteStream): void {
    const addr = stripMapped(socket.remoteAddress);
    const st = addr ? this.peers.get(canonicalAddress(addr)) : undefined;
    if (!st || !this.listener) {
      this.log("info", "refusing connection from an unconfigured address", { address: addr });
      socket.destroy();
      return;
    }
    const cfg = st.config;
    const refusal = this.listener.admit(socket, {
      address: canonicalAddress(cfg.address),
      ...(cfg.password ? { password: cfg.password } : {}),
      ...(cfg.ttlSecurity ? { ttlSecurity: cfg.ttlSecurity } : {}),
    });
    if (refusal) {
      this.log("warn", "refusing connection", { peer: cfg.address, reason: refusal });
      st.session.lastError = refusal;
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
        if (st.config.allowOwnAs) st.info.allowOwnAs = st.config.allowOwnAs;
        if (st.limit) this.clearLimit(st);
        this.outbound.leave(st);
        st.gr = n.gracefulRestart;
        st.eorReceived.clear();
        st.stale.reestablished((f) => st.gr?.families.get(f) === true);
        // restarting: the peer joins its group once selection is done (RFC 4724 §4.1)
        if (this.deferral.active) this.checkDeferral();
        else this.joinGroup(st);
      },
      update: (_s, u) => this.onUpdate(st, u),
      down: (_s, _reason, wasEstablished, graceful) => {
        st.refresh.clear();
        if (wasEstablished && graceful && this.grKeep(st)) return;
        this.dropPeerRoutes(st);
      },
      routeRefresh: (s, family) => {
        // RFC 2918, RFC 7313: the group's current table again, to this peer only
        if (this.deferral.active) return;
        this.flow.flush();
        this.outbound.dump(st, family, s.negotiated?.enhancedRouteRefresh ?? false);
      },
      refreshMarker: (_s, family, marker) => {
        if (!st.info) return;
        if (marker === "begin") {
          // UPDATEs of this read not yet applied to peers go out before the marker changes the RIB
          this.flow.flush();
          st.refresh.begin(family);
        } else st.refresh.end(family);
      },
      log: (level, msg, fields) => this.log(level, msg, fields),
    };
  }

  /** Session up (or its outbound treatment changed): into the update group of its treatment. */
  private joinGroup(st: PeerState, refresh = false): void {
    const s = st.session;
    this.outbound.leave(st);
    // the group's table must be current before a member joins (its dump is that table)
    this.flow.flush();
    this.outbound.join(
      st,
      { config: st.config, info: st.info!, negotiated: s.negotiated!, ibgp: s.ibgp, localAddress: s.localAddress, send: (frames) => s.sendEncoded(frames) },
      refresh,
    );
  }

  /** RFC 4724 helper, session lost (or ended by a NOTIFICATION under RFC 8538): keep the peer's routes stale for its restart time. */
  private grKeep(st: PeerState): boolean {
    if (!st.gr || !st.info || st.gr.families.size === 0) return false;
    const keep = new Set(st.gr.families.keys());
    this.log("info", "peer lost gracefully (no NOTIFICATION, or one under the N bit): keeping its routes (graceful restart helper)", {
      peer: st.config.address,
      families: [...keep],
      restartTime: st.gr.restartTime,
    });
    this.outbound.leave(st);
    st.rejected.clear();
    st.stale.keep(keep, st.gr.restartTime);
    return true;
  }

  private checkDeferral(): void {
    if (!this.deferral.active || !this.started) return;
    if (
      selectionReady(
        [...this.peers.values()].map((st) => ({ established: st.session.established, negotiated: st.session.negotiated, eorReceived: st.eorReceived })),
      )
    ) {
      this.endDeferral("End-of-RIB received from every peer");
    }
  }

  private endDeferral(why: string): void {
    if (!this.deferral.end()) return;
    this.log("info", "route selection done after restart", { why });
    this.flow.flush();
    for (const st of this.peers.values())
      if (st.session.established && st.session.negotiated && st.info && this.outbound.groupOf(st) === undefined) this.joinGroup(st);
    // the whole FIB at once: listeners replace what the previous run left installed
    this.fib.resync(this.rib.all());
    this.fib.flush();
    this.deferral.resolve();
  }

  private dropPeerRoutes(st: PeerState): void {
    st.stale.clear();
    this.outbound.leave(st);
    st.rejected.clear();
    if (!st.info) return;
    const changes = new Map<PrefixKey, RibChange>();
    this.rib.removePeer(st.info.id, changes);
    this.flow.commit(changes);
  }

  private onUpdate(st: PeerState, u: UpdateMessage): void {
    if (!st.info) return;
    const eor = isEndOfRib(u);
    if (eor) {
      this.flow.flush();
      this.log("debug", "End-of-RIB received", { peer: st.config.address, family: eor });
      st.eorReceived.add(eor);
      if (st.info) st.stale.endOfRib(eor);
      this.checkDeferral();
      return;
    }
    for (const e of u.errors ?? []) this.log("warn", "UPDATE error", { peer: st.config.address, action: e.action, err: e.message });
    // changes gather across the UPDATEs of one read and go out together (fewer, fuller UPDATEs)
    const r = importInto(
      this.rib,
      u,
      { info: st.info, importPolicy: st.importPolicy, rejected: st.rejected },
      this.identity,
      this.clock.now(),
      this.flow.gathering,
    );
    if (r.treatAsWithdraw) this.log("warn", "UPDATE treated as withdraw", { peer: st.config.address, reason: r.treatAsWithdraw });
    const max = st.config.maxPrefixes;
    if (max !== undefined && this.rib.peerPathCount(st.info.id) > max) {
      this.maxPrefixesReached(st, max, r.family ?? "ipv4");
      return;
    }
    this.flow.gathered();
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

  /**
   * A change of a peer's import or export policy (or next-hop mode) or of its BFD options alone,
   * applied without resetting its session (BIRD's and FRR's soft reconfiguration). Export: the peer moves to the
   * update group of its new treatment and is sent that group's table between BoRR and EoRR (RFC
   * 7313), after which it drops what was not sent again; a peer without enhanced route refresh
   * could not be told to, so it is reset as before. Import: the peer is asked for its routes again
   * (ROUTE-REFRESH, RFC 2918), and each is imported under the new policy (a route it now refuses
   * leaves the RIB as if withdrawn); a peer without route refresh is reset. A session that is not
   * up just takes the new policies when it comes up. False when anything else changed, or the
   * session must be reset.
   */
  private changePolicies(st: PeerState, next: PeerConfig, nextJson: string, importPolicy: CompiledPolicy): boolean {
    // BFD is not part of the session either: a detector watched beside it (RFC 5882 §3: BFD only
    // reports to its client), so a change of its options replaces the watch (rewatchBfd), no reset
    const rest = (c: PeerConfig) => stableJson({ ...c, import: null, export: null, nextHopSelf: null, bfd: null });
    if (rest(next) !== rest(st.config)) return false;
    // the next-hop mode is outbound treatment too: part of the update group's key, like export
    const outbound = (c: PeerConfig) => stableJson({ p: c.export ?? null, n: c.nextHopSelf ?? null });
    const exportChanged = outbound(next) !== outbound(st.config);
    const importChanged = stableJson({ p: next.import ?? null }) !== stableJson({ p: st.config.import ?? null });
    const n = st.session.established ? st.session.negotiated : undefined;
    if (n && ((exportChanged && !n.enhancedRouteRefresh) || (importChanged && !n.routeRefresh))) return false;
    st.config = next;
    st.configJson = nextJson;
    st.importPolicy = importPolicy;
    if (!n || !(importChanged || exportChanged)) return true;
    this.log("info", "peer policy changed, session kept", { peer: next.address, import: importChanged, export: exportChanged });
    if (exportChanged && this.outbound.groupOf(st) !== undefined) this.joinGroup(st, true);
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
}

/**
 * The object as JSON with its own keys in a fixed order (undefined ones left out), to compare
 * configs given with their keys in any order. Nested values are JSON as they are; with `memo`,
 * each nested object is serialised once (the caller keeps the memo only while nothing changes).
 */
function stableJson(v: object, memo?: Map<object, string>): string {
  const keys = Object.keys(v).sort();
  let out = "{";
  for (const k of keys) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) continue;
    let text: string | undefined;
    if (memo && typeof x === "object" && x !== null) {
      text = memo.get(x);
      if (text === undefined) memo.set(x, (text = JSON.stringify(x)));
    } else text = JSON.stringify(x);
    out += `${out === "{" ? "" : ","}${JSON.stringify(k)}:${text}`;
  }
  return `${out}}`;
}

function canonicalAddress(a: string): string {
  return parseIP(a).toString();
}
