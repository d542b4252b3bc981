// Property tests (fast-check): every valid Control packet round-trips; random bytes make the
// decoder throw nothing but BfdError, and whatever it accepts re-encodes to its first Length bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeControl, encodeControl, STATE_NAMES, type BfdAuth, type ControlPacket } from "./packet.js";
import { BfdError } from "../errors.js";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const auth: fc.Arbitrary<BfdAuth> = fc.oneof(
  fc.record({ type: fc.constant(1 as const), keyId: fc.integer({ min: 0, max: 255 }), password: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.integer({ min: 2, max: 5 }).chain((t) =>
    fc.record({
      type: fc.constant(t as 2 | 3 | 4 | 5),
      keyId: fc.integer({ min: 0, max: 255 }),
      sequence: u32,
      digest: fc.uint8Array({ minLength: t <= 3 ? 16 : 20, maxLength: t <= 3 ? 16 : 20 }),
    }),
  ),
);

const packet: fc.Arbitrary<ControlPacket> = fc
  .record({
    diag: fc.integer({ min: 0, max: 31 }),
    state: fc.constantFrom(...STATE_NAMES),
    poll: fc.boolean(),
    final: fc.boolean(),
    controlPlaneIndependent: fc.boolean(),
    demand: fc.boolean(),
    detectMult: fc.integer({ min: 1, max: 255 }),
    myDiscriminator: fc.integer({ min: 1, max: 0xffffffff }),
    yourDiscriminator: u32,
    desiredMinTx: u32,
    requiredMinRx: u32,
    requiredMinEchoRx: u32,
    auth: fc.option(auth, { nil: undefined }),
  })
  .map((r) => {
    const p: ControlPacket = { ...r, version: 1, multipoint: false };
    if (r.auth === undefined) delete p.auth;
    else p.auth = { ...r.auth };
    // a zero your-discriminator is only valid in Down and AdminDown
    if (p.yourDiscriminator === 0 && (p.state === "Init" || p.state === "Up")) p.yourDiscriminator = 1;
    return p;
  });

test("valid Control packets round-trip (decode ∘ encode = id)", () => {
  fc.assert(
    fc.property(packet, (p) => {
      assert.deepEqual(decodeControl(encodeControl(p)), p);
    }),
    { numRuns: 2000 },
  );
});

test("random bytes: only BfdError, and accepted packets re-encode to their Length bytes", () => {
  // biased towards version 1 so the later checks are reached too
  const raw = fc.uint8Array({ minLength: 0, maxLength: 80 }).map((b) => {
    if (b.length > 0 && b[0]! & 1) b[0] = 0x20 | (b[0]! & 0x1f);
    return b;
  });
  fc.assert(
    fc.property(raw, (b) => {
      let p: ControlPacket;
      try {
        p = decodeControl(b);
      } catch (e) {
        assert.ok(e instanceof BfdError, String(e));
        return;
      }
      assert.deepEqual(encodeControl(p), b.subarray(0, b[3]));
    }),
    { numRuns: 5000 },
  );
});
