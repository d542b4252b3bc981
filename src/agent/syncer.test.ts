import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "../datastore/memory.js";
import { FakeClock } from "../clock.js";
import { Syncer, type KeyUpdate, type SyncStatus } from "./syncer.js";

const tick = () => new Promise((r) => setImmediate(r));

test("syncer lists, then streams changes; a compaction re-lists and emits deletions", async () => {
  const store = new MemoryStore();
  const clock = new FakeClock();
  await store.put("/a/1", "one");
  await store.put("/b/1", "ignored");
  const got: KeyUpdate[] = [];
  const statuses: SyncStatus[] = [];
  const s = new Syncer(store, ["/a/"], { onUpdates: (u) => got.push(...u), onStatus: (st) => statuses.push(st) }, clock);
  s.start();
  await tick();
  assert.deepEqual(got, [{ key: "/a/1", value: "one" }]);
  assert.deepEqual(statuses, ["wait-for-datastore", "resync", "in-sync"]);
  await store.put("/a/2", "two");
  await store.delete("/a/1");
  await tick();
  assert.deepEqual(got.slice(1), [
    { key: "/a/2", value: "two" },
    { key: "/a/1", value: undefined },
  ]);

  // Simulate a watch failure with history gone: the syncer re-lists after its retry delay
  // and reports only what changed relative to what it delivered.
  s.stop();
  const s2got: KeyUpdate[] = [];
  const s2status: SyncStatus[] = [];
  const s2 = new Syncer(store, ["/a/"], { onUpdates: (u) => s2got.push(...u), onStatus: (st) => s2status.push(st) }, clock);
  s2.start();
  await tick();
  assert.deepEqual(s2got, [{ key: "/a/2", value: "two" }]);
  store.compact(await store.currentRevision());
  // Force an error path: watch from a compacted revision fails and triggers a resync.
  (s2 as unknown as { watchPrefix(p: string, r: number): void }).watchPrefix("/a/", 0);
  await store.delete("/a/2");
  await tick();
  clock.advance(1000);
  await tick();
  assert.deepEqual(s2got.at(-1), { key: "/a/2", value: undefined });
  assert.deepEqual(s2status, ["wait-for-datastore", "resync", "in-sync", "resync", "in-sync"]);
  s2.stop();
});

test("syncer: retries after a failed list come with jitter from the injected randomness (a quarter at most, never later)", async () => {
  const clock = new FakeClock();
  let lists = 0;
  const down = {
    list: async () => {
      lists++;
      throw Object.assign(new Error("down"), { code: "DS_UNAVAILABLE" });
    },
  } as unknown as MemoryStore;
  const s = new Syncer(down, ["/a/"], { onUpdates: () => {}, onStatus: () => {} }, clock, 1000, 8000, () => 0.5);
  s.start();
  await tick();
  assert.equal(lists, 1);
  // bases 1000, 2000, 4000 ms, each less half of a quarter (random 0.5): 875, 1750, 3500 ms
  for (const [wait, total] of [
    [874, 1],
    [1, 2],
    [1749, 2],
    [1, 3],
    [3499, 3],
    [1, 4],
  ] as const) {
    clock.advance(wait);
    await tick();
    assert.equal(lists, total, `after ${wait} more ms`);
  }
  s.stop();
});
