/**
 * The fast path's pure parts (fastpath.ts): which changes move the policy epoch on, the epoch's
 * range and wrap, and the rule texts' marks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FIXTURES } from "../../testkit/dataplane/nft/fixtures.js";
import { applyEvents, emptyState } from "./state.js";
import { renderTable } from "./render.js";
import { forwardHead, forwardTail, nextEpoch, policyChanged } from "./fastpath.js";
import { DEFAULT_CONTROL_PLANE } from "../../calc/policy-output.js";

const state = () => applyEvents(emptyState(), FIXTURES["k8s-default-deny"]!);

test("policyChanged: a policy's set, a policy, an endpoint removed → yes; control-plane and anti-spoofing sets, the epoch → no", () => {
  const base = renderTable(state(), 5);
  assert.equal(policyChanged(base, renderTable(state(), 6)), false, "the epoch alone");
  assert.equal(policyChanged(base, renderTable(applyEvents(state(), [{ ...DEFAULT_CONTROL_PLANE, nodeAddrs: ["10.99.0.14"] }]), 5)), false, "a node joined");
  assert.equal(
    policyChanged(base, renderTable(applyEvents(state(), [{ kind: "ipset-delta", id: "s:frontend", added: ["10.65.9.9"], removed: [] }]), 5)),
    true,
    "a policy's set grew",
  );
  assert.equal(
    policyChanged(
      base,
      renderTable(
        applyEvents(state(), [
          { kind: "policy-update", id: "np/ns1/default-deny", ingress: [{ id: "x", action: "deny", match: { protocol: 17 } }], egress: [] },
        ]),
        5,
      ),
    ),
    true,
    "a policy's rules changed",
  );
  assert.equal(
    policyChanged(base, renderTable(applyEvents(state(), [{ kind: "workload-endpoint-remove", id: "wep/tab0123456789a", iface: "tab0123456789a" }]), 5)),
    true,
    "an endpoint removed",
  );
});

test("epochs: 1..32767, wrapping; the marks in the rules", () => {
  assert.equal(nextEpoch(1), 2);
  assert.equal(nextEpoch(0x7fff), 1);
  assert.throws(() => forwardHead(0), RangeError);
  assert.throws(() => forwardTail(0x8000), RangeError);
  assert.match(forwardHead(0x7fff)[0]!, /ct mark & 0xffff0000 == 0x7fff0000 accept/);
  assert.match(forwardHead(3)[2]!, /ct mark & 0xffff0000 == 0x80030000 drop/);
  assert.equal(forwardTail(3), "ct mark set ct mark & 0x0000ffff | 0x00030000");
});
