/**
 * The syncer: list, then watch, a set of key prefixes in the datastore and deliver every change
 * as (key, value | undefined) in batches. Calico's watchersyncer semantics: on a watch error it
 * re-lists and emits deletions for keys that vanished meanwhile (so a "too old" revision or an
 * outage never leaves stale state), and it reports when it is first in sync. Retries back off
 * exponentially with jitter (retryMs doubling up to maxRetryMs, each less up to a quarter:
 * net/backoff.ts, so that the agents of every host do not re-list together after a datastore
 * outage) while the datastore stays unavailable, and start again from retryMs once a resync
 * succeeds. The syncer never clears what it delivered
 * because the store is unreachable: consumers keep the last known state (and so the dataplane
 * stays as it is) until a successful re-list says otherwise.
 */
import type { Clock } from "../clock.js";
import { systemClock } from "../clock.js";
import type { DatastoreError, Store, Watcher, WatchEvent } from "../datastore/store.js";
import { Backoff, type Random } from "../net/backoff.js";

export interface KeyUpdate {
  key: string;
  /** undefined = deleted */
  value: string | undefined;
}

export type SyncStatus = "wait-for-datastore" | "resync" | "in-sync";

export interface SyncerHandlers {
  onUpdates(updates: KeyUpdate[]): void;
  onStatus(status: SyncStatus): void;
  onError?(err: unknown): void;
}

export class Syncer {
  /** Keys delivered and not deleted since: what a re-list must diff against. */
  private readonly known = new Set<string>();
  private watchers: Watcher[] = [];
  private stopped = false;
  private retryTimer: ReturnType<Clock["setTimeout"]> | undefined;
  /** Delays between retries: doubling on each failed attempt, reset by a successful resync. */
  private readonly backoff: Backoff;
  /** Bumped by every resync, so a resync that finds itself superseded stops quietly. */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly prefixes: string[],
    private readonly handlers: SyncerHandlers,
    private readonly clock: Clock = systemClock,
    retryMs = 1000,
    maxRetryMs = 8000,
    random: Random = Math.random,
  ) {
    this.backoff = new Backoff({ initialMs: retryMs, maxMs: maxRetryMs }, random);
  }

  start(): void {
    this.handlers.onStatus("wait-for-datastore");
    void this.resync();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer);
  }

  private async resync(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.stopped) return;
    const gen = ++this.generation;
    this.handlers.onStatus("resync");
    try {
      const seen = new Map<string, string>();
      const revisions: number[] = [];
      for (const prefix of this.prefixes) {
        const page = await this.store.list(prefix);
        if (this.stopped || gen !== this.generation) return;
        for (const kv of page.items) seen.set(kv.key, kv.value);
        revisions.push(page.revision);
      }
      // Every prefix is listed at its own revision; watching each from its list revision
      // delivers exactly the later changes. Watches start only once every list succeeded, so a
      // failed attempt leaves no watcher behind.
      this.prefixes.forEach((prefix, i) => this.watchPrefix(prefix, revisions[i]!));
      const updates: KeyUpdate[] = [];
      for (const key of this.known) if (!seen.has(key)) updates.push({ key, value: undefined });
      for (const key of updates.map((u) => u.key)) this.known.delete(key);
      for (const [key, value] of seen) {
        updates.push({ key, value });
        this.known.add(key);
      }
      if (this.stopped) return;
      this.backoff.reset();
      this.handlers.onUpdates(updates);
      this.handlers.onStatus("in-sync");
    } catch (err) {
      if (this.stopped || gen !== this.generation) return;
      this.handlers.onError?.(err);
      this.scheduleResync();
    }
  }

  private watchPrefix(prefix: string, afterRevision: number): void {
    const w = this.store.watch(prefix, afterRevision, {
      onEvents: (events: WatchEvent[]) => {
        if (this.stopped) return;
        const updates: KeyUpdate[] = events.map((ev) => (ev.type === "put" ? { key: ev.kv.key, value: ev.kv.value } : { key: ev.key, value: undefined }));
        for (const u of updates) {
          if (u.value === undefined) this.known.delete(u.key);
          else this.known.add(u.key);
        }
        this.handlers.onUpdates(updates);
      },
      onError: (err: DatastoreError) => {
        this.handlers.onError?.(err);
        this.scheduleResync();
      },
    });
    this.watchers.push(w);
  }

  private scheduleResync(): void {
    if (this.stopped || this.retryTimer) return;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    const delay = this.backoff.next();
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.resync();
    }, delay);
  }
}
