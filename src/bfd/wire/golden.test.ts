// Annotated golden bytes for BFD Control packets (RFC 5880 §4.1-§4.4), decoded and re-encoded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeControl, encodeControl, type ControlPacket } from "./packet.js";

const bytes = (...parts: (number | number[])[]) => Uint8Array.from(parts.flat());

test("Down packet as a new session sends it (your discriminator 0, 1 s slow rate)", () => {
  const wire = bytes(
    0x20, // version 1 (001), diag 0 (00000)
    0x40, // state Down (01), P F C A D M all clear
    0x03, // detect mult 3
    0x18, // length 24
    [0x00, 0x00, 0x00, 0x2a], // my discriminator 42
    [0x00, 0x00, 0x00, 0x00], // your discriminator 0 (unknown yet)
    [0x00, 0x0f, 0x42, 0x40], // desired min tx 1,000,000 µs (1 s while not Up)
    [0x00, 0x04, 0x93, 0xe0], // required min rx 300,000 µs
    [0x00, 0x00, 0x00, 0x00], // required min echo rx 0 (no echo)
  );
  const p = decodeControl(wire);
  assert.deepEqual(p, {
    version: 1,
    diag: 0,
    state: "Down",
    poll: false,
    final: false,
    controlPlaneIndependent: false,
    demand: false,
    multipoint: false,
    detectMult: 3,
    myDiscriminator: 42,
    yourDiscriminator: 0,
    desiredMinTx: 1_000_000,
    requiredMinRx: 300_000,
    requiredMinEchoRx: 0,
  } satisfies ControlPacket);
  assert.deepEqual(encodeControl(p), wire);
});

test("Up packet with Poll, diag and C bit set, large discriminators", () => {
  const wire = bytes(
    0x21, // version 1, diag 1 (control detection time expired, left from the last Down)
    0xe8, // state Up (11), P (0x20) set, C (0x08) set
    0x05, // detect mult 5
    0x18, // length 24
    [0xff, 0xff, 0xff, 0xfe], // my discriminator 4294967294
    [0x80, 0x00, 0x00, 0x01], // your discriminator 2147483649
    [0x00, 0x00, 0xc3, 0x50], // desired min tx 50,000 µs
    [0x00, 0x01, 0x86, 0xa0], // required min rx 100,000 µs
    [0x00, 0x00, 0xc3, 0x50], // required min echo rx 50,000 µs
  );
  const p = decodeControl(wire);
  assert.equal(p.state, "Up");
  assert.equal(p.diag, 1);
  assert.equal(p.poll, true);
  assert.equal(p.final, false);
  assert.equal(p.controlPlaneIndependent, true);
  assert.equal(p.demand, false);
  assert.equal(p.myDiscriminator, 0xfffffffe);
  assert.equal(p.yourDiscriminator, 0x80000001);
  assert.equal(p.desiredMinTx, 50_000);
  assert.equal(p.requiredMinRx, 100_000);
  assert.equal(p.requiredMinEchoRx, 50_000);
  assert.deepEqual(encodeControl(p), wire);
});

test("Init packet with Final and Demand bits, AdminDown diag values", () => {
  const wire = bytes(0x27, 0x92, 0x01, 0x18, [0, 0, 0, 7], [0, 0, 0, 9], [0, 0, 0x27, 0x10], [0, 0, 0x27, 0x10], [0, 0, 0, 0]);
  // 0x27: version 1, diag 7 (administratively down); 0x92: Init (10), F (0x10), D (0x02)
  const p = decodeControl(wire);
  assert.deepEqual([p.state, p.diag, p.final, p.demand, p.poll, p.detectMult], ["Init", 7, true, true, false, 1]);
  assert.deepEqual(encodeControl(p), wire);
});

test("simple password authentication section (§4.2)", () => {
  const wire = bytes(
    0x20,
    0xc4,
    0x03,
    0x20, // version 1, Up with A (0x04), mult 3, length 32
    [0, 0, 0, 1],
    [0, 0, 0, 2],
    [0, 0x04, 0x93, 0xe0],
    [0, 0x04, 0x93, 0xe0],
    [0, 0, 0, 0],
    0x01, // auth type 1 (simple password)
    0x08, // auth len 8 = 3 + 5
    0x07, // auth key id 7
    [0x74, 0x61, 0x62, 0x62, 0x79], // password "tabby"
  );
  const p = decodeControl(wire);
  assert.deepEqual(p.auth, { type: 1, keyId: 7, password: new TextEncoder().encode("tabby") });
  assert.deepEqual(encodeControl(p), wire);
});

test("keyed SHA1 authentication section (§4.4)", () => {
  const digest = Array.from({ length: 20 }, (_, i) => i + 0xa0);
  const wire = bytes(
    0x20,
    0xc4,
    0x03,
    0x34, // Up with A, length 52 = 24 + 28
    [0, 0, 0, 1],
    [0, 0, 0, 2],
    [0, 0x04, 0x93, 0xe0],
    [0, 0x04, 0x93, 0xe0],
    [0, 0, 0, 0],
    0x04, // auth type 4 (keyed SHA1)
    0x1c, // auth len 28
    0x02, // auth key id 2
    0x00, // reserved
    [0x00, 0x01, 0x00, 0x05], // sequence number 65541
    digest, // auth key / hash (20 bytes)
  );
  const p = decodeControl(wire);
  assert.deepEqual(p.auth, { type: 4, keyId: 2, sequence: 65541, digest: Uint8Array.from(digest) });
  assert.deepEqual(encodeControl(p), wire);
});

test("keyed MD5 and meticulous keyed MD5 sections (§4.3) are 24 bytes", () => {
  for (const type of [2, 3] as const) {
    const wire = bytes(
      0x20,
      0xc4,
      0x03,
      0x30,
      [0, 0, 0, 1],
      [0, 0, 0, 2],
      [0, 0, 0, 1],
      [0, 0, 0, 1],
      [0, 0, 0, 0],
      type,
      0x18,
      0x01,
      0x00,
      [0, 0, 0, 9],
      Array(16).fill(0x5a),
    );
    const p = decodeControl(wire);
    assert.equal(p.auth?.type, type);
    assert.deepEqual(encodeControl(p), wire);
  }
});

test("bytes past the Length field (UDP padding) are ignored", () => {
  const wire = bytes(0x20, 0x40, 0x03, 0x18, [0, 0, 0, 1], [0, 0, 0, 0], [0, 0x0f, 0x42, 0x40], [0, 0x0f, 0x42, 0x40], [0, 0, 0, 0], [0xde, 0xad]);
  assert.deepEqual(encodeControl(decodeControl(wire)), wire.subarray(0, 24));
});
