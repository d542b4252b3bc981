import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { hasCode } from "../errors.js";
import { resourceKey } from "../model/keys.js";
import { MemoryStore } from "../datastore/memory.js";
import {
  conflict,
  type CasOptions,
  type KV,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchListener,
  type WriteOptions,
} from "../datastore/store.js";
import { parsePrefix } from "../net/prefix.js";
import { blockCidrOf, handleCounts } from "./block.js";
import { Ipam } from "./ipam.js";
import { CONFIG_KEY, decodeAffinity, decodeBlock, decodeHandle, encodeConfig, parseAffinityKey, parseBlockKey } from "./keys.js";
import { Prng } from "./prng.js";

function poolJson(name: string, cidr: string, spec: Record<string, unknown> = {}): string {
  return JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name }, spec: { cidr, ...spec } });
}

async function storeWith(pools: [string, string, Record<string, unknown>?][], config?: { strict?: boolean; max?: number }): Promise<MemoryStore> {
  const s = new MemoryStore(new FakeClock());
  for (const [name, cidr, spec] of pools) await s.put(resourceKey("IPPool", name), poolJson(name, cidr, spec));
  if (config) {
    await s.put(CONFIG_KEY, encodeConfig({ strictAffinity: config.strict ?? false, autoAllocateBlocks: true, maxBlocksPerHost: config.max ?? 0 }));
  }
  return s;
}

const blockOf = (addr: string, len: number) => blockCidrOf(parsePrefix(addr).addr, len).toString();

test("one host fills its block, then claims another; keys and values are Calico's", async () => {
  const s = await storeWith([["p4", "10.65.0.0/24", { blockSize: 29 }]]);
  const ipam = new Ipam(s, { clock: new FakeClock() });
  const got: string[] = [];
  for (let i = 0; i < 9; i++) {
    const r = await ipam.autoAssign({ handle: `k8s-pod-network.c${i}`, node: "n1", num4: 1, num6: 0, attrs: { pod: `p${i}` } });
    assert.equal(r.ipv6.length, 0);
    assert.match(r.ipv4[0]!, /^10\.65\.0\.\d+\/32$/);
    got.push(r.ipv4[0]!);
  }
  assert.equal(new Set(got).size, 9);
  const first = blockOf(got[0]!, 29);
  assert.ok(
    got.slice(0, 8).every((a) => blockOf(a, 29) === first),
    "the first 8 come from one block",
  );
  const second = blockOf(got[8]!, 29);
  assert.notEqual(second, first);
  // Within a block, addresses come out in ordinal order.
  assert.deepEqual(
    got.slice(0, 8).map((a) => Number(a.split(".")[3]!.split("/")[0]) % 8),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  const blocks = await ipam.blocksOfNode("n1");
  assert.deepEqual(blocks.map((b) => b.cidr).sort(), [first, second].sort());
  assert.ok(blocks.every((b) => b.affinity === "host:n1" && b.size === 8));
  assert.equal(
    blocks.reduce((n, b) => n + b.allocated, 0),
    9,
  );

  // Calico's layout.
  const bkey = `/calico/ipam/v2/assignment/ipv4/block/${first.replace("/", "-")}`;
  const block = decodeBlock((await s.get(bkey))!.value);
  assert.equal(block.affinity, "host:n1");
  assert.deepEqual(block.attributes[0], { handle_id: "k8s-pod-network.c0", secondary: { pod: "p0" } });
  const aff = await s.get(`/calico/ipam/v2/host/n1/ipv4/block/${first.replace("/", "-")}`);
  assert.deepEqual(JSON.parse(aff!.value), { state: "confirmed", deleted: false });
  const h = await s.get("/calico/ipam/v2/handle/k8s-pod-network.c0");
  assert.deepEqual(JSON.parse(h!.value), { handleID: "k8s-pod-network.c0", block: { [first]: 1 }, deleted: false });
  assert.deepEqual(await ipam.addressesOfHandle("k8s-pod-network.c0"), [got[0]]);
});

test("two hosts get disjoint blocks", async () => {
  const s = await storeWith([["p4", "10.65.0.0/16"]]);
  const ipam = new Ipam(s);
  const a = await ipam.autoAssign({ handle: "a", node: "host-a", num4: 3, num6: 0 });
  const b = await ipam.autoAssign({ handle: "b", node: "host-b", num4: 3, num6: 0 });
  const ba = await ipam.blocksOfNode("host-a");
  const bb = await ipam.blocksOfNode("host-b");
  assert.equal(ba.length, 1);
  assert.equal(bb.length, 1);
  assert.notEqual(ba[0]!.cidr, bb[0]!.cidr);
  assert.ok(a.ipv4.every((x) => blockOf(x, 26) === ba[0]!.cidr));
  assert.ok(b.ipv4.every((x) => blockOf(x, 26) === bb[0]!.cidr));
  assert.equal((await ipam.allBlocks()).length, 2);
});

test("dual stack: one of each, and all or nothing", async () => {
  const s = await storeWith([
    ["p4", "10.65.0.0/16"],
    ["p6", "fd65::/112", { blockSize: 126 }],
  ]);
  const ipam = new Ipam(s);
  const r = await ipam.autoAssign({ handle: "h1", node: "n1", num4: 1, num6: 1 });
  assert.equal(r.ipv4.length, 1);
  assert.equal(r.ipv6.length, 1);
  assert.match(r.ipv6[0]!, /^fd65::[0-9a-f:]*\/128$/);
  assert.deepEqual((await ipam.addressesOfHandle("h1")).sort(), [...r.ipv4, ...r.ipv6].sort());
  const h = decodeHandle((await s.get("/calico/ipam/v2/handle/h1"))!.value);
  assert.equal(Object.keys(h.block).length, 2);

  // v6 runs out (strict affinity, one block per host of 4 addresses): v4 is rolled back.
  await s.put(CONFIG_KEY, encodeConfig({ strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 1 }));
  await ipam.autoAssign({ handle: "h2", node: "n1", num4: 0, num6: 3 });
  const before = (await ipam.allBlocks()).find((b) => !b.cidr.includes(":"))!.allocated;
  await assert.rejects(ipam.autoAssign({ handle: "h3", node: "n1", num4: 2, num6: 1 }), { code: "IPAM_EXHAUSTED" });
  assert.deepEqual(await ipam.addressesOfHandle("h3"), []);
  assert.equal(await s.get("/calico/ipam/v2/handle/h3"), undefined);
  assert.equal((await ipam.allBlocks()).find((b) => !b.cidr.includes(":"))!.allocated, before);
});

test("no pool: wrong family, disabled, not for workloads, not the requested one", async () => {
  const s = await storeWith([
    ["p4", "10.65.0.0/24"],
    ["off", "10.66.0.0/24", { disabled: true }],
    ["tun", "fd66::/120", { allowedUses: ["Tunnel"] }],
  ]);
  const ipam = new Ipam(s);
  await assert.rejects(ipam.autoAssign({ handle: "h", node: "n1", num4: 1, num6: 1 }), { code: "IPAM_NO_POOL" });
  assert.deepEqual(await ipam.allBlocks(), [], "nothing assigned when the v6 side cannot be served");
  await assert.rejects(ipam.autoAssign({ handle: "h", node: "n1", num4: 1, num6: 0, pools: ["off"] }), { code: "IPAM_NO_POOL" });
  const r = await ipam.autoAssign({ handle: "h", node: "n1", num4: 1, num6: 0, pools: ["10.65.0.0/24"] });
  assert.equal(r.ipv4.length, 1);
  await assert.rejects(ipam.autoAssign({ handle: "", node: "n1", num4: 1, num6: 0 }), { code: "IPAM_BAD_REQUEST" });
  await assert.rejects(ipam.autoAssign({ handle: "x", node: "n1", num4: -1, num6: 0 }), { code: "IPAM_BAD_REQUEST" });
});

test("nodeSelector is evaluated by the injected matcher", async () => {
  const s = await storeWith([["rack1", "10.65.0.0/24", { nodeSelector: "rack == 'r1'" }]]);
  await s.put(resourceKey("Node", "n1"), JSON.stringify({ metadata: { name: "n1", labels: { rack: "r1" } } }));
  await s.put(resourceKey("Node", "n2"), JSON.stringify({ metadata: { name: "n2", labels: { rack: "r2" } } }));
  const matcher = (sel: string, labels: Readonly<Record<string, string>>) => sel === "rack == 'r1'" && labels.rack === "r1";
  const ipam = new Ipam(s, { selectorMatcher: matcher });
  assert.equal((await ipam.autoAssign({ handle: "a", node: "n1", num4: 1, num6: 0 })).ipv4.length, 1);
  await assert.rejects(ipam.autoAssign({ handle: "b", node: "n2", num4: 1, num6: 0 }), { code: "IPAM_NO_POOL" });
});

test("without an injected matcher (the CNI plugin's Ipam) the pool's nodeSelector is Calico's selector on the Node's labels", async () => {
  const s = await storeWith([
    ["rack1", "10.65.0.0/24", { nodeSelector: "rack == 'r1'" }],
    ["rack2", "10.66.0.0/24", { nodeSelector: "rack in {'r2'} && has(tor)" }],
  ]);
  await s.put(resourceKey("Node", "n1"), JSON.stringify({ metadata: { name: "n1", labels: { rack: "r1" } } }));
  await s.put(resourceKey("Node", "n2"), JSON.stringify({ metadata: { name: "n2", labels: { rack: "r2", tor: "x" } } }));
  await s.put(resourceKey("Node", "n3"), JSON.stringify({ metadata: { name: "n3", labels: { rack: "r2" } } }));
  const ipam = new Ipam(s);
  assert.match((await ipam.autoAssign({ handle: "a", node: "n1", num4: 1, num6: 0 })).ipv4[0]!, /^10\.65\./);
  assert.match((await ipam.autoAssign({ handle: "b", node: "n2", num4: 1, num6: 0 })).ipv4[0]!, /^10\.66\./);
  await assert.rejects(ipam.autoAssign({ handle: "c", node: "n3", num4: 1, num6: 0 }), { code: "IPAM_NO_POOL" });
  // a Node with no resource has no labels: only all() pools serve it
  await assert.rejects(ipam.autoAssign({ handle: "d", node: "ghost", num4: 1, num6: 0 }), { code: "IPAM_NO_POOL" });
  // naming the pool bypasses the selector, as in Calico
  assert.match((await ipam.autoAssign({ handle: "e", node: "n3", num4: 1, num6: 0, pools: ["rack1"] })).ipv4[0]!, /^10\.65\./);
});

test("release by handle frees every address across blocks, is idempotent, and reuse is FIFO", async () => {
  const s = await storeWith([["p4", "10.65.0.0/24", { blockSize: 30 }]]);
  const ipam = new Ipam(s);
  const r = await ipam.autoAssign({ handle: "big", node: "n1", num4: 6, num6: 0 });
  assert.equal(r.ipv4.length, 6);
  assert.equal((await ipam.blocksOfNode("n1")).length, 2);
  assert.equal(await ipam.releaseByHandle("big"), 6);
  assert.equal(await ipam.releaseByHandle("big"), 0);
  assert.equal(await ipam.releaseByHandle("never-existed"), 0);
  assert.equal(await s.get("/calico/ipam/v2/handle/big"), undefined);
  assert.ok((await ipam.allBlocks()).every((b) => b.allocated === 0));
  // Empty blocks keep their affinity (TODO: GC releases them).
  assert.equal((await ipam.blocksOfNode("n1")).length, 2);
  // Freed ordinals went to the tail: the next address is one never handed out before.
  const next = await ipam.autoAssign({ handle: "n", node: "n1", num4: 1, num6: 0 });
  const firstBlock = (await ipam.blocksOfNode("n1")).find((b) => b.cidr === blockOf(next.ipv4[0]!, 30));
  assert.ok(firstBlock);
  assert.ok(!r.ipv4.includes(next.ipv4[0]!), "a released address is not reused while never-used ones remain");
});

test("releaseIPs releases single addresses and lowers the handle", async () => {
  const s = await storeWith([["p4", "10.65.0.0/24"]]);
  const ipam = new Ipam(s);
  const r = await ipam.autoAssign({ handle: "h", node: "n1", num4: 3, num6: 0 });
  assert.equal(await ipam.releaseIPs([r.ipv4[1]!, "10.99.0.1", r.ipv4[1]!]), 1);
  assert.deepEqual(await ipam.addressesOfHandle("h"), [r.ipv4[0], r.ipv4[2]]);
  const h = decodeHandle((await s.get("/calico/ipam/v2/handle/h"))!.value);
  assert.deepEqual(Object.values(h.block), [2]);
  assert.equal(await ipam.releaseIPs(r.ipv4), 2);
  assert.equal(await s.get("/calico/ipam/v2/handle/h"), undefined, "handle dropped when it holds nothing");
});

test("exhaustion: IPAM_EXHAUSTED once every address of every pool is taken, nothing held", async () => {
  const s = await storeWith([["p4", "10.65.0.0/29", { blockSize: 30 }]]);
  const ipam = new Ipam(s);
  for (let i = 0; i < 8; i++) await ipam.autoAssign({ handle: `h${i}`, node: i < 4 ? "n1" : "n2", num4: 1, num6: 0 });
  await assert.rejects(ipam.autoAssign({ handle: "more", node: "n1", num4: 1, num6: 0 }), { code: "IPAM_EXHAUSTED" });
  await assert.rejects(ipam.autoAssign({ handle: "more", node: "n3", num4: 1, num6: 0 }), { code: "IPAM_EXHAUSTED" });
  assert.equal(await s.get("/calico/ipam/v2/handle/more"), undefined);
  // Asking for more than exists in one go holds nothing afterwards.
  await ipam.releaseByHandle("h0");
  await assert.rejects(ipam.autoAssign({ handle: "two", node: "n1", num4: 2, num6: 0 }), { code: "IPAM_EXHAUSTED" });
  assert.equal(
    (await ipam.allBlocks()).reduce((n, b) => n + b.allocated, 0),
    7,
  );
});

test("borrowing: without strict affinity a host borrows from others' blocks; with it, it does not", async () => {
  const s = await storeWith([["p4", "10.65.0.0/29", { blockSize: 30 }]]);
  const ipam = new Ipam(s);
  await ipam.autoAssign({ handle: "a", node: "n1", num4: 5, num6: 0 }); // n1 claims both blocks
  assert.equal((await ipam.blocksOfNode("n1")).length, 2);
  const r = await ipam.autoAssign({ handle: "b", node: "n2", num4: 2, num6: 0 });
  assert.equal(r.ipv4.length, 2);
  assert.deepEqual(await ipam.blocksOfNode("n2"), [], "borrowing claims nothing");
  assert.ok((await ipam.allBlocks()).every((b) => b.affinity === "host:n1"));
  await s.put(CONFIG_KEY, encodeConfig({ strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 0 }));
  await assert.rejects(ipam.autoAssign({ handle: "c", node: "n2", num4: 1, num6: 0 }), { code: "IPAM_EXHAUSTED" });
  // n1 still uses its own blocks under strict affinity.
  assert.equal((await ipam.autoAssign({ handle: "d", node: "n1", num4: 1, num6: 0 })).ipv4.length, 1);
});

test("maxBlocksPerHost caps claims; at the cap a host borrows unless strict", async () => {
  const s = await storeWith([["p4", "10.65.0.0/28", { blockSize: 30 }]], { strict: true, max: 1 });
  const ipam = new Ipam(s);
  await assert.rejects(ipam.autoAssign({ handle: "a", node: "n1", num4: 5, num6: 0 }), { code: "IPAM_EXHAUSTED" });
  assert.deepEqual(await ipam.addressesOfHandle("a"), []);
  assert.equal((await ipam.autoAssign({ handle: "a", node: "n1", num4: 4, num6: 0 })).ipv4.length, 4);
  assert.equal((await ipam.blocksOfNode("n1")).length, 1);
  await ipam.autoAssign({ handle: "other", node: "n2", num4: 1, num6: 0 });
  await s.put(CONFIG_KEY, encodeConfig({ strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 1 }));
  const r = await ipam.autoAssign({ handle: "b", node: "n1", num4: 1, num6: 0 });
  assert.equal((await ipam.blocksOfNode("n1")).length, 1, "still one block");
  assert.equal(blockOf(r.ipv4[0]!, 30), (await ipam.blocksOfNode("n2"))[0]!.cidr, "borrowed from n2");
});

test("the default cap is 20 blocks per host", async () => {
  const s = await storeWith([["p4", "10.65.0.0/24", { blockSize: 30 }]], { strict: true });
  const ipam = new Ipam(s);
  await ipam.autoAssign({ handle: "a", node: "n1", num4: 80, num6: 0 });
  await assert.rejects(ipam.autoAssign({ handle: "b", node: "n1", num4: 1, num6: 0 }), { code: "IPAM_EXHAUSTED" });
  assert.equal((await ipam.blocksOfNode("n1")).length, 20);
});

test("a confirmed affinity without its block gets the block re-created; a stale pending one is harmless", async () => {
  const s = await storeWith([["p4", "10.65.0.0/24"]]);
  await s.put("/calico/ipam/v2/host/n1/ipv4/block/10.65.0.128-26", JSON.stringify({ state: "confirmed", deleted: false }));
  const ipam = new Ipam(s);
  const r = await ipam.autoAssign({ handle: "a", node: "n1", num4: 1, num6: 0 });
  assert.equal(r.ipv4[0], "10.65.0.128/32");
  // n2 left a pending affinity for a block n3 then creates: n3 wins, n2's claims elsewhere.
  const s2 = await storeWith([["p4", "10.65.0.0/25"]]);
  const ipam2 = new Ipam(s2);
  await s2.put("/calico/ipam/v2/host/n2/ipv4/block/10.65.0.0-26", JSON.stringify({ state: "pending", deleted: false }));
  await s2.put("/calico/ipam/v2/host/n2/ipv4/block/10.65.0.64-26", JSON.stringify({ state: "pending", deleted: false }));
  await ipam2.autoAssign({ handle: "x", node: "n2", num4: 1, num6: 0 });
  assert.equal((await ipam2.blocksOfNode("n2")).length, 1);
  assert.deepEqual(await ipam2.blocksOfNode("n3"), []);
});

test("assignIP: a specific address, claiming its block; in use, outside pools, strict affinity", async () => {
  const s = await storeWith([["p4", "10.65.0.0/24"]]);
  const ipam = new Ipam(s);
  assert.equal(await ipam.assignIP({ ip: "10.65.0.77", handle: "tun", node: "n1" }), "10.65.0.77/32");
  assert.deepEqual(
    (await ipam.blocksOfNode("n1")).map((b) => [b.cidr, b.allocated]),
    [["10.65.0.64/26", 1]],
  );
  assert.deepEqual(await ipam.addressesOfHandle("tun"), ["10.65.0.77/32"]);
  await assert.rejects(ipam.assignIP({ ip: "10.65.0.77", handle: "x", node: "n1" }), { code: "IPAM_ADDRESS_IN_USE" });
  await assert.rejects(ipam.assignIP({ ip: "10.99.0.1", handle: "x", node: "n1" }), { code: "IPAM_NO_POOL" });
  assert.equal(await s.get("/calico/ipam/v2/handle/x"), undefined, "no handle left behind by failures");
  // Another host may take an address in n1's block unless affinity is strict.
  assert.equal(await ipam.assignIP({ ip: "10.65.0.78", handle: "y", node: "n2" }), "10.65.0.78/32");
  await s.put(CONFIG_KEY, encodeConfig({ strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 0 }));
  await assert.rejects(ipam.assignIP({ ip: "10.65.0.79", handle: "z", node: "n2" }), { code: "IPAM_STRICT_AFFINITY" });
  // The next auto-assigned address in that block skips the taken ones.
  const r = await ipam.autoAssign({ handle: "a", node: "n1", num4: 20, num6: 0 });
  assert.equal(r.ipv4[0], "10.65.0.64/32");
  assert.ok(!r.ipv4.includes("10.65.0.77/32") && !r.ipv4.includes("10.65.0.78/32"));
  assert.equal(new Set(r.ipv4).size, 20);
  await checkConsistent(s);
});

// ---------------------------------------------------------------------------------------------
// Concurrency

/**
 * A Store that interleaves callers: every operation yields to the event loop a random number of
 * times, and some conditional writes fail with DS_CONFLICT as if another writer had just won.
 */
class ChaosStore implements Store {
  readonly url = "chaos://";
  injected = 0;
  constructor(
    private readonly inner: Store,
    private readonly rng: Prng,
    private readonly conflictRate = 0.2,
  ) {}
  private async jitter(): Promise<void> {
    const n = this.rng.nextUint32() % 4;
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  }
  private maybeConflict(key: string, revision: number | undefined): void {
    if (revision !== undefined && this.rng.nextUint32() / 2 ** 32 < this.conflictRate) {
      this.injected++;
      throw conflict(key, revision, revision + 1);
    }
  }
  async get(key: string): Promise<KV | undefined> {
    await this.jitter();
    return this.inner.get(key);
  }
  async list(prefix: string, opts?: ListOptions): Promise<ListResult> {
    await this.jitter();
    return this.inner.list(prefix, opts);
  }
  async create(key: string, value: string, opts?: WriteOptions): Promise<KV> {
    await this.jitter();
    return this.inner.create(key, value, opts);
  }
  async update(key: string, value: string, opts?: CasOptions): Promise<KV> {
    await this.jitter();
    this.maybeConflict(key, opts?.revision);
    return this.inner.update(key, value, opts);
  }
  async put(key: string, value: string, opts?: WriteOptions): Promise<KV> {
    await this.jitter();
    return this.inner.put(key, value, opts);
  }
  async delete(key: string, opts?: { revision?: number }): Promise<KV> {
    await this.jitter();
    this.maybeConflict(key, opts?.revision);
    return this.inner.delete(key, opts);
  }
  watch(prefix: string, afterRevision: number, listener: WatchListener) {
    return this.inner.watch(prefix, afterRevision, listener);
  }
  currentRevision() {
    return this.inner.currentRevision();
  }
  grantLease(ttl: number) {
    return this.inner.grantLease(ttl);
  }
  keepAlive(lease: number) {
    return this.inner.keepAlive(lease);
  }
  revokeLease(lease: number) {
    return this.inner.revokeLease(lease);
  }
  close() {
    return this.inner.close();
  }
}

/** Checks the store's IPAM state is consistent: one owner per block, handles match blocks. */
async function checkConsistent(s: Store): Promise<{ allocated: Map<string, string> }> {
  const blocks = (await s.list("/calico/ipam/v2/assignment/")).items.map((kv) => {
    assert.ok(parseBlockKey(kv.key));
    return decodeBlock(kv.value);
  });
  const affinities = (await s.list("/calico/ipam/v2/host/")).items.map((kv) => ({ ...parseAffinityKey(kv.key)!, ...decodeAffinity(kv.value) }));
  for (const a of affinities) {
    assert.equal(a.state, "confirmed", `no pending affinity left behind (${a.host} ${a.cidr})`);
    const b = blocks.find((x) => x.cidr === a.cidr);
    assert.ok(b, `affinity ${a.host} ${a.cidr} has its block`);
    assert.equal(b.affinity, `host:${a.host}`, `block ${a.cidr} belongs to the host whose affinity is confirmed`);
  }
  for (const b of blocks) {
    const owners = affinities.filter((a) => a.cidr === b.cidr);
    assert.ok(owners.length <= 1, `block ${b.cidr} has one owner, not ${owners.map((o) => o.host)}`);
  }
  // Handle index == block contents.
  const fromBlocks = new Map<string, Record<string, number>>();
  for (const b of blocks) {
    for (const [h, n] of handleCounts(b)) {
      const rec = fromBlocks.get(h) ?? {};
      rec[b.cidr] = n;
      fromBlocks.set(h, rec);
    }
  }
  const handles = (await s.list("/calico/ipam/v2/handle/")).items.map((kv) => decodeHandle(kv.value));
  assert.deepEqual(new Map(handles.map((h) => [h.handleID, h.block])), fromBlocks, "handle records count exactly what the blocks hold");
  const allocated = new Map<string, string>();
  for (const b of blocks) {
    b.allocations.forEach((a, o) => {
      if (a !== null) allocated.set(parsePrefix(b.cidr).nth(o).toString(), b.attributes[a]!.handle_id!);
    });
  }
  return { allocated };
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`concurrency (seed ${seed}): many hosts assigning and releasing at once never share an address or a block`, async () => {
    const mem = new MemoryStore(new FakeClock());
    await mem.put(resourceKey("IPPool", "p4"), poolJson("p4", "10.65.0.0/24", { blockSize: 28 }));
    await mem.put(resourceKey("IPPool", "p6"), poolJson("p6", "fd65::/120", { blockSize: 124 }));
    const rng = new Prng(seed);
    const chaos = new ChaosStore(mem, rng);
    const hosts = ["h1", "h2", "h3", "h4"];
    const jobs: Promise<{ handle: string; ipv4: string[]; ipv6: string[] } | undefined>[] = [];
    for (let i = 0; i < 48; i++) {
      const node = hosts[i % hosts.length]!;
      const ipam = new Ipam(chaos); // one client per call, like separate CNI invocations
      const handle = `k8s-pod-network.${node}-${i}`;
      jobs.push(
        ipam.autoAssign({ handle, node, num4: 1 + (i % 3), num6: i % 2 }).then(
          async (r) => {
            if (i % 7 === 0) {
              assert.equal(await ipam.releaseByHandle(handle), r.ipv4.length + r.ipv6.length);
              return undefined;
            }
            return { handle, ...r };
          },
          (err: unknown) => {
            if (hasCode(err, "IPAM_EXHAUSTED")) return undefined;
            throw err;
          },
        ),
      );
    }
    const results = (await Promise.all(jobs)).filter((r) => r !== undefined);
    assert.ok(chaos.injected > 0, "the conflict paths were exercised");
    const seen = new Map<string, string>();
    for (const r of results) {
      for (const a of [...r.ipv4, ...r.ipv6]) {
        assert.ok(!seen.has(a), `${a} handed to ${seen.get(a)} and ${r.handle}`);
        seen.set(a, r.handle);
      }
    }
    const { allocated } = await checkConsistent(mem);
    assert.equal(allocated.size, seen.size, "exactly the returned addresses are allocated");
    for (const [a, h] of seen) assert.equal(allocated.get(parsePrefix(a).addr.toString()), h);
  });
}

test("concurrency: more demand than supply, every address to exactly one winner", async () => {
  const mem = new MemoryStore(new FakeClock());
  await mem.put(resourceKey("IPPool", "p4"), poolJson("p4", "10.65.0.0/28", { blockSize: 30 }));
  const chaos = new ChaosStore(mem, new Prng(42), 0.3);
  const jobs = Array.from({ length: 30 }, (_, i) =>
    new Ipam(chaos).autoAssign({ handle: `h${i}`, node: `n${i % 5}`, num4: 1, num6: 0 }).then(
      (r) => r.ipv4[0]!,
      (err: unknown) => {
        if (hasCode(err, "IPAM_EXHAUSTED")) return undefined;
        throw err;
      },
    ),
  );
  const won = (await Promise.all(jobs)).filter((x) => x !== undefined);
  assert.equal(won.length, 16, "all 16 addresses handed out, no more");
  assert.equal(new Set(won).size, 16);
  await checkConsistent(mem);
});
