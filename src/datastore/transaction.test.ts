import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "./memory.js";
import { BufferedStore } from "./transaction.js";
import { hasCode } from "../errors.js";

test("BufferedStore: writes stay in memory, reads see them, list merges them in key order with pagination", async () => {
  const base = new MemoryStore();
  await base.put("/k/a", "1");
  await base.put("/k/c", "3");
  const a = (await base.get("/k/a"))!;
  const tx = new BufferedStore(base);
  await tx.update("/k/a", "1b", { revision: a.revision });
  await tx.create("/k/b", "2");
  await tx.delete("/k/c");
  await assert.rejects(tx.create("/k/b", "again"), (e) => hasCode(e, "DS_ALREADY_EXISTS"));
  await assert.rejects(tx.delete("/k/c"), (e) => hasCode(e, "DS_NOT_FOUND"));
  assert.equal(await base.get("/k/b"), undefined, "nothing reached the store");
  assert.equal((await tx.get("/k/a"))?.value, "1b");
  assert.deepEqual(
    (await tx.list("/k/")).items.map((kv) => [kv.key, kv.value]),
    [
      ["/k/a", "1b"],
      ["/k/b", "2"],
    ],
  );
  const p1 = await tx.list("/k/", { limit: 1 });
  assert.deepEqual([p1.items.map((kv) => kv.key), p1.more], [["/k/a"], true]);
  const p2 = await tx.list("/k/", { limit: 1, startAfter: "/k/a" });
  assert.deepEqual([p2.items.map((kv) => kv.key), p2.more], [["/k/b"], false]);
  // The ops carry the revisions they were based on, in the order first written.
  assert.deepEqual(tx.ops(), [
    { key: "/k/a", value: "1b", expect: a.revision },
    { key: "/k/b", value: "2", expect: 0 },
    { key: "/k/c", value: undefined, expect: (await base.get("/k/c"))!.revision },
  ]);
  await base.commitBatch(tx.ops());
  assert.deepEqual(
    (await base.list("/k/")).items.map((kv) => [kv.key, kv.value]),
    [
      ["/k/a", "1b"],
      ["/k/b", "2"],
    ],
  );
  await assert.rejects(tx.put("/k/x", "1", { lease: 1 }), (e) => hasCode(e, "DS_UNSUPPORTED"));
});

test("BufferedStore: a key someone else changed after it was read makes the commit fail whole", async () => {
  const base = new MemoryStore();
  await base.put("/k/a", "1");
  const tx = new BufferedStore(base);
  await tx.put("/k/a", "mine");
  await tx.create("/k/b", "2");
  await base.put("/k/a", "theirs");
  await assert.rejects(base.commitBatch(tx.ops()), (e) => hasCode(e, "DS_CONFLICT"));
  assert.equal((await base.get("/k/a"))?.value, "theirs");
  assert.equal(await base.get("/k/b"), undefined);
});
