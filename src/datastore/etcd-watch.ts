/**
 * The etcd store's watches (etcd.ts): one etcd Watch stream per store watch, its creation
 * deadline, compaction and cancellation as errors, and the conversion of etcd's key-values and
 * events to the store's.
 */
import etcd3 from "etcd3";
import type { Etcd3 as Etcd3Client, IDuplexStream, IEvent, IKeyValue, IWatchRequest, IWatchResponse } from "etcd3";
import type { EtcdStore } from "./etcd.js";
import { hangUp } from "./etcd-hosts.js";
import { compacted, type DatastoreError, type KV, type WatchEvent, type WatchListener, type Watcher } from "./store.js";

const { Range } = etcd3;

/** One store watch = one etcd Watch stream. */
export class EtcdWatch implements Watcher {
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: EtcdStore,
    private readonly client: Etcd3Client,
    private readonly prefix: string,
    private readonly afterRevision: number,
    private readonly listener: WatchListener,
  ) {}

  start(): void {
    this.timer = setTimeout(
      () => this.fail(this.store.unavailable("watch", `watch on ${this.prefix} not established within ${this.store.dialTimeoutMs} ms`)),
      this.store.dialTimeoutMs,
    );
    this.client.watchClient.watch().then(
      (stream) => {
        if (this.closed) {
          hangUp(stream);
          return;
        }
        this.stream = stream;
        stream.on("data", (res) => this.onResponse(res));
        stream.on("error", (err) => this.fail(this.store.toDatastoreError("watch", err)));
        stream.on("end", () => this.fail(this.store.unavailable("watch", "watch stream ended")));
        const range = Range.prefix(this.prefix);
        stream.write({
          create_request: { key: range.start, range_end: range.end, start_revision: this.afterRevision + 1, prev_kv: true },
        });
      },
      (err: unknown) => this.fail(this.store.toDatastoreError("watch", err)),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cleanup();
  }

  /** @internal Report `err` once and close. */
  fail(err: DatastoreError): void {
    if (this.closed) return;
    this.closed = true;
    this.cleanup();
    this.listener.onError(err);
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.store.forget(this);
    if (this.stream) hangUp(this.stream);
    this.stream = undefined;
  }

  private onResponse(res: IWatchResponse): void {
    if (this.closed) return;
    if (res.created && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (res.compact_revision && res.compact_revision !== "0") {
      this.fail(compacted(this.afterRevision, Number(res.compact_revision)));
      return;
    }
    if (res.canceled) {
      this.fail(this.store.unavailable("watch", `etcd cancelled the watch on ${this.prefix}: ${res.cancel_reason || "no reason given"}`));
      return;
    }
    if (res.events.length === 0) return;
    const events = res.events.map(toEvent);
    try {
      this.listener.onEvents(events);
    } catch (err) {
      // A listener's bug must not tear down the gRPC stream: surface it as an uncaught error.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

export function toKV(kv: IKeyValue): KV {
  const lease = kv.lease && kv.lease !== "0" ? Number(kv.lease) : undefined;
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    revision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease,
  };
}

export function toEvent(ev: IEvent): WatchEvent {
  const prev = ev.prev_kv ? toKV(ev.prev_kv) : undefined;
  if (String(ev.type).toUpperCase() === "DELETE") {
    return { type: "delete", key: ev.kv.key.toString(), revision: Number(ev.kv.mod_revision), prev };
  }
  return { type: "put", kv: toKV(ev.kv), prev };
}
