import { test } from "node:test";
import assert from "node:assert/strict";
import { ConvergenceTracker } from "./convergence.js";

test("each event's time runs from when it was noted to the kernel change", () => {
  const t = new ConvergenceTracker();
  t.noteFib([{ prefix: "10.65.1.0/26", nextHops: ["10.99.0.2"] }], 1000);
  t.noteFib([{ prefix: "10.65.2.0/26", nextHops: [] }], 1010);
  t.noteWorkloads(["10.65.0.5/32"], 990);
  assert.deepEqual(t.programmed(1040), [
    { event: "route-learned", prefix: "10.65.1.0/26", ms: 40 },
    { event: "route-withdrawn", prefix: "10.65.2.0/26", ms: 30 },
    { event: "workload-added", prefix: "10.65.0.5/32", ms: 50 },
  ]);
  assert.deepEqual(t.programmed(2000), [], "nothing twice");
});

test("changes with a peer going down are one peer-down event (ECMP shrinks count too); the first noting starts the clock", () => {
  const t = new ConvergenceTracker();
  t.noteFib(
    [
      { prefix: "10.65.2.0/26", nextHops: [] },
      { prefix: "10.65.3.0/26", nextHops: [] },
      { prefix: "10.65.4.0/26", nextHops: ["10.99.0.4"] },
    ],
    500,
    ["10.99.0.2"],
  );
  t.noteFib([{ prefix: "10.65.5.0/26", nextHops: [] }], 510, ["10.99.0.2"]);
  t.noteFib([{ prefix: "10.65.4.0/26", nextHops: ["10.99.0.5"] }], 520);
  assert.deepEqual(t.programmed(530), [
    { event: "peer-down", peer: "10.99.0.2", routes: 4, ms: 30 },
    { event: "route-learned", prefix: "10.65.4.0/26", ms: 10 },
  ]);
  t.noteFib([{ prefix: "x", nextHops: [] }], 0);
  t.clear();
  assert.deepEqual(t.programmed(10), []);
});
