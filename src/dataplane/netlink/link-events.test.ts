import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { hasCode } from "../../errors.js";
import { LINK_ADDR_GROUPS, linkAddrChanges, noopRequest, recreatedLinks } from "./link-events.js";

/** Hex with spaces, comments after '#', line breaks: laid out by hand from the uapi headers. */
const hex = (s: string) => Buffer.from(s.replace(/#.*$/gm, "").replace(/\s+/g, ""), "hex");

test("the groups joined are RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR", () => {
  assert.deepEqual([...LINK_ADDR_GROUPS], [1, 5, 9]);
});

test("NLMSG_NOOP request: a bare header, REQUEST without ACK (the kernel answers nothing)", () => {
  assert.deepEqual(noopRequest(3), hex("10000000 0100 0100 03000000 00000000"));
});

test("a datagram with a link going down and an address removed: one of each counted", () => {
  const dgram = hex(`
    20000000 1000 0000 00000000 00000000   # len 32, RTM_NEWLINK, no flags, seq 0, port 0
    00 00 0100 07000000 02100000 00000000  # ifinfomsg: index 7, flags BROADCAST|MULTICAST (not UP)
    28000000 1500 0000 00000000 00000000   # len 40, RTM_DELADDR
    02 18 80 00 07000000                   # ifaddrmsg: AF_INET, /24, flags PERMANENT, scope 0, index 7
    0800 0100 0a630001                     # IFA_ADDRESS 10.99.0.1
    0800 0200 0a630001                     # IFA_LOCAL 10.99.0.1
  `);
  assert.deepEqual(linkAddrChanges(dgram), { links: 1, addresses: 1, newLinks: [], unnamedLinks: 1 });
});

test("a link (re)created: its name is read from IFLA_IFNAME; a removal names nothing", () => {
  const dgram = hex(`
    2c000000 1000 0000 00000000 00000000   # len 44, RTM_NEWLINK
    00 00 0100 09000000 43100100 00000000  # ifinfomsg: index 9, flags UP|BROADCAST|RUNNING|MULTICAST
    0a00 0300 746162773100 0000            # IFLA_IFNAME "tabw1" NUL, padded to 4
    20000000 1100 0000 00000000 00000000   # len 32, RTM_DELLINK
    00 00 0100 08000000 00000000 00000000  # ifinfomsg: index 8
  `);
  assert.deepEqual(linkAddrChanges(dgram), { links: 2, addresses: 0, newLinks: [{ name: "tabw1", index: 9 }], unnamedLinks: 0 });
});

test("route and neighbour messages are not counted; an overrunning length is refused", () => {
  const route = hex("1c000000 1800 0000 00000000 00000000 02 18 00 00 fe 98 00 01 00000000"); // RTM_NEWROUTE
  assert.deepEqual(linkAddrChanges(route), { links: 0, addresses: 0, newLinks: [], unnamedLinks: 0 });
  assert.throws(
    () => linkAddrChanges(hex("40000000 1000 0000 00000000 00000000")),
    (e) => hasCode(e, "DP_NETLINK_DECODE"),
  );
});

test("property: every message of a datagram is classified by its type alone, whatever its body", () => {
  const msg = fc.record({ type: fc.integer({ min: 0, max: 0xffff }), body: fc.uint8Array({ maxLength: 40 }) });
  fc.assert(
    fc.property(fc.array(msg, { maxLength: 8 }), (msgs) => {
      const parts = msgs.map(({ type, body }) => {
        const len = 16 + body.length;
        const b = Buffer.alloc((len + 3) & ~3);
        b.writeUInt32LE(len, 0);
        b.writeUInt16LE(type, 4);
        Buffer.from(body).copy(b, 16);
        return b;
      });
      const want = {
        links: msgs.filter((m) => m.type === 16 || m.type === 17).length,
        addresses: msgs.filter((m) => m.type === 20 || m.type === 21).length,
      };
      const got = linkAddrChanges(Buffer.concat(parts));
      assert.deepEqual({ links: got.links, addresses: got.addresses }, want);
      // every RTM_NEWLINK is named or counted as unnamed
      assert.ok(got.newLinks.length + got.unnamedLinks <= msgs.filter((m) => m.type === 16).length);
      assert.ok(got.newLinks.length + got.unnamedLinks >= Math.min(1, msgs.filter((m) => m.type === 16).length));
    }),
  );
});

test("recreatedLinks: a name is reported when first heard and when heard under another index, not when only its state changed", () => {
  const known = new Map<string, number>();
  assert.deepEqual(recreatedLinks(known, [{ name: "tabw1", index: 9 }]), ["tabw1"], "first heard (made, or the monitor is new)");
  assert.deepEqual(recreatedLinks(known, [{ name: "tabw1", index: 9 }]), [], "set up, carrier on: the same link");
  assert.deepEqual(
    recreatedLinks(known, [
      { name: "tabw1", index: 12 },
      { name: "tabw2", index: 13 },
    ]),
    ["tabw1", "tabw2"],
    "tabw1 made again, tabw2 new",
  );
  assert.deepEqual(
    [...known],
    [
      ["tabw1", 12],
      ["tabw2", 13],
    ],
  );
});
