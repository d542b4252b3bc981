/**
 * The per-host agent (Calico's calico-node: Felix + BIRD in one): registers this host's Node,
 * follows the datastore through the syncer, computes what the host needs (src/calc), and
 * drives the effects: kernel routes, per-interface sysctls, and the BGP speaker (peers, the
 * prefixes it originates, and learned routes back into the kernel with ECMP).
 *
 * Effects are injected as ports so the agent runs against fakes in tests. A restart does not
 * flush the dataplane: routes are reconciled only after the first full sync, which repairs
 * the difference; a periodic resync repairs drift made by others. With graceful restart on
 * (RFC 4724, restarting speaker), learned routes the previous run left in the kernel stay
 * installed until the speaker's route selection is done (the peers' End-of-RIB), and only then
 * are the ones not learned again removed.
 */
import type { Clock, TimerHandle } from "../clock.js";
import { systemClock } from "../clock.js";
import { computeHostDesired, localAsNumber, mergeKernelRoutes, type DesiredPeer, type KernelRoute, type OriginatedRoute } from "../calc/host-desired.js";
import { applyKeyUpdate, emptyHostState, WATCHED_PREFIXES, type HostState } from "../calc/host-state.js";
import type { Store } from "../datastore/store.js";
import { Syncer, type SyncStatus } from "./syncer.js";
import { registerNode, type NodeRegistration } from "./register-node.js";
import { resolveNextHops } from "../dataplane/route-resolve.js";

/** A learned route left out of the kernel or refused by it, and why (kept for status). */
export interface RouteProblem {
  dst: string;
  reason: string;
}

/** Programs the kernel's routes: the full desired set of routes tabby owns. */
export interface RoutePort {
  /** `refused`: routes the kernel would not take (the others took effect); retried next pass. */
  reconcile(desired: KernelRoute[]): Promise<unknown>;
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
  onUpdate(key: string, value: string | undefined): boolean;
  onInSync(): void;
  sync(): Promise<void>;
  resync(): Promise<void>;
}

/** The BGP speaker as the agent uses it. */
export interface BgpPort {
  start(): Promise<void>;
  stop(reason?: string): Promise<void>;
  setPeers(peers: (DesiredPeer & { holdTime?: number })[]): void;
  setOriginated(routes: OriginatedRoute[]): void;
  onFibChange(listener: (changes: { prefix: string; nextHops: string[] }[]) => void): void;
  /** Graceful restart: resolves when deferred route selection is done. */
  whenSelectionDone?(): Promise<void>;
  /** Graceful restart: drop sessions without NOTIFICATION so peers keep our routes. */
  stopForRestart?(): Promise<void>;
}

export interface AgentDeps {
  store: Store;
  routes: RoutePort;
  interfaces: InterfacePort;
  /** Policy enforcement; without it the agent programs routing only. */
  policy?: PolicyPort;
  /** `restarting`: graceful restart is on and this start follows a run that left routes installed. */
  createSpeaker(opts: { routerId: string; asNumber: number; restarting?: boolean }): BgpPort;
  clock?: Clock;
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
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
  private resyncPolicy = false;
  private stopped = false;
  private configured = new Set<string>();
  private problems: RouteProblem[] = [];
  private firstSync: { resolve: () => void; promise: Promise<void> };
  status: SyncStatus = "wait-for-datastore";

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
    this.syncer = new Syncer(
      this.deps.store,
      WATCHED_PREFIXES,
      {
        onUpdates: (updates) => {
          let touched = false;
          for (const u of updates) {
            touched = applyKeyUpdate(this.state, u.key, u.value) || touched;
            touched = (this.deps.policy?.onUpdate(u.key, u.value) ?? false) || touched;
          }
          if (touched) this.schedule();
        },
        onStatus: (s) => {
          this.status = s;
          if (s === "in-sync" && !this.inSync) {
            this.inSync = true;
            this.deps.policy?.onInSync();
            void this.startSpeakerWithRetry(node.ipv4);
          }
        },
        onError: (err) => this.log("warn", "datastore watch failed; will resync", { err: String(err) }),
      },
      this.clock,
    );
    this.syncer.start();
    await this.firstSync.promise;
    this.armResync();
  }

  /**
   * Registers the Node, retrying with backoff (1 s doubling to 8 s) while the datastore is
   * unavailable, so an agent started during an outage waits instead of exiting. Other errors
   * (a bad address, an invalid Node) are not retried. Undefined if stopped meanwhile.
   */
  private async registerWithRetry(): Promise<{ ipv4: string; ipv6?: string } | undefined> {
    let delay = 1000;
    for (;;) {
      try {
        return await registerNode(this.deps.store, this.opts);
      } catch (err) {
        if ((err as { code?: string }).code !== "DS_UNAVAILABLE") throw err;
        if (this.stopped) return undefined;
        this.log("warn", "datastore unavailable; will retry registering the node", { err: String(err), retryInMs: delay });
        // The clock's timers do not keep the process alive (nothing else does yet): hold it.
        const hold = setInterval(() => {}, 60_000);
        await new Promise<void>((r) => this.clock.setTimeout(r, delay)).finally(() => clearInterval(hold));
        if (this.stopped) return undefined;
        delay = Math.min(8000, delay * 2);
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

  /** A speaker that cannot start (say, its address is not up yet) is retried, never fatal. */
  private async startSpeakerWithRetry(routerId: string): Promise<void> {
    for (let delay = 500; !this.stopped; delay = Math.min(delay * 2, 8000)) {
      try {
        await this.startSpeaker(routerId);
        this.schedule(0);
        return;
      } catch (err) {
        this.log("error", "BGP speaker failed to start; retrying", { err: String(err), retryInMs: delay });
        await this.speaker?.stop().catch(() => undefined);
        this.speaker = undefined;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async startSpeaker(routerId: string): Promise<void> {
    const asNumber = localAsNumber(this.state, this.opts.nodeName);
    let restarting = false;
    if (this.opts.gracefulRestart && this.deps.routes.read) {
      // routes via a gateway are learned ones (local routes are blackholes or via a device)
      this.preserved = new Map();
      for (const r of await this.deps.routes.read()) if (r.type === "unicast" && r.via && r.via.length > 0) this.preserved.set(r.dst, r.via);
      restarting = this.preserved.size > 0;
      if (restarting) this.log("info", "graceful restart: keeping learned routes until the peers' End-of-RIB", { routes: this.preserved.size });
    }
    this.speaker = this.deps.createSpeaker(restarting ? { routerId, asNumber, restarting } : { routerId, asNumber });
    if (restarting && this.speaker.whenSelectionDone) {
      void this.speaker.whenSelectionDone().then(() => {
        this.log("info", "graceful restart: route selection done; removing routes not learned again", { kept: this.preserved.size });
        this.preserved.clear();
        this.schedule(0);
      });
    } else this.preserved.clear();
    this.speaker.onFibChange((changes) => {
      for (const c of changes) {
        if (c.nextHops.length === 0) this.learned.delete(c.prefix);
        else this.learned.set(c.prefix, c.nextHops);
      }
      this.schedule();
    });
    await this.speaker.start();
    this.log("info", "BGP speaker started", { routerId, asNumber });
  }

  private schedule(delay = this.opts.batchDelayMs ?? 20): void {
    if (!this.inSync || !this.speaker || this.stopped) return;
    this.dirty = true;
    if (this.flushTimer) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, delay);
  }

  private armResync(): void {
    if (this.stopped) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.configured.clear();
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
        try {
          await this.program();
        } catch (err) {
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
    // Policy first: a new workload's rules exist before its routes make it reachable (and
    // until then its interface is unknown to the dataplane, which drops its traffic).
    if (this.deps.policy) {
      await this.deps.policy.sync();
      if (this.resyncPolicy) {
        this.resyncPolicy = false;
        await this.deps.policy.resync();
      }
    }
    const desired = computeHostDesired(this.state, this.opts.nodeName);
    const speaker = this.speaker!;
    speaker.setPeers(desired.peers.map((p) => (this.opts.holdTime ? { ...p, holdTime: this.opts.holdTime } : p)));
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
    if (this.deps.routes.connected) {
      const res = resolveNextHops(learned, await this.deps.routes.connected());
      learned = res.routes;
      for (const u of res.unresolved) problems.push({ dst: u.dst, reason: u.reason });
    }
    const result = (await this.deps.routes.reconcile(mergeKernelRoutes(desired.localRoutes, learned))) as { refused?: { dst: string; reason: string }[] } | undefined;
    for (const r of result?.refused ?? []) problems.push({ dst: r.dst, reason: `kernel refused: ${r.reason}` });
    const key = (ps: RouteProblem[]) => ps.map((p) => `${p.dst} ${p.reason}`).join("\n");
    if (key(problems) !== key(this.problems) && problems.length > 0) this.log("warn", "routes not programmed (retried on every pass)", { routes: problems.slice(0, 20) });
    this.problems = problems;
  }

  private log(level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void {
    this.deps.log?.(level, msg, fields);
  }
}
