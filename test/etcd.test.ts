// The etcd v3 backend against a real etcd 3.4 (started by the test): every promise of the Store
// contract in src/datastore/store.ts, Calico's key layout on the wire, concurrent CAS.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdStore, parseEtcdUrl } from "../src/datastore/etcd.js";
import { resourceKey } from "../src/model/keys.js";
import { hasCode } from "../src/errors.js";
import type { Store } from "../src/datastore/store.js";
import { startEtcd, type EtcdServer } from "./etcd-server.js";
import { Recorder, evKey, evRev, sleep } from "./etcd-util.js";

let etcd: EtcdServer;
let store: EtcdStore;
const extraStores: Store[] = [];
let n = 0;
/** A fresh key prefix per test, so tests sharing one etcd do not see each other. */
const fresh = () => `/tabby-test/${process.pid}/${++n}/`;

before(async () => {
  etcd = await startEtcd();
  store = await EtcdStore.open(parseEtcdUrl(etcd.url));
});

after(async () => {
  for (const s of extraStores) await s.close().catch(() => {});
  await store?.close().catch(() => {});
  await etcd?.stop();
});

const rejectsWith = (p: Promise<unknown>, code: string) =>
  assert.rejects(p, (e: unknown) => hasCode(e, code) || assert.fail(`expected ${code}, got ${String(e)}`));

describe("etcd store: single keys", () => {
  test("get of an absent key is undefined; create then get round-trips", async () => {
    const p = fresh();
    assert.equal(await store.get(`${p}a`), undefined);
    const kv = await store.create(`${p}a`, '{"x":1}');
    assert.equal(kv.key, `${p}a`);
    assert.equal(kv.value, '{"x":1}');
    assert.equal(kv.createRevision, kv.revision);
    assert.equal(kv.lease, undefined);
    assert.deepEqual(await store.get(`${p}a`), kv);
  });

  test("create of an existing key fails with DS_ALREADY_EXISTS and changes nothing", async () => {
    const p = fresh();
    const kv = await store.create(`${p}a`, "one");
    await rejectsWith(store.create(`${p}a`, "two"), "DS_ALREADY_EXISTS");
    assert.deepEqual(await store.get(`${p}a`), kv);
  });

  test("update: DS_NOT_FOUND when absent, DS_CONFLICT on a stale revision, CAS success keeps createRevision", async () => {
    const p = fresh();
    await rejectsWith(store.update(`${p}a`, "v"), "DS_NOT_FOUND");
    await rejectsWith(store.update(`${p}a`, "v", { revision: 0 }), "DS_NOT_FOUND");
    await rejectsWith(store.update(`${p}a`, "v", { revision: 12345 }), "DS_NOT_FOUND");
    assert.equal(await store.get(`${p}a`), undefined, "a failed update must not create the key");
    const v1 = await store.create(`${p}a`, "1");
    const v2 = await store.update(`${p}a`, "2", { revision: v1.revision });
    assert.ok(v2.revision > v1.revision);
    assert.equal(v2.createRevision, v1.createRevision);
    const err = await store.update(`${p}a`, "3", { revision: v1.revision }).then(
      () => assert.fail("stale update succeeded"),
      (e: unknown) => e,
    );
    assert.ok(hasCode(err, "DS_CONFLICT"));
    assert.deepEqual((err as { details: unknown }).details, { key: `${p}a`, expected: v1.revision, actual: v2.revision });
    const v3 = await store.update(`${p}a`, "3");
    assert.equal(v3.createRevision, v1.createRevision);
    assert.deepEqual(await store.get(`${p}a`), v3);
  });

  test("put creates and overwrites unconditionally", async () => {
    const p = fresh();
    const a = await store.put(`${p}a`, "1");
    assert.equal(a.createRevision, a.revision);
    const b = await store.put(`${p}a`, "2");
    assert.equal(b.createRevision, a.revision);
    assert.ok(b.revision > a.revision);
    assert.deepEqual(await store.get(`${p}a`), b);
  });

  test("delete: DS_NOT_FOUND when absent, DS_CONFLICT on a stale revision, returns the deleted KV", async () => {
    const p = fresh();
    await rejectsWith(store.delete(`${p}a`), "DS_NOT_FOUND");
    await rejectsWith(store.delete(`${p}a`, { revision: 0 }), "DS_NOT_FOUND");
    const a = await store.create(`${p}a`, "1");
    const b = await store.update(`${p}a`, "2");
    await rejectsWith(store.delete(`${p}a`, { revision: a.revision }), "DS_CONFLICT");
    assert.deepEqual(await store.get(`${p}a`), b);
    assert.deepEqual(await store.delete(`${p}a`, { revision: b.revision }), b);
    assert.equal(await store.get(`${p}a`), undefined);
    const c = await store.create(`${p}a`, "3");
    assert.ok(c.createRevision > b.revision, "a re-created key gets a new createRevision");
    assert.deepEqual(await store.delete(`${p}a`), c);
  });

  test("every write gets a strictly greater revision; currentRevision is the last one", async () => {
    const p = fresh();
    let last = await store.currentRevision();
    for (let i = 0; i < 10; i++) {
      const kv = i % 2 ? await store.put(`${p}k${i % 3}`, String(i)) : await store.create(`${p}n${i}`, String(i));
      assert.ok(kv.revision > last, `revision ${kv.revision} after ${last}`);
      last = kv.revision;
      assert.equal(await store.currentRevision(), last);
    }
    await store.delete(`${p}n0`);
    assert.equal(await store.currentRevision(), last + 1);
  });

  test("keys are stored literally in Calico's layout (checked through etcd's own HTTP gateway)", async () => {
    const key = resourceKey("IPPool", `tabby-test-${process.pid}`);
    const value = JSON.stringify({ kind: "IPPool", apiVersion: "projectcalico.org/v3", spec: { cidr: "10.0.0.0/16" } });
    await store.put(key, value);
    const res = await fetch(`${etcd.endpoints[0]}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: Buffer.from(key).toString("base64") }),
    });
    const body = (await res.json()) as { kvs?: Array<{ key: string; value: string }> };
    assert.equal(Buffer.from(body.kvs?.[0]?.key ?? "", "base64").toString(), `/calico/resources/v3/projectcalico.org/ippools/tabby-test-${process.pid}`);
    assert.equal(Buffer.from(body.kvs?.[0]?.value ?? "", "base64").toString(), value);
    await store.delete(key);
  });
});

describe("etcd store: list", () => {
  test("lists exactly the prefix, sorted by key, at a revision covering the items", async () => {
    const p = fresh();
    const keys = ["b", "a", "c/d", "c", "a0", "é", "~"].map((k) => p + k);
    for (const k of keys) await store.put(k, k);
    await store.put(p.slice(0, -1), "the prefix without its slash is not under it");
    await store.put(`${p.slice(0, -1)}0/x`, "a sibling");
    const res = await store.list(p);
    assert.deepEqual(
      res.items.map((kv) => kv.key),
      [...keys].sort(),
    );
    assert.equal(res.more, false);
    assert.ok(res.items.every((kv) => kv.value === kv.key && kv.revision <= res.revision));
    assert.equal(res.revision, await store.currentRevision());
    assert.deepEqual(await store.list(`${p}nothing/`), { items: [], revision: res.revision, more: false });
  });

  test("pagination with limit and startAfter visits every key once, in order", async () => {
    const p = fresh();
    const keys = Array.from({ length: 23 }, (_, i) => `${p}k${String(i).padStart(2, "0")}`);
    for (const k of [...keys].reverse()) await store.create(k, "v");
    const seen: string[] = [];
    let startAfter: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await store.list(p, { limit: 5, ...(startAfter !== undefined ? { startAfter } : {}) });
      pages++;
      assert.ok(page.items.length <= 5);
      seen.push(...page.items.map((kv) => kv.key));
      if (!page.more) break;
      startAfter = page.items.at(-1)!.key;
    }
    assert.deepEqual(seen, keys);
    assert.equal(pages, 5);
    const exact = await store.list(p, { limit: 23 });
    assert.equal(exact.items.length, 23);
    assert.equal(exact.more, false);
    assert.deepEqual(await store.list(p, { limit: 0 }).then((r) => [r.items.length, r.more]), [0, true]);
    assert.deepEqual(
      (await store.list(p, { startAfter: `${p}k21` })).items.map((kv) => kv.key),
      [`${p}k22`],
    );
    assert.deepEqual((await store.list(p, { startAfter: "/" })).items.length, 23, "startAfter before the prefix");
    assert.deepEqual((await store.list(p, { startAfter: `${p}k22` })).items, []);
  });
});

describe("etcd store: watch", () => {
  test("watch from a list's revision sees every later change exactly once, in order, including those between list and watch", async () => {
    const p = fresh();
    for (let i = 0; i < 5; i++) await store.put(`${p}k${i}`, "0");
    // A second client writes concurrently with our list and watch.
    const writer = await EtcdStore.open({ endpoints: etcd.endpoints });
    extraStores.push(writer);
    let stop = false;
    let lastWrite = 0;
    const writing = (async () => {
      for (let i = 0; !stop || i < 30; i++) {
        const k = `${p}k${i % 7}`;
        if (i % 5 === 4)
          await writer.delete(k).catch((e: unknown) => {
            if (!hasCode(e, "DS_NOT_FOUND")) throw e;
          });
        else lastWrite = (await writer.put(k, String(i))).revision;
      }
    })();
    await sleep(20);
    const listed = await store.list(p);
    await sleep(20); // let changes happen between the list and the watch
    const rec = new Recorder();
    const w = store.watch(p, listed.revision, rec);
    await sleep(50);
    stop = true;
    await writing;
    const end = (await writer.put(`${p}end`, "end")).revision;
    assert.ok(end > lastWrite);
    await rec.until(() => rec.events.some((e) => evRev(e) >= end), "the final write");
    w.close();
    assert.deepEqual(rec.errors, []);
    // Revisions strictly increase (single-key writes), all after the list.
    const revs = rec.events.map(evRev);
    assert.ok(
      revs.every((r, i) => r > listed.revision && (i === 0 || r > revs[i - 1]!)),
      `revisions in order: ${revs.join(",")}`,
    );
    // Replaying the events over the list gives exactly the final state.
    const state = new Map(listed.items.map((kv) => [kv.key, kv.value]));
    for (const e of rec.events) {
      assert.ok(evKey(e).startsWith(p));
      if (e.type === "put") state.set(e.kv.key, e.kv.value);
      else {
        assert.ok(state.has(e.key), `delete of ${e.key} that the replay does not hold`);
        assert.equal(e.prev?.key, e.key);
        state.delete(e.key);
      }
    }
    const final = await store.list(p);
    assert.deepEqual(
      [...state].sort(),
      final.items.map((kv) => [kv.key, kv.value]),
    );
  });

  test("watch replays history from an old revision and ignores other prefixes; events carry prev", async () => {
    const p = fresh();
    const start = await store.currentRevision();
    const a = await store.create(`${p}a`, "1");
    await store.put(`${p.slice(0, -1)}x/other`, "not watched");
    const b = await store.update(`${p}a`, "2");
    await store.delete(`${p}a`);
    const rec = new Recorder();
    const w = store.watch(p, start, rec);
    await rec.until(() => rec.events.length >= 3, "three events");
    await store.put(`${p}b`, "live");
    await rec.until(() => rec.events.length >= 4, "the live event");
    w.close();
    assert.deepEqual(rec.events, [
      { type: "put", kv: a, prev: undefined },
      { type: "put", kv: b, prev: a },
      { type: "delete", key: `${p}a`, revision: b.revision + 1, prev: b },
      { type: "put", kv: (await store.get(`${p}b`))!, prev: undefined },
    ]);
  });

  test("watch starts strictly after afterRevision", async () => {
    const p = fresh();
    const a = await store.put(`${p}a`, "1");
    const b = await store.put(`${p}a`, "2");
    const rec = new Recorder();
    const w = store.watch(p, a.revision, rec);
    await rec.until(() => rec.events.length >= 1, "one event");
    await sleep(100);
    w.close();
    assert.deepEqual(rec.events.map(evRev), [b.revision]);
  });

  test("watch from a compacted revision fails with DS_COMPACTED; from the list revision it works", async () => {
    const p = fresh();
    const first = await store.put(`${p}a`, "1");
    await store.put(`${p}a`, "2");
    const now = await store.put(`${p}a`, "3");
    await store.compact(now.revision);
    await store.compact(first.revision); // compacting below an earlier compaction is a no-op
    const rec = new Recorder();
    store.watch(p, first.revision, rec);
    await rec.until(() => rec.errors.length > 0, "DS_COMPACTED");
    assert.equal(rec.errors[0]!.code, "DS_COMPACTED");
    assert.deepEqual(rec.errors[0]!.details, { revision: first.revision, compactedTo: now.revision });
    assert.deepEqual(rec.events, []);
    // The syncer's recovery: re-list, watch from the list's revision.
    const listed = await store.list(p);
    const rec2 = new Recorder();
    const w2 = store.watch(p, listed.revision, rec2);
    const next = await store.put(`${p}a`, "4");
    await rec2.until(() => rec2.events.length >= 1, "the event after re-list");
    w2.close();
    assert.deepEqual(rec2.errors, []);
    assert.deepEqual(rec2.events.map(evRev), [next.revision]);
  });

  test("closing one watcher leaves the others on the same client working", async () => {
    const p = fresh();
    const rev = await store.currentRevision();
    const r1 = new Recorder();
    const r2 = new Recorder();
    const w1 = store.watch(p, rev, r1);
    const w2 = store.watch(p, rev, r2);
    await store.put(`${p}a`, "1");
    await r1.until(() => r1.events.length === 1, "w1 first event");
    await r2.until(() => r2.events.length === 1, "w2 first event");
    w1.close();
    await sleep(50);
    await store.put(`${p}a`, "2");
    const got = await store.get(`${p}a`);
    await r2.until(() => r2.events.length === 2, "w2 second event");
    await sleep(100);
    assert.equal(r1.events.length, 1, "a closed watcher gets nothing more");
    assert.deepEqual(r1.errors, []);
    assert.deepEqual(r2.errors, []);
    assert.equal(r2.events[1]?.type === "put" && r2.events[1].kv.revision, got!.revision);
    w2.close();
  });
});

describe("etcd store: leases", () => {
  test("a key on a lease is deleted (and a delete event emitted) when the lease expires", async () => {
    const p = fresh();
    const lease = await store.grantLease(2);
    assert.ok(Number.isSafeInteger(lease) && lease > 0);
    const kv = await store.put(`${p}a`, "alive", { lease });
    assert.equal(kv.lease, lease);
    assert.equal((await store.get(`${p}a`))?.lease, lease);
    const rec = new Recorder();
    const w = store.watch(p, kv.revision, rec);
    await rec.until(() => rec.events.length >= 1, "the expiry delete", 20_000);
    w.close();
    assert.equal(rec.events[0]?.type, "delete");
    assert.equal(evKey(rec.events[0]!), `${p}a`);
    assert.equal(await store.get(`${p}a`), undefined);
    await rejectsWith(store.keepAlive(lease), "DS_NOT_FOUND");
  });

  test("keepAlive keeps a lease alive past its TTL", async () => {
    const p = fresh();
    const lease = await store.grantLease(2);
    await store.create(`${p}a`, "v", { lease });
    for (let i = 0; i < 8; i++) {
      await sleep(500);
      await store.keepAlive(lease);
    }
    assert.equal((await store.get(`${p}a`))?.value, "v", "4 s > TTL 2 s, kept alive");
    await store.revokeLease(lease);
  });

  test("revokeLease deletes every key on the lease and emits deletes; revoking again is harmless", async () => {
    const p = fresh();
    const lease = await store.grantLease(60);
    await store.create(`${p}a`, "1", { lease });
    const b = await store.update(`${p}a`, "2", { lease });
    assert.equal(b.lease, lease);
    await store.put(`${p}b`, "3", { lease });
    await store.put(`${p}c`, "not leased");
    const rec = new Recorder();
    const w = store.watch(p, await store.currentRevision(), rec);
    await store.revokeLease(lease);
    await rec.until(() => rec.events.length >= 2, "two deletes");
    w.close();
    assert.deepEqual(rec.events.map((e) => [e.type, evKey(e)]).sort(), [
      ["delete", `${p}a`],
      ["delete", `${p}b`],
    ]);
    assert.deepEqual(
      (await store.list(p)).items.map((kv) => kv.key),
      [`${p}c`],
    );
    await store.revokeLease(lease);
    await rejectsWith(store.keepAlive(lease), "DS_NOT_FOUND");
  });

  test("a write naming an unknown lease fails with DS_NOT_FOUND and writes nothing", async () => {
    const p = fresh();
    const lease = await store.grantLease(60);
    await store.revokeLease(lease);
    await rejectsWith(store.put(`${p}a`, "1", { lease }), "DS_NOT_FOUND");
    await rejectsWith(store.create(`${p}a`, "1", { lease }), "DS_NOT_FOUND");
    assert.equal(await store.get(`${p}a`), undefined);
  });

  test("an update without a lease detaches the key from its lease", async () => {
    const p = fresh();
    const lease = await store.grantLease(60);
    await store.create(`${p}a`, "1", { lease });
    const kv = await store.update(`${p}a`, "2");
    assert.equal(kv.lease, undefined);
    await store.revokeLease(lease);
    assert.equal((await store.get(`${p}a`))?.value, "2");
  });
});

describe("etcd store: concurrency and lifecycle", () => {
  test("concurrent compare-and-swap increments from many clients lose no increment", async () => {
    const key = `${fresh()}counter`;
    await store.create(key, "0");
    const clients = await Promise.all(Array.from({ length: 6 }, () => EtcdStore.open({ endpoints: etcd.endpoints })));
    extraStores.push(...clients);
    const perClient = 20;
    let conflicts = 0;
    const increment = async (s: Store): Promise<void> => {
      for (;;) {
        const cur = (await s.get(key))!;
        try {
          await s.update(key, String(Number(cur.value) + 1), { revision: cur.revision });
          return;
        } catch (e) {
          if (!hasCode(e, "DS_CONFLICT")) throw e;
          conflicts++;
        }
      }
    };
    // Two async workers per client, all racing on one key.
    await Promise.all(
      clients.flatMap((s) =>
        [0, 1].map(async () => {
          for (let i = 0; i < perClient / 2; i++) await increment(s);
        }),
      ),
    );
    assert.equal((await store.get(key))?.value, String(clients.length * perClient));
    assert.ok(conflicts > 0, "the workers really raced");
    for (const s of clients) await s.close();
  });

  test("close stops watchers and later calls fail with DS_UNAVAILABLE", async () => {
    const p = fresh();
    const s = await EtcdStore.open({ endpoints: etcd.endpoints });
    const rec = new Recorder();
    s.watch(p, await s.currentRevision(), rec);
    await store.put(`${p}a`, "1");
    await rec.until(() => rec.events.length === 1, "first event");
    await s.close();
    await store.put(`${p}a`, "2");
    await sleep(200);
    assert.equal(rec.events.length, 1);
    assert.deepEqual(rec.errors, []);
    await rejectsWith(s.get(`${p}a`), "DS_UNAVAILABLE");
    await s.close(); // idempotent
  });

  test("opening an unreachable etcd fails with DS_UNAVAILABLE naming the endpoint", async () => {
    // A port that was free a moment ago and has nothing listening.
    const { createServer } = await import("node:net");
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, "127.0.0.1", () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === "object" && a ? a.port : 1));
      });
    });
    const err = await EtcdStore.open({ endpoints: [`http://127.0.0.1:${port}`], dialTimeoutMs: 2000 }).then(
      () => assert.fail("open succeeded"),
      (e: unknown) => e,
    );
    assert.ok(hasCode(err, "DS_UNAVAILABLE"), String(err));
    assert.match((err as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  test("the store's url names the endpoints", () => {
    assert.equal(store.url, etcd.url);
  });
});
