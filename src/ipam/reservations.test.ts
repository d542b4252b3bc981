import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { hasCode } from "../errors.js";
import { resourceKey } from "../model/keys.js";
import { MemoryStore } from "../datastore/memory.js";
import { validateResource } from "../model/validate.js";
import { parsePrefix } from "../net/prefix.js";
import { Ipam } from "./ipam.js";
import { CONFIG_KEY, encodeConfig } from "./keys.js";
import { fullyReserved, reservedOrdinals } from "./reservations.js";

const res = (kind: string, name: string, spec: unknown) => ({ apiVersion: "projectcalico.org/v3", kind, metadata: { name }, spec });

test("reservedOrdinals: nested, covering and disjoint reservations", () => {
  const b = parsePrefix("10.0.0.8/29");
  assert.deepEqual([...reservedOrdinals(b, [parsePrefix("10.0.0.10/31"), parsePrefix("10.0.0.15/32"), parsePrefix("10.1.0.0/16")])].sort(), [2, 3, 7]);
  assert.equal(reservedOrdinals(b, [parsePrefix("10.0.0.0/24")]).size, 8);
  assert.ok(fullyReserved(b, [parsePrefix("10.0.0.8/30"), parsePrefix("10.0.0.12/30")]));
  assert.ok(!fullyReserved(b, [parsePrefix("10.0.0.8/30")]));
});

test("IPReservation and IPAMConfiguration validate as Calico does", () => {
  const r = validateResource(res("IPReservation", "r1", { reservedCIDRs: ["10.0.0.1", "10.0.1.0/24"] }));
  assert.deepEqual(r.spec, { reservedCIDRs: ["10.0.0.1", "10.0.1.0/24"] });
  assert.throws(() => validateResource(res("IPReservation", "r1", { reservedCIDRs: ["nope"] })), /reservedCIDRs\[0\]/);
  assert.throws(() => validateResource(res("IPReservation", "r1", { reserved: [] })), /unknown field|reserved/);
  const c = validateResource(res("IPAMConfiguration", "default", {}));
  assert.deepEqual(c.spec, { strictAffinity: false, maxBlocksPerHost: 0, autoAllocateBlocks: true });
  assert.throws(() => validateResource(res("IPAMConfiguration", "default", { maxBlocksPerHost: 2 })), /strictAffinity/);
  validateResource(res("IPAMConfiguration", "default", { maxBlocksPerHost: 2, strictAffinity: true }));
  assert.throws(() => validateResource(res("IPAMConfiguration", "other", {})), /default/);
  assert.throws(() => validateResource(res("IPAMConfiguration", "default", { maxBlocksPerHost: -1, strictAffinity: true })), /maxBlocksPerHost/);
});

test("autoAssign skips reserved addresses and fully reserved blocks", async () => {
  const s = new MemoryStore(new FakeClock());
  await s.put(resourceKey("IPPool", "p"), JSON.stringify(res("IPPool", "p", { cidr: "10.9.0.0/28", blockSize: 30 })));
  // Reserve two whole blocks and the first two addresses of the others.
  await s.put(
    resourceKey("IPReservation", "r"),
    JSON.stringify(res("IPReservation", "r", { reservedCIDRs: ["10.9.0.0/30", "10.9.0.4/30", "10.9.0.8/31", "10.9.0.12/31"] })),
  );
  const ipam = new Ipam(s, { clock: new FakeClock() });
  const got: string[] = [];
  for (let i = 0; i < 4; i++) got.push((await ipam.autoAssign({ handle: `h${i}`, node: "n1", num4: 1, num6: 0 })).ipv4[0]!);
  assert.deepEqual(got.sort(), ["10.9.0.10/32", "10.9.0.11/32", "10.9.0.14/32", "10.9.0.15/32"]);
  await assert.rejects(ipam.autoAssign({ handle: "h9", node: "n1", num4: 1, num6: 0 }), (e) => hasCode(e, "IPAM_EXHAUSTED"));
  const blocks = (await ipam.allBlocks()).map((b) => b.cidr).sort();
  assert.deepEqual(blocks, ["10.9.0.12/30", "10.9.0.8/30"], "fully reserved blocks are never claimed");
  // assignIP of a named reserved address is allowed (Calico's AssignIP).
  assert.equal(await ipam.assignIP({ ip: "10.9.0.8", handle: "hx", node: "n1" }), "10.9.0.8/32");
});

test("config: IPAMConfiguration default wins over the raw key; raw key still read", async () => {
  const s = new MemoryStore(new FakeClock());
  const ipam = new Ipam(s);
  assert.equal((await ipam.config()).strictAffinity, false);
  await s.put(CONFIG_KEY, encodeConfig({ strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 3 }));
  assert.deepEqual(await ipam.config(), { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 3 });
  await s.put(
    resourceKey("IPAMConfiguration", "default"),
    JSON.stringify(res("IPAMConfiguration", "default", { strictAffinity: false, autoAllocateBlocks: false })),
  );
  assert.deepEqual(await ipam.config(), { strictAffinity: false, autoAllocateBlocks: false, maxBlocksPerHost: 0 });
});
