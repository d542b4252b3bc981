// Selection deferral of a restarting speaker (RFC 4724 §4.1): done when every peer is up and has
// sent End-of-RIB for each negotiated family (peers without GR, or restarting too, not waited for),
// or when the timer fires; no peers means not done.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { SelectionDeferral, selectionReady, type DeferralPeer } from "./deferral.js";
import type { Negotiated } from "./negotiate.js";
import type { AddressFamily } from "./wire/constants.js";

const neg = (gr: "helper" | "restarting" | "none", families: AddressFamily[] = ["ipv4"]): Negotiated =>
  ({
    families,
    gracefulRestart: gr === "none" ? undefined : { restarting: gr === "restarting", restartTime: 120, families: new Map(), notification: false },
  }) as unknown as Negotiated;
const up = (n: Negotiated, eor: AddressFamily[] = []): DeferralPeer => ({ established: true, negotiated: n, eorReceived: new Set(eor) });

test("selectionReady: every peer up and done", () => {
  assert.equal(selectionReady([]), false, "no peers");
  assert.equal(selectionReady([{ established: false, negotiated: undefined, eorReceived: new Set() }]), false);
  assert.equal(selectionReady([up(neg("helper", ["ipv4", "ipv6"]), ["ipv4"])]), false, "IPv6 End-of-RIB missing");
  assert.equal(selectionReady([up(neg("helper", ["ipv4", "ipv6"]), ["ipv4", "ipv6"])]), true);
  assert.equal(selectionReady([up(neg("none")), up(neg("restarting"))]), true, "not waited for");
  assert.equal(selectionReady([up(neg("helper"), ["ipv4"]), { established: false, negotiated: undefined, eorReceived: new Set() }]), false);
});

test("SelectionDeferral: the timer ends it once; resolve after the FIB has the table", async () => {
  const clock = new FakeClock();
  const d = new SelectionDeferral(true, clock);
  let expired = 0;
  let done = false;
  void d.whenDone().then(() => (done = true));
  d.arm(360, () => {
    expired++;
    assert.ok(d.end());
  });
  clock.advance(359_000);
  assert.ok(d.active);
  clock.advance(1_000);
  assert.equal(expired, 1);
  assert.ok(!d.active);
  assert.equal(d.end(), false, "only once");
  await Promise.resolve();
  assert.ok(!done, "not before resolve");
  d.resolve();
  await d.whenDone();
  // not restarting: done from the start, arm does nothing
  const n = new SelectionDeferral(false, clock);
  n.arm(1, () => assert.fail("no timer"));
  clock.advance(2_000);
  await n.whenDone();
});
