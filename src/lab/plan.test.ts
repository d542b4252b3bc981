import { test } from "node:test";
import assert from "node:assert/strict";
import { planLab, labNamespaces, isLabNamespace } from "./plan.js";

test("lab plan: names and addresses", () => {
  const p = planLab({ name: "tabby", hosts: 3, workloads: 2 });
  assert.deepEqual(
    p.hosts.map((h) => [h.name, h.netns, h.ipv4, h.ipv6]),
    [
      ["h1", "tabby-h1", "10.99.0.11/24", "fd99::b/64"],
      ["h2", "tabby-h2", "10.99.0.12/24", "fd99::c/64"],
      ["h3", "tabby-h3", "10.99.0.13/24", "fd99::d/64"],
    ],
  );
  assert.deepEqual(
    p.workloads.map((w) => w.name),
    ["h1-w1", "h1-w2", "h2-w1", "h2-w2", "h3-w1", "h3-w2"],
  );
  assert.equal(labNamespaces(p).length, 6 + 3 + 1);
  assert.equal(labNamespaces(p).at(-1), "tabby-fabric");
  for (const ns of labNamespaces(p)) assert.ok(isLabNamespace("tabby", ns), ns);
  assert.equal(isLabNamespace("tabby", "tabby2-h1"), false);
  assert.equal(isLabNamespace("tabby", "other"), false);
});

test("lab plan: bad shapes are refused with a code", () => {
  assert.throws(() => planLab({ name: "Bad Name", hosts: 3, workloads: 2 }), { code: "LAB_BAD_NAME" });
  assert.throws(() => planLab({ name: "tabby", hosts: 0, workloads: 2 }), { code: "LAB_BAD_SHAPE" });
  assert.throws(() => planLab({ name: "tabby", hosts: 2, workloads: 2.5 }), { code: "LAB_BAD_SHAPE" });
});
