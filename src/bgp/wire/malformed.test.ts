// Malformed messages and their RFC 7606 / RFC 4271 classification.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage } from "./messages.js";
import type { UpdateMessage } from "./update.js";
import { BgpProtocolError } from "../errors.js";
import type { CodecOptions } from "./attributes.js";

const MARKER = Array(16).fill(0xff);
const AS4: CodecOptions = { as4: true, addPath: { ipv4: false, ipv6: false } };

/** An UPDATE around the given attribute bytes and NLRI. */
function update(attrs: number[], nlri: number[] = [0x18, 0x0a, 0x00, 0x00]): Uint8Array {
  const len = 19 + 2 + 2 + attrs.length + nlri.length;
  return Uint8Array.from([...MARKER, len >> 8, len & 0xff, 0x02, 0x00, 0x00, attrs.length >> 8, attrs.length & 0xff, ...attrs, ...nlri]);
}

const ORIGIN_IGP = [0x40, 0x01, 0x01, 0x00];
const AS_PATH_EMPTY = [0x40, 0x02, 0x00];
const NEXT_HOP = [0x40, 0x03, 0x04, 0x0a, 0x00, 0x00, 0x01];

function errorOf(fn: () => unknown): BgpProtocolError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BgpProtocolError, `not a BgpProtocolError: ${String(e)}`);
    return e;
  }
  assert.fail("no error thrown");
}

test("bad marker", () => {
  const m = update([...ORIGIN_IGP, ...AS_PATH_EMPTY, ...NEXT_HOP]);
  m[0] = 0xfe;
  const e = errorOf(() => decodeMessage(m, AS4));
  assert.deepEqual([e.notifyCode, e.notifySubcode, e.action], [1, 1, "session-reset"]);
});

test("bad length field and too-short messages", () => {
  const m = update([...ORIGIN_IGP, ...AS_PATH_EMPTY, ...NEXT_HOP]);
  m[17] = m[17]! + 1;
  assert.deepEqual([errorOf(() => decodeMessage(m, AS4)).notifyCode, errorOf(() => decodeMessage(m, AS4)).notifySubcode], [1, 2]);
  const ka = Uint8Array.from([...MARKER, 0, 20, 4, 0]); // KEEPALIVE must be exactly 19
  assert.equal(errorOf(() => decodeMessage(ka)).notifySubcode, 2);
  const badType = Uint8Array.from([...MARKER, 0, 19, 9]);
  const e = errorOf(() => decodeMessage(badType));
  assert.deepEqual([e.notifyCode, e.notifySubcode, [...e.data]], [1, 3, [9]]);
});

test("truncated attribute (length overruns the attribute field) → 3/1 session reset", () => {
  const e = errorOf(() => decodeMessage(update([...ORIGIN_IGP, 0x40, 0x02, 0x09, 0x02, 0x01]), AS4));
  assert.deepEqual([e.notifyCode, e.notifySubcode, e.action], [3, 1, "session-reset"]);
});

test("bad ORIGIN value → treat-as-withdraw (3/6), the NLRI are still returned", () => {
  const u = decodeMessage(update([0x40, 0x01, 0x01, 0x07, ...AS_PATH_EMPTY, ...NEXT_HOP]), AS4) as UpdateMessage;
  assert.ok(u.errors!.every((e) => e.action === "treat-as-withdraw"));
  assert.deepEqual([u.errors![0]!.notifyCode, u.errors![0]!.notifySubcode, u.errors![0]!.action], [3, 6, "treat-as-withdraw"]);
  assert.deepEqual(
    u.nlri.map((n) => n.prefix.toString()),
    ["10.0.0.0/24"],
  );
});

test("duplicate attribute → first kept, the repeat discarded", () => {
  const u = decodeMessage(update([...ORIGIN_IGP, ...AS_PATH_EMPTY, ...NEXT_HOP, 0x40, 0x01, 0x01, 0x02]), AS4) as UpdateMessage;
  assert.equal(u.attributes.origin, 0);
  assert.deepEqual(
    u.errors?.map((e) => e.action),
    ["attribute-discard"],
  );
});

test("duplicate MP_REACH_NLRI → session reset", () => {
  const mp = [0x80, 0x0e, 0x05, 0x00, 0x02, 0x01, 0x00, 0x00];
  assert.equal(errorOf(() => decodeMessage(update([...mp, ...mp], []), AS4)).action, "session-reset");
});

test("missing well-known attribute → treat-as-withdraw (3/3)", () => {
  const u = decodeMessage(update([...ORIGIN_IGP, ...NEXT_HOP]), AS4) as UpdateMessage;
  assert.deepEqual(
    u.errors?.map((e) => [e.notifySubcode, e.action]),
    [[3, "treat-as-withdraw"]],
  );
});

test("bad attribute flags → that attribute's action; AGGREGATOR length → attribute-discard", () => {
  const u = decodeMessage(update([0x80, 0x01, 0x01, 0x00, ...AS_PATH_EMPTY, ...NEXT_HOP]), AS4) as UpdateMessage;
  assert.deepEqual(
    u.errors?.map((e) => [e.notifySubcode, e.action]),
    [
      [4, "treat-as-withdraw"],
      [3, "treat-as-withdraw"],
    ],
  );
  const a = decodeMessage(update([...ORIGIN_IGP, ...AS_PATH_EMPTY, ...NEXT_HOP, 0xc0, 0x07, 0x03, 1, 2, 3]), AS4) as UpdateMessage;
  assert.deepEqual(
    a.errors?.map((e) => e.action),
    ["attribute-discard"],
  );
  assert.equal(a.attributes.aggregator, undefined);
});

test("unknown optional transitive attribute passes through with the partial bit; unknown well-known resets", () => {
  const u = decodeMessage(update([...ORIGIN_IGP, ...AS_PATH_EMPTY, ...NEXT_HOP, 0xc0, 0x63, 0x02, 0xab, 0xcd]), AS4) as UpdateMessage;
  assert.deepEqual(u.attributes.unknown, [{ flags: 0xe0, type: 0x63, data: Uint8Array.of(0xab, 0xcd) }]);
  const e = errorOf(() => decodeMessage(update([...ORIGIN_IGP, ...AS_PATH_EMPTY, ...NEXT_HOP, 0x40, 0x63, 0x00]), AS4));
  assert.deepEqual([e.notifyCode, e.notifySubcode], [3, 2]);
});

test("NLRI prefix longer than 32 bits → 3/10 session reset", () => {
  const e = errorOf(() => decodeMessage(update([...ORIGIN_IGP, ...AS_PATH_EMPTY, ...NEXT_HOP], [33, 1, 2, 3, 4, 5]), AS4));
  assert.deepEqual([e.notifyCode, e.notifySubcode, e.action], [3, 10, "session-reset"]);
});

test("OPEN with hold time ok but a truncated capability → 2/x", () => {
  const open = Uint8Array.from([...MARKER, 0, 33, 1, 4, 0xfd, 0xe8, 0, 90, 1, 2, 3, 4, 4, 2, 2, 65, 4]);
  const e = errorOf(() => decodeMessage(open));
  assert.equal(e.notifyCode, 2);
});
