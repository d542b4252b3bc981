import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { resourceKey } from "../model/keys.js";
import { MemoryStore } from "../datastore/memory.js";
import type { Store } from "../datastore/store.js";
import { Ipam } from "./ipam.js";
import { CONFIG_KEY, encodeConfig } from "./keys.js";
import { SettingsCache, settingsFrom } from "./settings.js";

const v3 = (kind: string, name: string, spec: unknown) => JSON.stringify({ apiVersion: "projectcalico.org/v3", kind, metadata: { name }, spec });

test("settingsFrom: pools (invalid ones skipped), reservations, IPAMConfiguration before the raw key", () => {
  const items = [
    {
      key: resourceKey("IPAMConfiguration", "default"),
      value: v3("IPAMConfiguration", "default", { strictAffinity: true, maxBlocksPerHost: 3, autoAllocateBlocks: true }),
    },
    { key: resourceKey("IPPool", "a"), value: v3("IPPool", "a", { cidr: "10.1.0.0/16" }) },
    { key: resourceKey("IPPool", "bad"), value: v3("IPPool", "bad", { cidr: "nonsense" }) },
    { key: resourceKey("IPReservation", "r"), value: v3("IPReservation", "r", { reservedCIDRs: ["10.1.0.1", "10.1.2.0/24"] }) },
  ];
  const raw = encodeConfig({ strictAffinity: false, autoAllocateBlocks: false, maxBlocksPerHost: 0 });
  const s = settingsFrom(items, raw);
  assert.deepEqual(
    s.pools.map((p) => p.name),
    ["a"],
  );
  assert.deepEqual(s.reserved.map(String), ["10.1.0.1/32", "10.1.2.0/24"]);
  assert.equal(s.config.strictAffinity, true);
  assert.equal(settingsFrom(items.slice(1), raw).config.autoAllocateBlocks, false, "the raw key when there is no resource");
  assert.equal(settingsFrom([], undefined).config.autoAllocateBlocks, true, "Calico's defaults");
});

test("SettingsCache follows changes through its watch", async () => {
  const s = new MemoryStore(new FakeClock());
  await s.put(resourceKey("IPPool", "a"), v3("IPPool", "a", { cidr: "10.1.0.0/16" }));
  const cache = new SettingsCache(s);
  assert.deepEqual(
    (await cache.get()).pools.map((p) => p.name),
    ["a"],
  );
  await s.put(resourceKey("IPPool", "b"), v3("IPPool", "b", { cidr: "10.2.0.0/16" }));
  await s.put(CONFIG_KEY, encodeConfig({ strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 0 }));
  await new Promise((r) => setTimeout(r, 10));
  const now = await cache.get();
  assert.deepEqual(now.pools.map((p) => p.name).sort(), ["a", "b"]);
  assert.equal(now.config.strictAffinity, true);
  cache.close();
});

/** A store whose watches never deliver: a cache over it stays as stale as it can be. */
function deaf(store: Store): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "watch") return () => ({ close() {} });
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

test("a stale settings cache never gives a disabled pool a new block, and reservations hold at claim time", async () => {
  const clock = new FakeClock();
  const mem = new MemoryStore(clock);
  await mem.put(resourceKey("IPPool", "p1"), v3("IPPool", "p1", { cidr: "10.9.0.0/29", blockSize: 30 }));
  const ipam = new Ipam(deaf(mem), { clock, cacheSettings: true });
  const first = await ipam.autoAssign({ handle: "h0", node: "n1", num4: 4, num6: 0 });
  assert.equal(first.ipv4.length, 4, "one block of p1, full now");
  // p1 is disabled, p2 appears with all but one of its blocks reserved. The cache sees none of it.
  await mem.put(resourceKey("IPPool", "p1"), v3("IPPool", "p1", { cidr: "10.9.0.0/29", blockSize: 30, disabled: true }));
  await mem.put(resourceKey("IPPool", "p2"), v3("IPPool", "p2", { cidr: "10.8.0.0/28", blockSize: 30 }));
  await mem.put(resourceKey("IPReservation", "r"), v3("IPReservation", "r", { reservedCIDRs: ["10.8.0.0/29", "10.8.0.8/30"] }));
  const next = await ipam.autoAssign({ handle: "h1", node: "n1", num4: 1, num6: 0 });
  assert.match(next.ipv4[0]!, /^10\.8\.0\.(12|13|14|15)\/32$/, `the new block is p2's unreserved one, not p1's second (${next.ipv4[0]})`);
  const blocks = (await ipam.blocksOfNode("n1")).map((b) => b.cidr);
  assert.equal(blocks.length, 2, "no second block of p1");
  assert.ok(blocks.includes("10.8.0.12/30"));
  ipam.close();
});
