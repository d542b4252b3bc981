import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { resourceKey } from "../model/keys.js";
import { MemoryStore } from "../datastore/memory.js";
import { readSnapshot } from "./collect.js";
import { IPAM_GC_LEADER_KEY, IpamGcController, graceFromKubeControllersConfig } from "./controller.js";
import { checkIpam, problemCount } from "./gc.js";
import { Ipam } from "./ipam.js";
import { affinityKey, blockKey, decodeBlock, encodeAffinity } from "./keys.js";

const MIN = 60_000;
const GRACE = 15 * MIN;

const v3 = (kind: string, name: string, spec: unknown, namespace?: string) =>
  JSON.stringify({ apiVersion: "projectcalico.org/v3", kind, metadata: { name, ...(namespace ? { namespace } : {}) }, spec });

async function setup(blockSize = 29, nodes = ["n1"]) {
  const clock = new FakeClock();
  const s = new MemoryStore(clock);
  await s.put(resourceKey("IPPool", "p"), v3("IPPool", "p", { cidr: "10.9.0.0/24", blockSize }));
  for (const n of nodes) await s.put(resourceKey("Node", n), v3("Node", n, {}));
  const ipam = new Ipam(s, { clock });
  const wep = (cid: string, node = "n1", ips: string[] = []) =>
    s.put(resourceKey("WorkloadEndpoint", `w-${cid}`, "default"), v3("WorkloadEndpoint", `w-${cid}`, { node, containerID: cid, ipNetworks: ips }, "default"));
  const unwep = (cid: string) => s.delete(resourceKey("WorkloadEndpoint", `w-${cid}`, "default"));
  const assign = (cid: string, node = "n1", num4 = 1) =>
    ipam.autoAssign({ handle: `tabby-net.${cid}`, node, num4, num6: 0, attrs: { node, containerID: cid } });
  return { clock, s, ipam, wep, unwep, assign };
}

test("collector: a candidate whose workload comes back is kept; one gone past the grace period goes; a handle's two addresses go together", async () => {
  const { clock, s, ipam, wep, unwep, assign } = await setup();
  await wep("live");
  await assign("live");
  await assign("flaky");
  await assign("pair", "n1", 2);
  const ctl = new IpamGcController(s, { identity: "c1", clock, graceMs: GRACE, intervalMs: MIN });
  const t0 = clock.now();

  let r = await ctl.step();
  assert.ok(r, "the only controller leads and runs a pass");
  assert.equal(r.released, 0, "nothing is due on first sight");
  assert.deepEqual(Object.keys(r.plan.state.leaks).sort(), ["h:tabby-net.flaky", "h:tabby-net.pair"]);

  // The flaky workload's endpoint comes back before the grace period ends: no longer a candidate.
  clock.advance(10 * MIN);
  await wep("flaky");
  r = await ctl.step();
  assert.equal(r?.released, 0);
  assert.deepEqual(Object.keys(r!.plan.state.leaks), ["h:tabby-net.pair"], "flaky lost its first-seen time");

  // It goes away again at t0+11m: its clock starts over then.
  clock.advance(MIN);
  await unwep("flaky");
  r = await ctl.step();
  assert.equal(r?.released, 0);

  // Passes run at most every intervalMs: a step within it does nothing.
  clock.advance(MIN / 2);
  assert.equal(await ctl.step(), undefined);

  // t0+15m: pair has been a candidate for the grace period; both its addresses go together.
  clock.advance(t0 + GRACE - clock.now());
  r = await ctl.step();
  assert.deepEqual(r?.plan.releaseHandles, ["tabby-net.pair"]);
  assert.equal(r?.released, 2, "both addresses of the handle");
  assert.deepEqual(await ipam.addressesOfHandle("tabby-net.pair"), []);
  assert.equal((await ipam.addressesOfHandle("tabby-net.flaky")).length, 1, "flaky's grace period runs from t0+11m");

  clock.advance(11 * MIN);
  r = await ctl.step();
  assert.deepEqual(r?.plan.releaseHandles, ["tabby-net.flaky"]);
  assert.deepEqual(await ipam.addressesOfHandle("tabby-net.flaky"), []);
  assert.equal((await ipam.addressesOfHandle("tabby-net.live")).length, 1, "a live workload's address is never touched");
  assert.equal(problemCount(checkIpam(await readSnapshot(s))), 0);
});

test("collector: a handle with one address still in use is not released at all", async () => {
  const { clock, s, ipam, wep, assign } = await setup();
  const got = await assign("half", "n1", 2);
  // Another endpoint names one of the two addresses.
  await wep("other", "n1", [got.ipv4[0]!]);
  const ctl = new IpamGcController(s, { identity: "c1", clock, graceMs: GRACE, intervalMs: MIN });
  await ctl.step();
  clock.advance(GRACE + MIN);
  const r = await ctl.step();
  assert.deepEqual(r?.plan.releaseHandles, []);
  assert.equal((await ipam.addressesOfHandle("tabby-net.half")).length, 2);
});

test("leader election: of two controllers one acts; when the leader dies the other takes over once its lease expires", async () => {
  const { clock, s, assign } = await setup();
  await assign("gone");
  const passes: string[] = [];
  const mk = (id: string) =>
    new IpamGcController(s, { identity: id, clock, graceMs: GRACE, intervalMs: 5_000, leaseTtlSeconds: 30, onPass: () => passes.push(id) });
  const c1 = mk("c1");
  const c2 = mk("c2");
  await c1.step();
  await c2.step();
  assert.deepEqual(passes, ["c1"]);
  assert.equal(c1.isLeader, true);
  assert.equal(c2.isLeader, false);
  assert.equal((await s.get(IPAM_GC_LEADER_KEY))?.value, "c1");

  // While c1 renews its lease, c2 never acts.
  for (let i = 0; i < 6; i++) {
    clock.advance(10_000);
    await c1.step();
    await c2.step();
  }
  assert.deepEqual([...new Set(passes)], ["c1"]);
  assert.ok(passes.length >= 6);

  // c1 dies (no resign, no renewals). Its lease was renewed at the last step: 30 s from then.
  passes.length = 0;
  clock.advance(20_000);
  await c2.step();
  assert.equal(c2.isLeader, false, "the lease has not expired yet");
  clock.advance(10_001);
  await c2.step();
  assert.equal(c2.isLeader, true, "c2 took over after the lease expired");
  assert.deepEqual(passes, ["c2"], "and ran a pass at once");
  assert.equal((await s.get(IPAM_GC_LEADER_KEY))?.value, "c2");

  // The old leader wakes up: it finds its lease gone and stays a follower.
  await c1.step();
  assert.equal(c1.isLeader, false);
  assert.deepEqual(passes, ["c2"]);

  // A leader that stops cleanly hands over at once.
  await c2.stop();
  await c1.step();
  assert.equal(c1.isLeader, true);
});

test("collector: empty blocks go after the grace period (never a live node's last); a deleted node's blocks and affinities go", async () => {
  const { clock, s, ipam, wep, unwep, assign } = await setup(30, ["n1", "n2"]);
  // n1: three blocks of four, emptied again.
  await ipam.autoAssign({ handle: "t1", node: "n1", num4: 9, num6: 0 });
  assert.equal((await ipam.blocksOfNode("n1")).length, 3);
  await ipam.releaseByHandle("t1");
  // n2: a workload of its own, and a workload on n1 that borrowed an address from n2's block.
  const own = await assign("on-n2", "n2");
  await wep("on-n2", "n2", own.ipv4);
  const n2Block = (await ipam.blocksOfNode("n2"))[0]!.cidr;
  const borrowedIp = n2Block.replace(/\d+\/30$/, (m) => `${Number(m.split("/")[0]) + 3}/32`);
  await ipam.assignIP({ ip: borrowedIp, handle: "tabby-net.borrower", node: "n1", attrs: { node: "n1", containerID: "borrower" } });
  await wep("borrower", "n1", [borrowedIp]);
  // A claim of n2's that never got its block.
  await s.put(affinityKey("n2", "10.9.0.252/30"), encodeAffinity({ state: "pending", deleted: false }));
  // n2 is deleted, with its workload.
  await s.delete(resourceKey("Node", "n2"));
  await unwep("on-n2");

  const ctl = new IpamGcController(s, { identity: "c1", clock, graceMs: GRACE, intervalMs: MIN });
  let r = await ctl.step();
  assert.equal(r?.blocksReleased.length, 0);
  assert.equal(r?.released, 0);

  clock.advance(GRACE);
  r = await ctl.step();
  assert.equal(r?.blocksReleased.length, 2, "two of n1's empty blocks");
  assert.equal((await ipam.blocksOfNode("n1")).length, 1, "n1 keeps its last block");
  assert.deepEqual(r?.plan.releaseHandles, ["tabby-net.on-n2"], "the gone node's workload address");
  assert.deepEqual(r?.affinitiesReleased, [{ host: "n2", cidr: "10.9.0.252/30" }]);
  assert.deepEqual(r?.blocksUnaffined, [], "n2's block still held a leak in this pass");

  clock.advance(MIN);
  r = await ctl.step();
  assert.deepEqual(r?.blocksUnaffined, [n2Block], "n2's block keeps the borrowed address but loses n2's affinity");
  assert.equal(await s.get(affinityKey("n2", n2Block)), undefined);
  assert.equal(decodeBlock((await s.get(blockKey(n2Block)))!.value).affinity, null);
  assert.deepEqual(await ipam.addressesOfHandle("tabby-net.borrower"), [`${borrowedIp}`]);
  assert.equal(problemCount(checkIpam(await readSnapshot(s))), 0, JSON.stringify(checkIpam(await readSnapshot(s))));

  // Once the borrower goes, the block (empty, affine to no one) is released as well.
  await ipam.releaseByHandle("tabby-net.borrower");
  await unwep("borrower");
  clock.advance(MIN);
  await ctl.step();
  clock.advance(GRACE);
  r = await ctl.step();
  assert.deepEqual(r?.blocksReleased, [n2Block]);
  assert.equal(problemCount(checkIpam(await readSnapshot(s))), 0);
});

test("KubeControllersConfiguration's leakGracePeriod overrides the option; 0 disables collection", async () => {
  assert.equal(graceFromKubeControllersConfig(undefined), undefined);
  assert.equal(graceFromKubeControllersConfig(v3("KubeControllersConfiguration", "default", { controllers: { node: { leakGracePeriod: "5m0s" } } })), 5 * MIN);
  assert.equal(graceFromKubeControllersConfig(v3("KubeControllersConfiguration", "default", { controllers: { node: { leakGracePeriod: "0" } } })), "disabled");
  assert.equal(graceFromKubeControllersConfig(v3("KubeControllersConfiguration", "default", { controllers: {} })), undefined);
  const { clock, s, ipam, assign } = await setup();
  await assign("gone");
  await s.put(
    resourceKey("KubeControllersConfiguration", "default"),
    v3("KubeControllersConfiguration", "default", { controllers: { node: { leakGracePeriod: "1m" } } }),
  );
  const ctl = new IpamGcController(s, { identity: "c1", clock, graceMs: GRACE, intervalMs: 10_000 });
  await ctl.step();
  clock.advance(MIN);
  const r = await ctl.step();
  assert.deepEqual(r?.plan.releaseHandles, ["tabby-net.gone"], "1m from the resource, not the 15m option");
  assert.deepEqual(await ipam.addressesOfHandle("tabby-net.gone"), []);
});
