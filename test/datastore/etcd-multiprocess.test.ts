/**
 * EtcdStore shared by several processes on a real etcd: compare-and-swap increments from N
 * processes lose no update, and a watcher in another process sees every revision in order — the
 * same claims test/datastore/multiprocess.test.ts makes for SQLite.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { runWorker, killWorkers, percentile } from "./worker-process.js";
import { after, before, test } from "node:test";
import { EtcdStore, parseEtcdUrl } from "../../src/datastore/etcd.js";
import { startEtcd, type EtcdServer } from "../etcd-server.js";

let etcd: EtcdServer;
let store: EtcdStore;
const prefix = `/ttd2/${process.pid}/`;

before(async () => {
  etcd = await startEtcd();
  store = await EtcdStore.open(parseEtcdUrl(etcd.url));
});
after(async () => {
  killWorkers();
  await store?.close();
  await etcd?.stop();
});

test("etcd: 4 processes x 100 compare-and-swap increments on one key: no lost update; a watcher process sees every revision in order", async (t) => {
  const key = `${prefix}counter`;
  const start = await store.create(key, "0");
  const [procs, per] = [4, 100];
  const total = procs * per;
  const watcher = runWorker("watch", etcd.url, key, String(start.revision), String(total));
  await watcher.waitFor((l) => l["ready"] === true);
  const workers = Array.from({ length: procs }, () => runWorker("cas", etcd.url, key, String(per)));
  const codes = await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(
    codes,
    workers.map(() => 0),
  );
  const final = await store.get(key);
  assert.equal(final?.value, String(total));
  assert.equal(await watcher.exited, 0);
  const events = watcher.lines.filter((l) => l["type"]);
  assert.equal(events.length, total);
  assert.deepEqual(
    events.map((e) => e["value"]),
    Array.from({ length: total }, (_, i) => String(i + 1)),
  );
  const revs = events.map((e) => e["rev"] as number);
  for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!);
  assert.equal(revs.at(-1), final!.revision);
  const conflicts = workers.reduce((s, w) => s + ((w.lines.find((l) => "conflicts" in l)?.["conflicts"] as number) ?? 0), 0);
  t.diagnostic(`${total} increments, ${conflicts} CAS conflicts retried`);
  assert.ok(conflicts > 0, "the workers really raced");
});

test("etcd: a change is seen by a watcher in another process, in order (latency logged, not asserted)", async (t) => {
  const p = `${prefix}lat/`;
  const n = 100;
  const watcher = runWorker("watch", etcd.url, p, String(await store.currentRevision()), String(n));
  await watcher.waitFor((l) => l["ready"] === true);
  await new Promise((r) => setTimeout(r, 200)); // let the watch stream be created before the first write is timed
  const sentAt = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t0 = performance.timeOrigin + performance.now();
    const kv = await store.put(`${p}${i % 10}`, String(i));
    sentAt.set(kv.revision, t0);
    await new Promise((r) => setTimeout(r, 3 + (i % 7)));
  }
  assert.equal(await watcher.exited, 0);
  const events = watcher.lines.filter((l) => l["type"]);
  assert.deepEqual(
    events.map((e) => e["rev"]),
    [...sentAt.keys()],
  );
  const lat = events.map((e) => (e["at"] as number) - sentAt.get(e["rev"] as number)!).sort((a, b) => a - b);
  t.diagnostic(`cross-process etcd watch latency over ${n} writes: median ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms`);
});
