/**
 * Asks the datastore a cheap question (a get of one key) every interval, with a deadline, so
 * readiness notices a datastore that stopped answering (a frozen etcd sends no error: its
 * watches just go quiet). The agent keeps the dataplane as it is meanwhile; only /readyz and
 * `node status` say so. Effects (the store, the clock) are injected.
 */
import type { Clock, TimerHandle } from "../clock.js";
import type { Store } from "../datastore/store.js";
import type { ProbeState } from "./checks.js";

export interface DatastoreProbeOptions {
  intervalMs?: number;
  timeoutMs?: number;
  /** The key read (any key works: a missing key is an answer too). */
  key?: string;
}

export class DatastoreProbe {
  private last: ProbeState | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly key: string;

  constructor(
    private readonly store: Pick<Store, "get">,
    private readonly clock: Clock,
    opts: DatastoreProbeOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 3000;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.key = opts.key ?? "/calico/resources/v3/projectcalico.org/clusterinformations/default";
  }

  state(): ProbeState | undefined {
    return this.last;
  }

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
  }

  /** One probe: resolves with the new state. */
  async probeOnce(): Promise<ProbeState> {
    let deadline: TimerHandle | undefined;
    const timeout = new Promise<ProbeState>(
      (r) => (deadline = this.clock.setTimeout(() => r({ ok: false, detail: `no answer within ${this.timeoutMs} ms` }), this.timeoutMs)),
    );
    const asked = this.store.get(this.key).then(
      (): ProbeState => ({ ok: true }),
      (err: unknown): ProbeState => ({ ok: false, detail: String(err) }),
    );
    const st = await Promise.race([asked, timeout]);
    if (deadline) this.clock.clearTimeout(deadline);
    this.last = st;
    return st;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    await this.probeOnce();
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => void this.tick(), this.intervalMs);
  }
}
