/**
 * NftDataplane: the nftables policy driver. Folds PolicyDataplaneEvents into the desired state,
 * renders table `inet tabby`, and programs the kernel through `nft -f -` (one atomic
 * transaction per apply) via an injected CommandRunner, optionally inside a network namespace.
 *
 * - Before in-sync nothing is programmed: an existing table from a previous run keeps
 *   enforcing until the snapshot is complete (calico-spec §9.7-8); the first apply after
 *   in-sync replaces the table atomically (create-if-missing + delete + define).
 * - After that each apply writes only the difference with what it last programmed: set
 *   elements for membership changes (as set declarations and `flush set`, never `add/delete
 *   element`, which make nft 1.0.6 load every set's elements: see deltaScript), flush+refill of
 *   the chains whose rules changed (felix's nftables Table does the same with its own delta
 *   tracking). If a delta transaction fails
 *   (someone changed the table under us) the driver falls back to a full replace.
 * - Rendering reuses what did not change (TableRenderer caches by event object identity), so
 *   events must be treated as immutable once applied: send a new object to change something.
 * - Every apply that can change a verdict moves the policy epoch on (fastpath.ts), in the same
 *   transaction: forwarded connections judged under an older epoch are judged once more at
 *   their next original-direction packet. A new driver (agent restart) starts at a random epoch.
 * - After a programming that drops a local workload's address (the endpoint removed, its
 *   addresses changed, or the address moved to another interface: released.ts), `onReleased`
 *   gets those addresses, for the conntrack flush Felix does (the agent's: src/flows/ct-flush.ts);
 *   apply resolves once it is done, so the routing that follows (a new owner's route) comes after.
 * - resync() reads the table back (`nft -j list table inet tabby`) and replaces it when it
 *   differs from the last rendering (rule, chain or element deleted or added by hand).
 */
import type { PolicyDataplaneEvent } from "../../calc/policy-output.js";
import { type CommandRunner, runOk } from "../exec.js";
import { TABLE_FAMILY, TABLE_NAME } from "./names.js";
import { diffActual, parseTableJson } from "./readback.js";
import { nextEpoch, policyChanged } from "./fastpath.js";
import { addressOwners, releasedAddresses } from "./released.js";
import { type DeltaStats, type Rendered, TableRenderer, deltaScript, fullScript } from "./render.js";
import { type DesiredState, applyEvents, emptyState } from "./state.js";

export interface NftDataplaneOptions {
  /** Network namespace to program (path or name); the caller's when absent. */
  netns?: string;
  /** The nft binary (default "nft"). */
  nft?: string;
  /** The first policy epoch (1..32767; default random, so a restarted agent re-judges every connection). */
  epoch?: number;
  /**
   * Called after a programming that released local workload addresses (released.ts), with
   * them; apply waits for it. It reports its own failures: what it throws fails the apply.
   */
  onReleased?: (addrs: string[]) => Promise<void>;
}

export interface NftApplyStats extends DeltaStats {
  transactions: number;
  fullReplaces: number;
  /** Script of the last transaction (for debugging and tests). */
  lastScript: string;
}

export class NftDataplane {
  readonly state: DesiredState = emptyState();
  readonly stats: NftApplyStats = {
    transactions: 0,
    fullReplaces: 0,
    lastScript: "",
    setElementsAdded: 0,
    setElementsRemoved: 0,
    chainsRewritten: 0,
    chainsAdded: 0,
    chainsRemoved: 0,
  };
  /** What the kernel holds as far as we know: the last rendering programmed. */
  private programmed: Rendered | undefined;
  private readonly renderer = new TableRenderer();
  private readonly netns: string | undefined;
  private readonly nft: string;
  /** The policy epoch programmed into the forward hook (fastpath.ts). */
  private epochNow: number;
  /** Local workload addresses and their interfaces as last programmed (released.ts). */
  private owned = new Map<string, string>();
  /** Workload endpoint events folded since `owned` was last brought up to date. */
  private ownersDirty = false;
  private readonly onReleased: ((addrs: string[]) => Promise<void>) | undefined;
  /** apply/resync/remove run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * True while the kernel holds what the state renders to: the last apply (or resync) went
   * through whole and no event came since. An apply with no events then has nothing to do — no
   * render, no diff. An agent hears of every endpoint in the cluster, and most of them (another
   * host's, selected by no policy) bring it no event: 50 agents rendering their table for each
   * of 500 workloads was most of a 50-host lab's start (docs/benchmarks.md "Lab up at 50 hosts").
   * A failed apply leaves it false, so the retry (with no new events) still programs the state.
   */
  private clean = false;

  constructor(
    private readonly runner: CommandRunner,
    opts: NftDataplaneOptions = {},
  ) {
    this.netns = opts.netns;
    this.nft = opts.nft ?? "nft";
    this.onReleased = opts.onReleased;
    this.epochNow = opts.epoch ?? 1 + Math.floor(Math.random() * 0x7fff);
  }

  /** The policy epoch of the last programming (tests, explain). */
  get epoch(): number {
    return this.epochNow;
  }

  /** True once the initial snapshot is complete and the table has been programmed. */
  get programmedOnce(): boolean {
    return this.programmed !== undefined;
  }

  /** Chains, rules and sets of the table as last programmed (metrics). */
  programmedCounts(): { chains: number; rules: number; sets: number } {
    const p = this.programmed;
    if (!p) return { chains: 0, rules: 0, sets: 0 };
    let rules = 0;
    for (const c of p.chains.values()) rules += c.rules.length;
    return { chains: p.chains.size, rules, sets: p.sets.size + p.maps.size };
  }

  private async run(script: string): Promise<void> {
    this.stats.transactions++;
    this.stats.lastScript = script;
    await runOk(this.runner, this.nft, ["-f", "-"], { input: script, ...(this.netns ? { netns: this.netns } : {}) });
  }

  private async replace(want: Rendered): Promise<void> {
    this.stats.fullReplaces++;
    await this.run(fullScript(want));
    this.programmed = want;
    this.clean = true;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Folds the events and programs the difference (nothing before in-sync). Calls are serialised. */
  apply(events: readonly PolicyDataplaneEvent[]): Promise<void> {
    return this.serial(() => this.applyNow(events));
  }

  private async applyNow(events: readonly PolicyDataplaneEvent[]): Promise<void> {
    if (events.some((e) => e.kind === "workload-endpoint-update" || e.kind === "workload-endpoint-remove")) this.ownersDirty = true;
    await this.program(events);
    if (!this.programmed || !this.ownersDirty) return;
    this.ownersDirty = false;
    const now = addressOwners(this.state.workloads.values());
    const released = releasedAddresses(this.owned, now);
    this.owned = now;
    if (released.length && this.onReleased) await this.onReleased(released);
  }

  private async program(events: readonly PolicyDataplaneEvent[]): Promise<void> {
    if (events.length === 0 && this.clean) return;
    this.clean = false;
    applyEvents(this.state, events);
    if (!this.state.inSync) return;
    let want = this.renderer.render(this.state, this.epochNow);
    if (!this.programmed) return this.replace(want);
    if (deltaScript(this.programmed, want) === "") {
      this.programmed = want;
      this.clean = true;
      return;
    }
    if (policyChanged(this.programmed, want)) {
      // A change that can alter verdicts: a new epoch (whether it goes in as a delta or as a
      // full replace), so established connections are judged again.
      this.epochNow = nextEpoch(this.epochNow);
      want = this.renderer.render(this.state, this.epochNow);
    }
    const script = deltaScript(this.programmed, want, this.stats);
    if (script === undefined) return this.replace(want);
    try {
      await this.run(script);
      this.programmed = want;
      this.clean = true;
    } catch {
      await this.replace(want); // the table drifted under us: take it back whole
    }
  }

  /** The differences between the kernel's table and the desired one ([] when in sync). */
  async drift(): Promise<string[]> {
    const want = this.programmed ?? this.renderer.render(this.state, this.epochNow);
    const res = await this.runner.run(this.nft, ["-j", "list", "table", TABLE_FAMILY, TABLE_NAME], this.netns ? { netns: this.netns } : {});
    // A missing table is an error exit; that is drift too.
    return diffActual(want, res.code === 0 ? parseTableJson(res.stdout) : undefined);
  }

  /** Reads the table back and repairs it with one atomic replace if it drifted. Returns the drift found. */
  resync(): Promise<string[]> {
    return this.serial(() => this.resyncNow());
  }

  private async resyncNow(): Promise<string[]> {
    if (!this.state.inSync) return [];
    const d = await this.drift();
    if (d.length && this.programmed) this.epochNow = nextEpoch(this.epochNow);
    if (d.length || !this.programmed) {
      this.clean = false;
      await this.replace(this.renderer.render(this.state, this.epochNow));
    }
    return d;
  }

  /** Deletes the table (agent shutdown with cleanup, or tests). */
  remove(): Promise<void> {
    return this.serial(() => this.removeNow());
  }

  private async removeNow(): Promise<void> {
    await runOk(this.runner, this.nft, ["-f", "-"], {
      input: `table ${TABLE_FAMILY} ${TABLE_NAME}\ndelete table ${TABLE_FAMILY} ${TABLE_NAME}\n`,
      ...(this.netns ? { netns: this.netns } : {}),
    });
    this.programmed = undefined;
    this.clean = false;
  }
}
