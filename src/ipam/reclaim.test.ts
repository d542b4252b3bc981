import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { resourceKey } from "../model/keys.js";
import { MemoryStore } from "../datastore/memory.js";
import { readSnapshot } from "./collect.js";
import { checkIpam, problemCount } from "./gc.js";
import { EMPTY_BLOCK_MIN_RECLAIM_AGE_MS, Ipam } from "./ipam.js";
import { encodeConfig, CONFIG_KEY } from "./keys.js";

const v3 = (kind: string, name: string, spec: unknown) => JSON.stringify({ apiVersion: "projectcalico.org/v3", kind, metadata: { name }, spec });

for (const strictAffinity of [true, false]) {
  test(`a host that finds the pool carved takes over another host's empty block once it is a minute old (strictAffinity ${strictAffinity})`, async () => {
    const clock = new FakeClock();
    const s = new MemoryStore(clock);
    // Two blocks of four addresses.
    await s.put(resourceKey("IPPool", "p"), v3("IPPool", "p", { cidr: "10.9.0.0/29", blockSize: 30 }));
    await s.put(CONFIG_KEY, encodeConfig({ strictAffinity, autoAllocateBlocks: true, maxBlocksPerHost: 0 }));
    for (const n of ["n1", "n2"]) await s.put(resourceKey("Node", n), v3("Node", n, {}));
    const ipam = new Ipam(s, { clock });
    await ipam.autoAssign({ handle: "a", node: "n1", num4: 5, num6: 0 });
    assert.equal((await ipam.blocksOfNode("n1")).length, 2);
    // n1 keeps one address in one block; the other block is empty now.
    const kept = (await ipam.addressesOfHandle("a"))[0]!;
    await ipam.releaseIPs((await ipam.addressesOfHandle("a")).slice(1));
    const busy = (await ipam.blocksOfNode("n1")).find((b) => b.allocated > 0)!.cidr;
    if (strictAffinity) {
      await assert.rejects(ipam.autoAssign({ handle: "b", node: "n2", num4: 1, num6: 0 }), { code: "IPAM_EXHAUSTED" }, "too young to take over");
    }
    clock.advance(EMPTY_BLOCK_MIN_RECLAIM_AGE_MS);
    const got = await ipam.autoAssign({ handle: "c", node: "n2", num4: 1, num6: 0 });
    const n2 = await ipam.blocksOfNode("n2");
    assert.equal(n2.length, 1, "n2 claimed a block of its own");
    assert.notEqual(n2[0]!.cidr, busy, "the empty one, not the one in use");
    assert.deepEqual(
      (await ipam.blocksOfNode("n1")).map((b) => b.cidr),
      [busy],
    );
    assert.ok(got.ipv4[0]!.startsWith(n2[0]!.cidr.split(".").slice(0, 3).join(".")));
    assert.deepEqual(await ipam.addressesOfHandle("a"), [kept]);
    assert.equal(problemCount(checkIpam(await readSnapshot(s))), 0, "no block shared, no affinity left behind");
  });
}
