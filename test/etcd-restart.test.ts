// The etcd backend when etcd goes away: a watcher reports DS_UNAVAILABLE and closes (it does not
// resume by itself); calls during the outage fail with DS_UNAVAILABLE within the request deadline
// instead of hanging; after etcd comes back the same store works again, and a watch from the
// last revision the old watcher delivered sees every later event exactly once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdStore } from "../src/datastore/etcd.js";
import { hasCode } from "../src/errors.js";
import type { WatchEvent } from "../src/datastore/store.js";
import { startEtcd, type EtcdServer } from "./etcd-server.js";
import { Recorder, evRev, sleep, within } from "./etcd-util.js";

const REQUEST_TIMEOUT_MS = 2000;
/** Guard against a hang: far above the request deadline, it is not a timing assertion. */
const HANG_GUARD_MS = 15_000;

let etcd: EtcdServer;
let store: EtcdStore;

before(async () => {
  etcd = await startEtcd();
  store = await EtcdStore.open({ endpoints: etcd.endpoints, requestTimeoutMs: REQUEST_TIMEOUT_MS, dialTimeoutMs: REQUEST_TIMEOUT_MS });
});

after(async () => {
  await store?.close().catch(() => {});
  etcd?.thaw();
  await etcd?.stop();
});

async function expectUnavailable(p: Promise<unknown>, what: string): Promise<void> {
  const err = await within(p, HANG_GUARD_MS, what).then(
    () => assert.fail(`${what} succeeded while etcd was down`),
    (e: unknown) => e,
  );
  assert.ok(hasCode(err, "DS_UNAVAILABLE"), `${what}: ${String(err)}`);
  assert.match((err as Error).message, new RegExp(etcd.endpoints[0]!.replace(/[.:/]/g, "\\$&")));
}

/** Retries `fn` until it succeeds: etcd has just come back. */
async function eventually<T>(fn: () => Promise<T>, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!hasCode(e, "DS_UNAVAILABLE") || Date.now() > deadline) throw new Error(`${what}: ${String(e)}`, { cause: e });
      await sleep(100);
    }
  }
}

for (const how of ["SIGKILL", "SIGTERM"] as const) {
  describe(`etcd restart (${how})`, () => {
    test("watch errors with DS_UNAVAILABLE, writes fail instead of hanging, a re-watch from the last revision loses nothing", async () => {
      const p = `/tabby-restart/${process.pid}/${how}/`;
      const written: number[] = [];
      const start = await store.currentRevision();
      const rec = new Recorder();
      store.watch(p, start, rec);
      for (let i = 0; i < 5; i++) written.push((await store.put(`${p}k${i % 2}`, String(i))).revision);
      await rec.until(() => rec.events.length === 5, "5 events before the outage");

      if (how === "SIGKILL") etcd.kill();
      else await etcd.pause();
      await rec.until(() => rec.errors.length > 0, "the watch error");
      assert.equal(rec.errors.length, 1);
      assert.equal(rec.errors[0]!.code, "DS_UNAVAILABLE");

      await expectUnavailable(store.put(`${p}down`, "x"), "put");
      await expectUnavailable(store.create(`${p}down2`, "x"), "create");
      await expectUnavailable(store.update(`${p}k0`, "x", { revision: written[4]! }), "update");
      await expectUnavailable(store.delete(`${p}k0`), "delete");
      await expectUnavailable(store.get(`${p}k0`), "get");
      await expectUnavailable(store.list(p), "list");
      await expectUnavailable(store.grantLease(10), "grantLease");
      const downRec = new Recorder();
      store.watch(p, start, downRec);
      await downRec.until(() => downRec.errors.length > 0, "a watch opened while etcd is down to fail");
      assert.equal(downRec.errors[0]!.code, "DS_UNAVAILABLE");

      await etcd.restart();
      // The same store object works again once etcd answers.
      written.push((await eventually(() => store.put(`${p}k0`, "after-1"), "first write after restart")).revision);
      // The syncer's recovery: watch again from the last revision it saw.
      const last = evRev(rec.events.at(-1)!);
      const rec2 = new Recorder();
      const w2 = store.watch(p, last, rec2);
      for (let i = 0; i < 3; i++) written.push((await store.put(`${p}k1`, `after-${i + 2}`)).revision);
      await rec2.until(() => rec2.events.length === 4, "the 4 writes after the restart");
      await sleep(100);
      w2.close();
      const all: WatchEvent[] = [...rec.events, ...rec2.events];
      assert.deepEqual(all.map(evRev), written, "every successful write, once, in order; no failed write appears");
      assert.deepEqual(rec2.errors, []);
      assert.equal(rec.errors.length, 1, "the old watcher reports once and stays closed");
    });
  });
}

describe("etcd frozen (SIGSTOP): connections stay open but nothing answers", () => {
  test("calls fail with DS_UNAVAILABLE at the deadline; the watch notices through gRPC keepalive", async () => {
    const p = `/tabby-restart/${process.pid}/frozen/`;
    const rec = new Recorder();
    store.watch(p, await store.currentRevision(), rec);
    const before = await store.put(`${p}a`, "1");
    await rec.until(() => rec.events.length === 1, "an event before the freeze");
    etcd.freeze();
    try {
      await expectUnavailable(store.put(`${p}a`, "2"), "put to a frozen etcd");
      await expectUnavailable(store.get(`${p}a`), "get from a frozen etcd");
      // keepalive: ping after 10 s idle, 5 s to answer.
      await rec.until(() => rec.errors.length > 0, "the watch to notice the frozen etcd", 40_000);
      assert.equal(rec.errors[0]!.code, "DS_UNAVAILABLE");
    } finally {
      etcd.thaw();
    }
    const cur = await eventually(() => store.get(`${p}a`), "get after thaw");
    // The timed-out put may or may not have been applied (its answer was lost); either is allowed.
    assert.ok(cur && (cur.value === "1" || cur.value === "2") && cur.revision >= before.revision);
  });
});
