/**
 * The IPAM garbage collector as a running controller (Calico kube-controllers' node controller,
 * `ipam.go`): every `intervalMs` the leader runs one collection pass (./collect.ts runGc; the
 * rules are ./gc.ts): leaked addresses whose workload or node has been gone for the grace
 * period are released (a handle's addresses together or not at all), empty blocks are released
 * after the grace period (never a live node's last block), a gone node's blocks and affinities
 * go too. The first-seen times live in the store, so a new leader carries on the old one's
 * clocks.
 *
 * It runs inside every `tabby node run` agent, and exactly one of them acts: the one holding the
 * lease key IPAM_GC_LEADER_KEY (./leader.ts). Time comes from the injected Clock; `step()` is
 * one election round plus a pass when one is due, so tests drive it with a FakeClock.
 *
 * The grace period is KubeControllersConfiguration `default`
 * `spec.controllers.node.leakGracePeriod` when that resource sets it (Calico's setting; "0"
 * there disables collection, as in Calico), else the `graceMs` option (default 15 minutes).
 */
import type { Clock, TimerHandle } from "../clock.js";
import { systemClock } from "../clock.js";
import { resourceKey } from "../model/keys.js";
import type { Store } from "../datastore/store.js";
import { runGc, type GcResult } from "./collect.js";
import { DEFAULT_LEAK_GRACE_MS, parseDuration } from "./gc.js";
import { LeaderElector } from "./leader.js";

export const IPAM_GC_LEADER_KEY = "/tabby/leader/ipam-gc";

export interface IpamGcControllerOptions {
  /** Who we are, for the leader key (e.g. "<node>/<pid>"). */
  identity: string;
  /** Grace period when KubeControllersConfiguration sets none (default 15 minutes). */
  graceMs?: number;
  /** Time between passes (default: half the grace period, as Calico; at least 1 s, at most 5 min). */
  intervalMs?: number;
  /** Leader lease TTL in seconds (default 30); the election runs every TTL/3 (or every intervalMs if shorter). */
  leaseTtlSeconds?: number;
  clock?: Clock;
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** Called after each pass this controller ran as the leader. */
  onPass?: (result: GcResult) => void;
}

/** The grace period KubeControllersConfiguration `default` sets: ms, "disabled", or undefined. Pure. */
export function graceFromKubeControllersConfig(text: string | undefined): number | "disabled" | undefined {
  if (text === undefined) return undefined;
  try {
    const o = JSON.parse(text) as { spec?: { controllers?: { node?: { leakGracePeriod?: unknown } } } };
    const v = o.spec?.controllers?.node?.leakGracePeriod;
    if (typeof v !== "string") return undefined;
    const ms = parseDuration(v);
    return ms === 0 ? "disabled" : ms;
  } catch {
    return undefined;
  }
}

export class IpamGcController {
  private readonly clock: Clock;
  private readonly elector: LeaderElector;
  private readonly electEveryMs: number;
  private timer: TimerHandle | undefined;
  private running: Promise<unknown> | undefined;
  private nextPassAt = 0;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly opts: IpamGcControllerOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.elector = new LeaderElector(store, {
      key: IPAM_GC_LEADER_KEY,
      identity: opts.identity,
      ...(opts.leaseTtlSeconds !== undefined ? { ttlSeconds: opts.leaseTtlSeconds } : {}),
    });
    this.electEveryMs = Math.min((this.elector.ttlSeconds * 1000) / 3, opts.intervalMs ?? Infinity);
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Runs step() now and then every TTL/3 until stop(). Errors are logged, never thrown. */
  start(): void {
    this.stopped = false;
    const tick = () => {
      this.timer = undefined;
      if (this.stopped) return;
      this.running = this.step()
        .catch((err: unknown) => this.log("warn", "IPAM collection failed; will retry", { err: String(err) }))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = this.clock.setTimeout(tick, this.electEveryMs);
        });
    };
    tick();
  }

  /** Stops the timer, waits for a pass in flight, and resigns so another agent takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.elector.resign();
  }

  /**
   * One round: renew or seek leadership; as the leader, run a collection pass if one is due.
   * Returns the pass's result when one ran.
   */
  async step(): Promise<GcResult | undefined> {
    const wasLeader = this.elector.isLeader;
    const leader = await this.elector.step();
    if (leader !== wasLeader) this.log("info", leader ? "leading IPAM collection" : "no longer leading IPAM collection", { identity: this.opts.identity });
    if (!leader) {
      this.nextPassAt = 0; // run at once on becoming leader
      return undefined;
    }
    const now = this.clock.now();
    if (now < this.nextPassAt) return undefined;
    const configured = graceFromKubeControllersConfig((await this.store.get(resourceKey("KubeControllersConfiguration", "default")))?.value);
    const graceMs = configured ?? this.opts.graceMs ?? DEFAULT_LEAK_GRACE_MS;
    this.nextPassAt = now + this.interval(graceMs === "disabled" ? DEFAULT_LEAK_GRACE_MS : graceMs);
    if (graceMs === "disabled") return undefined;
    const result = await runGc(this.store, { now, graceMs });
    const did = result.released + result.blocksReleased.length + result.affinitiesReleased.length + result.blocksUnaffined.length;
    if (did > 0) {
      this.log("info", "IPAM collection released leaks", {
        addresses: result.released,
        handles: result.plan.releaseHandles.length,
        blocks: result.blocksReleased,
        affinities: result.affinitiesReleased.length,
        unaffined: result.blocksUnaffined,
      });
    }
    this.opts.onPass?.(result);
    return result;
  }

  private interval(graceMs: number): number {
    return this.opts.intervalMs ?? Math.min(5 * 60_000, Math.max(1000, graceMs / 2));
  }

  private log(level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, { component: "ipam-gc", ...fields });
  }
}
