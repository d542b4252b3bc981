/**
 * The per-host agent (Calico's calico-node: Felix + BIRD in one): registers this host's Node,
 * follows the datastore through the syncer, computes what the host needs (src/calc), and
 * drives the effects: kernel routes, per-interface sysctls, and the BGP speaker (peers, the
 * prefixes it originates, and learned routes back into the kernel with ECMP).
 *
 * Effects are injected as ports so the agent runs against fakes in tests. A restart does not
 * flush the dataplane: routes are reconciled only after the first full sync, which repairs
 * the difference; a periodic resync repairs drift made by others, and a link or address change
 * (heard over rtnetlink) makes the next pass read the kernel's routes again at once. With graceful restart on
 * (RFC 4724, restarting speaker), learned routes the previous run left in the kernel stay
 * installed until the speaker's route selection is done (the peers' End-of-RIB), and only then
 * are the ones not learned again removed. Graceful restart is on by default in `node run`.
 *
 * BGPPeers with `failureDetectionMode: BFDIfDirectlyConnected` get single-hop BFD with the
 * node's timers when directly connected (bfd-peers.ts); each forwarding change is logged with
 * its time from event to kernel as a `convergence` line (convergence.ts).
 */
import { unenforcedRulesOf } from "../calc/policy/unenforced.js";
import type { Clock, TimerHandle } from "../clock.js";
import { systemClock } from "../clock.js";
import {
  computeHostDesired,
  localWorkloadPrefixes,
  mergeKernelRoutes,
  type DesiredPeer,
  type KernelRoute,
  type OriginatedRoute,
} from "../calc/host-desired.js";
import { speakerIdentity, speakerLogSeverity, type RefusedPeer, type SecretLookup, type SpeakerIdentity } from "../calc/bgp-peers.js";
import type { PeerStatus, RouteView } from "../bgp/speaker.js";
import { applyKeyUpdate, emptyHostState, WATCHED_PREFIXES, type HostState, type EndpointInfo } from "../calc/host-state.js";
import type { Store } from "../datastore/store.js";
import { Syncer, type SyncStatus } from "./syncer.js";
import { decodeStored, type StoredObject } from "../model/stored.js";
import { Backoff, type Random } from "../net/backoff.js";
import { registerNode, type NodeRegistration } from "./register-node.js";
import { resolveNextHops } from "../dataplane/route-resolve.js";
import type { LinkWatch } from "../dataplane/netlink/link-monitor.js";
import { planBfd, type BfdTimers, type PeerWithBfd } from "./bfd-peers.js";
import { ConvergenceTracker } from "./convergence.js";

/** A learned route left out of the kernel or refused by it, and why (kept for status). */
export interface RouteProblem {
  dst: string;
  reason: string;
}

/** Programs the kernel's routes: the full desired set of routes tabby owns. */
export interface RoutePort {
  /** `refused`: routes the kernel would not take (the others took effect); retried next pass. */
  /** `reread: false`: the routes are as the last complete reconcile left them (no read needed). */
  reconcile(desired: KernelRoute[], opts?: { reread?: boolean }): Promise<unknown>;
  /** Directly connected networks, for resolving learned next hops recursively (route-resolve.ts). */
  connected?(): Promise<string[]>;
  /** The routes tabby owns now (graceful restart: what the previous run installed). */
  read?(): Promise<KernelRoute[]>;
}

/** Applies per-interface sysctls for a workload interface (idempotent). */
export interface InterfacePort {
  configureWorkloadInterface(name: string): Promise<void>;
}

/**
 * Policy: the calculation graph fed with every datastore change, and the dataplane it drives.
 * `sync` programs whatever changed since the last call; `resync` repairs drift.
 */
export interface PolicyPort {
  /** One datastore change, decoded once by the agent (undefined: deleted or not a JSON object); the object is the policy's to keep. */
  onUpdate(key: string, value: StoredObject | undefined): boolean;
  onInSync(): void;
  sync(): Promise<void>;
  resync(): Promise<void>;
}

/** The BGP speaker as the agent uses it. */
export interface BgpPort {
  start(): Promise<void>;
  stop(reason?: string): Promise<void>;
  setPeers(peers: (PeerWithBfd & { holdTime?: number })[]): void;
  setOriginated(routes: OriginatedRoute[]): void;
  onFibChange(listener: (changes: { prefix: string; nextHops: string[] }[]) => void): void;
  /** Graceful restart: resolves when deferred route selection is done. */
  whenSelectionDone?(): Promise<void>;
  /** Graceful restart: drop sessions without NOTIFICATION so peers keep our routes. */
  stopForRestart?(): Promise<void>;
  /** For `node status` and the control socket. */
  peerStatus?(): PeerStatus[];
  routes?(family?: "ipv4" | "ipv6"): RouteView[];
  requestRefresh?(peer?: string, family?: "ipv4" | "ipv6"): number;
}

/** A peer as `tabby node status` shows it: the speaker's view plus why the session exists. */
export interface AgentPeerStatus extends PeerStatus {
  /** mesh, node-specific (BGPPeer node/nodeSelector), global (BGPPeer for every node), node-peer (peerSelector). */
  type?: DesiredPeer["type"];
  /** The BGPPeer it comes from ("node-mesh" for the mesh). */
  source?: string;
  /** This node reflects routes for the peer. */
  rrClient?: boolean;
  /** BFD to this peer: the session's state (Up, Down, Init, AdminDown), or why there is none. */
  bfd?: string;
}

/** What the speaker is created with: its identity (bgp-peers.ts) and, on the first start, whether it restarts. */
export type SpeakerOptions = SpeakerIdentity & { restarting?: boolean };

export interface AgentDeps {
  store: Store;
  routes: RoutePort;
  interfaces: InterfacePort;
  /** Policy enforcement; without it the agent programs routing only. */
  policy?: PolicyPort;
  /**
   * `restarting`: graceful restart is on and this start follows a run that left routes installed.
   * Called again with the new identity when the router id, AS, cluster id, listen port or bind
   * mode change (the old speaker is stopped first).
   */
  createSpeaker(opts: SpeakerOptions): BgpPort;
  /** Reads BGP passwords (`password.secretKeyRef`, `nodeMeshPassword`); without it every password is refused. */
  readSecret?: SecretLookup;
  /**
   * Hears link and address changes in the agent's namespace (src/dataplane/netlink/link-monitor.ts):
   * each makes the next pass read the connected networks and the kernel's routes again, so a route
   * the kernel dropped with a link is put back at once. Without it, or when it cannot start, the
   * resync repairs that.
   */
  linkWatch?: LinkWatch;
  /** The BFD sessions the speaker's failure detector runs (for `node status`). */
  bfdStatus?: () => { peer: string; state: string; detectionTimeMs?: number }[];
  clock?: Clock;
  /** Randomness for the retries' jitter (net/backoff.ts); Math.random unless a test fixes it. */
  random?: Random;
  /** Observability hooks (src/metrics): counted as they happen, never awaited. */
  events?: AgentEvents;
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

/** What the agent reports as it happens, for metrics (src/metrics/agent-metrics.ts). */
export interface AgentEvents {
  /** A batch of datastore changes delivered by the syncer. */
  datastoreUpdates?(updates: { key: string; value: string | undefined }[]): void;
  /** The datastore watch or list failed (the syncer re-lists: a reconnect). */
  datastoreError?(err: unknown): void;
  /** One programming pass ended (seconds it took; the error when it failed). */
  programmed?(seconds: number, err?: unknown): void;
  /**
   * The network converged after an event: `event` a short fixed name ("peer-down", "bfd-down",
   * "restart", ...; never an address), `seconds` from the event to the dataplane reflecting it.
   * Becomes tabby_convergence_seconds{event} (AgentMetrics.observeConvergence).
   */
  convergence?(event: string, seconds: number): void;
}

/** A component's last error, for `node status` and /readyz (src/health). */
export interface ComponentError {
  message: string;
  /** Clock time (ms) it happened. */
  at: number;
}

/** What readiness is computed from (src/health/checks.ts). */
export interface AgentHealthInputs {
  sync: SyncStatus;
  /** The last programming pass succeeded (and at least one ran since the first sync). */
  programmed: boolean;
  /** Peers the datastore configures for this node, and the sessions Established. */
  peersConfigured: number;
  peersEstablished: number;
  lastErrors: Partial<Record<"datastore" | "dataplane" | "bgp", ComponentError>>;
}

export interface AgentOptions extends NodeRegistration {
  /** BGP hold time for every session (seconds); the speaker's default when unset. */
  holdTime?: number;
  /** How often to re-program everything to repair drift (ms). */
  resyncIntervalMs?: number;
  /** Delay that batches bursts of datastore changes (ms). */
  batchDelayMs?: number;
  /** Graceful restart as restarting speaker (RFC 4724): keep learned kernel routes across a restart. */
  gracefulRestart?: boolean;
  /**
   * BFD timers for peers with `failureDetectionMode: BFDIfDirectlyConnected` (bfd-peers.ts);
   * absent: this agent runs no BFD and says so for those peers.
   */
  bfd?: BfdTimers;
}

export class Agent {
  private readonly state: HostState = emptyHostState();
  private readonly learned = new Map<string, string[]>();
  /** Graceful restart: learned routes the previous run installed, kept until selection is done. */
  private preserved = new Map<string, string[]>();
  private readonly clock: Clock;
  private syncer: Syncer | undefined;
  private speaker: BgpPort | undefined;
  private inSync = false;
  private flushTimer: TimerHandle | undefined;
  private resyncTimer: TimerHandle | undefined;
  private flushing: Promise<void> | undefined;
  private dirty = false;
  /** The routing half of the next pass is needed (a policy-only change skips it). */
  private routesDirty = true;
  /**
   * The connected networks as last read, and whether they may have changed since: a datastore
   * change that touches routing (a local workload's interface and routes, the node's addresses)
   * or a resync says so, as do a link or address change heard over rtnetlink (deps.linkWatch), a
   * learned next hop they do not resolve and a route the kernel refused; a pass for learned
   * routes alone (BGP) otherwise reuses them. Reading them is three `ip` processes: in a
   * 50-host lab every host's new block made every agent read them.
   */
  private connectedNets: string[] | undefined;
  private connectedStale = true;
  private resyncPolicy = false;
  private stopped = false;
  private configured = new Set<string>();
  private problems: RouteProblem[] = [];
  private localRouteCount = 0;
  /** The identity the running speaker was made with (JSON), and the peers last given to it. */
  private speakerKey: string | undefined;
  private desiredPeers: DesiredPeer[] = [];
  /** Peers that asked for BFD and run without it, and why. */
  private bfdOff = new Map<string, string>();
  private readonly convergence = new ConvergenceTracker();
  /** Peers Established at the last FIB change (to tell a peer going down from a withdrawal). */
  private establishedPeers = new Set<string>();
  /**
   * Local workload routes programmed by the last pass (at first, those of the first snapshot),
   * and when the datastore first changed since.
   */
  private localDsts: Set<string> | undefined;
  private changedSince: number | undefined;
  private refused: RefusedPeer[] = [];
  private refusedKey = "[]";
  private firstSync: { resolve: () => void; promise: Promise<void> };
  status: SyncStatus = "wait-for-datastore";
  private programmedOk = false;
  private readonly lastErrors: AgentHealthInputs["lastErrors"] = {};

  constructor(
    private readonly opts: AgentOptions,
    private readonly deps: AgentDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstSync = { resolve, promise };
  }

  /** Registers the Node, syncs, starts the speaker; resolves once the first sync is programmed. */
  async start(): Promise<void> {
    const node = await this.registerWithRetry();
    if (!node) return; // stopped before the datastore answered
    this.log("info", "registered node", { name: this.opts.nodeName, ipv4: node.ipv4, ipv6: node.ipv6 });
    await this.startLinkWatch();
    this.syncer = new Syncer(
      this.deps.store,
      WATCHED_PREFIXES,
      {
        onUpdates: (updates) => {
          // routing: the host's routes, peers or interfaces may change (another host's workload
          // does not: applyKeyUpdate with this node's name); policy: the policy pipeline reads it
          let routing = false;
          let policy = false;
          for (const u of updates) {
            // one decode feeds both pipelines; the host state copies what it keeps, so the
            // policy graph may then adopt the object
            const obj = decodeStored(u.value);
            routing = applyKeyUpdate(this.state, u.key, obj, this.opts.nodeName) || routing;
            policy = (this.deps.policy?.onUpdate(u.key, obj) ?? false) || policy;
            for (const why of unenforcedRulesOf(u.key, obj)) {
              // fail closed, and say so: the rule is skipped by the dataplane (src/calc/policy/unenforced.ts)
              this.lastErrors.dataplane = { message: why, at: this.clock.now() };
              this.log("warn", "policy rule not enforceable; skipped", { rule: why });
            }
          }
          this.deps.events?.datastoreUpdates?.(updates);
          if (routing) {
            this.changedSince ??= this.clock.now();
            this.connectedStale = true;
          }
          if (routing || policy) this.schedule(undefined, routing);
        },
        onStatus: (s) => {
          this.status = s;
          if (s === "in-sync" && !this.inSync) {
            this.inSync = true;
            // the workloads of the first snapshot are not "added": those written after it are,
            // also when they arrive before the first pass (a lab or a node adding workloads at once)
            this.localDsts = localWorkloadPrefixes(this.state, this.opts.nodeName);
            this.deps.policy?.onInSync();
            void this.startSpeakerWithRetry();
          }
        },
        onError: (err) => {
          this.lastErrors.datastore = { message: String(err), at: this.clock.now() };
          this.deps.events?.datastoreError?.(err);
          this.log("warn", "datastore watch failed; will resync", { err: String(err) });
        },
      },
      this.clock,
      1000,
      8000,
      this.deps.random,
    );
    this.syncer.start();
    // The first sync is programmed from the clock's timers, which do not keep the process alive
    // (with a fake speaker and store nothing else does; Node 22 and 24 then end the event loop).
    const hold = setInterval(() => {}, 60_000);
    await this.firstSync.promise.finally(() => clearInterval(hold));
    this.armResync();
  }

  /**
   * Registers the Node, retrying with backoff (1 s doubling to 8 s, with jitter) while the
   * datastore is unavailable, so an agent started during an outage waits instead of exiting.
   * Other errors (a bad address, an invalid Node) are not retried. Undefined if stopped meanwhile.
   */
  private async registerWithRetry(): Promise<{ ipv4?: string; ipv6?: string } | undefined> {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 8000 }, this.deps.random);
    for (;;) {
      try {
        return await registerNode(this.deps.store, this.opts);
      } catch (err) {
        if ((err as { code?: string }).code !== "DS_UNAVAILABLE") throw err;
        if (this.stopped) return undefined;
        const delay = backoff.next();
        this.log("warn", "datastore unavailable; will retry registering the node", { err: String(err), retryInMs: delay });
        // The clock's timers do not keep the process alive (nothing else does yet): hold it.
        const hold = setInterval(() => {}, 60_000);
        await new Promise<void>((r) => this.clock.setTimeout(r, delay)).finally(() => clearInterval(hold));
        if (this.stopped) return undefined;
      }
    }
  }

  /**
   * Stops cleanly: the speaker tells its peers (they withdraw our routes); kernel state stays.
   * `forRestart` (graceful restart on): sessions drop without NOTIFICATION, so peers keep our routes.
   */
  async stop(reason = "tabby agent stopping", forRestart = false): Promise<void> {
    this.stopped = true;
    this.syncer?.stop();
    this.deps.linkWatch?.stop();
    if (this.flushTimer) this.clock.clearTimeout(this.flushTimer);
    if (this.resyncTimer) this.clock.clearTimeout(this.resyncTimer);
    await this.flushing;
    if (forRestart && this.opts.gracefulRestart && this.speaker?.stopForRestart) await this.speaker.stopForRestart();
    else await this.speaker?.stop(reason);
  }

  /** Learned routes currently programmed, for status. */
  learnedRoutes(): Map<string, string[]> {
    return new Map(this.learned);
  }

  /** Routes not programmed on the last pass: unresolvable next hops and kernel refusals. */
  routeProblems(): RouteProblem[] {
    return [...this.problems];
  }

  /** A speaker that cannot start (say, its address is not up yet) is retried (0.5 s doubling to 8 s, with jitter), never fatal. */
  private async startSpeakerWithRetry(): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 8000 }, this.deps.random);
    while (!this.stopped) {
      try {
        await this.startSpeaker(true);
        this.schedule(0);
        return;
      } catch (err) {
        this.lastErrors.bgp = { message: `speaker failed to start: ${String(err)}`, at: this.clock.now() };
        const delay = backoff.next();
        this.log("error", "BGP speaker failed to start; retrying", { err: String(err), retryInMs: delay });
        await this.speaker?.stop().catch(() => undefined);
        this.speaker = undefined;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async startSpeaker(first: boolean): Promise<void> {
    const id = speakerIdentity(this.state, this.opts.nodeName);
    if (!id) throw new Error(`node ${this.opts.nodeName} has no BGP address in the datastore yet`);
    let restarting = false;
    if (first && this.opts.gracefulRestart && this.deps.routes.read) {
      // routes via a gateway are learned ones (local routes are blackholes or via a device)
      this.preserved = new Map();
      for (const r of await this.deps.routes.read()) if (r.type === "unicast" && r.via && r.via.length > 0) this.preserved.set(r.dst, r.via);
      restarting = this.preserved.size > 0;
      if (restarting) this.log("info", "graceful restart: keeping learned routes until the peers' End-of-RIB", { routes: this.preserved.size });
    }
    const speaker = this.deps.createSpeaker(restarting ? { ...id, restarting } : id);
    this.speaker = speaker;
    this.speakerKey = JSON.stringify(id);
    if (restarting && speaker.whenSelectionDone) {
      void speaker.whenSelectionDone().then(() => {
        this.log("info", "graceful restart: route selection done; removing routes not learned again", { kept: this.preserved.size });
        this.preserved.clear();
        this.schedule(0);
      });
    } else if (first) this.preserved.clear();
    speaker.onFibChange((changes) => {
      if (this.speaker !== speaker) return;
      // a peer that was Established and no longer is: these withdrawals are its going down
      const now = new Set((speaker.peerStatus?.() ?? []).filter((s) => s.established).map((s) => s.address));
      const down = [...this.establishedPeers].filter((a) => !now.has(a));
      this.establishedPeers = now;
      this.convergence.noteFib(changes, this.clock.now(), down);
      for (const c of changes) {
        if (c.nextHops.length === 0) this.learned.delete(c.prefix);
        else this.learned.set(c.prefix, c.nextHops);
      }
      this.schedule();
    });
    await speaker.start();
    this.log("info", "BGP speaker started", { ...id });
  }

  /**
   * A new speaker when what it was created with changed (router id, AS, route reflector cluster
   * id, listen port or address): sessions cannot change those in place. Its peers see a Cease and
   * withdraw our routes, and the routes learned from them go until they are learned again.
   */
  private async ensureSpeakerIdentity(): Promise<void> {
    const id = speakerIdentity(this.state, this.opts.nodeName);
    if (!id || (this.speaker && JSON.stringify(id) === this.speakerKey)) return;
    this.log("info", "BGP identity changed: restarting the speaker", { was: this.speakerKey, now: id });
    const old = this.speaker;
    this.speaker = undefined;
    await old?.stop("BGP configuration changed");
    this.learned.clear();
    try {
      await this.startSpeaker(false);
    } catch (err) {
      // say, the new listen port is taken: the programming pass fails and is retried
      await (this.speaker as BgpPort | undefined)?.stop().catch(() => undefined);
      this.speaker = undefined;
      this.speakerKey = undefined;
      throw err;
    }
  }

  /** Every peer: the speaker's sessions with why they exist, then the peerings refused and why. */
  peerStatus(): AgentPeerStatus[] {
    const byAddress = new Map(this.desiredPeers.map((p) => [p.address, p]));
    const bfdState = new Map(
      (this.deps.bfdStatus?.() ?? []).map((b) => [b.peer, b.detectionTimeMs !== undefined ? `${b.state} (detection ${b.detectionTimeMs} ms)` : b.state]),
    );
    const out: AgentPeerStatus[] = (this.speaker?.peerStatus?.() ?? []).map((s) => {
      const d = byAddress.get(s.address);
      const st: AgentPeerStatus = { ...s };
      if (d?.type) st.type = d.type;
      if (d?.name) st.source = d.name;
      if (d?.routeReflectorClient) st.rrClient = true;
      const bfdOff = this.bfdOff.get(s.address);
      if (bfdOff) st.bfd = bfdOff;
      else if (d?.bfdIfDirectlyConnected) st.bfd = bfdState.get(s.address) ?? "not started";
      if (d?.password && ["Idle", "Connect", "Active"].includes(s.state)) {
        // RFC 2385: a segment with a wrong or missing signature is dropped without an answer
        const hint = "no BGP connection yet; TCP-MD5 is on for this peer, and a password mismatch makes either side drop every segment silently";
        st.reason = st.reason ? `${st.reason} (${hint})` : hint;
      }
      return st;
    });
    for (const r of this.refused) {
      out.push({
        address: r.address ?? "-",
        asNumber: 0,
        state: "Refused",
        established: false,
        prefixesReceived: 0,
        prefixesAccepted: 0,
        prefixesAdvertised: 0,
        source: r.source,
        reason: r.reason,
      });
    }
    return out;
  }

  /** What /readyz and `node status` judge this agent by (src/health/checks.ts). */
  healthInputs(): AgentHealthInputs {
    const sessions = this.speaker?.peerStatus?.() ?? [];
    return {
      sync: this.status,
      programmed: this.inSync && this.programmedOk,
      peersConfigured: this.desiredPeers.length,
      peersEstablished: sessions.filter((s) => s.established).length,
      lastErrors: { ...this.lastErrors },
    };
  }

  /** Records a component's error seen outside the agent (an invalid resource, a failed resync). */
  noteError(component: "datastore" | "dataplane" | "bgp", message: string): void {
    this.lastErrors[component] = { message, at: this.clock.now() };
  }

  /** The desired kernel routes last programmed, by kind (metrics). */
  routeCounts(): { local: number; learned: number } {
    return { local: this.localRouteCount, learned: this.learned.size };
  }

  /** The BFD sessions (the control socket's `bfd` op, `tabby bgp bfd --control`). */
  bfdStatus(): unknown {
    return this.deps.bfdStatus?.() ?? [];
  }

  /** BGPConfiguration `logSeverityScreen` for this node, read at every speaker log line (no restart). */
  speakerLogSeverity(): string | undefined {
    return speakerLogSeverity(this.state, this.opts.nodeName);
  }

  routes(family?: "ipv4" | "ipv6"): RouteView[] {
    return this.speaker?.routes?.(family) ?? [];
  }

  requestRefresh(peer?: string, family?: "ipv4" | "ipv6"): number {
    return this.speaker?.requestRefresh?.(peer, family) ?? 0;
  }

  /** `routes` false: only the policy needs a flush (the pass skips the routing half). */
  private schedule(delay = this.opts.batchDelayMs ?? 20, routes = true): void {
    if (routes) this.routesDirty = true;
    if (!this.inSync || !this.speaker || this.stopped) return;
    this.dirty = true;
    if (this.flushTimer) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, delay);
  }

  /** Listens to link and address changes; a failure to is logged and left to the resync. */
  private async startLinkWatch(): Promise<void> {
    if (!this.deps.linkWatch) return;
    try {
      await this.deps.linkWatch.start((newLinks) => this.linksChanged(newLinks));
      if (this.stopped) this.deps.linkWatch.stop(); // stopped while it started
    } catch (err) {
      this.log("warn", "cannot hear link and address changes; the resync repairs what they break", { err: String(err) });
    }
  }

  /**
   * A link went down or up, or an address came or went: the connected networks may differ and the
   * kernel may have dropped routes through the link, so the next pass reads both again. A
   * workload interface new or changed (a veth re-created under its name starts with the kernel's
   * defaults) is configured again by that pass; with the names unknown, every one is.
   */
  private linksChanged(newLinks: readonly string[] | undefined): void {
    if (this.stopped) return;
    this.connectedStale = true;
    if (newLinks === undefined) this.configured.clear();
    else for (const name of newLinks) this.configured.delete(name);
    this.schedule();
  }

  private armResync(): void {
    if (this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.configured.clear();
      this.connectedStale = true;
      this.resyncPolicy = true;
      this.schedule(0);
      this.armResync();
    }, this.opts.resyncIntervalMs ?? 30_000);
  }

  /** One programming pass; passes never overlap, and a pass requested meanwhile runs after. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        const t0 = this.clock.now();
        try {
          await this.program();
          this.programmedOk = true;
          this.deps.events?.programmed?.((this.clock.now() - t0) / 1000);
        } catch (err) {
          this.programmedOk = false;
          this.lastErrors.dataplane = { message: String(err), at: this.clock.now() };
          this.deps.events?.programmed?.((this.clock.now() - t0) / 1000, err);
          this.log("error", "programming failed; will retry", { err: String(err) });
          this.dirty = true;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    })();
    await this.flushing;
    this.flushing = undefined;
    this.firstSync.resolve();
  }

  private async program(): Promise<void> {
    const routes = this.routesDirty;
    this.routesDirty = false;
    // datastore changes from here on belong to the next pass
    const since = routes ? this.changedSince : undefined;
    if (routes) this.changedSince = undefined;
    try {
      // Policy first: a new workload's rules exist before its routes make it reachable (and
      // until then its interface is unknown to the dataplane, which drops its traffic).
      if (this.deps.policy) {
        await this.deps.policy.sync();
        if (this.resyncPolicy) {
          this.resyncPolicy = false;
          await this.deps.policy.resync();
        }
      }
    } catch (err) {
      this.routesDirty ||= routes; // the retry does the whole pass
      throw err;
    }
    if (!routes) return;
    try {
      await this.programRoutes(since);
    } catch (err) {
      this.routesDirty = true;
      throw err;
    }
  }

  /** The connected networks: read again when they may have changed, else as last read. */
  private async connectedNetworks(): Promise<string[] | undefined> {
    if (!this.deps.routes.connected) return undefined;
    if (this.connectedStale || !this.connectedNets) {
      this.connectedStale = false; // a change during the read marks them stale again
      try {
        this.connectedNets = await this.deps.routes.connected();
      } catch (err) {
        this.connectedStale = true;
        throw err;
      }
    }
    return this.connectedNets;
  }

  /** The routing half of a pass: peers, originated blocks, workload interfaces, kernel routes. */
  private async programRoutes(since: number | undefined): Promise<void> {
    await this.ensureSpeakerIdentity();
    const desired = computeHostDesired(this.state, this.opts.nodeName, this.deps.readSecret);
    const speaker = this.speaker;
    if (!speaker) throw new Error("no BGP speaker");
    this.desiredPeers = desired.peers;
    this.localRouteCount = desired.localRoutes.length;
    this.refused = desired.refusedPeers;
    const refusedKey = JSON.stringify(this.refused);
    if (refusedKey !== this.refusedKey) {
      for (const r of this.refused) this.log("error", "BGP peering refused", { ...r });
      this.refusedKey = refusedKey;
    }
    // BFD for the directly connected peers that ask for it (needs the node's connected networks)
    // what may have changed the kernel besides our own writes also makes the routes be read again
    const reread = this.connectedStale || !this.connectedNets;
    const connected = await this.connectedNetworks();
    const bfd = planBfd(desired.peers, connected, this.opts.bfd);
    if (JSON.stringify([...bfd.off]) !== JSON.stringify([...this.bfdOff]))
      for (const [peer, why] of bfd.off) this.log("info", "peer asks for BFD; running without it", { peer, reason: why });
    this.bfdOff = bfd.off;
    speaker.setPeers(bfd.peers.map((p) => (this.opts.holdTime ? { ...p, holdTime: this.opts.holdTime } : p)));
    speaker.setOriginated(desired.originated);
    for (const name of desired.interfaces) {
      if (this.configured.has(name)) continue;
      try {
        await this.deps.interfaces.configureWorkloadInterface(name);
        this.configured.add(name);
      } catch (err) {
        this.log("warn", "could not configure workload interface", { name, err: String(err) });
      }
    }
    for (const name of [...this.configured]) if (!desired.interfaces.includes(name)) this.configured.delete(name);
    let learned = this.learned;
    if (this.preserved.size > 0) {
      learned = new Map(this.preserved);
      for (const [k, v] of this.learned) learned.set(k, v);
    }
    // Next hops not on a connected network are resolved through the other routes (recursive
    // next hop), so a fabric that keeps iBGP next hops still gives the kernel usable gateways.
    const problems: RouteProblem[] = [];
    if (connected) {
      const res = resolveNextHops(learned, connected);
      learned = res.routes;
      // a next hop that does not resolve may on the next pass: look at the networks again then
      if (res.unresolved.length) this.connectedStale = true;
      for (const u of res.unresolved) problems.push({ dst: u.dst, reason: u.reason });
    }
    // workload routes new since the last pass: their time runs from the datastore change
    const localDsts = new Set(desired.localRoutes.filter((r) => r.dev).map((r) => r.dst));
    // (a pass the speaker asked for has no datastore time of its own: the change came meanwhile)
    if (this.localDsts)
      this.convergence.noteWorkloads(
        [...localDsts].filter((d) => !this.localDsts!.has(d)),
        since ?? this.changedSince ?? this.clock.now(),
      );
    this.localDsts = localDsts;
    const result = (await this.deps.routes.reconcile(mergeKernelRoutes(desired.localRoutes, learned), { reread })) as
      | { refused?: { dst: string; reason: string }[] }
      | undefined;
    for (const e of this.convergence.programmed(this.clock.now())) {
      this.log("info", "convergence", { ...e });
      this.deps.events?.convergence?.(e.event, e.ms / 1000);
    }
    for (const r of result?.refused ?? []) problems.push({ dst: r.dst, reason: `kernel refused: ${r.reason}` });
    // a refused gateway may be off the networks as last read (an address gone unheard): read them again
    if (result?.refused?.length) this.connectedStale = true;
    const key = (ps: RouteProblem[]) => ps.map((p) => `${p.dst} ${p.reason}`).join("\n");
    if (key(problems) !== key(this.problems) && problems.length > 0)
      this.log("warn", "routes not programmed (retried on every pass)", { routes: problems.slice(0, 20) });
    this.problems = problems;
  }

  /** This node's workload endpoint on host interface `ifname` (the DHCP responder's question). */
  localEndpointOn(ifname: string): EndpointInfo | undefined {
    for (const e of this.state.endpoints.values()) if (e.node === this.opts.nodeName && e.interfaceName === ifname) return e;
    return undefined;
  }

  /**
   * A local workload's interface showed signs of life (a DHCP request on it: src/dhcp). If it
   * could not be configured yet — a hypervisor made its tap after the endpoint was written — a
   * pass runs now rather than at the next resync, so the VM is routed once it asks.
   */
  workloadInterfaceSeen(ifname: string): void {
    if (this.configured.has(ifname) || !this.localEndpointOn(ifname)) return;
    this.schedule(0);
  }

  /** Host interfaces of this node's workload endpoints. */
  localInterfaces(): string[] {
    return [...this.state.endpoints.values()].filter((e) => e.node === this.opts.nodeName).map((e) => e.interfaceName);
  }

  private log(level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void {
    this.deps.log?.(level, msg, fields);
  }
}
