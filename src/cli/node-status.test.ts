// `tabby node status`'s readiness section: one line per check, its component's last error below.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatHealth } from "./node-status.js";

test("formatHealth: ready or not, each check, last errors with their age", () => {
  const text = formatHealth({
    ready: false,
    live: true,
    checks: [
      { name: "datastore", ok: true, detail: "in sync", lastError: { message: "invalid GlobalNetworkPolicy broken: spec.selector: bad", ageSeconds: 123 } },
      { name: "dataplane", ok: true, detail: "programmed" },
      { name: "bgp", ok: false, detail: "0 of 1 peers Established" },
    ],
  });
  assert.equal(
    text,
    [
      "Readiness: NOT ready",
      "  datastore  ok    in sync",
      "                   last error 2m3s ago: invalid GlobalNetworkPolicy broken: spec.selector: bad",
      "  dataplane  ok    programmed",
      "  bgp        FAIL  0 of 1 peers Established",
      "",
    ].join("\n"),
  );
});
