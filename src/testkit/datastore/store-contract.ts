/**
 * The datastore contract as executable tests: every promise store.ts makes (etcd v3 semantics —
 * revisions, compare-and-swap, list with pagination, watch from a revision, compaction, leases),
 * registered with node:test for one backend. Each backend's test file calls runStoreContract.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FakeClock } from "../../clock.js";
import { hasCode } from "../../errors.js";
import type { DatastoreError, KV, Store, WatchEvent, Watcher } from "../../datastore/store.js";

export interface StoreFixture {
  store: Store;
  cleanup(): Promise<void>;
  /** Compact history at and below `revision`, if the backend can (enables the DS_COMPACTED tests). */
  compact?(revision: number): Promise<void> | void;
  /** Open a second, independent handle onto the same data (another connection / client). */
  peer?(): Promise<Store>;
}

export interface StoreContractOptions {
  /**
   * `fake` (default): the backend takes the FakeClock passed to makeStore and lease expiry is driven
   * by advancing it. `real`: the backend keeps its own time; lease tests use a 1 s TTL and wait.
   */
  leaseTime?: "fake" | "real";
  /** How long to wait for an expected watch event before failing (default 5000 ms). */
  eventTimeoutMs?: number;
  /** How long to wait to be sure an unexpected event does not arrive (default 150 ms). */
  quietMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function revisionOfEvent(ev: WatchEvent): number {
  return ev.type === "put" ? ev.kv.revision : ev.revision;
}

export function keyOfEvent(ev: WatchEvent): string {
  return ev.type === "put" ? ev.kv.key : ev.key;
}

/** Records what a watch delivers; `until` waits (bounded) for a condition on the events so far. */
export class Recorder {
  readonly events: WatchEvent[] = [];
  readonly errors: DatastoreError[] = [];
  readonly batches: number[] = [];
  watcher: Watcher | undefined;

  constructor(private readonly timeoutMs = 5000) {}

  listen(store: Store, prefix: string, afterRevision: number): this {
    this.watcher = store.watch(prefix, afterRevision, {
      onEvents: (evs) => {
        this.batches.push(evs.length);
        this.events.push(...evs);
      },
      onError: (err) => this.errors.push(err),
    });
    return this;
  }

  async until(cond: (r: this) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (!cond(this)) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got ${this.events.length} events, errors ${this.errors.map((e) => e.code)}`);
      await sleep(5);
    }
  }

  untilCount(n: number): Promise<void> {
    return this.until((r) => r.events.length >= n, `${n} events`);
  }

  revisions(): number[] {
    return this.events.map(revisionOfEvent);
  }
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<DatastoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(hasCode(err, code), `expected ${code}, got ${(err as { code?: string }).code ?? String(err)}`);
    return err as DatastoreError;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

function assertStrictlyIncreasing(revs: number[]): void {
  for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!, `revision ${revs[i]} after ${revs[i - 1]} at ${i}`);
}

function assertNonDecreasing(revs: number[]): void {
  for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! >= revs[i - 1]!, `revision ${revs[i]} after ${revs[i - 1]} at ${i}`);
}

export function runStoreContract(name: string, makeStore: (ctx: { clock: FakeClock }) => Promise<StoreFixture>, opts: StoreContractOptions = {}): void {
  const timeout = opts.eventTimeoutMs ?? 5000;
  const quiet = opts.quietMs ?? 150;
  const realLeases = opts.leaseTime === "real";

  /** Run `body` with a fresh store; always clean up. */
  const withStore = (body: (f: StoreFixture, clock: FakeClock) => Promise<void>) => async () => {
    const clock = new FakeClock();
    const f = await makeStore({ clock });
    try {
      await body(f, clock);
    } finally {
      await f.cleanup();
    }
  };

  const rec = () => new Recorder(timeout);

  describe(`Store contract: ${name}`, () => {
    test(
      "get of an absent key is undefined; create then get returns it",
      withStore(async ({ store }) => {
        assert.equal(await store.get("/a"), undefined);
        const before = await store.currentRevision();
        const kv = await store.create("/a", "1");
        assert.equal(kv.key, "/a");
        assert.equal(kv.value, "1");
        assert.ok(kv.revision > before);
        assert.equal(kv.createRevision, kv.revision);
        assert.equal(kv.lease, undefined);
        assert.deepEqual(await store.get("/a"), kv);
        assert.equal(await store.currentRevision(), kv.revision);
      }),
    );

    test(
      "values round-trip byte for byte (JSON, unicode, empty)",
      withStore(async ({ store }) => {
        const values = ["", '{"a":[1,2,{"b":null}]}', "ünïcødé ✓ 🦊", "line\nbreak\u0000nul", "x".repeat(100_000)];
        for (const [i, v] of values.entries()) {
          await store.put(`/v/${i}`, v);
          assert.equal((await store.get(`/v/${i}`))?.value, v);
        }
      }),
    );

    test(
      "create fails with DS_ALREADY_EXISTS and changes nothing",
      withStore(async ({ store }) => {
        const kv = await store.create("/a", "1");
        await rejectsWith(store.create("/a", "2"), "DS_ALREADY_EXISTS");
        assert.deepEqual(await store.get("/a"), kv);
        assert.equal(await store.currentRevision(), kv.revision);
      }),
    );

    test(
      "update: DS_NOT_FOUND when absent, DS_CONFLICT on a stale revision, CAS succeeds on the current one",
      withStore(async ({ store }) => {
        await rejectsWith(store.update("/a", "x"), "DS_NOT_FOUND");
        await rejectsWith(store.update("/a", "x", { revision: 1 }), "DS_NOT_FOUND");
        const v1 = await store.create("/a", "1");
        const v2 = await store.update("/a", "2", { revision: v1.revision });
        assert.ok(v2.revision > v1.revision);
        assert.equal(v2.createRevision, v1.revision);
        assert.equal(v2.value, "2");
        const err = await rejectsWith(store.update("/a", "3", { revision: v1.revision }), "DS_CONFLICT");
        assert.equal(err.details?.["expected"], v1.revision);
        assert.equal(err.details?.["actual"], v2.revision);
        assert.deepEqual(await store.get("/a"), v2);
        assert.equal(await store.currentRevision(), v2.revision, "a failed write does not consume a revision");
        const v3 = await store.update("/a", "3"); // no revision: unconditional
        assert.equal(v3.value, "3");
        assert.equal(v3.createRevision, v1.revision);
      }),
    );

    test(
      "put creates and overwrites unconditionally, keeping createRevision",
      withStore(async ({ store }) => {
        const p1 = await store.put("/p", "1");
        assert.equal(p1.createRevision, p1.revision);
        const p2 = await store.put("/p", "2");
        assert.ok(p2.revision > p1.revision);
        assert.equal(p2.createRevision, p1.revision);
        assert.deepEqual(await store.get("/p"), p2);
      }),
    );

    test(
      "delete: DS_NOT_FOUND when absent, DS_CONFLICT on a stale revision, returns the deleted KV",
      withStore(async ({ store }) => {
        await rejectsWith(store.delete("/d"), "DS_NOT_FOUND");
        const v1 = await store.create("/d", "1");
        const v2 = await store.update("/d", "2");
        await rejectsWith(store.delete("/d", { revision: v1.revision }), "DS_CONFLICT");
        assert.deepEqual(await store.get("/d"), v2);
        const gone = await store.delete("/d", { revision: v2.revision });
        assert.deepEqual(gone, v2);
        assert.equal(await store.get("/d"), undefined);
        assert.ok((await store.currentRevision()) > v2.revision, "a delete takes a revision");
        await rejectsWith(store.delete("/d"), "DS_NOT_FOUND");
        const again = await store.create("/d", "3");
        assert.equal(again.createRevision, again.revision, "a re-created key starts a new life");
        await store.delete("/d"); // no revision: unconditional
        assert.equal(await store.get("/d"), undefined);
      }),
    );

    test(
      "revisions strictly increase across every kind of write",
      withStore(async ({ store }) => {
        const revs: number[] = [await store.currentRevision()];
        for (let i = 0; i < 20; i++) {
          revs.push((await store.put(`/r/${i % 3}`, String(i))).revision);
          revs.push((await store.create(`/r/c${i}`, "c")).revision);
          revs.push((await store.update(`/r/c${i}`, "u")).revision);
          await store.delete(`/r/c${i}`);
          revs.push(await store.currentRevision());
        }
        assertStrictlyIncreasing(revs);
      }),
    );

    test(
      "list returns keys under the prefix in key order, with the revision it reflects",
      withStore(async ({ store }) => {
        const inside = ["/p/", "/p/a", "/p/b/c", "/p/z", "/p/~", "/p/\u00e9", "/p/\u4e2d", "/p/\u{1F98A}"];
        // Keys are non-empty (etcd rejects an empty key), so "" is not among them.
        const outside = ["/p", "/o/x", "/p0", "/q/", "/P/a", "!"];
        for (const k of [...outside, ...inside].reverse()) await store.put(k, k);
        const r = await store.list("/p/");
        assert.deepEqual(
          r.items.map((i) => i.key),
          [...inside].sort(),
        );
        assert.equal(r.more, false);
        assert.equal(r.revision, await store.currentRevision());
        for (const item of r.items) assert.deepEqual(await store.get(item.key), item);
        const all = await store.list("");
        assert.equal(all.items.length, inside.length + outside.length);
        assert.deepEqual(
          all.items.map((i) => i.key),
          [...inside, ...outside].sort(),
        );
        assert.deepEqual((await store.list("/nothing/")).items, []);
        assert.deepEqual(
          (await store.list("/p/a")).items.map((i) => i.key),
          ["/p/a"],
        );
      }),
    );

    test(
      "list pagination with limit and startAfter visits every key exactly once",
      withStore(async ({ store }) => {
        const keys = Array.from({ length: 23 }, (_, i) => `/pg/${String(i).padStart(3, "0")}`);
        for (const k of keys) await store.put(k, "v");
        await store.put("/pg0", "outside");
        for (const limit of [1, 5, 7, 23, 100]) {
          const seen: string[] = [];
          let startAfter: string | undefined;
          for (;;) {
            const page = await store.list("/pg/", { limit, ...(startAfter === undefined ? {} : { startAfter }) });
            assert.ok(page.items.length <= limit);
            seen.push(...page.items.map((i) => i.key));
            if (!page.more) break;
            assert.equal(page.items.length, limit);
            startAfter = page.items.at(-1)!.key;
          }
          assert.deepEqual(seen, keys, `limit ${limit}`);
        }
        const exact = await store.list("/pg/", { limit: keys.length });
        assert.equal(exact.more, false, "a limit equal to the count is not 'more'");
        const tail = await store.list("/pg/", { startAfter: keys[20]! });
        assert.deepEqual(
          tail.items.map((i) => i.key),
          keys.slice(21),
        );
        const before = await store.list("/pg/", { startAfter: "/a" });
        assert.equal(before.items.length, keys.length, "startAfter below the prefix lists from the prefix");
        assert.deepEqual((await store.list("/pg/", { startAfter: "/zzz" })).items, []);
      }),
    );

    test(
      "watch from a list's revision delivers every later change in order, exactly once, including those before watch()",
      withStore(async ({ store }) => {
        await store.put("/w/a", "0");
        await store.put("/w/b", "0");
        const listed = await store.list("/w/");
        // Changes between the list and the watch call must not be lost.
        const between = [await store.put("/w/a", "1"), await store.create("/w/c", "1")];
        const r = rec().listen(store, "/w/", listed.revision);
        const after = [await store.update("/w/b", "2"), await store.put("/other/x", "1")];
        const del = await store.delete("/w/c");
        await r.untilCount(4);
        await sleep(quiet);
        assert.deepEqual(r.revisions(), [between[0]!.revision, between[1]!.revision, after[0]!.revision, await store.currentRevision()]);
        assert.equal(r.events.length, 4);
        const [e0, e1, e2, e3] = r.events;
        assert.equal(e0!.type, "put");
        if (e0!.type === "put") {
          assert.deepEqual(e0!.kv, between[0]);
          assert.equal(e0!.prev?.value, "0", "put events carry the previous KV");
        }
        if (e1!.type === "put") assert.equal(e1!.prev, undefined, "a create has no prev");
        if (e2!.type === "put") assert.deepEqual(e2!.kv, after[0]);
        assert.equal(e3!.type, "delete");
        if (e3!.type === "delete") {
          assert.equal(e3!.key, "/w/c");
          assert.deepEqual(e3!.prev, del);
        }
        assert.deepEqual(r.errors, []);
        r.watcher!.close();
      }),
    );

    test(
      "watch from 0 replays all retained history for the prefix",
      withStore(async ({ store }) => {
        const writes: KV[] = [];
        for (let i = 0; i < 10; i++) writes.push(await store.put(`/h/${i % 4}`, String(i)));
        await store.put("/hx", "not under /h/");
        const r = rec().listen(store, "/h/", 0);
        await r.untilCount(10);
        await sleep(quiet);
        assert.deepEqual(
          r.revisions(),
          writes.map((w) => w.revision),
        );
        r.watcher!.close();
      }),
    );

    test(
      "a burst of interleaved writes reaches concurrent watchers in order, exactly once, filtered by prefix",
      withStore(async ({ store }) => {
        const start = await store.currentRevision();
        const ra = rec().listen(store, "/x/a/", start);
        const rb = rec().listen(store, "/x/", start);
        const expectA: number[] = [];
        const expectAll: number[] = [];
        const pending: Promise<KV>[] = [];
        for (let i = 0; i < 200; i++) pending.push(store.put(i % 2 ? `/x/a/${i % 7}` : `/x/b/${i % 5}`, String(i)));
        for (const [i, kv] of (await Promise.all(pending)).entries()) {
          expectAll.push(kv.revision);
          if (i % 2) expectA.push(kv.revision);
        }
        // Concurrent writes may be applied in another order than they were issued (etcd pipelines
        // them over several streams); watchers see them in the order of the revisions they got.
        expectA.sort((x, y) => x - y);
        expectAll.sort((x, y) => x - y);
        await ra.untilCount(expectA.length);
        await rb.untilCount(expectAll.length);
        await sleep(quiet);
        assert.deepEqual(ra.revisions(), expectA);
        assert.deepEqual(rb.revisions(), expectAll);
        ra.watcher!.close();
        rb.watcher!.close();
      }),
    );

    test(
      "a watch from a revision ahead of the store sees only later events",
      withStore(async ({ store }) => {
        const cur = await store.currentRevision();
        const r = rec().listen(store, "/f/", cur + 3);
        const writes: KV[] = [];
        for (let i = 0; i < 5; i++) writes.push(await store.put("/f/k", String(i)));
        await r.untilCount(2);
        await sleep(quiet);
        assert.deepEqual(
          r.revisions(),
          writes.filter((w) => w.revision > cur + 3).map((w) => w.revision),
        );
        r.watcher!.close();
      }),
    );

    test(
      "a closed watcher receives nothing more",
      withStore(async ({ store }) => {
        const r = rec().listen(store, "/c/", await store.currentRevision());
        await store.put("/c/1", "1");
        await r.untilCount(1);
        r.watcher!.close();
        await store.put("/c/2", "2");
        await sleep(quiet);
        assert.equal(r.events.length, 1);
      }),
    );

    test(
      "closing the store stops its watchers",
      withStore(async ({ store, peer }) => {
        const other = peer ? await peer() : undefined;
        const r = rec().listen(store, "/s/", await store.currentRevision());
        await store.put("/s/1", "1");
        await r.untilCount(1);
        await store.close();
        if (other) {
          await other.put("/s/2", "2");
        } else {
          await store.put("/s/2", "2").catch(() => undefined);
        }
        await sleep(quiet);
        assert.equal(r.events.length, 1);
        assert.deepEqual(r.errors, []);
        await other?.close();
      }),
    );

    test("watching from a compacted revision fails with DS_COMPACTED; from the compaction point it works", async (t) => {
      const clock = new FakeClock();
      const f = await makeStore({ clock });
      try {
        if (!f.compact) return t.skip("backend exposes no compact()");
        const { store } = f;
        const w: KV[] = [];
        for (let i = 0; i < 6; i++) w.push(await store.put("/k/x", String(i)));
        await f.compact(w[3]!.revision);
        const bad = rec().listen(store, "/k/", w[1]!.revision);
        await bad.until((r) => r.errors.length > 0, "DS_COMPACTED");
        assert.equal(bad.errors[0]!.code, "DS_COMPACTED");
        assert.equal(bad.events.length, 0);
        const ok = rec().listen(store, "/k/", w[3]!.revision);
        await ok.untilCount(2);
        assert.deepEqual(ok.revisions(), [w[4]!.revision, w[5]!.revision]);
        assert.deepEqual(ok.errors, []);
        // Data is untouched by compaction.
        assert.equal((await store.get("/k/x"))?.value, "5");
        ok.watcher!.close();
      } finally {
        await f.cleanup();
      }
    });

    test(
      "writing with an unknown lease fails with DS_NOT_FOUND",
      withStore(async ({ store }) => {
        await rejectsWith(store.put("/l/x", "1", { lease: 987654321 }), "DS_NOT_FOUND");
        assert.equal(await store.get("/l/x"), undefined);
        await rejectsWith(store.keepAlive(987654321), "DS_NOT_FOUND");
      }),
    );

    test(
      "revoking a lease deletes its keys with delete events and leaves other keys",
      withStore(async ({ store }) => {
        const lease = await store.grantLease(60);
        const other = await store.grantLease(60);
        const a = await store.put("/l/a", "1", { lease });
        assert.equal(a.lease, lease);
        await store.create("/l/b", "1", { lease });
        await store.put("/l/c", "1", { lease: other });
        await store.put("/l/d", "1");
        // Rewriting without a lease detaches the key (etcd semantics).
        await store.put("/l/e", "1", { lease });
        const detached = await store.put("/l/e", "2");
        assert.equal(detached.lease, undefined);
        const r = rec().listen(store, "/l/", await store.currentRevision());
        await store.revokeLease(lease);
        await r.untilCount(2);
        await sleep(quiet);
        assert.deepEqual(r.events.map((e) => [e.type, keyOfEvent(e)]).sort(), [
          ["delete", "/l/a"],
          ["delete", "/l/b"],
        ]);
        // A revoke may delete all its keys in one revision (etcd does): never decreasing, maybe equal.
        assertNonDecreasing(r.revisions());
        assert.deepEqual(
          (await store.list("/l/")).items.map((i) => i.key),
          ["/l/c", "/l/d", "/l/e"],
        );
        await rejectsWith(store.keepAlive(lease), "DS_NOT_FOUND");
        await rejectsWith(store.put("/l/f", "1", { lease }), "DS_NOT_FOUND");
        r.watcher!.close();
      }),
    );

    test(
      "an expired lease deletes its keys with delete events; keepAlive postpones expiry",
      withStore(async ({ store }, clock) => {
        const ttl = 1;
        const advance = async (ms: number) => (realLeases ? sleep(ms) : clock.advance(ms));
        const lease = await store.grantLease(ttl);
        const kept = await store.grantLease(ttl);
        await store.put("/e/a", "1", { lease });
        await store.put("/e/k", "1", { lease: kept });
        await store.put("/e/plain", "1");
        const r = rec().listen(store, "/e/", await store.currentRevision());
        await advance(600);
        await store.keepAlive(kept);
        assert.equal((await store.get("/e/a"))?.value, "1", "not expired before its TTL");
        await advance(600);
        // `lease` is past its TTL; `kept` was renewed 600 ms ago.
        if (realLeases) await r.untilCount(1);
        assert.equal(await store.get("/e/a"), undefined, "expired key is gone");
        assert.equal((await store.get("/e/k"))?.value, "1", "renewed lease still holds its key");
        await r.untilCount(1);
        assert.equal(r.events[0]!.type, "delete");
        assert.equal(keyOfEvent(r.events[0]!), "/e/a");
        await rejectsWith(store.keepAlive(lease), "DS_NOT_FOUND");
        await advance(1500);
        if (realLeases) await r.untilCount(2);
        assert.equal(await store.get("/e/k"), undefined);
        assert.equal((await store.get("/e/plain"))?.value, "1");
        await r.untilCount(2);
        await sleep(quiet);
        assert.deepEqual(
          r.events.map((e) => [e.type, keyOfEvent(e)]),
          [
            ["delete", "/e/a"],
            ["delete", "/e/k"],
          ],
        );
        r.watcher!.close();
      }),
    );

    test(
      "commitBatch: all writes or none; each guarded by its expected revision; watchers see them",
      withStore(async ({ store }) => {
        if (!store.commitBatch) return;
        const a = await store.put("/b/a", "1");
        const r = rec().listen(store, "/b/", a.revision);
        await store.commitBatch([
          { key: "/b/a", value: "2", expect: a.revision },
          { key: "/b/new", value: "n", expect: 0 },
        ]);
        assert.equal((await store.get("/b/a"))?.value, "2");
        assert.equal((await store.get("/b/new"))?.value, "n");
        await r.untilCount(2);
        const before = (await store.list("/b/")).items;
        // one stale expectation: nothing of the batch is written
        await rejectsWith(
          store.commitBatch([
            { key: "/b/other", value: "x", expect: 0 },
            { key: "/b/a", value: "3", expect: a.revision },
          ]),
          "DS_CONFLICT",
        );
        await rejectsWith(store.commitBatch([{ key: "/b/new", value: "again", expect: 0 }]), "DS_CONFLICT");
        assert.deepEqual((await store.list("/b/")).items, before);
        // deletes
        const cur = (await store.get("/b/new"))!;
        await store.commitBatch([{ key: "/b/new", value: undefined, expect: cur.revision }]);
        assert.equal(await store.get("/b/new"), undefined);
        r.watcher!.close();
      }),
    );

    test("a second handle on the same data: writes are seen by the other's watchers and CAS conflicts across handles", async (t) => {
      const clock = new FakeClock();
      const f = await makeStore({ clock });
      try {
        if (!f.peer) return t.skip("backend has no second handle");
        const other = await f.peer();
        try {
          const { store } = f;
          const r = rec().listen(store, "/m/", await store.currentRevision());
          const a = await other.put("/m/a", "1");
          const b = await store.put("/m/b", "1");
          const c = await other.update("/m/a", "2", { revision: a.revision });
          await rejectsWith(store.update("/m/a", "3", { revision: a.revision }), "DS_CONFLICT");
          assert.deepEqual(await store.get("/m/a"), c);
          await r.untilCount(3);
          await sleep(quiet);
          assert.deepEqual(r.revisions(), [a.revision, b.revision, c.revision]);
          assert.equal(await other.currentRevision(), await store.currentRevision());
        } finally {
          await other.close();
        }
      } finally {
        await f.cleanup();
      }
    });
  });
}
