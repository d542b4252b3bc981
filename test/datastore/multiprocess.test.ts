/**
 * SqliteStore shared by several processes: compare-and-swap is atomic across processes, watchers in
 * other processes see every revision in order, and a writer killed with SIGKILL loses no write it
 * acknowledged and leaves a file that passes PRAGMA integrity_check.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { runWorker, killWorkers, percentile } from "./worker-process.js";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { SqliteStore } from "../../src/datastore/sqlite.js";

const root = mkdtempSync(join(tmpdir(), "ttds-mp-"));
after(() => {
  killWorkers();
  rmSync(root, { recursive: true, force: true });
});

test("4 processes x 250 compare-and-swap increments on one key: no lost update; a watcher process sees every revision in order", async (t) => {
  const db = join(root, "cas", "tabby.db");
  const store = SqliteStore.open(db);
  const start = await store.create("/counter", "0");
  const [procs, per] = [4, 250];
  const total = procs * per;
  const watcher = runWorker("watch", db, "/counter", String(start.revision), String(total));
  await watcher.waitFor((l) => l["ready"] === true);
  const workers = Array.from({ length: procs }, () => runWorker("cas", db, "/counter", String(per)));
  const codes = await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(
    codes,
    workers.map(() => 0),
  );
  const final = await store.get("/counter");
  assert.equal(final?.value, String(total));
  assert.equal(await watcher.exited, 0);
  const events = watcher.lines.filter((l) => l["type"]);
  assert.equal(events.length, total);
  // Each increment is one put whose value is one more than the previous: in order, none missing or repeated.
  assert.deepEqual(
    events.map((e) => e["value"]),
    Array.from({ length: total }, (_, i) => String(i + 1)),
  );
  const revs = events.map((e) => e["rev"] as number);
  for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!);
  assert.equal(revs.at(-1), final!.revision);
  const conflicts = workers.reduce((s, w) => s + ((w.lines.find((l) => "conflicts" in l)?.["conflicts"] as number) ?? 0), 0);
  t.diagnostic(`${total} increments, ${conflicts} CAS conflicts retried`);
  await store.close();
});

test("a change is seen promptly by a watcher in another process (latency logged, not asserted)", async (t) => {
  const db = join(root, "lat", "tabby.db");
  const store = SqliteStore.open(db);
  const n = 100;
  const watcher = runWorker("watch", db, "/lat/", String(await store.currentRevision()), String(n), "20");
  await watcher.waitFor((l) => l["ready"] === true);
  const sentAt = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t0 = performance.timeOrigin + performance.now();
    const kv = await store.put(`/lat/${i % 10}`, String(i));
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
  t.diagnostic(
    `cross-process watch latency over ${n} writes (poll 20 ms): median ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms, max ${lat.at(-1)!.toFixed(2)} ms`,
  );
  await store.close();
});

test("kill -9 of a writer mid-burst: every acknowledged write is present and the file passes integrity_check", async (t) => {
  const db = join(root, "kill", "tabby.db");
  SqliteStore.open(db).close();
  for (let round = 0; round < 3; round++) {
    const writer = runWorker("writer", db, "1000000");
    const target = 200 + round * 137;
    await writer.waitFor((l) => typeof l["acked"] === "string" && writer.lines.length >= target);
    writer.proc.kill("SIGKILL");
    assert.equal(await writer.exited, "SIGKILL");
    const acked = writer.lines.map((l) => l["acked"] as string);
    const store = SqliteStore.open(db);
    const present = new Set((await store.list("/burst/")).items.map((i) => i.key));
    const missing = acked.filter((k) => !present.has(k));
    assert.deepEqual(missing, [], `round ${round}: acknowledged writes lost`);
    t.diagnostic(`round ${round}: killed after ${acked.length} acknowledged writes; ${present.size} keys present`);
    await store.close();
    const check = new Database(db);
    assert.deepEqual(check.pragma("integrity_check"), [{ integrity_check: "ok" }]);
    check.close();
  }
});

test("several processes creating the same fresh store at once all succeed", async () => {
  const db = join(root, "fresh", "deeper", "tabby.db");
  const writers = Array.from({ length: 6 }, () => runWorker("writer", db, "20"));
  assert.deepEqual(
    await Promise.all(writers.map((w) => w.exited)),
    writers.map(() => 0),
  );
  const store = SqliteStore.open(db);
  // Each writer put /burst/0..19; 120 writes in all, 20 distinct keys.
  assert.equal((await store.list("/burst/")).items.length, 20);
  assert.equal(await store.currentRevision(), 120);
  await store.close();
});
