import { test } from "node:test";
import assert from "node:assert/strict";
import { bindGroupMessage, decodeNflog, parseIpHeader } from "./nflog.js";
import { FlowAggregator, parsePrefix } from "./aggregate.js";
import { TabbyError } from "../errors.js";

function attr(type: number, body: Buffer): Buffer {
  const out = Buffer.alloc((4 + body.length + 3) & ~3);
  out.writeUInt16LE(4 + body.length, 0);
  out.writeUInt16LE(type, 2);
  body.copy(out, 4);
  return out;
}

/** A NFULNL_MSG_PACKET as the kernel sends it (nfnetlink_log.h). */
function packetMsg(prefix: string, payload: Buffer, outdev = 7): Buffer {
  const dev = Buffer.alloc(4);
  dev.writeUInt32BE(outdev);
  const body = Buffer.concat([
    Buffer.from([2, 0, 0, 7]),
    attr(1, Buffer.from([0x08, 0x00, 1, 0])),
    attr(5, dev),
    attr(10, Buffer.from(prefix + "\0")),
    attr(9, payload),
  ]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(0x0400, 4);
  return Buffer.concat([hdr, body]);
}

const TCP4 = Buffer.from("4500003c1c4640004006b1e60a41ae800a4121810d3e00500000000000000000a002faf0", "hex");

test("bind message: NFULNL_MSG_CONFIG, group in network order, bind command, copy mode", () => {
  assert.equal(
    bindGroupMessage(7, 1).toString("hex"),
    "28000000" + "0104" + "0500" + "01000000" + "00000000" + "00000007" + "0500" + "0100" + "01000000" + "0a00" + "0200" + "00000040" + "0200" + "0000",
  );
});

test("decode: prefix, out device and the 5-tuple of a logged TCP packet; an error answer throws", () => {
  const [p] = decodeNflog(Buffer.concat([packetMsg("F D end-of-tier default ingress -", TCP4), packetMsg("x", Buffer.alloc(3))]));
  assert.deepEqual(p, {
    prefix: "F D end-of-tier default ingress -",
    outdev: 7,
    length: 60,
    protocol: 6,
    src: "10.65.174.128",
    dst: "10.65.33.129",
    srcPort: 3390,
    dstPort: 80,
  });
  const err = Buffer.alloc(36);
  err.writeUInt32LE(36, 0);
  err.writeUInt16LE(2, 4);
  err.writeInt32LE(-1, 16);
  assert.throws(
    () => decodeNflog(err),
    (e: unknown) => e instanceof TabbyError && e.code === "AGENT_NFLOG_FAILED",
  );
});

test("IPv6 header: addresses compressed, next header, ports", () => {
  const b = Buffer.alloc(48);
  b[0] = 0x60;
  b.writeUInt16BE(20, 4);
  b[6] = 17;
  Buffer.from("fd650000000000000000000000000001", "hex").copy(b, 8);
  Buffer.from("fd650000000000000000000000000002", "hex").copy(b, 24);
  b.writeUInt16BE(5353, 40);
  b.writeUInt16BE(53, 42);
  assert.deepEqual(parseIpHeader(b), { length: 60, protocol: 17, src: "fd65::1", dst: "fd65::2", srcPort: 5353, dstPort: 53 });
});

test("decoding never throws on arbitrary bytes except for an error answer (property)", () => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
    try {
      decodeNflog(b);
    } catch (e) {
      assert.ok(e instanceof TabbyError && e.code === "AGENT_NFLOG_FAILED", String(e));
    }
  }
});

test("prefixes: policy, rule number, end of tier, profile; others ignored", () => {
  assert.deepEqual(parsePrefix("F A np/lab/allow-w1-to-w2 ingress 1"), { action: "allow", direction: "ingress", policy: "np lab/allow-w1-to-w2", rule: 1 });
  assert.deepEqual(parsePrefix("F D end-of-tier security egress -"), { action: "deny", direction: "egress", policy: "end of tier security" });
  assert.deepEqual(parsePrefix("F A pro/kns.lab egress 1"), { action: "allow", direction: "egress", policy: "profile kns.lab", rule: 1 });
  assert.equal(parsePrefix("calico-packet"), undefined);
});

test("aggregation: one record per flow and verdict per interval, packets and bytes summed, time from the caller", () => {
  const agg = new FlowAggregator(10_000);
  const p = { prefix: "F D end-of-tier default ingress -", length: 60, protocol: 6, src: "10.0.0.1", dst: "10.0.0.2", srcPort: 4000, dstPort: 80 };
  agg.add(p, 1_000);
  agg.add(p, 2_000);
  agg.add({ ...p, srcPort: 4001 }, 3_000);
  let r = agg.records(4_000);
  assert.equal(r.length, 2);
  assert.deepEqual(
    [r[0]!.packets, r[0]!.bytes, r[0]!.start, r[0]!.end, r[0]!.open],
    [2, 120, new Date(1_000).toISOString(), new Date(2_000).toISOString(), true],
  );
  r = agg.records(12_000);
  assert.ok(
    r.every((x) => !("open" in x)),
    "the interval closed",
  );
  agg.add(p, 12_500);
  assert.equal(agg.records(13_000).length, 3, "a new interval starts a new record for the same flow");
});

test("conntrack counting: an allowed flow's record gets the connection's packets and bytes both ways, at each attribution, split per interval", () => {
  const agg = new FlowAggregator(10_000);
  const first = { prefix: "F A np/lab/allow ingress 1", length: 60, protocol: 6, src: "10.0.0.1", dst: "10.0.0.2", srcPort: 4000, dstPort: 8080 };
  agg.add(first, 1_000);
  // the same first packet also passed the source's egress on this host (both endpoints local)
  agg.add({ ...first, prefix: "F A pro/kns.lab egress 1" }, 1_000);
  const ct = { id: 9, zone: 0, src: "10.0.0.1", dst: "10.0.0.2", protocol: 6, srcPort: 4000, dstPort: 8080, destroyed: false };
  agg.count([{ ...ct, orig: { packets: 5, bytes: 400 }, reply: { packets: 4, bytes: 3000 } }], 5_000, { complete: true });
  let r = agg.records(6_000);
  assert.deepEqual(
    r.map((x) => [x.direction, x.packets, x.bytes, x.replyPackets, x.replyBytes, x.conntrack]),
    [
      ["ingress", 5, 400, 4, 3000, true],
      ["egress", 5, 400, 4, 3000, true],
    ],
    "the first packet is not counted twice",
  );
  // a dump as the interval ends counts in the interval that ends; the rest goes to the next one
  agg.count([{ ...ct, orig: { packets: 7, bytes: 500 }, reply: { packets: 6, bytes: 4000 } }], 11_000, { complete: true });
  agg.roll(11_000);
  agg.count([{ ...ct, orig: { packets: 10, bytes: 700 }, reply: { packets: 8, bytes: 5000 }, destroyed: true }], 12_000);
  r = agg.records(13_000);
  const ingress = r.filter((x) => x.direction === "ingress");
  assert.deepEqual(
    ingress.map((x) => [x.packets, x.bytes, x.replyPackets, x.replyBytes, x.start, !!x.open]),
    [
      [7, 500, 6, 4000, new Date(1_000).toISOString(), false],
      [3, 200, 2, 1000, new Date(12_000).toISOString(), true],
    ],
  );
  assert.equal(agg.followed(), 0, "a destroyed connection is forgotten");
  // later counters of another connection on that tuple, without a first packet of its own: not counted
  agg.count([{ ...ct, id: 10, orig: { packets: 99, bytes: 9999 }, reply: { packets: 9, bytes: 99 } }], 13_000);
  assert.equal(
    agg
      .records(13_000)
      .filter((x) => x.open)
      .reduce((n, x) => n + x.packets, 0),
    6,
  );
});

test("conntrack counting: denied flows and entries in other zones are not counted; a connection a complete dump no longer has is forgotten", () => {
  const agg = new FlowAggregator(60_000);
  const p = { prefix: "F D end-of-tier default ingress -", length: 60, protocol: 6, src: "10.0.0.1", dst: "10.0.0.2", srcPort: 4000, dstPort: 80 };
  agg.add(p, 1_000);
  agg.add({ ...p, prefix: "F A np/lab/allow ingress 1", dstPort: 8080 }, 1_000);
  assert.equal(agg.followed(), 1, "only the allowed one is followed");
  agg.count(
    [
      {
        id: 1,
        zone: 0,
        src: "10.0.0.1",
        dst: "10.0.0.2",
        protocol: 6,
        srcPort: 4000,
        dstPort: 80,
        orig: { packets: 50, bytes: 5000 },
        reply: { packets: 0, bytes: 0 },
        destroyed: false,
      },
    ],
    2_000,
  );
  agg.count(
    [
      {
        id: 2,
        zone: 5,
        src: "10.0.0.1",
        dst: "10.0.0.2",
        protocol: 6,
        srcPort: 4000,
        dstPort: 8080,
        orig: { packets: 50, bytes: 5000 },
        reply: { packets: 9, bytes: 900 },
        destroyed: false,
      },
    ],
    2_000,
  );
  const r = agg.records(3_000);
  assert.deepEqual(
    r.map((x) => [x.action, x.packets, x.replyPackets]),
    [
      ["deny", 1, undefined],
      ["allow", 1, 0],
    ],
  );
  agg.count(
    [
      {
        id: 3,
        zone: 0,
        src: "10.0.0.1",
        dst: "10.0.0.2",
        protocol: 6,
        srcPort: 4000,
        dstPort: 8080,
        orig: { packets: 2, bytes: 120 },
        reply: { packets: 1, bytes: 60 },
        destroyed: false,
      },
    ],
    4_000,
    { complete: true },
  );
  assert.equal(agg.followed(), 1);
  agg.count([], 5_000, { complete: true });
  assert.equal(agg.followed(), 0, "gone from the table: its destroy event was lost");
});
