import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { hasCode } from "../../errors.js";
import { decodeLink, decodeReplies, delLink, getLink, macBytes, message, newAddr, newVeth, replyErrno, setLink } from "./codec.js";
import { NLMSG_ERROR, RTM_NEWLINK, RTPROT_BOOT, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE } from "./constants.js";
import { newRoute } from "./route-codec.js";

/** Hex with spaces, comments after '#', line breaks: laid out by hand from the uapi headers. */
const hex = (s: string) => Buffer.from(s.replace(/#.*$/gm, "").replace(/\s+/g, ""), "hex");

test("RTM_DELLINK by name: header, empty ifinfomsg, IFLA_IFNAME padded to 4", () => {
  assert.deepEqual(
    delLink(7, "tab0123456789a"),
    hex(`
      34000000 1100 0500 07000000 00000000   # len 52, RTM_DELLINK, REQUEST|ACK, seq 7, port 0
      00 00 0000 00000000 00000000 00000000  # ifinfomsg: AF_UNSPEC, index 0, flags 0, change 0
      1300 0300 7461623031323334353637383961 00 00  # IFLA_IFNAME (19 bytes) "tab0123456789a\\0" + 1 pad
    `),
  );
});

test("RTM_GETLINK by name and RTM_NEWLINK setting up and a MAC by index", () => {
  assert.deepEqual(
    getLink(2, "eth0"),
    hex(`
      2c000000 1200 0500 02000000 00000000   # len 44, RTM_GETLINK, REQUEST|ACK
      00 00 0000 00000000 00000000 00000000
      0900 0300 65746830 00 000000           # IFLA_IFNAME "eth0\\0" + 3 pad
    `),
  );
  assert.deepEqual(
    setLink(3, 9, { up: true, mac: "0A:58:0a:00:00:07" }),
    hex(`
      2c000000 1000 0500 03000000 00000000   # len 44, RTM_NEWLINK, REQUEST|ACK (no CREATE: change only)
      00 00 0000 09000000 01000000 01000000  # index 9, flags IFF_UP, change mask IFF_UP
      0a00 0100 0a580a000007 0000            # IFLA_ADDRESS, 6 bytes + 2 pad
    `),
  );
});

test("RTM_NEWLINK veth: peer (ifinfomsg + name, namespace fd, MTU) nested in LINKINFO/INFO_DATA/VETH_INFO_PEER", () => {
  const got = newVeth(1, { name: "tabX", mac: "ee:ee:ee:ee:ee:ee", mtu: 1400, peerName: "eth0", peerNetnsFd: 21, peerMtu: 1400 });
  assert.deepEqual(
    got,
    hex(`
      84000000 1000 0506 01000000 00000000   # len 132, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE (0x605)
      00 00 0000 00000000 00000000 00000000
      0900 0300 74616258 00 000000           # IFLA_IFNAME "tabX"
      0a00 0100 eeeeeeeeeeee 0000            # IFLA_ADDRESS
      0800 0400 78050000                     # IFLA_MTU 1400
      4400 1280                              # IFLA_LINKINFO | NLA_F_NESTED, 68 bytes
        0900 0100 76657468 00 000000         #   IFLA_INFO_KIND "veth"
        3400 0280                            #   IFLA_INFO_DATA | NESTED, 52 bytes
          3000 0100                          #     VETH_INFO_PEER, 48 bytes
            00 00 0000 00000000 00000000 00000000  # the peer's ifinfomsg
            0900 0300 65746830 00 000000     #     IFLA_IFNAME "eth0"
            0800 1c00 15000000               #     IFLA_NET_NS_FD 21
            0800 0400 78050000               #     IFLA_MTU 1400
    `),
  );
});

test("RTM_NEWADDR: IPv4 /32 and IPv6 /128 without DAD, create-or-replace, IFA_LOCAL and IFA_ADDRESS", () => {
  assert.deepEqual(
    newAddr(4, 5, "10.65.0.1/32"),
    hex(`
      28000000 1400 0505 04000000 00000000   # len 40, RTM_NEWADDR, REQUEST|ACK|REPLACE|CREATE
      02 20 00 00 05000000                   # AF_INET, /32, no flags, scope universe, index 5
      0800 0200 0a410001                     # IFA_LOCAL
      0800 0100 0a410001                     # IFA_ADDRESS
    `),
  );
  assert.deepEqual(
    newAddr(5, 5, "fd00:65::1/128", { nodad: true }),
    hex(`
      40000000 1400 0505 05000000 00000000
      0a 80 02 00 05000000                   # AF_INET6, /128, IFA_F_NODAD
      1400 0200 fd000065000000000000000000000001
      1400 0100 fd000065000000000000000000000001
    `),
  );
});

test("RTM_NEWROUTE: on-link /32, default via a gateway, IPv6 default via a link-local", () => {
  assert.deepEqual(
    newRoute(6, { dst: "169.254.1.1/32", oif: 5, scope: RT_SCOPE_LINK, protocol: RTPROT_BOOT }),
    hex(`
      2c000000 1800 0505 06000000 00000000   # len 44, RTM_NEWROUTE, REQUEST|ACK|REPLACE|CREATE
      02 20 00 00 fe 03 fd 01 00000000       # AF_INET /32, table main, proto boot, scope link, unicast
      0800 0100 a9fe0101                     # RTA_DST
      0800 0400 05000000                     # RTA_OIF 5
    `),
  );
  assert.deepEqual(
    newRoute(7, { dst: "0.0.0.0/0", gateway: "169.254.1.1", oif: 5, scope: RT_SCOPE_UNIVERSE, protocol: 152 }),
    hex(`
      2c000000 1800 0505 07000000 00000000
      02 00 00 00 fe 98 00 01 00000000       # /0 (no RTA_DST), proto 152, scope universe
      0800 0500 a9fe0101                     # RTA_GATEWAY
      0800 0400 05000000
    `),
  );
  assert.deepEqual(
    newRoute(8, { dst: "::/0", gateway: "fe80::ecee:eeff:feee:eeee", oif: 5, scope: RT_SCOPE_UNIVERSE, protocol: RTPROT_BOOT }),
    hex(`
      38000000 1800 0505 08000000 00000000
      0a 00 00 00 fe 03 00 01 00000000
      1400 0500 fe80000000000000ecee eefffeeeeeee
      0800 0400 05000000
    `),
  );
  assert.throws(
    () => newRoute(9, { dst: "::/0", gateway: "169.254.1.1", oif: 5, scope: 0, protocol: 3 }),
    (e) => hasCode(e, "NET_BAD_PREFIX"),
  );
  assert.throws(
    () => newAddr(9, 5, "10.0.0.1/33"),
    (e) => hasCode(e, "NET_BAD_PREFIX"),
  );
  assert.throws(
    () => macBytes("ee:ee:ee:ee:ee"),
    (e) => hasCode(e, "DP_BAD_MAC"),
  );
});

test("replies: an acknowledgement, an errno, and a link decoded from RTM_NEWLINK", () => {
  const ack = hex("24000000 0200 0001 07000000 39300000  00000000  14000000 1100 0500 07000000 00000000");
  const nack = hex("24000000 0200 0000 08000000 39300000  edffffff  14000000 1000 0506 08000000 00000000");
  const link = hex(`
    40000000 1000 0000 03000000 39300000
    00 00 0100 07000000 43100100 ffffffff      # index 7, flags UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
    0900 0300 65746830 00 000000               # IFLA_IFNAME "eth0"
    0800 0400 dc050000                         # IFLA_MTU 1500
    0a00 0100 aabbccddee01 0000                # IFLA_ADDRESS
  `);
  const replies = decodeReplies(Buffer.concat([link, ack, nack]));
  assert.deepEqual(
    replies.map((r) => [r.type, r.seq]),
    [
      [RTM_NEWLINK, 3],
      [NLMSG_ERROR, 7],
      [NLMSG_ERROR, 8],
    ],
  );
  assert.equal(replyErrno(replies[1]!), 0);
  assert.equal(replyErrno(replies[2]!), 19, "-ENODEV");
  assert.deepEqual(decodeLink(replies[0]!), { index: 7, name: "eth0", mac: "aa:bb:cc:dd:ee:01", mtu: 1500, up: true });
  assert.throws(
    () => decodeLink(replies[1]!),
    (e) => hasCode(e, "DP_NETLINK_DECODE"),
  );
});

test("property: decodeReplies of any bytes returns messages within the buffer or throws DP_NETLINK_DECODE", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        const rs = decodeReplies(Buffer.from(bytes));
        for (const r of rs) assert.ok(r.payload.length <= bytes.length);
      } catch (e) {
        assert.ok(hasCode(e, "DP_NETLINK_DECODE"), String(e));
      }
    }),
  );
  // A well-formed message survives being followed by arbitrary padding-sized garbage.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 0xffffffff }), (type, seq) => {
      const [r] = decodeReplies(message(type, 0, seq, Buffer.alloc(4)));
      assert.deepEqual([r!.type, r!.seq, r!.payload.length], [type, seq, 4]);
    }),
  );
});
