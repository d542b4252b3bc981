// Annotated golden bytes: each message spelled out one field per line, decoded and re-encoded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, ceaseNotification, shutdownCommunication } from "./messages.js";
import { endOfRib, isEndOfRib, type UpdateMessage } from "./update.js";
import type { OpenMessage } from "./open.js";
import type { CodecOptions } from "./attributes.js";
import { parsePrefix } from "../../net/prefix.js";
import { parseIP } from "../../net/ip.js";

const MARKER = Array(16).fill(0xff);
const bytes = (...parts: (number | number[])[]) => Uint8Array.from(parts.flat());
const AS4: CodecOptions = { as4: true, addPath: { ipv4: false, ipv6: false } };
const AS4_ADDPATH4: CodecOptions = { as4: true, addPath: { ipv4: true, ipv6: false } };

test("OPEN with capabilities", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x39], // length 57
    0x01, // type OPEN
    0x04, // version 4
    [0xfc, 0x00], // my AS 64512
    [0x00, 0x5a], // hold time 90
    [0x0a, 0x00, 0x00, 0x01], // BGP identifier 10.0.0.1
    0x1c, // optional parameters length 28
    0x02,
    0x1a, // parameter type 2 (capabilities), length 26
    [0x01, 0x04, 0x00, 0x01, 0x00, 0x01], // MP: AFI 1 (IPv4), reserved, SAFI 1
    [0x01, 0x04, 0x00, 0x02, 0x00, 0x01], // MP: AFI 2 (IPv6), reserved, SAFI 1
    [0x02, 0x00], // route refresh
    [0x41, 0x04, 0x00, 0x00, 0xfc, 0x00], // 4-octet AS 64512
    [0x45, 0x04, 0x00, 0x01, 0x01, 0x01], // ADD-PATH: IPv4 unicast, receive
  );
  const m = decodeMessage(wire) as OpenMessage;
  assert.deepEqual(m, {
    type: "open",
    version: 4,
    myAs: 64512,
    holdTime: 90,
    routerId: "10.0.0.1",
    capabilities: [
      { code: 1, afi: 1, safi: 1 },
      { code: 1, afi: 2, safi: 1 },
      { code: 2 },
      { code: 65, asNumber: 64512 },
      { code: 69, families: [{ afi: 1, safi: 1, mode: 1 }] },
    ],
  });
  assert.deepEqual(encodeMessage(m), wire);
});

test("OPEN: graceful restart capability is parsed", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x27],
    0x01,
    0x04,
    [0xfd, 0xe8],
    [0x00, 0x09],
    [0x01, 0x02, 0x03, 0x04],
    0x0a,
    0x02,
    0x08,
    [0x40, 0x06, 0x80, 0x78, 0x00, 0x01, 0x01, 0x80], // GR: R bit, 120 s; IPv4 unicast forwarding preserved
  );
  const m = decodeMessage(wire) as OpenMessage;
  assert.deepEqual(m.capabilities, [{ code: 64, restarting: true, notification: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] }]);
  assert.deepEqual(encodeMessage(m), wire);
});

test("IPv4 UPDATE with ADD-PATH, as BIRD sends it to a route reflector (bgp.md §2.7 capture)", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x34], // length 52
    0x02, // type UPDATE
    [0x00, 0x00], // withdrawn routes length 0
    [0x00, 0x15], // path attributes length 21
    [0x40, 0x01, 0x01, 0x00], // ORIGIN IGP
    [0x40, 0x02, 0x00], // AS_PATH empty (iBGP)
    [0x40, 0x03, 0x04, 0x0a, 0xff, 0x00, 0x05], // NEXT_HOP 10.255.0.5
    [0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64], // LOCAL_PREF 100
    [0x00, 0x00, 0x00, 0x02], // path id 2
    [0x18, 0x0a, 0x05, 0x00], // 10.5.0.0/24
  );
  const m = decodeMessage(wire, AS4_ADDPATH4) as UpdateMessage;
  assert.equal(m.type, "update");
  assert.deepEqual(m.withdrawn, []);
  assert.equal(m.attributes.origin, 0);
  assert.deepEqual(m.attributes.asPath, []);
  assert.equal(m.attributes.nextHop?.toString(), "10.255.0.5");
  assert.equal(m.attributes.localPref, 100);
  assert.deepEqual(
    m.nlri.map((n) => [n.pathId, n.prefix.toString()]),
    [[2, "10.5.0.0/24"]],
  );
  assert.deepEqual(encodeMessage(m, AS4_ADDPATH4), wire);
});

test("IPv4 UPDATE reflected by a route reflector: ORIGINATOR_ID, CLUSTER_LIST, two NLRI", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x4a], // length 74
    0x02,
    [0x00, 0x00], // no withdrawn routes
    [0x00, 0x23], // attributes length 35
    [0x40, 0x01, 0x01, 0x00], // ORIGIN IGP
    [0x40, 0x02, 0x00], // AS_PATH empty
    [0x40, 0x03, 0x04, 0x0a, 0xff, 0x00, 0x04], // NEXT_HOP 10.255.0.4
    [0x40, 0x05, 0x04, 0x00, 0x00, 0x00, 0x64], // LOCAL_PREF 100
    [0x80, 0x09, 0x04, 0x7f, 0x00, 0x00, 0x04], // ORIGINATOR_ID 127.0.0.4
    [0x80, 0x0a, 0x04, 0x7f, 0x00, 0x00, 0x03], // CLUSTER_LIST [127.0.0.3]
    [0x00, 0x00, 0x00, 0x01, 0x18, 0x0a, 0x04, 0x00], // path id 1, 10.4.0.0/24
    [0x00, 0x00, 0x00, 0x01, 0x18, 0x0a, 0x63, 0x00], // path id 1, 10.99.0.0/24
  );
  const m = decodeMessage(wire, AS4_ADDPATH4) as UpdateMessage;
  assert.equal(m.attributes.originatorId, "127.0.0.4");
  assert.deepEqual(m.attributes.clusterList, ["127.0.0.3"]);
  assert.deepEqual(
    m.nlri.map((n) => n.prefix.toString()),
    ["10.4.0.0/24", "10.99.0.0/24"],
  );
  assert.deepEqual(encodeMessage(m, AS4_ADDPATH4), wire);
});

test("eBGP UPDATE: withdrawn, AS_PATH with 4-byte ASNs, MED, communities, large community, aggregator", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x61], // length 97
    0x02,
    [0x00, 0x04], // withdrawn length 4
    [0x18, 0xc0, 0x00, 0x02], // withdraw 192.0.2.0/24
    [0x00, 0x43], // attributes length 67
    [0x40, 0x01, 0x01, 0x02], // ORIGIN INCOMPLETE
    [0x40, 0x02, 0x0a, 0x02, 0x02, 0x00, 0x00, 0xfd, 0xe9, 0x00, 0x01, 0x00, 0x00], // AS_SEQUENCE [65001, 65536]
    [0x40, 0x03, 0x04, 0xc6, 0x33, 0x64, 0x01], // NEXT_HOP 198.51.100.1
    [0x80, 0x04, 0x04, 0x00, 0x00, 0x00, 0x0a], // MED 10
    [0x40, 0x06, 0x00], // ATOMIC_AGGREGATE
    [0xc0, 0x07, 0x08, 0x00, 0x00, 0xfd, 0xe9, 0xc6, 0x33, 0x64, 0x01], // AGGREGATOR AS 65001, 198.51.100.1
    [0xc0, 0x08, 0x04, 0xfd, 0xe9, 0x00, 0x07], // COMMUNITIES 65001:7
    [0xc0, 0x20, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02], // LARGE_COMMUNITY 65536:1:2
    [0x10, 0x0a, 0x01], // 10.1.0.0/16
  );
  const m = decodeMessage(wire, AS4) as UpdateMessage;
  assert.deepEqual(
    m.withdrawn.map((n) => n.prefix.toString()),
    ["192.0.2.0/24"],
  );
  assert.deepEqual(m.attributes.asPath, [{ type: 2, asns: [65001, 65536] }]);
  assert.equal(m.attributes.med, 10);
  assert.equal(m.attributes.atomicAggregate, true);
  assert.equal(m.attributes.aggregator?.asNumber, 65001);
  assert.deepEqual(m.attributes.communities, [65001 * 65536 + 7]);
  assert.deepEqual(m.attributes.largeCommunities, [[65536, 1, 2]]);
  assert.deepEqual(encodeMessage(m, AS4), wire);
});

test("MP_REACH_NLRI IPv6 UPDATE with a 32-byte (global + link-local) next hop", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x53], // length 83
    0x02,
    [0x00, 0x00], // no withdrawn routes
    [0x00, 0x3c], // attributes length 60
    [0x80, 0x0e, 0x2c], // MP_REACH_NLRI, optional, length 44
    [0x00, 0x02], // AFI IPv6
    0x01, // SAFI unicast
    0x20, // next hop length 32
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01], // 2001:db8::1
    [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01], // fe80::1
    0x00, // reserved
    [0x30, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01], // 2001:db8:1::/48
    [0x40, 0x01, 0x01, 0x00], // ORIGIN IGP
    [0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xe8], // AS_SEQUENCE [65000]
  );
  const m = decodeMessage(wire, AS4) as UpdateMessage;
  const mp = m.attributes.mpReach!;
  assert.equal(mp.family, "ipv6");
  assert.equal(mp.nextHop.toString(), "2001:db8::1");
  assert.equal(mp.linkLocal?.toString(), "fe80::1");
  assert.deepEqual(
    mp.nlri.map((n) => n.prefix.toString()),
    ["2001:db8:1::/48"],
  );
  assert.deepEqual(m.nlri, []);
  assert.deepEqual(encodeMessage(m, AS4), wire);
});

test("NOTIFICATION Cease/Administrative Shutdown with an RFC 9003 message", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x19], // length 25
    0x03, // type NOTIFICATION
    0x06, // Cease
    0x02, // Administrative Shutdown
    0x03, // shutdown communication length 3
    [0x62, 0x79, 0x65], // "bye"
  );
  assert.deepEqual(encodeMessage(ceaseNotification(2, "bye")), wire);
  const m = decodeMessage(wire);
  assert.equal(m.type, "notification");
  if (m.type === "notification") assert.equal(shutdownCommunication(m), "bye");
});

test("KEEPALIVE and ROUTE-REFRESH", () => {
  const ka = bytes(MARKER, [0x00, 0x13], 0x04);
  assert.deepEqual(encodeMessage({ type: "keepalive" }), ka);
  assert.deepEqual(decodeMessage(ka), { type: "keepalive" });
  const rr = bytes(MARKER, [0x00, 0x17], 0x05, [0x00, 0x02], 0x00, 0x01); // AFI 2, reserved, SAFI 1
  assert.deepEqual(decodeMessage(rr), { type: "route-refresh", afi: 2, safi: 1, subtype: 0 });
  assert.deepEqual(encodeMessage({ type: "route-refresh", afi: 2, safi: 1, subtype: 0 }), rr);
});

test("End-of-RIB markers for IPv4 and IPv6", () => {
  const eor4 = bytes(MARKER, [0x00, 0x17], 0x02, [0x00, 0x00], [0x00, 0x00]); // empty UPDATE, 23 bytes
  const eor6 = bytes(
    MARKER,
    [0x00, 0x1d], // length 29
    0x02,
    [0x00, 0x00], // no withdrawn routes
    [0x00, 0x06], // attributes length 6
    [0x80, 0x0f, 0x03, 0x00, 0x02, 0x01], // MP_UNREACH_NLRI AFI 2 SAFI 1, nothing withdrawn
  );
  assert.deepEqual(encodeMessage(endOfRib("ipv4")), eor4);
  assert.deepEqual(encodeMessage(endOfRib("ipv6")), eor6);
  assert.equal(isEndOfRib(decodeMessage(eor4) as UpdateMessage), "ipv4");
  assert.equal(isEndOfRib(decodeMessage(eor6) as UpdateMessage), "ipv6");
});

test("2-byte AS session: 4-byte ASNs go as AS_TRANS with AS4_PATH and merge back", () => {
  const two: CodecOptions = { as4: false, addPath: { ipv4: false, ipv6: false } };
  const u: UpdateMessage = {
    type: "update",
    withdrawn: [],
    attributes: { origin: 0, asPath: [{ type: 2, asns: [65001, 4200000001] }], nextHop: parseIP("192.0.2.1") },
    nlri: [{ prefix: parsePrefix("10.0.0.0/8"), pathId: 0 }],
  };
  const wire = encodeMessage(u, two);
  // AS_PATH carries 65001, 23456 (2 bytes each); AS4_PATH (type 17) the real path
  const hex = Buffer.from(wire).toString("hex");
  assert.ok(hex.includes("40020602 02fde95ba0".replace(" ", "")), hex);
  assert.ok(hex.includes("c0110a0202 0000fde9fa56ea01".replace(" ", "")), hex);
  const back = decodeMessage(wire, two) as UpdateMessage;
  assert.deepEqual(back.attributes.asPath, [{ type: 2, asns: [65001, 4200000001] }]);
  assert.equal(back.attributes.as4Path, undefined);
});

test("enhanced route refresh (RFC 7313): capability 70, BoRR and EoRR", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x21], // length 33
    0x01, // OPEN
    0x04,
    [0xfc, 0x00],
    [0x00, 0x5a],
    [0x0a, 0x00, 0x00, 0x01],
    0x04, // optional parameters length 4
    0x02,
    0x02, // capabilities, length 2
    [0x46, 0x00], // enhanced route refresh: code 70, length 0
  );
  const m = decodeMessage(wire) as OpenMessage;
  assert.deepEqual(m.capabilities, [{ code: 70 }]);
  assert.deepEqual(encodeMessage(m), wire);

  const borr = bytes(MARKER, [0x00, 0x17], 0x05, [0x00, 0x01], 0x01, 0x01); // AFI 1, subtype 1 (BoRR), SAFI 1
  const eorr = bytes(MARKER, [0x00, 0x17], 0x05, [0x00, 0x02], 0x02, 0x01); // AFI 2, subtype 2 (EoRR), SAFI 1
  assert.deepEqual(encodeMessage({ type: "route-refresh", afi: 1, safi: 1, subtype: 1 }), borr);
  assert.deepEqual(encodeMessage({ type: "route-refresh", afi: 2, safi: 1, subtype: 2 }), eorr);
  assert.deepEqual(decodeMessage(borr), { type: "route-refresh", afi: 1, safi: 1, subtype: 1 });
  assert.deepEqual(decodeMessage(eorr), { type: "route-refresh", afi: 2, safi: 1, subtype: 2 });
  // RFC 7313 §5: a BoRR/EoRR whose body is not 4 bytes → NOTIFICATION 7/1 carrying the whole message
  const long = bytes(MARKER, [0x00, 0x18], 0x05, [0x00, 0x01], 0x01, 0x01, 0x00);
  assert.throws(
    () => decodeMessage(long),
    (e: unknown) => {
      const err = e as { notifyCode: number; notifySubcode: number; data: Uint8Array };
      return err.notifyCode === 7 && err.notifySubcode === 1 && Buffer.from(err.data).equals(Buffer.from(long));
    },
  );
  // an unknown subtype decodes (the session ignores it, RFC 7313 §5)
  assert.deepEqual(decodeMessage(bytes(MARKER, [0x00, 0x17], 0x05, [0x00, 0x01], 0x07, 0x01)), { type: "route-refresh", afi: 1, safi: 1, subtype: 7 });
});

test("graceful restart capability as a restarting speaker: R bit, F bit per AFI/SAFI", () => {
  const wire = bytes(
    MARKER,
    [0x00, 0x2b], // length 43
    0x01,
    0x04,
    [0xfc, 0x00],
    [0x00, 0x5a],
    [0x0a, 0x00, 0x00, 0x02],
    0x0e, // optional parameters length 14
    0x02,
    0x0c, // capabilities, length 12
    0x40,
    0x0a, // graceful restart, length 10
    [0x80, 0x78], // R bit set, restart time 120
    [0x00, 0x01, 0x01, 0x80], // IPv4 unicast, F bit: forwarding preserved
    [0x00, 0x02, 0x01, 0x00], // IPv6 unicast, F bit clear
  );
  const m = decodeMessage(wire) as OpenMessage;
  assert.deepEqual(m.capabilities, [
    {
      code: 64,
      restarting: true,
      notification: false,
      restartTime: 120,
      families: [
        { afi: 1, safi: 1, forwarding: true },
        { afi: 2, safi: 1, forwarding: false },
      ],
    },
  ]);
  assert.deepEqual(encodeMessage(m), wire);
});
