import { test } from "node:test";
import assert from "node:assert/strict";
import { hardReset, isHardReset, keepsRoutes, onTheWire, sentAsHardReset, unwrapHardReset } from "./gr-notification.js";
import { ceaseNotification, encodeMessage, type NotificationMessage } from "./wire/messages.js";

const n = (code: number, subcode: number, data: number[] = []): NotificationMessage => ({ type: "notification", code, subcode, data: Uint8Array.from(data) });

test("RFC 8538 §5.1: which Cease subcodes go out as a Hard Reset", () => {
  const hard = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter((sub) => sentAsHardReset(n(6, sub)));
  assert.deepEqual(hard, [1, 2, 3, 9, 10], "max prefixes, admin shutdown, de-configured, hard reset, BFD down");
  assert.equal(sentAsHardReset(n(4, 0)), false, "a hold timer expiry stays graceful");
  assert.equal(sentAsHardReset(n(3, 1)), false, "so does an UPDATE error");
});

test("RFC 8538 §3: a Hard Reset carries the original code, subcode and data; golden bytes", () => {
  const shutdown = ceaseNotification(2, "maintenance");
  const wrapped = hardReset(shutdown);
  assert.deepEqual(
    Buffer.from(encodeMessage(wrapped)).toString("hex"),
    // marker, length 35, NOTIFICATION, Cease / Hard Reset, then the carried 6/2 and its data
    // (RFC 8203: length 11, "maintenance")
    "ff".repeat(16) + "0023" + "03" + "06" + "09" + "0602" + "0b" + Buffer.from("maintenance").toString("hex"),
  );
  assert.ok(isHardReset(wrapped));
  assert.deepEqual(unwrapHardReset(wrapped), { ...shutdown, data: shutdown.data });
  assert.equal(hardReset(wrapped), wrapped, "a Hard Reset is not wrapped twice");
  assert.equal(unwrapHardReset(n(6, 9, [6])), undefined, "too short to carry one");
  assert.equal(unwrapHardReset(shutdown), undefined);
  assert.deepEqual(onTheWire(shutdown, true), wrapped, "with the N bit an administrative shutdown goes out as a Hard Reset");
  assert.equal(onTheWire(shutdown, false), shutdown, "without the N bit nothing changes");
  assert.equal(onTheWire(n(6, 6), true).subcode, 6, "a configuration change stays a plain Cease");
});

test("RFC 8538 §4: routes survive a NOTIFICATION unless it was, or went out as, a Hard Reset", () => {
  assert.equal(keepsRoutes(n(4, 0), true), true);
  assert.equal(keepsRoutes(n(4, 0), false), true);
  assert.equal(keepsRoutes(n(6, 6), true), true);
  assert.equal(keepsRoutes(n(6, 2), true), false, "we sent it as a Hard Reset");
  assert.equal(keepsRoutes(n(6, 2), false), true, "a peer's plain Cease under the N bit");
  assert.equal(keepsRoutes(n(6, 9, [6, 2]), false), false);
});
