/**
 * Installs a BGP speaker's best routes into the kernel FIB, for `tabby bgp run` with
 * `installRoutes: true` (the agent has its own reconcile loop, which also owns local routes).
 * Changes are gathered for `batchDelayMs` and applied as one `ip -force -batch -` of
 * `route replace` / `route del` lines with protocol 152 (ECMP as multipath routes) — or, with
 * `write` given, the same routes over rtnetlink in process (netlink/route-table.ts); a line the
 * kernel refuses (an unreachable next hop) is logged, not counted as installed, and retried with
 * the prefix's next change; the rest still apply. With `connected` given, next hops that are not
 * on a connected network are resolved recursively through the other learned routes
 * (route-resolve.ts, as BIRD's `gateway recursive`): the routes that need it are re-resolved on
 * every batch, so they follow the routes under them, and everything is re-resolved when the
 * connected networks change. Only routes this installer put in are ever removed; `removeAll()`
 * takes them out on a clean stop.
 */
import type { Clock, TimerHandle } from "../clock.js";
import type { CommandRunner } from "./exec.js";
import { deleteLine, replaceLine, type Route } from "./routes.js";
import { outcome, parseConnected, RouteIndex, type Unresolved } from "./route-resolve.js";

export interface FibOptions {
  /** The networks reached directly (RouteTable.connected); turns on recursive next hops. */
  connected?: () => Promise<string[]>;
  /**
   * Writes the routes in process (NetlinkRouteTable.write): per write, undefined when it took,
   * else why not. Without it, one `ip -force -batch -` per batch through the runner.
   */
  write?: (writes: { op: "replace" | "del"; route: Route }[]) => Promise<({ reason: string } | undefined)[]>;
}

export interface FibChangeLike {
  prefix: string;
  nextHops: string[];
}

export type FibLog = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export class FibInstaller {
  /** prefix → next hops wanted ([] = remove), not yet applied */
  private pending = new Map<string, string[]>();
  /** prefix → the route as installed */
  private installed = new Map<string, Route>();
  private timer: TimerHandle | undefined;
  private running: Promise<void> = Promise.resolve();
  /** With `connected`: every learned route, the ones with a next hop off the connected networks, and the last connected list. */
  private readonly index = new RouteIndex();
  private readonly indirect = new Set<string>();
  private lastConnected = "";
  private readonly problemsByPrefix = new Map<string, Unresolved>();

  constructor(
    private readonly runner: CommandRunner,
    private readonly clock: Clock,
    private readonly log: FibLog,
    private readonly batchDelayMs = 20,
    private readonly opts: FibOptions = {},
  ) {}

  /** Routes whose next hops did not all resolve (with `connected`), for status. */
  get problems(): Unresolved[] {
    return [...this.problemsByPrefix.values()];
  }

  /** Routes installed now (for status and tests). */
  get size(): number {
    return this.installed.size;
  }

  /** Takes a batch of FIB changes from the speaker (`Speaker.onFibChange`). */
  onChanges(changes: FibChangeLike[]): void {
    for (const c of changes) this.pending.set(c.prefix, c.nextHops);
    if (this.timer === undefined) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.running = this.running.then(() => this.apply());
      }, this.batchDelayMs);
    }
  }

  /** Applies what is pending now and waits for every batch started so far. */
  async flush(): Promise<void> {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.running = this.running.then(() => this.apply());
    }
    await this.running;
  }

  /** Removes every route this installer put in (a clean stop: nothing backs them any more). */
  async removeAll(): Promise<void> {
    await this.flush();
    for (const prefix of this.installed.keys()) this.pending.set(prefix, []);
    await this.apply();
  }

  /** Resolves what is pending (and what depends on other routes) into next hops to install. */
  private async resolvePending(pending: Map<string, string[]>): Promise<Map<string, string[]>> {
    if (!this.opts.connected) return pending;
    const list = await this.opts.connected();
    const conn = parseConnected(list);
    for (const [prefix, hops] of pending) {
      if (hops.length > 0) this.index.set(prefix, hops);
      else this.index.delete(prefix);
    }
    const consider = new Set(pending.keys());
    const key = list.join(",");
    if (key !== this.lastConnected) {
      this.lastConnected = key;
      for (const p of this.index.keys()) consider.add(p);
    } else {
      for (const p of this.indirect) consider.add(p);
    }
    const want = new Map<string, string[]>();
    for (const p of consider) {
      const via = this.index.via(p);
      if (!via) {
        want.set(p, []);
        this.indirect.delete(p);
        this.problemsByPrefix.delete(p);
      } else if (this.index.direct(p, conn)) {
        want.set(p, via);
        this.indirect.delete(p);
        this.problemsByPrefix.delete(p);
      } else {
        this.indirect.add(p);
        const o = outcome(p, via, this.index.resolve(p, conn));
        want.set(p, o.hops);
        if (o.problem) this.problemsByPrefix.set(p, o.problem);
        else this.problemsByPrefix.delete(p);
      }
    }
    return want;
  }

  private async apply(): Promise<void> {
    if (this.pending.size === 0) return;
    // changes that arrive while this batch resolves wait for the next one
    const pending = this.pending;
    this.pending = new Map();
    const wanted = await this.resolvePending(pending);
    const lines: string[] = [];
    const writes: { op: "replace" | "del"; route: Route }[] = [];
    /** per line of the batch: the prefix and what it becomes when the line succeeds */
    const outcome: [string, Route | undefined][] = [];
    for (const [prefix, hops] of wanted) {
      const have = this.installed.get(prefix);
      if (hops.length === 0) {
        if (have) {
          lines.push(deleteLine(have));
          writes.push({ op: "del", route: have });
          outcome.push([prefix, undefined]);
        }
        continue;
      }
      const r: Route = { dst: prefix, type: "unicast", via: [...hops] };
      const line = replaceLine(r);
      if (have && replaceLine(have) === line) continue;
      lines.push(line);
      writes.push({ op: "replace", route: r });
      outcome.push([prefix, r]);
    }
    if (lines.length === 0) return;
    const refused = new Set<number>();
    if (this.opts.write) {
      const results = await this.opts.write(writes);
      results.forEach((res, i) => res && refused.add(i));
      if (refused.size)
        this.log("warn", "the kernel refused some routes", {
          refused: [...refused].map((i) => lines[i]).slice(0, 5),
          err: [...refused].map((i) => results[i]!.reason).slice(0, 5),
        });
    } else {
      // -force: a refused line (say, a next hop not on a connected network) does not stop the rest
      const r = await this.runner.run("ip", ["-force", "-batch", "-"], { input: lines.join("\n") + "\n" });
      // ip names each refused line ("Command failed -:N", 1-based); the others took effect
      for (const m of r.stderr.matchAll(/Command failed -:(\d+)/g)) refused.add(Number(m[1]) - 1);
      if (r.code !== 0)
        this.log("warn", "the kernel refused some routes", {
          refused: [...refused].map((i) => lines[i]).slice(0, 5),
          err: r.stderr.trim().split("\n").slice(0, 5),
        });
    }
    outcome.forEach(([prefix, route], i) => {
      if (refused.has(i)) return;
      if (route) this.installed.set(prefix, route);
      else this.installed.delete(prefix);
    });
    this.log("debug", "FIB updated", { lines: lines.length, installed: this.installed.size });
  }
}
