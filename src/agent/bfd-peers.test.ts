import { test } from "node:test";
import assert from "node:assert/strict";
import { directlyConnected, planBfd } from "./bfd-peers.js";

const timers = { minRx: 100, minTx: 100, multiplier: 3 };

test("directly connected: a subnet of the node's or a point-to-point peer; other families never", () => {
  const connected = ["10.99.0.0/24", "10.98.1.1/32", "fd99::/64"];
  assert.equal(directlyConnected("10.99.0.7", connected), true);
  assert.equal(directlyConnected("10.98.1.1", connected), true);
  assert.equal(directlyConnected("10.98.1.2", connected), false);
  assert.equal(directlyConnected("fd99::9", connected), true);
  assert.equal(directlyConnected("fd98::1", connected), false);
  assert.equal(directlyConnected("not-an-ip", connected), false);
});

test("BFD only for the peers that ask and are directly connected; the others say why not", () => {
  const peers = [
    { address: "10.99.0.2", asNumber: 64512, passive: false, bfdIfDirectlyConnected: true },
    { address: "192.0.2.9", asNumber: 65000, passive: false, bfdIfDirectlyConnected: true },
    { address: "10.99.0.3", asNumber: 64512, passive: false },
  ];
  const plan = planBfd(peers, ["10.99.0.0/24"], timers);
  assert.deepEqual(plan.peers, [
    { address: "10.99.0.2", asNumber: 64512, passive: false, bfd: timers },
    { address: "192.0.2.9", asNumber: 65000, passive: false },
    { address: "10.99.0.3", asNumber: 64512, passive: false },
  ]);
  assert.deepEqual([...plan.off.keys()], ["192.0.2.9"]);
  assert.match(plan.off.get("192.0.2.9")!, /not directly connected/);
  assert.match(planBfd(peers, ["10.99.0.0/24"], undefined).off.get("10.99.0.2")!, /without BFD/);
  assert.match(planBfd(peers, undefined, timers).off.get("10.99.0.2")!, /unknown/);
  assert.equal(
    planBfd(peers, undefined, timers).peers.some((p) => "bfd" in p || "bfdIfDirectlyConnected" in p),
    false,
  );
});
