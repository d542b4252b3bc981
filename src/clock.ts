/**
 * Time as an injected effect. Pure modules take `now` (milliseconds) as a parameter; shells
 * take a Clock so tests can substitute a fake one.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * Runs `fn` once the work in hand is done (after this turn's I/O), to batch what one read
   * brought. Absent: the caller uses setImmediate.
   */
  soon?(fn: () => void): void;
}

/** `clock.soon`, or setImmediate for a clock without it. */
export function soon(clock: Clock, fn: () => void): void {
  if (clock.soon) clock.soon(fn);
  else setImmediate(fn);
}

export interface TimerHandle {
  readonly id: unknown;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return { id: t };
  },
  clearTimeout(handle) {
    clearTimeout(handle.id as NodeJS.Timeout);
  },
  soon(fn) {
    setImmediate(fn);
  },
};

/** A manually advanced clock for tests. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private soonQueue: (() => void)[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle.id as number);
  }
  /** Queued until `runSoon` or `advance` (which runs them first, then after each timer). */
  soon(fn: () => void): void {
    this.soonQueue.push(fn);
  }
  /** Runs what `soon` queued, also what that queues; returns how many ran. */
  runSoon(): number {
    let n = 0;
    while (this.soonQueue.length > 0) {
      const q = this.soonQueue;
      this.soonQueue = [];
      for (const fn of q) fn();
      n += q.length;
    }
    return n;
  }
  /**
   * One event-loop turn's worth: runs what `soon` had queued before the call, not what that
   * queues (which waits for the next turn, as setImmediate from inside setImmediate does).
   */
  runSoonOnce(): number {
    const q = this.soonQueue;
    this.soonQueue = [];
    for (const fn of q) fn();
    return q.length;
  }
  /** Advance time, firing due timers in order of their deadlines. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.runSoon();
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && timer.at < nextAt) {
          nextAt = timer.at;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const timer = this.timers.get(nextId)!;
      this.timers.delete(nextId);
      this.t = timer.at;
      timer.fn();
    }
    this.runSoon();
    this.t = end;
  }
  pendingTimers(): number {
    return this.timers.size;
  }
}
