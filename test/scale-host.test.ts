/** The scale bench's simulated host (bench/scale-host.ts): what it sends, and the received-UPDATE scanner against the wire codec. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage } from "../src/bgp/wire/messages.js";
import type { Prefix } from "../src/net/prefix.js";
import { parsePrefix } from "../src/net/prefix.js";
import {
  extraBlock,
  HeldRoutes,
  hostAnnouncement,
  hostOpen,
  hostPrefixes,
  routeIndex,
  scanUpdate,
  sessionAddress,
  SLOTS,
  EXTRA_SLOT,
} from "../bench/scale-host.js";

test("scale host: the announcement decodes to its blocks and addresses, v4 and v6, with End-of-RIB", () => {
  const [u4, u6, e4, e6] = hostAnnouncement(3, 10).map((b) => decodeMessage(b)) as [
    ReturnType<typeof decodeMessage>,
    ReturnType<typeof decodeMessage>,
    ReturnType<typeof decodeMessage>,
    ReturnType<typeof decodeMessage>,
  ];
  assert.equal(u4.type, "update");
  if (u4.type !== "update" || u6.type !== "update" || e4.type !== "update" || e6.type !== "update") return;
  assert.deepEqual(
    u4.nlri.map((n) => n.prefix.toString()),
    ["10.64.0.192/26", "10.192.0.12/32", "10.192.0.13/32"],
  );
  assert.equal(u4.attributes.nextHop!.toString(), "10.200.1.3");
  assert.equal(u4.attributes.localPref, 100);
  assert.deepEqual(
    u6.attributes.mpReach!.nlri.map((n) => n.prefix.toString()),
    ["fd00:64::c0/122", "fd00:65::c/128"],
  );
  assert.equal(u6.attributes.mpReach!.nextHop.toString(), "fd00:200::103");
  assert.deepEqual([e4.nlri.length, e6.attributes.mpUnreach?.family], [0, "ipv6"]);
  const open = decodeMessage(hostOpen(3));
  assert.equal(open.type === "open" && open.routerId, "10.200.1.3");
  assert.equal(sessionAddress(300), "10.200.2.44");
  const x = decodeMessage(extraBlock(3, 10));
  assert.deepEqual(x.type === "update" && x.nlri.map((n) => n.prefix.toString()), ["10.64.3.64/26"]);
});

test("scale host: every planned prefix maps back to its host and slot; others to -1", () => {
  for (const hosts of [1, 7, 1000, 16_384]) {
    for (const i of new Set([0, 1, Math.floor(hosts / 2), hosts - 1].filter((x) => x < hosts))) {
      const p = hostPrefixes(i, hosts, true);
      const idx = (x: Prefix) => {
        const b = x.addr.bytes;
        const hi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
        const lo = b.length === 16 ? ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0 : 0;
        return routeIndex(b.length === 16, hi, lo, x.len, hosts);
      };
      assert.deepEqual(
        [...p.v4, ...p.v6].map(idx),
        [0, 1, 2, EXTRA_SLOT, 3, 4].map((s) => i * SLOTS + s),
        `host ${i} of ${hosts}`,
      );
    }
  }
  for (const s of ["10.64.0.0/24", "10.1.0.0/26", "10.192.0.2/32", "10.192.0.3/32", "fd00:64::1/122", "fd00:66::/128", "10.64.0.0/26"]) {
    const p = parsePrefix(s);
    const b = p.addr.bytes;
    const hi = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    const lo = b.length === 16 ? ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0 : 0;
    assert.equal(routeIndex(b.length === 16, hi, lo, p.len, s === "10.64.0.0/26" ? 0 : 1), -1, s);
  }
});

test("scale host: the scanner sees what the codec encodes (classic and MP NLRI and withdrawals, extended lengths); holders and completeness follow", () => {
  const hosts = 3;
  const held = new HeldRoutes(hosts, 2);
  assert.equal(held.everywhere, 4);
  // sessions 0,1 = host 0; 2,3 = host 1; 4,5 = host 2. Host 1's routes reach every other session.
  for (const s of [0, 1, 4, 5]) for (const m of hostAnnouncement(1, hosts)) held.apply(s, m);
  assert.equal(held.complete, 5);
  assert.deepEqual([held.count(0), held.count(2)], [5, 0]);
  // its own routes back to host 1 are not counted
  for (const m of hostAnnouncement(1, hosts)) held.apply(2, m);
  assert.equal(held.count(2), 0);
  // a repeat changes nothing
  held.apply(0, hostAnnouncement(1, hosts)[0]!);
  assert.equal(held.holding(1, 0), 4);
  // withdrawals, classic and MP_UNREACH, from one session
  const p = hostPrefixes(1, hosts);
  const wd = encodeMessage({
    type: "update",
    withdrawn: [{ prefix: p.v4[0]!, pathId: 0 }],
    attributes: { mpUnreach: { family: "ipv6", withdrawn: p.v6.map((prefix) => ({ prefix, pathId: 0 })) } },
    nlri: [],
  });
  held.apply(4, wd);
  assert.deepEqual([held.holding(1, 0), held.holding(1, 3), held.holding(1, 4), held.holding(1, 1), held.complete], [3, 3, 3, 4, 2]);
  // a session going down drops what it held
  held.clearSession(0);
  assert.deepEqual([held.count(0), held.holding(1, 1), held.complete], [0, 3, 0]);
  held.reset();
  assert.deepEqual([held.count(5), held.holding(1, 1)], [0, 0]);
  // a long UPDATE (attributes over 255 bytes: extended length) scans the same
  const many = Array.from({ length: 200 }, (_, k) => ({ prefix: parsePrefix(`10.192.0.${k & 0xfc}/32`), pathId: 0 }));
  const big = encodeMessage({
    type: "update",
    withdrawn: [],
    attributes: {
      origin: 0,
      asPath: [],
      mpReach: {
        family: "ipv6",
        nextHop: parsePrefix("fd00::1/128").addr,
        nlri: hostPrefixes(2, hosts)
          .v6.concat(hostPrefixes(2, hosts).v6)
          .map((prefix) => ({ prefix, pathId: 0 })),
      },
      communities: Array.from({ length: 80 }, (_, k) => k),
    },
    nlri: many,
  });
  let got = 0;
  scanUpdate(
    big,
    () => got++,
    () => assert.fail("no withdrawals"),
  );
  assert.equal(got, 204);
});
