import { test } from "node:test";
import assert from "node:assert/strict";
import { answer } from "./control.js";

const speaker = { peerStatus: () => [], routes: () => [] };

test("control: route-problems answers from the agent's extras, and is unknown without them", () => {
  const problems = [{ dst: "10.65.2.0/26", reason: "no route to next hop 10.77.0.1" }];
  assert.deepEqual(answer(speaker, { op: "route-problems" }, { routeProblems: () => problems }), { ok: true, result: problems });
  assert.deepEqual(answer(speaker, { op: "route-problems" }), { ok: false, error: 'unknown op "route-problems"' });
  assert.deepEqual(answer(speaker, { op: "peers" }), { ok: true, result: [] });
});
