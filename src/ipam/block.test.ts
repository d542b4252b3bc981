import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  BlockOrder,
  addressOf,
  allocatedCount,
  assignAddress,
  assignNext,
  blockCidrOf,
  blockContains,
  blockOrder,
  freeCount,
  handleCounts,
  newBlock,
  ordinalOf,
  ordinalsOfHandle,
  releaseAddresses,
  releaseByHandle,
  type Block,
} from "./block.js";
import { decodeBlock, encodeBlock } from "./keys.js";
import { parsePrefix } from "../net/prefix.js";
import { fnv1a32, Prng } from "./prng.js";

const NOW = 1_700_000_000_000;

test("a new block has every ordinal free, in order, and Calico's JSON shape", () => {
  const b = newBlock("10.65.0.0/29", "host:n1", NOW);
  assert.deepEqual(b.unallocated, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(b.allocations, [null, null, null, null, null, null, null, null]);
  assert.equal(freeCount(b), 8);
  assert.equal(allocatedCount(b), 0);
  assert.equal(b.affinityClaimTime, "2023-11-14T22:13:20.000Z");
  assert.equal(
    encodeBlock(b),
    '{"cidr":"10.65.0.0/29","affinity":"host:n1","affinityClaimTime":"2023-11-14T22:13:20.000Z",' +
      '"allocations":[null,null,null,null,null,null,null,null],"unallocated":[0,1,2,3,4,5,6,7],' +
      '"attributes":[],"sequenceNumber":1700000000000,"sequenceNumberForAllocation":{},"deleted":false}',
  );
  assert.deepEqual(decodeBlock(encodeBlock(b)), b);
  assert.equal(newBlock("fd65::/122", null, NOW).allocations.length, 64);
});

test("assign from the FIFO head, skipping reserved ordinals in place", () => {
  let b = newBlock("10.65.0.0/29", "host:n1", NOW);
  const r1 = assignNext(b, 3, { handle: "h1", secondary: { pod: "a" } }, { reserved: new Set([0]) });
  assert.deepEqual(r1.ordinals, [1, 2, 3]);
  assert.deepEqual(r1.block.unallocated, [0, 4, 5, 6, 7]);
  assert.deepEqual(r1.block.allocations.slice(0, 4), [null, 0, 0, 0]);
  assert.deepEqual(r1.block.attributes, [{ handle_id: "h1", secondary: { pod: "a" } }]);
  assert.equal(r1.block.sequenceNumber, NOW + 1);
  assert.equal(r1.block.sequenceNumberForAllocation["1"], NOW);
  assert.equal(b.unallocated.length, 8, "input untouched");
  b = r1.block;
  const r2 = assignNext(b, 1, { handle: "h2" });
  assert.deepEqual(r2.ordinals, [0]);
  assert.equal(addressOf(r2.block, 0).toString(), "10.65.0.0");
  // Same attributes reuse the same attribute entry.
  const r3 = assignNext(r2.block, 1, { handle: "h1", secondary: { pod: "a" } });
  assert.equal(r3.block.attributes.length, 2);
  assert.equal(r3.block.allocations[4], 0);
  // More than is free: what is left.
  const r4 = assignNext(r3.block, 100, { handle: "h3" });
  assert.deepEqual(r4.ordinals, [5, 6, 7]);
  assert.equal(freeCount(r4.block), 0);
  assert.deepEqual(assignNext(r4.block, 1, { handle: "h4" }).ordinals, []);
});

test("release by address and by handle: freed ordinals go to the FIFO tail, attributes compact", () => {
  let b = newBlock("10.65.0.0/29", null, NOW);
  b = assignNext(b, 2, { handle: "a" }).block; // 0,1
  b = assignNext(b, 2, { handle: "b" }).block; // 2,3
  b = assignNext(b, 1, { handle: "c" }).block; // 4
  const r = releaseAddresses(b, ["10.65.0.1", "10.65.0.7", "10.99.0.1", "10.65.0.1/32"]);
  assert.deepEqual(r.released, [1]);
  assert.deepEqual(r.byHandle, { a: 1 });
  assert.deepEqual(r.block.unallocated, [5, 6, 7, 1]);
  const r2 = releaseByHandle(r.block, "b");
  assert.deepEqual(r2.released, [2, 3]);
  assert.deepEqual(r2.block.unallocated, [5, 6, 7, 1, 2, 3]);
  assert.deepEqual(
    r2.block.attributes.map((a) => a.handle_id),
    ["a", "c"],
  );
  assert.deepEqual(r2.block.allocations, [0, null, null, null, 1, null, null, null]);
  assert.deepEqual(ordinalsOfHandle(r2.block, "c"), [4]);
  assert.deepEqual(releaseByHandle(r2.block, "nobody").released, []);
  assert.equal(releaseByHandle(r2.block, "nobody").block, r2.block);
});

test("assign a specific address; sequence numbers guard releases", () => {
  const b0 = newBlock("fd65::/122", "host:n1", NOW);
  const r = assignAddress(b0, "fd65::5", { handle: "h" });
  assert.deepEqual(r.ordinals, [5]);
  assert.ok(!r.block.unallocated.includes(5));
  assert.throws(() => assignAddress(r.block, "fd65::5", { handle: "x" }), { code: "IPAM_ADDRESS_IN_USE" });
  assert.throws(() => assignAddress(r.block, "fd66::5", { handle: "x" }), { code: "IPAM_NOT_IN_BLOCK" });
  const seq = r.block.sequenceNumberForAllocation["5"]!;
  assert.throws(() => releaseAddresses(r.block, ["fd65::5"], new Map([["fd65::5", seq + 7]])), { code: "IPAM_BAD_SEQUENCE_NUMBER" });
  assert.deepEqual(releaseAddresses(r.block, ["fd65::5"], new Map([["fd65::5", seq]])).released, [5]);
});

test("address helpers", () => {
  assert.equal(blockCidrOf("10.65.3.77", 26).toString(), "10.65.3.64/26");
  assert.equal(blockCidrOf("fd65::1:ff", 122).toString(), "fd65::1:c0/122");
  assert.ok(blockContains("10.65.3.64/26", "10.65.3.127"));
  assert.ok(!blockContains("10.65.3.64/26", "10.65.3.128"));
  assert.ok(!blockContains("10.65.3.64/26", "fd65::1"));
  const b = newBlock("10.65.3.64/26", null, NOW);
  assert.equal(ordinalOf(b, "10.65.3.70"), 6);
  assert.equal(ordinalOf(b, "10.65.4.70"), -1);
});

/** Invariants of a block whatever happened to it. */
function checkBlock(b: Block): void {
  const size = b.allocations.length;
  const free = new Set(b.unallocated);
  assert.equal(free.size, b.unallocated.length, "no ordinal twice in the FIFO");
  for (let o = 0; o < size; o++) {
    const a = b.allocations[o];
    assert.equal(a === null, free.has(o), `ordinal ${o} is either free or allocated`);
    if (a !== null) assert.ok(a! >= 0 && a! < b.attributes.length, "attribute index in range");
  }
  assert.equal(freeCount(b) + allocatedCount(b), size);
  const used = new Set(b.allocations.filter((a) => a !== null));
  assert.equal(used.size, b.attributes.length, "no unreferenced attributes");
  assert.equal(Object.keys(b.sequenceNumberForAllocation).length, allocatedCount(b));
}

test("property: random assign/release sequences keep the block consistent and the FIFO order", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("assign" as const), n: fc.integer({ min: 0, max: 10 }), h: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constant("releaseHandle" as const), h: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ kind: fc.constant("releaseAddr" as const), ords: fc.array(fc.integer({ min: 0, max: 31 }), { maxLength: 6 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      let b = newBlock("10.65.0.0/27", "host:n", NOW);
      // Model: the FIFO and who holds what.
      let fifo = Array.from({ length: 32 }, (_, i) => i);
      const holder = new Map<number, string>();
      for (const o of ops) {
        if (o.kind === "assign") {
          const r = assignNext(b, o.n, { handle: `h${o.h}` });
          const want = fifo.slice(0, o.n);
          assert.deepEqual(r.ordinals, want, "assigned from the FIFO head");
          fifo = fifo.slice(want.length);
          for (const x of want) {
            assert.ok(!holder.has(x), "never held twice");
            holder.set(x, `h${o.h}`);
          }
          b = r.block;
        } else if (o.kind === "releaseHandle") {
          const r = releaseByHandle(b, `h${o.h}`);
          const want = [...holder]
            .filter(([, h]) => h === `h${o.h}`)
            .map(([x]) => x)
            .sort((x, y) => x - y);
          assert.deepEqual(r.released, want);
          for (const x of want) holder.delete(x);
          fifo.push(...want);
          b = r.block;
        } else {
          const r = releaseAddresses(
            b,
            o.ords.map((x) => addressOf(b, x)),
          );
          const want: number[] = [];
          for (const x of o.ords) if (holder.has(x) && !want.includes(x)) want.push(x);
          assert.deepEqual(r.released, want);
          for (const x of want) holder.delete(x);
          fifo.push(...want);
          b = r.block;
        }
        checkBlock(b);
        assert.deepEqual(b.unallocated, fifo);
        const counts = handleCounts(b);
        for (const h of new Set(holder.values())) assert.equal(counts.get(h), [...holder.values()].filter((x) => x === h).length);
      }
      assert.deepEqual(decodeBlock(encodeBlock(b)), b, "JSON round trip");
    }),
  );
});

test("blockOrder covers every block of the pool exactly once, deterministically per host", () => {
  for (const [pool, len] of [
    ["10.65.0.0/20", 26],
    ["10.65.0.0/26", 26],
    ["10.65.0.0/24", 28],
    ["fd65::/112", 122],
  ] as const) {
    const a = [...blockOrder(pool, len, "node-a")].map(String);
    const expected = 1 << (len - Number(pool.split("/")[1]));
    assert.equal(a.length, expected);
    assert.equal(new Set(a).size, expected, `${pool}: no block twice`);
    assert.deepEqual([...blockOrder(pool, len, "node-a")].map(String), a, "same host, same order");
    const order = new BlockOrder(pool, len, "node-a");
    a.forEach((cidr, i) => assert.equal(order.positionOf(cidr), BigInt(i), "positionOf inverts at"));
  }
  const a = [...blockOrder("10.65.0.0/16", 26, "node-a")].map(String);
  const b = [...blockOrder("10.65.0.0/16", 26, "node-b")].map(String);
  assert.notDeepEqual(a, b);
  assert.notEqual(a[0], b[0]);
  assert.equal(new BlockOrder("10.65.0.0/16", 26, "x").positionOf("10.66.0.0/26"), -1n);
  assert.equal(new BlockOrder("10.65.0.0/16", 26, "x").positionOf("10.65.0.0/27"), -1n);
});

test("property: blockOrder is a permutation for any host and small pool", () => {
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 0, max: 10 }), (host, bits) => {
      const seen = new Set([...blockOrder("10.0.0.0/16", 16 + bits, host)].map(String));
      assert.equal(seen.size, 1 << bits);
    }),
  );
});

test("blockOrder starts spread out over a large IPv6 pool, lazily", () => {
  const order = new BlockOrder("fd65::/48", 122, "node-a");
  assert.equal(order.count, 1n << 74n);
  const first = order.at(0n);
  assert.ok(parsePrefix("fd65::/48").containsPrefix(first));
  assert.equal(first.toString(), "fd65::49b0:53c9:4f04:24ad:2680/122", "golden: order must not change across versions");
  assert.equal(order.positionOf(first), 0n);
  const it = blockOrder("fd65::/48", 122, "node-a");
  assert.equal(String(it.next().value), first.toString());
});

test("PRNG: stable values (a host's block order must not change across versions)", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  const r = new Prng(1);
  const first = [r.nextUint32(), r.nextUint32(), r.nextUint32()];
  // mulberry32(1) is published as 0.6270739405881613, 0.002735721180215478, 0.5274470399599522 (x 2^32).
  assert.deepEqual(first, [2693262067, 11749833, 2265367787]);
  assert.deepEqual([...blockOrder("10.65.0.0/24", 26, "node-a")].map(String), ["10.65.0.192/26", "10.65.0.0/26", "10.65.0.64/26", "10.65.0.128/26"]);
});
