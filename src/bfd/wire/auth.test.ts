// BFD authentication (RFC 5880 §6.7): signed packets verify; a changed byte, a wrong key or key
// id, a replayed or far-off sequence number are refused with their codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { signControl, verifyControl, type BfdAuthConfig } from "./auth.js";
import { decodeControl, type ControlPacket } from "./packet.js";
import { BfdError } from "../errors.js";

const P: ControlPacket = {
  version: 1,
  diag: 0,
  state: "Up",
  poll: false,
  final: false,
  controlPlaneIndependent: false,
  demand: false,
  multipoint: false,
  detectMult: 3,
  myDiscriminator: 1,
  yourDiscriminator: 2,
  desiredMinTx: 300_000,
  requiredMinRx: 300_000,
  requiredMinEchoRx: 0,
};
const code = (c: string) => (e: unknown) => e instanceof BfdError && e.code === c;

test("keyed SHA1: the hash is SHA1 over the packet with the zero-padded key in the hash field (§6.7.4)", () => {
  const c: BfdAuthConfig = { type: "keyed-sha1", keyId: 5, key: "tabbysecret" };
  const wire = signControl(P, c, 0x01020304);
  assert.equal(wire.length, 52);
  assert.deepEqual([...wire.subarray(24, 32)], [4, 28, 5, 0, 1, 2, 3, 4]);
  const copy = wire.slice();
  const key = new Uint8Array(20);
  key.set(Buffer.from("tabbysecret"));
  copy.set(key, 32);
  assert.deepEqual(wire.subarray(32), new Uint8Array(createHash("sha1").update(copy).digest()));
  const rx = verifyControl(wire, decodeControl(wire), c, { known: false, seq: 0 });
  assert.deepEqual(rx, { known: true, seq: 0x01020304 });
});

for (const type of ["keyed-md5", "meticulous-keyed-md5", "keyed-sha1", "meticulous-keyed-sha1", "simple"] as const) {
  test(`${type}: a changed byte, another key or key id are refused`, () => {
    const c: BfdAuthConfig = { type, keyId: 1, key: "k3y" };
    const wire = signControl(P, c, 10);
    verifyControl(wire, decodeControl(wire), c, { known: false, seq: 0 });
    if (type !== "simple") {
      const bad = wire.slice();
      bad[17] = bad[17]! ^ 1; // required min rx changed in flight
      assert.throws(() => verifyControl(bad, decodeControl(bad), c, { known: false, seq: 0 }), code("BFD_AUTH_FAILED"));
    }
    assert.throws(() => verifyControl(wire, decodeControl(wire), { ...c, key: "other" }, { known: false, seq: 0 }), code("BFD_AUTH_FAILED"));
    assert.throws(() => verifyControl(wire, decodeControl(wire), { ...c, keyId: 2 }, { known: false, seq: 0 }), code("BFD_AUTH_KEY_ID"));
    const otherType = type === "simple" ? "keyed-sha1" : "simple";
    assert.throws(() => verifyControl(wire, decodeControl(wire), { ...c, type: otherType }, { known: false, seq: 0 }), code("BFD_AUTH_TYPE"));
  });
}

test("sequence window: keyed accepts the same number, meticulous needs a newer one; both refuse past 3 × Detect Mult", () => {
  for (const [type, sameOk] of [
    ["keyed-sha1", true],
    ["meticulous-keyed-sha1", false],
  ] as const) {
    const c: BfdAuthConfig = { type, keyId: 1, key: "k" };
    const at = (seq: number, known: { known: boolean; seq: number }) => {
      const w = signControl(P, c, seq);
      return verifyControl(w, decodeControl(w), c, known);
    };
    const known = { known: true, seq: 0xfffffffe };
    if (sameOk) at(0xfffffffe, known);
    else assert.throws(() => at(0xfffffffe, known), code("BFD_AUTH_SEQUENCE"));
    assert.deepEqual(at(7, known), { known: true, seq: 7 }, "wraps modulo 2^32: 9 ahead is within 3 × 3");
    assert.throws(() => at(8, known), code("BFD_AUTH_SEQUENCE"));
    assert.throws(() => at(0xfffffffd, known), code("BFD_AUTH_SEQUENCE"), "behind");
    assert.deepEqual(at(12345, { known: false, seq: 0 }).seq, 12345, "any number while unknown");
  }
});
