/**
 * The agent's Prometheus metrics (issue 14): BGP and BFD (bgp-collector.ts), dataplane
 * programming, datastore sync, IPAM per pool, policy, convergence and process metrics, in one
 * prom-client Registry. Names follow Prometheus conventions (`tabby_` prefix, base units,
 * `_total` counters); process metrics keep their standard `process_*`/`nodejs_*` names.
 *
 * State is read at scrape time from the sources (the agent, the nft dataplane, the store);
 * only events that leave no state behind (a programming pass, a watch event, an error) are
 * counted as they happen, through the hooks below. docs/observability.md lists every metric.
 */
import { Counter, Gauge, Histogram, Registry } from "./prom.js";
import { registerProcessMetrics } from "./process-metrics.js";
import type { AgentEvents, AgentHealthInputs, RouteProblem } from "../agent/agent.js";
import type { SyncStatus } from "../agent/syncer.js";
import type { Store } from "../datastore/store.js";
import { kindPrefix } from "../model/keys.js";
import { BLOCK_ROOT, decodeBlock } from "../ipam/keys.js";
import { poolFromResource, type Pool } from "../ipam/pools.js";
import type { Block } from "../ipam/block.js";
import { registerBgpMetrics, type BgpSources } from "./bgp-collector.js";
import { ipamUsage } from "./ipam-usage.js";

/** Policy as the dataplane holds it (src/dataplane/nft: DesiredState and the programmed table). */
export interface PolicySnapshot {
  endpoints: { workload: number; host: number };
  policies: number;
  /** Compiled rules of those policies (ingress and egress). */
  policyRules: number;
  ipsets: number;
  /** nft chains and rules in table inet tabby as last programmed. */
  chains: number;
  rules: number;
}

export interface AgentMetricsSources extends BgpSources {
  health(): AgentHealthInputs;
  routeCounts(): { local: number; learned: number };
  routeProblems(): RouteProblem[];
  policy?(): PolicySnapshot;
  /** For IPAM usage (read at scrape time, with a deadline). */
  store?: Pick<Store, "list">;
}

const SYNC_STATES: SyncStatus[] = ["wait-for-datastore", "resync", "in-sync"];
/** A scrape never waits longer than this for the datastore (IPAM families are left out instead). */
const IPAM_SCRAPE_TIMEOUT_MS = 2000;

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly applyDuration: Histogram;
  private readonly applyErrors: Counter;
  private readonly watchEvents: Counter;
  private readonly reconnects: Counter;
  private readonly invalid: Counter<"kind">;
  private readonly resyncs: Counter;
  private readonly drift: Counter;
  private readonly convergence: Histogram<"event">;

  constructor(src: AgentMetricsSources, opts: { processMetrics?: boolean } = {}) {
    const reg = this.registry;
    if (opts.processMetrics !== false) registerProcessMetrics(reg);
    registerBgpMetrics(reg, src);
    this.applyDuration = new Histogram({
      name: "tabby_dataplane_apply_duration_seconds",
      help: "Duration of one programming pass (policy, routes, interfaces)",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [reg],
    });
    this.applyErrors = new Counter({ name: "tabby_dataplane_apply_errors_total", help: "Programming passes that failed (retried)", registers: [reg] });
    this.resyncs = new Counter({ name: "tabby_dataplane_resyncs_total", help: "Periodic dataplane resyncs (drift checks) run", registers: [reg] });
    this.drift = new Counter({
      name: "tabby_dataplane_drift_repaired_total",
      help: "Differences from the desired nftables table found by a resync and repaired",
      registers: [reg],
    });
    new Gauge({
      name: "tabby_dataplane_programmed",
      help: "1 when the last programming pass succeeded",
      registers: [reg],
      collect() {
        this.set(src.health().programmed ? 1 : 0);
      },
    });
    new Gauge({
      name: "tabby_dataplane_routes",
      help: "Kernel routes tabby programs, by kind (local: this host's blocks and workloads; learned: from BGP)",
      labelNames: ["kind"],
      registers: [reg],
      collect() {
        const c = src.routeCounts();
        this.set({ kind: "local" }, c.local);
        this.set({ kind: "learned" }, c.learned);
      },
    });
    new Gauge({
      name: "tabby_dataplane_route_problems",
      help: "Learned routes not programmed (next hop unresolvable, kernel refused)",
      registers: [reg],
      collect() {
        this.set(src.routeProblems().length);
      },
    });
    if (src.policy) {
      const policy = src.policy;
      const g = (name: string, help: string, v: (p: PolicySnapshot) => number) =>
        new Gauge({
          name,
          help,
          registers: [reg],
          collect() {
            this.set(v(policy()));
          },
        });
      new Gauge({
        name: "tabby_policy_endpoints",
        help: "Endpoints on this host that policy is enforced for, by type",
        labelNames: ["type"],
        registers: [reg],
        collect() {
          const p = policy();
          this.set({ type: "workload" }, p.endpoints.workload);
          this.set({ type: "host" }, p.endpoints.host);
        },
      });
      g("tabby_policy_policies", "Policies (all tiers) active on this host", (p) => p.policies);
      g("tabby_policy_rules", "Rules of the policies active on this host (ingress and egress, as compiled)", (p) => p.policyRules);
      g("tabby_policy_ipsets", "IP sets (selectors, named ports, network sets) active on this host", (p) => p.ipsets);
      g("tabby_dataplane_nft_chains", "Chains in nftables table inet tabby as last programmed", (p) => p.chains);
      g("tabby_dataplane_nft_rules", "Rules in nftables table inet tabby as last programmed", (p) => p.rules);
    }
    new Gauge({
      name: "tabby_datastore_sync_state",
      help: "1 for the syncer's current state (wait-for-datastore, resync, in-sync)",
      labelNames: ["state"],
      registers: [reg],
      collect() {
        const s = src.health().sync;
        for (const st of SYNC_STATES) this.set({ state: st }, s === st ? 1 : 0);
      },
    });
    this.watchEvents = new Counter({
      name: "tabby_datastore_watch_events_total",
      help: "Datastore changes delivered by the syncer (list and watch)",
      registers: [reg],
    });
    this.reconnects = new Counter({
      name: "tabby_datastore_reconnects_total",
      help: "Datastore watch or list failures, each followed by a re-list",
      registers: [reg],
    });
    this.invalid = new Counter({
      name: "tabby_datastore_invalid_resources_total",
      help: "Resources read from the datastore that fail validation (treated as absent), by kind",
      labelNames: ["kind"],
      registers: [reg],
    });
    if (src.store) {
      const store = src.store;
      let usage: Promise<ReturnType<typeof ipamUsage> | undefined> | undefined;
      // one datastore read serves the gauges of one scrape
      const read = () => (usage ??= readIpam(store).finally(() => setTimeout(() => (usage = undefined), 100).unref()));
      const pg = (name: string, help: string, v: (u: ReturnType<typeof ipamUsage>[number]) => number) =>
        new Gauge({
          name,
          help,
          labelNames: ["pool", "cidr"],
          registers: [reg],
          async collect() {
            this.reset();
            for (const u of (await read()) ?? []) this.set({ pool: u.pool, cidr: u.cidr }, v(u));
          },
        });
      pg("tabby_ipam_blocks", "IPAM blocks carved from the pool (every host's)", (u) => u.blocks);
      pg("tabby_ipam_addresses_in_use", "Addresses allocated from the pool", (u) => u.inUse);
      pg("tabby_ipam_pool_size", "Addresses in the pool", (u) => u.size);
    }
    this.convergence = new Histogram({
      name: "tabby_convergence_seconds",
      help: "Time from a network event to the dataplane reflecting it, by event",
      labelNames: ["event"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers: [reg],
    });
  }

  /** The agent's event hooks (AgentDeps.events). */
  readonly events: AgentEvents = {
    datastoreUpdates: (updates) => this.watchEvents.inc(updates.length),
    datastoreError: () => this.reconnects.inc(),
    programmed: (seconds, err) => {
      this.applyDuration.observe(seconds);
      if (err !== undefined) this.applyErrors.inc();
    },
    convergence: (event, seconds) => this.observeConvergence(event, seconds),
  };

  /** A resource that fails validation was read from the datastore (src/metrics/invalid-resource.ts). */
  invalidResourceSeen(kind: string): void {
    this.invalid.inc({ kind });
  }

  /** A dataplane resync ran and repaired `drift` differences. */
  resynced(drift: number): void {
    this.resyncs.inc();
    if (drift > 0) this.drift.inc(drift);
  }

  /**
   * Records how long the network took to converge after an event (seconds): for the agent's
   * convergence timing (peer lost, BFD down, graceful restart done, route withdrawn...). `event`
   * is a short, bounded name (it becomes a label): "peer-down", "bfd-down", "restart", ...
   */
  observeConvergence(event: string, seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    this.convergence.observe({ event }, seconds);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

async function listAll(store: Pick<Store, "list">, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const r = await store.list(prefix, startAfter === undefined ? { limit: 1000 } : { limit: 1000, startAfter });
    out.push(...r.items.map((i) => i.value));
    if (!r.more || r.items.length === 0) return out;
    startAfter = r.items[r.items.length - 1]!.key;
  }
}

/** IPAM usage, or undefined when the datastore does not answer in time. */
async function readIpam(store: Pick<Store, "list">): Promise<ReturnType<typeof ipamUsage> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), IPAM_SCRAPE_TIMEOUT_MS)));
  const read = (async () => {
    const [poolValues, blockValues] = await Promise.all([listAll(store, kindPrefix("IPPool")), listAll(store, BLOCK_ROOT)]);
    const pools: Pool[] = [];
    for (const v of poolValues) {
      try {
        pools.push(poolFromResource(v));
      } catch {
        /* an invalid pool is counted by tabby_datastore_invalid_resources_total */
      }
    }
    const blocks: Block[] = [];
    for (const v of blockValues) {
      try {
        blocks.push(decodeBlock(v));
      } catch {
        /* not a block */
      }
    }
    return ipamUsage(pools, blocks);
  })().catch(() => undefined);
  try {
    return await Promise.race([read, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
