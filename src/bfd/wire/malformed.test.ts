// Malformed-packet corpus: each RFC 5880 §6.8.6 reception check that discards a packet, with the
// stable code it is refused with.
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkAuthPresence, decodeControl } from "./packet.js";
import { BfdError } from "../errors.js";

const valid = () => Uint8Array.from([0x20, 0xc0, 0x03, 0x18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0x04, 0x93, 0xe0, 0, 0x04, 0x93, 0xe0, 0, 0, 0, 0]);
const edit = (f: (b: Uint8Array) => void) => {
  const b = valid();
  f(b);
  return b;
};

const CORPUS: [string, Uint8Array, string][] = [
  ["shorter than 24 bytes", valid().subarray(0, 23), "BFD_LENGTH"],
  ["empty", new Uint8Array(0), "BFD_LENGTH"],
  ["version 0", edit((b) => (b[0] = 0x00)), "BFD_VERSION"],
  ["version 2", edit((b) => (b[0] = 0x40)), "BFD_VERSION"],
  ["version 7", edit((b) => (b[0] = 0xe0)), "BFD_VERSION"],
  ["Length field below 24", edit((b) => (b[3] = 23)), "BFD_LENGTH"],
  ["Length field 0", edit((b) => (b[3] = 0)), "BFD_LENGTH"],
  ["Length field beyond the payload", edit((b) => (b[3] = 25)), "BFD_LENGTH"],
  ["A bit set and Length 24 (below 26)", edit((b) => (b[1] = 0xc4)), "BFD_LENGTH"],
  ["detect mult 0", edit((b) => (b[2] = 0)), "BFD_DETECT_MULT"],
  ["multipoint bit", edit((b) => (b[1] = 0xc1)), "BFD_MULTIPOINT"],
  ["my discriminator 0", edit((b) => b.fill(0, 4, 8)), "BFD_MY_DISCRIMINATOR"],
  ["your discriminator 0 in Up", edit((b) => b.fill(0, 8, 12)), "BFD_YOUR_DISCRIMINATOR"],
  [
    "your discriminator 0 in Init",
    edit((b) => {
      b.fill(0, 8, 12);
      b[1] = 0x80;
    }),
    "BFD_YOUR_DISCRIMINATOR",
  ],
  [
    "auth len beyond the section",
    Uint8Array.from([...valid().subarray(0, 3), 28, ...valid().subarray(4), 1, 9, 1, 0x61]).map((v, i) => (i === 1 ? 0xc4 : v)),
    "BFD_AUTH_LENGTH",
  ],
  [
    "simple password of 0 bytes",
    Uint8Array.from([...valid().subarray(0, 3), 27, ...valid().subarray(4), 1, 3, 1]).map((v, i) => (i === 1 ? 0xc4 : v)),
    "BFD_AUTH_LENGTH",
  ],
  [
    "keyed SHA1 with Auth Len 24",
    Uint8Array.from([...valid().subarray(0, 3), 52, ...valid().subarray(4), 4, 24, 1, 0, ...Array(24).fill(0)]).map((v, i) => (i === 1 ? 0xc4 : v)),
    "BFD_AUTH_LENGTH",
  ],
  [
    "unknown auth type 6",
    Uint8Array.from([...valid().subarray(0, 3), 28, ...valid().subarray(4), 6, 4, 1, 0]).map((v, i) => (i === 1 ? 0xc4 : v)),
    "BFD_AUTH_TYPE",
  ],
];

for (const [name, wire, code] of CORPUS) {
  test(`discarded: ${name} (${code})`, () => {
    assert.throws(
      () => decodeControl(wire),
      (e: unknown) => e instanceof BfdError && e.code === code,
    );
  });
}

test("your discriminator 0 is accepted in Down and AdminDown", () => {
  assert.equal(
    decodeControl(
      edit((b) => {
        b.fill(0, 8, 12);
        b[1] = 0x40;
      }),
    ).state,
    "Down",
  );
  assert.equal(
    decodeControl(
      edit((b) => {
        b.fill(0, 8, 12);
        b[1] = 0x00;
      }),
    ).state,
    "AdminDown",
  );
});

test("A bit against the session's authentication (BFD_AUTH_MISMATCH both ways)", () => {
  const plain = decodeControl(valid());
  checkAuthPresence(plain, false);
  assert.throws(
    () => checkAuthPresence(plain, true),
    (e: unknown) => e instanceof BfdError && e.code === "BFD_AUTH_MISMATCH",
  );
  const withAuth = decodeControl(Uint8Array.from([...valid().subarray(0, 3), 28, ...valid().subarray(4), 1, 4, 1, 0x61]).map((v, i) => (i === 1 ? 0xc4 : v)));
  checkAuthPresence(withAuth, true);
  assert.throws(
    () => checkAuthPresence(withAuth, false),
    (e: unknown) => e instanceof BfdError && e.code === "BFD_AUTH_MISMATCH",
  );
});
