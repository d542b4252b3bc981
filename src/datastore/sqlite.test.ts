import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { EventEmitter } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { FakeClock } from "../clock.js";
import { hasCode } from "../errors.js";
import { runStoreContract } from "../testkit/datastore/store-contract.js";
import { prefixEnd, SqliteStore, type SqliteStoreOptions } from "./sqlite.js";
import type { WatchEvent } from "./store.js";

const root = mkdtempSync(join(tmpdir(), "ttds-sqlite-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(root, `s${++n}`, "tabby.db");

runStoreContract("SqliteStore", async ({ clock }) => {
  const path = freshPath();
  const store = SqliteStore.open(path, { clock, pollIntervalMs: 5 });
  const peers: SqliteStore[] = [];
  return {
    store,
    compact: (rev) => store.compact(rev),
    peer: async () => {
      const p = SqliteStore.open(path, { clock, pollIntervalMs: 5 });
      peers.push(p);
      return p;
    },
    cleanup: async () => {
      for (const p of peers) await p.close();
      await store.close();
    },
  };
});

// Lease expiry in real time: the poll tick collects expired leases with no operation in flight.
runStoreContract(
  "SqliteStore (system clock)",
  async () => {
    const store = SqliteStore.open(freshPath(), { pollIntervalMs: 10 });
    return { store, cleanup: () => store.close() };
  },
  { leaseTime: "real" },
);

describe("SqliteStore specifics", () => {
  test("creates the parent directory with mode 0700, in WAL mode with synchronous=FULL", async () => {
    const path = freshPath();
    const store = SqliteStore.open(path);
    assert.equal(statSync(join(path, "..")).mode & 0o777, 0o700);
    assert.equal(store.url, `sqlite://${path}`);
    await store.put("/a", "1");
    await store.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.deepEqual(db.pragma("integrity_check"), [{ integrity_check: "ok" }]);
    const h = db.prepare("SELECT revision, key, type, value FROM history").all();
    assert.deepEqual(h, [{ revision: 1, key: "/a", type: "put", value: "1" }]);
    db.close();
  });

  test("data and revisions persist across reopen; revisions continue after full compaction", async () => {
    const path = freshPath();
    let s = SqliteStore.open(path);
    await s.put("/a", "1");
    const b = await s.put("/b", "2");
    await s.compact(b.revision);
    assert.equal(await s.compactedRevision(), b.revision);
    await s.close();
    s = SqliteStore.open(path);
    assert.equal(await s.currentRevision(), b.revision, "revision survives an empty history");
    assert.equal((await s.get("/b"))?.value, "2");
    const c = await s.put("/c", "3");
    assert.equal(c.revision, b.revision + 1);
    await s.close();
  });

  test("automatic compaction keeps the newest historyRetention revisions", async () => {
    const store = SqliteStore.open(freshPath(), { historyRetention: 10, compactEvery: 5 });
    for (let i = 0; i < 40; i++) await store.put("/k", String(i));
    const compactedTo = await store.compactedRevision();
    assert.ok(compactedTo >= 40 - 10 - 5 && compactedTo <= 40 - 10, `compacted to ${compactedTo}`);
    await store.close();
  });

  test("operations on a closed store fail with DS_UNAVAILABLE", async () => {
    const store = SqliteStore.open(freshPath());
    await store.close();
    await assert.rejects(store.get("/a"), (e) => hasCode(e, "DS_UNAVAILABLE"));
    await assert.rejects(store.put("/a", "1"), (e) => hasCode(e, "DS_UNAVAILABLE"));
    const errors: string[] = [];
    store.watch("/", 0, { onEvents() {}, onError: (e) => errors.push(e.code) });
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(errors, ["DS_UNAVAILABLE"]);
  });

  test("a write lock held past busy_timeout fails with DS_UNAVAILABLE, naming the cause", async () => {
    const path = freshPath();
    const store = SqliteStore.open(path, { busyTimeoutMs: 50 });
    const locker = new Database(path);
    locker.exec("BEGIN IMMEDIATE");
    try {
      await assert.rejects(store.put("/a", "1"), (e: unknown) => {
        assert.ok(hasCode(e, "DS_UNAVAILABLE"));
        assert.match(String((e as Error).cause), /locked|busy/i);
        return true;
      });
      // Reads still work under WAL while another connection writes.
      assert.equal(await store.get("/a"), undefined);
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    await store.put("/a", "1");
    await store.close();
  });

  test("an unopenable path fails with DS_UNAVAILABLE; a file that is not a database is DS_CORRUPT (not worth a retry)", () => {
    const file = join(root, "plain-file");
    writeFileSync(file, "not a directory");
    assert.throws(
      () => SqliteStore.open(join(file, "sub", "x.db")),
      (e) => hasCode(e, "DS_UNAVAILABLE"),
    );
    assert.throws(
      () => SqliteStore.open(file),
      (e) => hasCode(e, "DS_CORRUPT") && (e as Error).message.includes(file),
      "not a database",
    );
  });

  test("create: false never creates a database: a missing file is DS_NO_DATABASE naming it, and nothing is made", () => {
    const dir = join(root, "never-made");
    assert.throws(
      () => SqliteStore.open(join(dir, "x.db"), { create: false }),
      (e) => hasCode(e, "DS_NO_DATABASE") && (e as Error).message.includes(join(dir, "x.db")),
    );
    assert.equal(existsSync(dir), false);
  });

  test("a watcher on a second connection sees writes from the first, with a fake clock not driving the poll", async () => {
    const path = freshPath();
    const clock = new FakeClock();
    const a = SqliteStore.open(path, { clock });
    const b = SqliteStore.open(path, { clock });
    const seen: number[] = [];
    b.watch("/", 0, { onEvents: (evs) => seen.push(...evs.map((e) => (e.type === "put" ? e.kv.revision : e.revision))), onError: assert.fail });
    for (let i = 0; i < 50; i++) await a.put(`/k${i % 3}`, String(i));
    const deadline = Date.now() + 5000;
    while (seen.length < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      seen,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    await a.close();
    await b.close();
  });

  test("another connection's commits reach a watcher through the WAL file's change notification, with the poll an hour away", { timeout: 20_000 }, async () => {
    const path = freshPath();
    const a = SqliteStore.open(path, { pollIntervalMs: 3_600_000 });
    const b = SqliteStore.open(path, { pollIntervalMs: 3_600_000 });
    const seen: string[] = [];
    let wake: () => void = () => {};
    b.watch("/n/", 0, {
      onEvents: (evs) => {
        seen.push(...evs.map((e) => (e.type === "put" ? e.kv.value : "-")));
        wake();
      },
      onError: assert.fail,
    });
    for (let i = 0; i < 5; i++) {
      const arrived = new Promise<void>((r) => (wake = r));
      await a.put(`/n/k${i}`, String(i));
      await arrived; // no timer in b could have delivered it: only inotify on <db>-wal
    }
    assert.deepEqual(seen, ["0", "1", "2", "3", "4"]);
    await a.close();
    await b.close();
  });

  test("a commit published after its WAL notification was looked at is still delivered, with the poll an hour away", { timeout: 20_000 }, async () => {
    // Another process appends to the WAL (the notification) and publishes the commit in -shm
    // only after its fsync: the look the notification starts may find nothing yet.
    const path = freshPath();
    let notify: (event: string) => void = () => {};
    const fakeWatch = ((_p: string, _o: unknown, listener: (event: string) => void) => {
      notify = listener;
      return Object.assign(new EventEmitter(), { close() {}, ref() {}, unref() {} });
    }) as unknown as NonNullable<SqliteStoreOptions["watchFile"]>;
    const a = SqliteStore.open(path, { pollIntervalMs: 3_600_000 });
    const b = SqliteStore.open(path, { pollIntervalMs: 3_600_000, watchFile: fakeWatch });
    let wake: () => void = () => {};
    let arrived = new Promise<void>((r) => (wake = r));
    const seen: string[] = [];
    b.watch("/n/", 0, {
      onEvents: (evs) => {
        seen.push(...evs.map((e) => (e.type === "put" ? e.kv.value : "-")));
        wake();
      },
      onError: assert.fail,
    });
    notify("change"); // the writer's frames are in the WAL ...
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r)); // ... b has looked and found no commit ...
    assert.deepEqual(seen, []);
    await a.put("/n/k", "v"); // ... and now the commit is published (a's write notifies no one: the watch is fake)
    await arrived;
    assert.deepEqual(seen, ["v"]);
    // the look a notification starts finds the commit before it; the notified one comes after
    arrived = new Promise<void>((r) => (wake = r));
    await a.put("/n/k", "w");
    notify("change");
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r)); // (its events are dispatched in a microtask)
    assert.deepEqual(seen, ["v", "w"]);
    arrived = new Promise<void>((r) => (wake = r));
    await a.put("/n/k", "x");
    await arrived;
    assert.deepEqual(seen, ["v", "w", "x"]);
    await a.close();
    await b.close();
  });

  test("a lease left behind by a closed connection is collected by another connection's poll tick, with no operation", async () => {
    const path = freshPath();
    const clock = new FakeClock();
    const a = SqliteStore.open(path, { clock });
    const lease = await a.grantLease(10);
    const kv = await a.put("/lease/x", "1", { lease });
    await a.close();
    const b = SqliteStore.open(path, { clock, pollIntervalMs: 5 });
    const events: unknown[] = [];
    b.watch("/lease/", kv.revision, { onEvents: (evs) => events.push(...evs), onError: assert.fail });
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(events, [], "not before the TTL");
    clock.advance(10_000);
    const deadline = Date.now() + 5000;
    while (events.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(events, [{ type: "delete", key: "/lease/x", revision: kv.revision + 1, prev: kv }]);
    await b.close();
  });

  test("a watcher whose unread history another connection compacts away gets DS_COMPACTED", async () => {
    const path = freshPath();
    const a = SqliteStore.open(path);
    const b = SqliteStore.open(path, { pollIntervalMs: 5 });
    const events: WatchEvent[] = [];
    const errors: string[] = [];
    b.watch("/c/", await b.currentRevision(), { onEvents: (evs) => events.push(...evs), onError: (e) => errors.push(e.code) });
    // No macrotask turn between these awaits, so b's poll cannot run before the compaction.
    let last = 0;
    for (let i = 0; i < 20; i++) last = (await a.put("/c/k", String(i))).revision;
    await a.compact(last - 5);
    const deadline = Date.now() + 5000;
    while (!errors.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(errors, ["DS_COMPACTED"]);
    assert.deepEqual(events, []);
    await a.close();
    await b.close();
  });

  test("prefixEnd bounds exactly the strings with the prefix", () => {
    assert.equal(prefixEnd(""), undefined);
    assert.equal(prefixEnd("/a/"), "/a0");
    assert.equal(prefixEnd("a\u{10FFFF}"), "b");
    assert.equal(prefixEnd("\u{10FFFF}"), undefined);
    assert.equal(prefixEnd("a\uD7FF"), "a\uE000");
    assert.equal(prefixEnd("a\u{1F98A}"), "a\u{1F98B}");
  });
});
