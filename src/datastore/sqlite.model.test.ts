/**
 * Model-based property test: random operation sequences run against MemoryStore (the reference)
 * and SqliteStore give the same results, errors, revisions, lists and watch history.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { FakeClock } from "../clock.js";
import { MemoryStore } from "./memory.js";
import { SqliteStore } from "./sqlite.js";
import type { Store, WatchEvent } from "./store.js";

const root = mkdtempSync(join(tmpdir(), "ttds-model-"));
after(() => rmSync(root, { recursive: true, force: true }));

const key = fc.constantFrom("/a", "/a/1", "/a/2", "/a/b/1", "/b/1", "/ab");
const value = fc.string({ maxLength: 8 });
/** Revision to compare against: the key's actual one (looked up at run time), or a fixed guess. */
const rev = fc.option(fc.oneof(fc.constant("current" as const), fc.integer({ min: 0, max: 40 })), { nil: undefined });
/** Which granted lease (index into the leases granted so far) to use, if any. */
const leaseRef = fc.option(fc.nat(2), { nil: undefined, freq: 2 });

type Op =
  | { op: "create" | "put"; key: string; value: string; lease: number | undefined }
  | { op: "update"; key: string; value: string; rev: "current" | number | undefined; lease: number | undefined }
  | { op: "delete"; key: string; rev: "current" | number | undefined }
  | { op: "get"; key: string }
  | { op: "list"; prefix: string; limit: number | undefined; startAfter: string | undefined }
  | { op: "grant"; ttl: number }
  | { op: "keepAlive" | "revoke"; lease: number }
  | { op: "advance"; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constantFrom("create" as const, "put" as const), key, value, lease: leaseRef }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("update" as const), key, value, rev, lease: leaseRef }), weight: 2 },
  fc.record({ op: fc.constant("delete" as const), key, rev }),
  { arbitrary: fc.record({ op: fc.constant("get" as const), key }), weight: 2 },
  fc.record({
    op: fc.constant("list" as const),
    prefix: fc.constantFrom("", "/", "/a", "/a/", "/b/", "/c"),
    limit: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
    startAfter: fc.option(key, { nil: undefined }),
  }),
  { arbitrary: fc.record({ op: fc.constant("grant" as const), ttl: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  fc.record({ op: fc.constantFrom("keepAlive" as const, "revoke" as const), lease: fc.nat(4) }),
  { arbitrary: fc.record({ op: fc.constant("advance" as const), ms: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(500, 1000)) }), weight: 2 },
);

async function apply(store: Store, clock: FakeClock, leases: number[], o: Op): Promise<unknown> {
  const lease = (i: number | undefined) => (i === undefined ? undefined : (leases[i] ?? 999));
  const revOf = async (r: "current" | number | undefined, k: string) => (r === "current" ? ((await store.get(k))?.revision ?? 1) : r);
  try {
    switch (o.op) {
      case "create":
      case "put": {
        const l = lease(o.lease);
        return await store[o.op](o.key, o.value, l === undefined ? {} : { lease: l });
      }
      case "update": {
        const r = await revOf(o.rev, o.key);
        const l = lease(o.lease);
        return await store.update(o.key, o.value, { ...(r === undefined ? {} : { revision: r }), ...(l === undefined ? {} : { lease: l }) });
      }
      case "delete": {
        const r = await revOf(o.rev, o.key);
        return await store.delete(o.key, r === undefined ? {} : { revision: r });
      }
      case "get":
        return (await store.get(o.key)) ?? null;
      case "list":
        return await store.list(o.prefix, {
          ...(o.limit === undefined ? {} : { limit: o.limit }),
          ...(o.startAfter === undefined ? {} : { startAfter: o.startAfter }),
        });
      case "grant": {
        const id = await store.grantLease(o.ttl);
        leases.push(id);
        return id;
      }
      case "keepAlive":
        return await store.keepAlive(lease(o.lease)!);
      case "revoke":
        return await store.revokeLease(lease(o.lease)!);
      case "advance":
        clock.advance(o.ms);
        return null;
    }
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err) };
  }
}

async function history(store: Store): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  const target = await store.currentRevision();
  const w = store.watch("", 0, { onEvents: (evs) => events.push(...evs), onError: (e) => assert.fail(e) });
  const last = () => {
    const e = events.at(-1);
    return e ? (e.type === "put" ? e.kv.revision : e.revision) : 0;
  };
  // a bound on a broken watch, not a timing assertion: on a loaded machine the store's 20 ms poll
  // can fall far behind, so give it long enough that only a watch that never delivers fails
  const deadline = Date.now() + 60_000;
  while (last() < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  w.close();
  return events;
}

let n = 0;
test("SqliteStore behaves like MemoryStore on random operation sequences", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 60 }), async (ops) => {
      const mc = new FakeClock();
      const sc = new FakeClock();
      const mem = new MemoryStore(mc);
      const sql = SqliteStore.open(join(root, `m${++n}.db`), { clock: sc, synchronous: "normal" });
      try {
        const ml: number[] = [];
        const sl: number[] = [];
        for (const [i, o] of ops.entries()) {
          const expected = await apply(mem, mc, ml, o);
          const actual = await apply(sql, sc, sl, o);
          assert.deepEqual(actual, expected, `op ${i} ${JSON.stringify(o)}`);
          assert.equal(await sql.currentRevision(), await mem.currentRevision(), `revision after op ${i}`);
        }
        // Leases past their time are collected on the next operation by both stores, and by
        // SQLite's own poll as well: one more read lets MemoryStore catch up before the histories
        // are compared (a sequence may end with the clock advanced past an expiry).
        await mem.get("/");
        await sql.get("/");
        assert.equal(await sql.currentRevision(), await mem.currentRevision(), "revision after the last expiries");
        assert.deepEqual(await history(sql), await history(mem));
      } finally {
        await sql.close();
      }
    }),
    { numRuns: 300, ...(process.env["FC_SEED"] ? { seed: Number(process.env["FC_SEED"]), path: process.env["FC_PATH"] } : {}) },
  );
});
