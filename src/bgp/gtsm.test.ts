// GTSM (RFC 5082) pure parts: the exact socket options per family, the hop-count bounds, and
// the TTL read from a saved SYN's network header (IPv4 byte 8, IPv6 byte 7; anything else none).
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkHops, gtsmOptions, listenerGtsmOptions, minTtl, synTtl } from "./gtsm.js";

test("GTSM socket options: TTL 255 out, minimum 256 - hops in, IPv4 and IPv6 levels", () => {
  assert.deepEqual(gtsmOptions(4, 1), [
    { level: 0, name: 2, value: 255 },
    { level: 0, name: 21, value: 255 },
  ]);
  assert.deepEqual(gtsmOptions(6, 2), [
    { level: 41, name: 16, value: 255 },
    { level: 41, name: 73, value: 254 },
  ]);
  assert.deepEqual(listenerGtsmOptions(4), [
    { level: 0, name: 2, value: 255 },
    { level: 6, name: 27, value: 1 },
  ]);
  assert.deepEqual(listenerGtsmOptions(6), [
    { level: 0, name: 2, value: 255 },
    { level: 41, name: 16, value: 255 },
    { level: 6, name: 27, value: 1 },
  ]);
  assert.equal(minTtl(1), 255);
  assert.equal(minTtl(254), 2);
});

test("ttlSecurity is a whole hop count from 1 to 254", () => {
  for (const ok of [1, 2, 254]) assert.equal(checkHops(ok, "p"), ok);
  for (const bad of [0, -1, 255, 1.5, "1", null]) assert.throws(() => checkHops(bad, "peer x"), { code: "BGP_GTSM_HOPS", message: /peer x: ttlSecurity/ });
});

test("synTtl reads the TTL of any IPv4 or IPv6 header and nothing else", () => {
  for (let ttl = 0; ttl < 256; ttl++) {
    const v4 = new Uint8Array(40);
    v4[0] = 0x45;
    v4[8] = ttl;
    assert.equal(synTtl(v4), ttl);
    const v6 = new Uint8Array(60);
    v6[0] = 0x60;
    v6[7] = ttl;
    assert.equal(synTtl(v6), ttl);
  }
  assert.equal(synTtl(new Uint8Array(0)), undefined);
  assert.equal(synTtl(Uint8Array.of(0x45, 0, 0)), undefined, "truncated IPv4 header");
  assert.equal(synTtl(new Uint8Array(39).fill(0x60)), undefined, "truncated IPv6 header");
  assert.equal(synTtl(new Uint8Array(60).fill(0x50)), undefined, "not IP");
});
