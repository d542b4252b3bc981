import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { TabbyError } from "../../errors.js";
import { decodeReplies, dumpLinks, replyExtack, type Reply } from "./codec.js";
import { decodeAddr, decodeRoute, dumpAddrs, dumpRoutes, type NlRoute, routeMessage } from "./route-codec.js";
import { RTM_NEWADDR, RTM_NEWROUTE } from "./constants.js";

/** Hex with spaces, comments after '#', line breaks: laid out by hand from the uapi headers. */
const hex = (s: string) => Buffer.from(s.replace(/#.*$/gm, "").replace(/\s+/g, ""), "hex");
const one = (b: Buffer): Reply => decodeReplies(b)[0]!;

test("dump requests: routes and addresses per family, links; NLM_F_REQUEST|NLM_F_DUMP, no ACK", () => {
  assert.deepEqual(
    dumpRoutes(5, 4),
    hex(`
      1c000000 1a00 0103 05000000 00000000   # len 28, RTM_GETROUTE, REQUEST|ROOT|MATCH, seq 5, port 0
      02 00 00 00 00 00 00 00 00000000       # rtmsg: AF_INET, the rest 0
    `),
  );
  assert.deepEqual(dumpRoutes(1, 6).subarray(16, 17), hex("0a")); // AF_INET6
  assert.deepEqual(
    dumpAddrs(6, 6),
    hex(`
      18000000 1600 0103 06000000 00000000   # len 24, RTM_GETADDR, REQUEST|DUMP, seq 6
      0a 00 00 00 00000000                   # ifaddrmsg: AF_INET6, prefixlen/flags/scope 0, index 0
    `),
  );
  assert.deepEqual(
    dumpLinks(1),
    hex(`
      28000000 1200 0103 01000000 00000000   # len 40, RTM_GETLINK, REQUEST|DUMP, seq 1
      00 00 0000 00000000 00000000 00000000  # ifinfomsg: AF_UNSPEC, all 0
      0800 1d00 08000000                     # IFLA_EXT_MASK: RTEXT_FILTER_SKIP_STATS
    `),
  );
});

const viaRoute: NlRoute = { family: 4, dst: "10.65.0.0/26", table: 254, protocol: 152, scope: 0, type: 1, flags: 0, gateway: "10.98.1.1", oif: 7 };

test("RTM_NEWROUTE replace: unicast via a gateway out of a device, protocol 152, main table", () => {
  assert.deepEqual(
    routeMessage(9, "replace", viaRoute),
    hex(`
      34000000 1800 0505 09000000 00000000   # len 52, RTM_NEWROUTE, REQUEST|ACK|REPLACE|CREATE, seq 9
      02 1a 00 00 fe 98 00 01 00000000       # AF_INET, dst_len 26, src_len 0, tos 0, main, proto 152, universe, unicast, flags 0
      0800 0100 0a410000                     # RTA_DST 10.65.0.0
      0800 0500 0a620101                     # RTA_GATEWAY 10.98.1.1
      0800 0400 07000000                     # RTA_OIF 7
    `),
  );
});

test("RTM_NEWROUTE replace: IPv6 multipath, one rtnexthop with its RTA_GATEWAY per next hop", () => {
  const r: NlRoute = {
    family: 6,
    dst: "fd00:1::/64",
    table: 254,
    protocol: 152,
    scope: 0,
    type: 1,
    flags: 0,
    multipath: [
      { oif: 3, gateway: "fe80::1", flags: 0, hops: 0 },
      { oif: 4, gateway: "fe80::2", flags: 0, hops: 0 },
    ],
  };
  assert.deepEqual(
    routeMessage(2, "replace", r),
    hex(`
      6c000000 1800 0505 02000000 00000000   # len 108, RTM_NEWROUTE, REQUEST|ACK|REPLACE|CREATE, seq 2
      0a 40 00 00 fe 98 00 01 00000000       # AF_INET6, /64, main, proto 152, universe, unicast
      1400 0100 fd000001 00000000 00000000 00000000  # RTA_DST fd00:1::
      3c00 0900                              # RTA_MULTIPATH, 60 bytes
        1c00 00 00 03000000                  #   rtnexthop: len 28, flags 0, hops 0, ifindex 3
        1400 0500 fe800000 00000000 00000000 00000001  # RTA_GATEWAY fe80::1
        1c00 00 00 04000000                  #   rtnexthop: len 28, ifindex 4
        1400 0500 fe800000 00000000 00000000 00000002  # RTA_GATEWAY fe80::2
    `),
  );
});

test("RTM_NEWROUTE create (EXCL) of a blackhole; RTM_DELROUTE of any scope; the default route has no RTA_DST", () => {
  const base = { family: 4 as const, dst: "10.65.0.0/26", table: 254, protocol: 152, flags: 0 };
  assert.deepEqual(
    routeMessage(3, "create", { ...base, scope: 0, type: 6 }),
    hex(`
      24000000 1800 0506 03000000 00000000   # len 36, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq 3
      02 1a 00 00 fe 98 00 06 00000000       # AF_INET, /26, main, proto 152, universe, RTN_BLACKHOLE
      0800 0100 0a410000                     # RTA_DST 10.65.0.0
    `),
  );
  assert.deepEqual(
    routeMessage(4, "delete", { ...base, scope: 255, type: 0 }),
    hex(`
      24000000 1900 0500 04000000 00000000   # len 36, RTM_DELROUTE, REQUEST|ACK, seq 4
      02 1a 00 00 fe 98 ff 00 00000000       # AF_INET, /26, main, proto 152, scope nowhere (any), type unspec
      0800 0100 0a410000                     # RTA_DST 10.65.0.0
    `),
  );
  assert.deepEqual(
    routeMessage(5, "replace", { ...base, dst: "0.0.0.0/0", scope: 0, type: 1, gateway: "10.0.0.1" }),
    hex(`
      24000000 1800 0505 05000000 00000000   # len 36
      02 00 00 00 fe 98 00 01 00000000       # dst_len 0
      0800 0500 0a000001                     # RTA_GATEWAY 10.0.0.1 (no RTA_DST)
    `),
  );
});

test("a kernel RTM_NEWROUTE: RTA_TABLE over rtm_table, RTA_PRIORITY, RTA_OIF; a cloned flag kept", () => {
  const msg = hex(`
    3c000000 1800 0200 07000000 00000000     # len 60, RTM_NEWROUTE, MULTI, seq 7
    02 18 00 00 fc 02 fd 01 00020000         # AF_INET, /24, rtm_table 252 (compat), proto kernel, scope link, unicast, RTM_F_CLONED
    0800 0f00 e8030000                       # RTA_TABLE 1000
    0800 0100 0a630005                       # RTA_DST 10.99.0.5 (host bits: masked)
    0800 0600 64000000                       # RTA_PRIORITY 100
    0800 0400 02000000                       # RTA_OIF 2
    0800 0700 0a630001                       # RTA_PREFSRC (ignored)
  `);
  assert.deepEqual(decodeRoute(one(msg)), {
    family: 4,
    dst: "10.99.0.0/24",
    table: 1000,
    protocol: 2,
    scope: 253,
    type: 1,
    flags: 0x200,
    priority: 100,
    oif: 2,
  });
});

test("RTM_NEWADDR: a point-to-point address (IFA_LOCAL ≠ IFA_ADDRESS) and an IPv6 one (IFA_ADDRESS alone)", () => {
  const p2p = hex(`
    28000000 1400 0200 01000000 00000000     # len 40, RTM_NEWADDR, MULTI, seq 1
    02 20 80 00 05000000                     # AF_INET, /32, IFA_F_PERMANENT, scope universe, index 5
    0800 0100 0a000002                       # IFA_ADDRESS 10.0.0.2 (the peer)
    0800 0200 0a000001                       # IFA_LOCAL 10.0.0.1
  `);
  assert.deepEqual(decodeAddr(one(p2p)), { family: 4, prefixlen: 32, flags: 0x80, scope: 0, index: 5, address: "10.0.0.2", local: "10.0.0.1" });
  const v6 = hex(`
    2c000000 1400 0200 01000000 00000000     # len 44
    0a 40 00 00 03000000                     # AF_INET6, /64, index 3
    1400 0100 fd000000 00000000 00000000 00000005  # IFA_ADDRESS fd00::5
  `);
  assert.deepEqual(decodeAddr(one(v6)), { family: 6, prefixlen: 64, flags: 0, scope: 0, index: 3, address: "fd00::5" });
  assert.equal(RTM_NEWADDR, 20);
});

test("an NLMSG_ERROR with extended-ack attributes gives the kernel's words; without them, nothing", () => {
  const err = hex(`
    44000000 0200 0003 09000000 00000000     # len 68, NLMSG_ERROR, CAPPED|ACK_TLVS, seq 9
    eaffffff                                 # -EINVAL
    34000000 1800 0505 09000000 00000000     # the request's header only (capped)
    2000 0100 4e657874686f702068617320696e76616c69642067617465776179 00  # NLMSGERR_ATTR_MSG (32 bytes) "Nexthop has invalid gateway\\0"
  `);
  const r = one(err);
  assert.equal(replyExtack(r), "Nexthop has invalid gateway");
  assert.equal(replyExtack({ ...r, flags: 0 }), undefined);
});

const family = fc.constantFrom(4 as const, 6 as const);
const addrOf = (f: 4 | 6) => fc.uint8Array({ minLength: f === 4 ? 4 : 16, maxLength: f === 4 ? 4 : 16 });
const ipText = (b: Uint8Array) =>
  b.length === 4
    ? [...b].join(".")
    : // the canonical form, through the route's own decoder: build it with a /128 (or /32) and read it back
      decodeRoute(
        one(
          routeMessage(1, "replace", {
            family: 6,
            dst: `${[...Array(8)].map((_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(":")}/128`,
            table: 254,
            protocol: 0,
            scope: 0,
            type: 1,
            flags: 0,
          }),
        ),
      )!.dst.replace(/\/128$/, "");

const routeArb: fc.Arbitrary<NlRoute> = family.chain((f) =>
  fc
    .record(
      {
        addr: addrOf(f),
        len: fc.integer({ min: 0, max: f === 4 ? 32 : 128 }),
        table: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 256, max: 0xffffffff })),
        protocol: fc.integer({ min: 0, max: 255 }),
        scope: fc.integer({ min: 0, max: 255 }),
        type: fc.integer({ min: 0, max: 255 }),
        flags: fc.nat(),
        oif: fc.integer({ min: 0, max: 0x7fffffff }),
        gateway: addrOf(f),
        priority: fc.nat(),
        multipath: fc.array(
          fc.record(
            {
              oif: fc.integer({ min: 0, max: 0x7fffffff }),
              gateway: addrOf(f),
              flags: fc.integer({ min: 0, max: 255 }),
              hops: fc.integer({ min: 0, max: 255 }),
            },
            { requiredKeys: ["oif", "flags", "hops"] },
          ),
          { minLength: 1, maxLength: 4 },
        ),
      },
      { requiredKeys: ["addr", "len", "table", "protocol", "scope", "type", "flags"] },
    )
    .map((x) => {
      const dst = decodeRoute(
        one(routeMessage(1, "replace", { family: f, dst: `${ipText(x.addr)}/${x.len}`, table: 254, protocol: 0, scope: 0, type: 1, flags: 0 })),
      )!.dst;
      const r: NlRoute = { family: f, dst, table: x.table, protocol: x.protocol, scope: x.scope, type: x.type, flags: x.flags };
      if (x.oif !== undefined) r.oif = x.oif;
      if (x.gateway !== undefined) r.gateway = ipText(x.gateway);
      if (x.priority !== undefined) r.priority = x.priority;
      if (x.multipath)
        r.multipath = x.multipath.map((n) => ({ oif: n.oif, flags: n.flags, hops: n.hops, ...(n.gateway ? { gateway: ipText(n.gateway) } : {}) }));
      return r;
    }),
);

test("property: decode(encode(route)) gives the route back", () => {
  fc.assert(
    fc.property(routeArb, (r) => {
      const got = decodeRoute(one(routeMessage(1, "replace", r)));
      assert.deepEqual(got, r);
    }),
    { numRuns: 500 },
  );
});

/** Decoding must end in a value or DP_NETLINK_DECODE, never another exception. */
function decodesOrRefuses(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TabbyError && e.code === "DP_NETLINK_DECODE", `not DP_NETLINK_DECODE: ${String(e)}`);
  }
}

test("malformed corpus: truncated attributes, bad lengths, wrong address sizes are DP_NETLINK_DECODE", () => {
  const good = routeMessage(1, "replace", viaRoute);
  const payload = good.subarray(16);
  const bad = (p: Buffer): Reply => ({ type: RTM_NEWROUTE, flags: 0, seq: 1, payload: p });
  const code = { code: "DP_NETLINK_DECODE" };
  const cases: [string, Buffer][] = [
    ["header cut short", payload.subarray(0, 11)],
    ["attribute length past the end", Buffer.concat([payload.subarray(0, 12), hex("ff00 0100 0a410000")])],
    ["attribute length under 4", Buffer.concat([payload.subarray(0, 12), hex("0200 0100 0a410000")])],
    ["RTA_DST of 3 bytes", Buffer.concat([payload.subarray(0, 12), hex("0700 0100 0a4100 00")])],
    ["RTA_OIF of 2 bytes", Buffer.concat([payload.subarray(0, 12), hex("0600 0400 0700 0000")])],
    ["an IPv6 gateway on an IPv4 route", Buffer.concat([payload.subarray(0, 12), hex("1400 0500 fd000000 00000000 00000000 00000001")])],
    ["a prefix length of 33", Buffer.concat([hex("02 21 00 00 fe 98 00 01 00000000"), payload.subarray(12)])],
    ["a truncated last attribute", payload.subarray(0, payload.length - 2)],
    ["an rtnexthop shorter than its header", Buffer.concat([payload.subarray(0, 12), hex("0c00 0900 0400 0000 00000000")])],
    ["an rtnexthop overrunning RTA_MULTIPATH", Buffer.concat([payload.subarray(0, 12), hex("1000 0900 2000 0000 03000000 00000000")])],
  ];
  for (const [what, p] of cases) assert.throws(() => decodeRoute(bad(p)), code, what);
  assert.throws(() => decodeAddr({ type: RTM_NEWADDR, flags: 0, seq: 1, payload: hex("02 20 00 00") }), code);
  assert.throws(() => decodeAddr({ type: RTM_NEWADDR, flags: 0, seq: 1, payload: hex("02 20 00 00 01000000 0800 0200 0a00") }), code);
  assert.throws(() => decodeRoute({ type: 16, flags: 0, seq: 1, payload }), code);
  // a datagram whose message length overruns it
  assert.throws(() => decodeReplies(good.subarray(0, 40)), code);
  // another family (AF_MPLS): not ours to read, not an error
  assert.equal(decodeRoute(bad(Buffer.concat([hex("1c"), payload.subarray(1, 12)]))), undefined);
});

test("property: any truncation or byte flip of a route or address message decodes or is DP_NETLINK_DECODE", () => {
  const msgs = [
    routeMessage(1, "replace", viaRoute),
    routeMessage(1, "replace", {
      family: 6,
      dst: "fd00::/8",
      table: 254,
      protocol: 152,
      scope: 0,
      type: 1,
      flags: 0,
      multipath: [{ oif: 1, gateway: "fe80::1", flags: 0, hops: 0 }],
    }),
  ];
  fc.assert(
    fc.property(fc.constantFrom(...msgs), fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (m, cut, flips) => {
      const b = Buffer.from(m.subarray(16, 16 + (cut % (m.length - 15))));
      for (const [at, v] of flips) if (b.length) b[at % b.length] = v;
      decodesOrRefuses(() => decodeRoute({ type: RTM_NEWROUTE, flags: 0, seq: 1, payload: b }));
      decodesOrRefuses(() => decodeAddr({ type: RTM_NEWADDR, flags: 0, seq: 1, payload: b }));
    }),
    { numRuns: 2000 },
  );
});
