/**
 * BFD on its own thread, seen from the main thread: the surface of BfdService (watch, status,
 * close) with the service itself running in a worker (worker.ts) that has its own event loop,
 * timers and sockets, so that a main thread busy past the detection time (100 ms × 3 is a 300 ms
 * stall) neither makes our packets late, which takes the session down at the peer, nor makes us
 * time the peer out. BIRD runs BFD in its own thread for the same reason.
 *
 * - The worker starts with the first watch (a process with no BFD peer runs no thread), is
 *   unref'd (it never keeps a stopping process alive) and is terminated by close().
 * - watch() stays synchronous: the options are checked, and a watch that disagrees with the
 *   session it joins is refused (BFD_CONFIG), here, before the worker hears of it.
 * - status() is synchronous too: the snapshot the worker posted last (it posts one whenever a
 *   session changed), so it lags the worker by one message.
 * - onDown arrives as a message and is called on the main thread; a watch's close is a message.
 * - The worker dying (an uncaught error, out of memory) is logged; every watch whose session was
 *   Up gets onDown, as if BFD had timed out — the peer's BFD is about to time us out anyway (our
 *   packets stopped) and take its side of the session down, and a path nothing watches any more
 *   must not keep its routes as if it were watched. Sessions that were not Up are left alone,
 *   as the service itself reports only Up→Down. The worker is then restarted after a backoff
 *   (doubling from 100 ms to 10 s; reset once a worker has run 30 s) and given every watch again,
 *   so the sessions come back Up with the peers by themselves.
 * Shell (a thread); the session logic stays in session.ts and service.ts.
 */
import { Worker } from "node:worker_threads";
import { systemClock, type Clock, type TimerHandle } from "../clock.js";
import { BfdError } from "./errors.js";
import { validateOptions, type BfdOptions } from "./options.js";
import type { BfdSessionStatus } from "./service.js";
import { canonicalAddress, optionsKey, sessionKey } from "./session-key.js";
import type { BfdWorkerData, FromWorker, ToWorker } from "./worker-protocol.js";

type Log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

/** What BfdWorker needs of a node:worker_threads Worker (a fake in tests). */
export interface WorkerLike {
  postMessage(m: ToWorker): void;
  on(event: "message", fn: (m: FromWorker) => void): unknown;
  on(event: "error", fn: (e: Error) => void): unknown;
  on(event: "exit", fn: (code: number) => void): unknown;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
}

export interface BfdWorkerOptions {
  log?: Log;
  /** Forward the worker's debug lines too. */
  debug?: boolean;
  /** Ports to send to and listen on (defaults 3784 and 4784; tests may change them). */
  singleHopPort?: number;
  multihopPort?: number;
  clock?: Clock;
  /** Starts the worker (default: bfd/worker.js in a node:worker_threads Worker). */
  spawn?: (data: BfdWorkerData) => WorkerLike;
  /** Restart backoff: first delay, largest delay, milliseconds (default 100, 10 000). */
  backoffMs?: { first: number; max: number };
  /** How long close() waits for the worker to say AdminDown to its peers before terminating it (default 2000 ms). */
  closeTimeoutMs?: number;
}

interface Watch {
  id: number;
  peer: string;
  local: string | undefined;
  opts: BfdOptions;
  key: string;
  optsKey: string;
  onDown: (reason: string) => void;
}

/** A worker that ran this long before dying starts the backoff over. */
const STABLE_MS = 30_000;

export class BfdWorker {
  private worker: WorkerLike | undefined;
  private readonly watches = new Map<number, Watch>();
  private nextId = 1;
  private snapshot: BfdSessionStatus[] = [];
  private closing: Promise<void> | undefined;
  private restartTimer: TimerHandle | undefined;
  private failures = 0;
  private startedAt = 0;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly spawn: (data: BfdWorkerData) => WorkerLike;
  private readonly backoff: { first: number; max: number };
  /** Times the worker was started (for tests and status). */
  starts = 0;

  constructor(private readonly opts: BfdWorkerOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? (() => {});
    this.spawn = opts.spawn ?? ((data) => new Worker(new URL("./worker.js", import.meta.url), { workerData: data }) as unknown as WorkerLike);
    this.backoff = opts.backoffMs ?? { first: 100, max: 10_000 };
  }

  /** As BfdService.watch: runs (or joins) the session to `peer`; `onDown` each time it goes from Up to Down. */
  watch(peer: string, localAddress: string | undefined, opts: BfdOptions, onDown: (reason: string) => void): { close(): void } {
    if (this.closing) throw new BfdError("BFD_CLOSED", "the BFD service is closed");
    validateOptions(opts);
    const addr = canonicalAddress(peer);
    const key = sessionKey(addr, !!opts.multihop);
    const ok = optionsKey(opts, localAddress);
    for (const w of this.watches.values())
      if (w.key === key && w.optsKey !== ok) throw new BfdError("BFD_CONFIG", `a BFD session to ${addr} already runs with other options`);
    const w: Watch = { id: this.nextId++, peer: addr, local: localAddress, opts, key, optsKey: ok, onDown };
    this.watches.set(w.id, w);
    if (this.worker) this.send(w);
    else if (!this.restartTimer) this.start(); // sends every watch, this one too
    return {
      close: () => {
        if (this.watches.delete(w.id)) this.worker?.postMessage({ op: "unwatch", id: w.id });
      },
    };
  }

  /** The sessions as the worker last reported them (a snapshot posted on every change). */
  status(): BfdSessionStatus[] {
    return this.snapshot;
  }

  /** Ends every session (AdminDown to each peer, RFC 5882 §3.2) and stops the worker. */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    if (this.restartTimer) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.watches.clear();
    const w = this.worker;
    if (!w) return;
    w.ref(); // held open until its peers were told (bounded by the timeout)
    // the worker tells its peers AdminDown and closes its sockets; then (or after the timeout) it is ended
    await new Promise<void>((resolve) => {
      const timer = this.clock.setTimeout(resolve, this.opts.closeTimeoutMs ?? 2000);
      w.on("message", (m) => {
        if (m.op === "closed") {
          this.clock.clearTimeout(timer);
          resolve();
        }
      });
      w.on("exit", () => {
        this.clock.clearTimeout(timer);
        resolve();
      });
      w.postMessage({ op: "close" });
    });
    await w.terminate();
    this.worker = undefined;
    this.snapshot = [];
  }

  private send(w: Watch): void {
    this.worker?.postMessage({ op: "watch", id: w.id, peer: w.peer, local: w.local, opts: w.opts });
  }

  private start(): void {
    const data: BfdWorkerData = { debug: !!this.opts.debug };
    if (this.opts.singleHopPort !== undefined) data.singleHopPort = this.opts.singleHopPort;
    if (this.opts.multihopPort !== undefined) data.multihopPort = this.opts.multihopPort;
    const w = this.spawn(data);
    this.worker = w;
    this.starts++;
    this.startedAt = this.clock.now();
    let error: Error | undefined;
    w.on("message", (m) => {
      if (this.worker === w) this.onMessage(m);
    });
    w.on("error", (e) => (error = e));
    w.on("exit", (code) => {
      if (this.worker !== w || this.closing) return;
      this.died(error ? `${error.name}: ${error.message}` : `exit code ${code}`);
    });
    w.unref(); // after the listeners: adding a "message" listener refs the worker's port again
    for (const watch of this.watches.values()) this.send(watch);
  }

  private onMessage(m: FromWorker): void {
    switch (m.op) {
      case "status":
        this.snapshot = m.sessions;
        return;
      case "down":
        this.watches.get(m.id)?.onDown(m.reason);
        return;
      case "refused":
        this.log("error", "bfd session refused by the BFD worker", { peer: this.watches.get(m.id)?.peer, code: m.code, reason: m.message });
        return;
      case "log":
        this.log(m.level, m.msg, m.fields);
        return;
      case "closed":
        return;
    }
  }

  /** The worker ended without close(): the Up sessions are reported Down, and it is started again after a backoff. */
  private died(why: string): void {
    const up = new Set(this.snapshot.filter((s) => s.state === "Up").map((s) => sessionKey(s.peer, s.multihop)));
    this.worker = undefined;
    this.snapshot = [];
    if (this.clock.now() - this.startedAt >= STABLE_MS) this.failures = 0;
    const delay = Math.min(this.backoff.max, this.backoff.first * 2 ** this.failures);
    this.failures++;
    this.log("error", "the BFD worker stopped: its Up sessions are reported down, and it restarts", {
      reason: why,
      down: [...up],
      restartInMs: delay,
    });
    const reason = `BFD down (the BFD worker stopped: ${why})`;
    for (const w of [...this.watches.values()]) if (up.has(w.key) && this.watches.has(w.id)) w.onDown(reason);
    if (this.closing) return;
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.watches.size > 0) this.start(); // else the next watch starts it
    }, delay);
  }
}
