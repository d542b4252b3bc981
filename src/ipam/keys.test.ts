import { test } from "node:test";
import assert from "node:assert/strict";
import {
  affinityKey,
  affinityPrefix,
  blockKey,
  decodeAffinity,
  decodeBlock,
  decodeConfig,
  decodeHandle,
  encodeConfig,
  encodeHandle,
  handleKey,
  parseAffinityKey,
  parseBlockKey,
} from "./keys.js";
import { poolFromResource, usablePools } from "./pools.js";

test("Calico's IPAM keys, both families", () => {
  assert.equal(blockKey("10.0.0.0/26"), "/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26");
  assert.equal(blockKey("fd00::40/122"), "/calico/ipam/v2/assignment/ipv6/block/fd00::40-122");
  assert.equal(affinityKey("node-1", "10.0.0.0/26"), "/calico/ipam/v2/host/node-1/ipv4/block/10.0.0.0-26");
  assert.equal(affinityKey("node-1", "fd00::/122"), "/calico/ipam/v2/host/node-1/ipv6/block/fd00::-122");
  assert.equal(affinityPrefix("n"), "/calico/ipam/v2/host/n/");
  assert.equal(affinityPrefix("n", 6), "/calico/ipam/v2/host/n/ipv6/block/");
  assert.equal(handleKey("k8s-pod-network.abc"), "/calico/ipam/v2/handle/k8s-pod-network.abc");
  assert.throws(() => handleKey("a/b"), { code: "IPAM_BAD_HANDLE" });
  assert.equal(parseBlockKey(blockKey("fd00::40/122")), "fd00::40/122");
  assert.deepEqual(parseAffinityKey(affinityKey("h", "fd00::/122")), { host: "h", cidr: "fd00::/122" });
  assert.equal(parseBlockKey("/calico/ipam/v2/assignment/ipv4/block/"), undefined);
  assert.equal(parseAffinityKey("/calico/ipam/v2/host/h"), undefined);
});

test("values: Calico's field names, tolerant reading", () => {
  assert.deepEqual(decodeAffinity('{"state":"confirmed","deleted":false}'), { state: "confirmed", deleted: false });
  assert.deepEqual(decodeAffinity("{}"), { state: "pending", deleted: false });
  const h = { handleID: "x", block: { "10.0.0.0/26": 2 }, deleted: false };
  assert.equal(encodeHandle(h), '{"handleID":"x","block":{"10.0.0.0/26":2},"deleted":false}');
  assert.deepEqual(decodeHandle(encodeHandle(h)), h);
  const c = { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 4 };
  assert.equal(encodeConfig(c), '{"strict_affinity":true,"auto_allocate_blocks":true,"maxBlocksPerHost":4}');
  assert.deepEqual(decodeConfig(encodeConfig(c)), c);
  assert.deepEqual(decodeConfig('{"spec":{"strictAffinity":true}}'), { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 0 });
  assert.deepEqual(decodeConfig("{}"), { strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0 });
  assert.throws(() => decodeBlock("[]"), { code: "IPAM_BAD_VALUE" });
  assert.throws(() => decodeBlock("nope"), { code: "IPAM_BAD_VALUE" });
  assert.throws(() => decodeBlock('{"cidr":"10.0.0.0/30","allocations":[null],"unallocated":[]}'), { code: "IPAM_BAD_VALUE" });
});

test("IPPool resources: defaults, validation, which pools serve a node", () => {
  const p = poolFromResource(JSON.stringify({ metadata: { name: "a" }, spec: { cidr: "10.65.1.7/16" } }));
  assert.deepEqual(
    { ...p, cidr: p.cidr.toString() },
    { name: "a", cidr: "10.65.0.0/16", blockSize: 26, disabled: false, nodeSelector: "all()", allowedUses: ["Workload", "Tunnel"] },
  );
  assert.equal(poolFromResource({ metadata: { name: "b" }, spec: { cidr: "fd00::/48" } }).blockSize, 122);
  assert.throws(() => poolFromResource({ spec: { cidr: "10.0.0.0/24", blockSize: 19 } }), { code: "IPAM_BAD_POOL" });
  assert.throws(() => poolFromResource({ spec: { cidr: "10.0.0.0/28", blockSize: 26 } }), { code: "IPAM_BAD_POOL" });
  assert.throws(() => poolFromResource({ spec: { cidr: "fd00::/64", blockSize: 115 } }), { code: "IPAM_BAD_POOL" });
  assert.throws(() => poolFromResource({ spec: {} }), { code: "IPAM_BAD_POOL" });
  const pools = [
    poolFromResource({ metadata: { name: "z" }, spec: { cidr: "10.1.0.0/16" } }),
    poolFromResource({ metadata: { name: "a" }, spec: { cidr: "10.2.0.0/16", nodeSelector: "rack == 'x'" } }),
    poolFromResource({ metadata: { name: "off" }, spec: { cidr: "10.3.0.0/16", disabled: true } }),
    poolFromResource({ metadata: { name: "lb" }, spec: { cidr: "10.4.0.0/16", allowedUses: ["LoadBalancer"] } }),
    poolFromResource({ metadata: { name: "v6" }, spec: { cidr: "fd00::/64" } }),
  ];
  const names = (ps: { name: string }[]) => ps.map((x) => x.name);
  assert.deepEqual(names(usablePools(pools, 4, {})), ["z"], "without a matcher, Calico's selectors: rack == 'x' needs the label");
  assert.deepEqual(names(usablePools(pools, 4, { rack: "x" })), ["a", "z"]);
  const matcher = (sel: string, labels: Readonly<Record<string, string>>) => sel === "rack == 'x'" && labels.rack === "x";
  assert.deepEqual(names(usablePools(pools, 4, { rack: "y" }, undefined, matcher)), ["z"]);
  assert.deepEqual(names(usablePools(pools, 4, { rack: "y" }, ["a"], matcher)), ["a"], "requested pools bypass the selector");
  assert.deepEqual(names(usablePools(pools, 4, {}, ["10.1.0.0/16", "off"])), ["z"], "by CIDR; disabled never");
  assert.deepEqual(names(usablePools(pools, 6, {})), ["v6"]);
});
