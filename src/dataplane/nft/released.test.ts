import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeRunner } from "../exec.js";
import { NftDataplane } from "./driver.js";
import { addressOwners, releasedAddresses } from "./released.js";
import { minimalConfig, workload } from "../../testkit/dataplane/nft/fixtures.js";
import type { EndpointDirectionPolicy, PolicyDataplaneEvent } from "../../calc/policy-output.js";

const NONE: EndpointDirectionPolicy = { tiers: [], profiles: [] };
const w = (iface: string, ...addrs: string[]) => workload(iface, addrs, NONE, NONE);
const remove = (iface: string): PolicyDataplaneEvent => ({ kind: "workload-endpoint-remove", id: `wep/${iface}`, iface });

test("owners: single addresses only, IPv6 in RFC 5952 text", () => {
  assert.deepEqual(
    [...addressOwners([w("tab1", "10.0.0.1/32", "FD00:0:0::1/128"), w("tab2", "10.0.1.0/26", "10.0.0.2")])],
    [
      ["10.0.0.1", "tab1"],
      ["fd00::1", "tab1"],
      ["10.0.0.2", "tab2"],
    ],
  );
});

test("released: removed, changed addresses and moved interfaces; not kept ones nor new ones", () => {
  const before = addressOwners([w("tab1", "10.0.0.1/32", "fd00::1/128"), w("tab2", "10.0.0.2/32"), w("tab3", "10.0.0.3/32")]);
  // tab1 removed; tab2 changes its address; 10.0.0.3 moves to tab4; 10.0.0.9 is new
  const after = addressOwners([w("tab2", "10.0.0.22/32"), w("tab4", "10.0.0.3/32", "10.0.0.9/32")]);
  assert.deepEqual(releasedAddresses(before, after), ["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1"]);
  assert.deepEqual(releasedAddresses(before, before), []);
  assert.deepEqual(releasedAddresses(new Map(), after), [], "no previous owner: nothing to clean up");
});

test("driver: onReleased after the transaction that drops the address, never before in-sync", async () => {
  const runner = new FakeRunner();
  const seen: { addrs: string[]; transactions: number }[] = [];
  const dp = new NftDataplane(runner, {
    epoch: 1,
    onReleased: async (addrs) => {
      seen.push({ addrs, transactions: runner.calls.length });
    },
  });
  await dp.apply([minimalConfig(), w("tab1", "10.0.0.1/32", "fd00::1/128"), w("tab2", "10.0.0.2/32")]);
  await dp.apply([remove("tab1")]); // before in-sync: nothing programmed, nothing released
  assert.equal(seen.length, 0);
  await dp.apply([w("tab1", "10.0.0.1/32"), { kind: "in-sync" }]);
  assert.equal(seen.length, 0, "the first programming releases nothing");
  const programmed = runner.calls.length;
  await dp.apply([w("tab1", "10.0.0.1/32")]); // the same again
  await dp.apply([w("tab2", "10.0.0.2/32", "10.0.0.20/32")]); // an address added
  assert.equal(seen.length, 0);
  await dp.apply([remove("tab1"), w("tab2", "10.0.0.20/32")]);
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.addrs, ["10.0.0.1", "10.0.0.2"]);
  assert.ok(seen[0]!.transactions > programmed, "called once the transaction has run");
  // an address taken over by another interface in one batch
  await dp.apply([remove("tab2"), w("tab5", "10.0.0.20/32")]);
  assert.deepEqual(seen[1]!.addrs, ["10.0.0.20"]);
});

test("driver: a failed transaction releases nothing yet; the next programming does", async () => {
  const runner = new FakeRunner();
  const seen: string[][] = [];
  const dp = new NftDataplane(runner, { epoch: 1, onReleased: async (a) => void seen.push(a) });
  await dp.apply([minimalConfig(), w("tab1", "10.0.0.1/32"), { kind: "in-sync" }]);
  // the delta and the full replace that follows it both fail
  runner.on("nft -f -", { code: 1, stderr: "boom" }, { once: true }).on("nft -f -", { code: 1, stderr: "boom" }, { once: true });
  await assert.rejects(dp.apply([remove("tab1")]));
  assert.equal(seen.length, 0);
  await dp.apply([]);
  assert.deepEqual(seen, [["10.0.0.1"]]);
});
