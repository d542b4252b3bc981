/**
 * Shared helpers of the etcd backend tests: a watch listener that records what it receives and
 * lets a test wait for a condition (with a generous timeout, never asserting durations).
 */
import type { DatastoreError, WatchEvent, WatchListener } from "../src/datastore/store.js";

export class Recorder implements WatchListener {
  events: WatchEvent[] = [];
  errors: DatastoreError[] = [];
  batches = 0;
  private waiters: Array<() => void> = [];

  onEvents(events: WatchEvent[]): void {
    this.batches++;
    this.events.push(...events);
    this.wake();
  }

  onError(err: DatastoreError): void {
    this.errors.push(err);
    this.wake();
  }

  /** Resolves when `pred()` holds; rejects after `timeoutMs` with `what` in the message. */
  async until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (pred()) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what}; got ${this.events.length} events, errors: ${this.errors.map((e) => e.code).join(",")}`));
      }, timeoutMs);
      const check = () => {
        if (!pred()) return;
        clearTimeout(t);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

export function evKey(e: WatchEvent): string {
  return e.type === "put" ? e.kv.key : e.key;
}

export function evRev(e: WatchEvent): number {
  return e.type === "put" ? e.kv.revision : e.revision;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects with `what` if `p` has not settled within `ms` (guards against hangs, not a timing assertion). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}
