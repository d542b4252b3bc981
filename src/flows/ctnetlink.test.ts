import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  decodeAcks,
  decodeConntrack,
  deleteEntryRequest,
  deleteMatchingRequest,
  dumpRequest,
  noopMessage,
  type CtAddressFilter,
  type CtEntry,
} from "./ctnetlink.js";
import { TabbyError } from "../errors.js";
import { IP } from "../net/ip.js";

/** Two destroy events a 6.18 kernel sent (a conntrack flush after a UDP exchange over ::1 and a TCP one over 127.0.0.1). */
const EVENTS = readFileSync(fileURLToPath(new URL("../../../src/flows/testdata/conntrack-destroy-events.hex", import.meta.url)), "utf8")
  .trim()
  .split("\n");

test("dump request: IPCTNL_MSG_CT_GET with NLM_F_REQUEST|NLM_F_DUMP, every family", () => {
  assert.equal(dumpRequest(7).toString("hex"), "14000000" + "0101" + "0103" + "07000000" + "00000000" + "00000000");
  assert.equal(noopMessage(0).toString("hex"), "10000000" + "0100" + "0100" + "00000000" + "00000000");
});

test("decode: a kernel's destroy events, original tuple, zone, id and both directions' counters", () => {
  assert.deepEqual(decodeConntrack(Buffer.from(EVENTS[0]!, "hex")), {
    done: false,
    entries: [
      {
        id: 1974788602,
        zone: 0,
        src: "::1",
        dst: "::1",
        protocol: 17,
        srcPort: 40000,
        dstPort: 5353,
        replySrc: "::1",
        replyDst: "::1",
        orig: { packets: 1, bytes: 52 },
        reply: { packets: 1, bytes: 52 },
        destroyed: true,
      },
    ],
  });
  assert.deepEqual(decodeConntrack(Buffer.from(EVENTS[1]!, "hex")).entries, [
    {
      id: 4024524839,
      zone: 0,
      src: "127.0.0.1",
      dst: "127.0.0.1",
      protocol: 6,
      srcPort: 45000,
      dstPort: 8080,
      replySrc: "127.0.0.1",
      replyDst: "127.0.0.1",
      orig: { packets: 6, bytes: 331 },
      reply: { packets: 4, bytes: 227 },
      destroyed: true,
    },
  ]);
});

/** Builds the message the decoder reads, from an entry (the kernel's layout: nested flags, network order). */
function encode(e: CtEntry, seq = 1): Buffer {
  const attr = (type: number, body: Buffer, nested = false): Buffer => {
    const out = Buffer.alloc((4 + body.length + 3) & ~3);
    out.writeUInt16LE(4 + body.length, 0);
    out.writeUInt16LE(type | (nested ? 0x8000 : 0), 2);
    body.copy(out, 4);
    return out;
  };
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const u64 = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  const v4 = (a: string) => Buffer.from(a.split(".").map(Number));
  const ip = attr(1, Buffer.concat([attr(1, v4(e.src)), attr(2, v4(e.dst))]), true);
  const proto = attr(
    2,
    Buffer.concat([
      attr(1, Buffer.from([e.protocol])),
      ...(e.srcPort !== undefined ? [attr(2, u16(e.srcPort))] : []),
      ...(e.dstPort !== undefined ? [attr(3, u16(e.dstPort))] : []),
    ]),
    true,
  );
  const counters = (c: { packets: number; bytes: number }) => Buffer.concat([attr(1, u64(c.packets)), attr(2, u64(c.bytes))]);
  const replyIp = e.replySrc !== undefined ? attr(1, Buffer.concat([attr(1, v4(e.replySrc)), attr(2, v4(e.replyDst!))]), true) : undefined;
  const body = Buffer.concat([
    Buffer.from([2, 0, 0, 0]),
    attr(1, Buffer.concat([ip, proto]), true),
    ...(replyIp ? [attr(2, Buffer.concat([replyIp, proto]), true)] : []),
    ...(e.zone ? [attr(18, u16(e.zone))] : []),
    attr(12, u32(e.id)),
    ...(e.orig ? [attr(9, counters(e.orig), true)] : []),
    ...(e.reply ? [attr(10, counters(e.reply), true)] : []),
  ]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE(e.destroyed ? 0x0102 : 0x0100, 4);
  hdr.writeUInt32LE(seq, 8);
  return Buffer.concat([hdr, body]);
}

test("decoding gives back what was encoded; a dump's DONE is seen (property)", () => {
  let seed = 7;
  const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000) * n);
  for (let i = 0; i < 500; i++) {
    const entries: CtEntry[] = Array.from({ length: 1 + rnd(4) }, () => {
      const protocol = [1, 6, 17][rnd(3)]!;
      const e: CtEntry = {
        id: rnd(0xffffffff),
        zone: rnd(3) === 0 ? rnd(65535) : 0,
        src: `10.${rnd(256)}.${rnd(256)}.${rnd(256)}`,
        dst: `192.168.${rnd(256)}.${rnd(256)}`,
        protocol,
        destroyed: rnd(2) === 1,
      };
      if (protocol !== 1) Object.assign(e, { srcPort: rnd(65536), dstPort: rnd(65536) });
      if (rnd(2)) Object.assign(e, { replySrc: `172.16.${rnd(256)}.${rnd(256)}`, replyDst: `10.${rnd(256)}.${rnd(256)}.${rnd(256)}` });
      if (rnd(4)) Object.assign(e, { orig: { packets: rnd(1e9), bytes: rnd(2 ** 40) }, reply: { packets: rnd(1e6), bytes: rnd(1e12) } });
      return e;
    });
    const done = Buffer.alloc(20);
    done.writeUInt32LE(20, 0);
    done.writeUInt16LE(3, 4);
    const withDone = rnd(2) === 1;
    const got = decodeConntrack(Buffer.concat([...entries.map((e) => encode(e)), ...(withDone ? [done] : [])]));
    assert.deepEqual(got, { entries, done: withDone });
  }
});

test("decoding never throws on arbitrary bytes except for an error answer (property)", () => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const real = Buffer.from(EVENTS[1]!, "hex");
  for (let i = 0; i < 3000; i++) {
    // random bytes, and a real event with random bytes changed (lengths that lie, truncations)
    const b =
      i % 2
        ? Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)))
        : Buffer.from(real.subarray(0, Math.floor(rnd() * real.length + 1)));
    if (i % 2 === 0) for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    try {
      decodeConntrack(b);
    } catch (e) {
      assert.ok(e instanceof TabbyError && e.code === "AGENT_CONNTRACK_FAILED", String(e));
    }
  }
  const err = Buffer.alloc(36);
  err.writeUInt32LE(36, 0);
  err.writeUInt16LE(2, 4);
  err.writeInt32LE(-1, 16);
  assert.throws(
    () => decodeConntrack(err),
    (e: unknown) => e instanceof TabbyError && e.code === "AGENT_CONNTRACK_FAILED",
  );
});

test("filtered delete: IPCTNL_MSG_CT_DELETE|NLM_F_ACK, the family, the tuple's addresses and CTA_FILTER's flags (golden)", () => {
  assert.equal(
    deleteMatchingRequest(5, { family: 4, orig: { src: "10.66.0.2" } }).toString("hex"),
    "30000000" +
      "0201" +
      "0500" +
      "05000000" +
      "00000000" +
      "02000000" +
      // CTA_TUPLE_ORIG { CTA_TUPLE_IP { CTA_IP_V4_SRC 10.66.0.2 } }
      "1000" +
      "0180" +
      "0c00" +
      "0180" +
      "0800" +
      "0100" +
      "0a420002" +
      // CTA_FILTER { CTA_FILTER_ORIG_FLAGS CTA_FILTER_F_CTA_IP_SRC }
      "0c00" +
      "1980" +
      "0800" +
      "0100" +
      "01000000",
  );
  assert.equal(
    deleteMatchingRequest(6, { family: 6, reply: { src: "fd00:66::2" } }).toString("hex"),
    "3c000000" +
      "0201" +
      "0500" +
      "06000000" +
      "00000000" +
      "0a000000" +
      // CTA_TUPLE_REPLY { CTA_TUPLE_IP { CTA_IP_V6_SRC fd00:66::2 } }
      "1c00" +
      "0280" +
      "1800" +
      "0180" +
      "1400" +
      "0300" +
      "fd000066000000000000000000000002" +
      // CTA_FILTER { CTA_FILTER_REPLY_FLAGS CTA_FILTER_F_CTA_IP_SRC }
      "0c00" +
      "1980" +
      "0800" +
      "0200" +
      "01000000",
  );
});

test("entry delete: the original tuple with protocol and ports, and the id (golden)", () => {
  const e: CtEntry = { id: 0x01020304, zone: 0, src: "10.0.0.1", dst: "10.0.0.2", protocol: 6, srcPort: 40000, dstPort: 80, destroyed: false };
  assert.equal(
    deleteEntryRequest(9, e).toString("hex"),
    "50000000" +
      "0201" +
      "0500" +
      "09000000" +
      "00000000" +
      "02000000" +
      "3400" +
      "0180" +
      ("1400" + "0180" + "0800" + "0100" + "0a000001" + "0800" + "0200" + "0a000002") +
      ("1c00" + "0280" + "0500" + "0100" + "06000000" + "0600" + "0200" + "9c400000" + "0600" + "0300" + "00500000") +
      // CTA_ID
      "0800" +
      "0c00" +
      "01020304",
  );
  assert.throws(
    () => deleteEntryRequest(1, { ...e, protocol: 1, srcPort: undefined, dstPort: undefined } as unknown as CtEntry),
    (x: unknown) => x instanceof TabbyError && x.code === "AGENT_CONNTRACK_FILTER",
  );
});

test("filtered delete refuses what would flush too much or mix families", () => {
  const refused = (f: CtAddressFilter) =>
    assert.throws(
      () => deleteMatchingRequest(1, f),
      (x: unknown) => x instanceof TabbyError && x.code === "AGENT_CONNTRACK_FILTER",
      JSON.stringify(f),
    );
  refused({ family: 4 });
  refused({ family: 4, orig: {}, reply: {} });
  refused({ family: 4, orig: { src: "fd00::1" } });
  refused({ family: 6, reply: { dst: "10.0.0.1" } });
  refused({ family: 4, orig: { src: "10.0.0.256" } });
});

/** The attributes of a block, as the kernel's nla_parse sees them: [type without flags, nested flag, body]. */
function parseAttrs(b: Buffer): [number, boolean, Buffer][] {
  const out: [number, boolean, Buffer][] = [];
  for (let off = 0; off + 4 <= b.length; ) {
    const len = b.readUInt16LE(off);
    assert.ok(len >= 4 && off + len <= b.length, "attribute within its block");
    const t = b.readUInt16LE(off + 2);
    out.push([t & 0x3fff, (t & 0x8000) !== 0, b.subarray(off + 4, off + len)]);
    off += (len + 3) & ~3;
  }
  return out;
}

test("filtered delete: every filter's addresses and flags read back (property)", () => {
  let seed = 11;
  const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000) * n);
  const v4 = () => `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
  const v6 = () => new IP(Uint8Array.from({ length: 16 }, () => (rnd(3) ? 0 : rnd(256)))).toString();
  for (let i = 0; i < 1000; i++) {
    const family = rnd(2) ? 4 : 6;
    const addr = family === 4 ? v4 : v6;
    const pick = () => {
      const a: { src?: string; dst?: string } = {};
      if (rnd(2)) a.src = addr();
      if (rnd(2)) a.dst = addr();
      return a;
    };
    const f: CtAddressFilter = { family, ...(rnd(3) ? { orig: pick() } : {}), ...(rnd(3) ? { reply: pick() } : {}) };
    const has = (a?: { src?: string; dst?: string }) => a !== undefined && (a.src !== undefined || a.dst !== undefined);
    if (!has(f.orig) && !has(f.reply)) continue;
    const seq = rnd(0xffffffff);
    const b = deleteMatchingRequest(seq, f);
    assert.equal(b.readUInt32LE(0), b.length);
    assert.equal(b.readUInt16LE(4), 0x0102);
    assert.equal(b.readUInt16LE(6), 0x0005);
    assert.equal(b.readUInt32LE(8), seq);
    assert.equal(b[16], family === 4 ? 2 : 10);
    const top = parseAttrs(b.subarray(20));
    const filter = new Map(parseAttrs(top.find(([t]) => t === 25)![2]).map(([t, , v]) => [t, v.readUInt32LE(0)]));
    for (const [dir, tupleType, flagType] of [
      ["orig", 1, 1],
      ["reply", 2, 2],
    ] as const) {
      const want = has(f[dir]) ? f[dir]! : undefined;
      const tuple = top.find(([t]) => t === tupleType);
      assert.equal(tuple !== undefined, want !== undefined);
      if (!want || !tuple) continue;
      assert.ok(tuple[1], "nested");
      const [[ipType, ipNested, ipBody]] = parseAttrs(tuple[2]) as [[number, boolean, Buffer]];
      assert.equal(ipType, 1);
      assert.ok(ipNested);
      const got: { src?: string; dst?: string } = {};
      for (const [t, , v] of parseAttrs(ipBody)) {
        const text = new IP(Uint8Array.from(v)).toString();
        if (t === (family === 4 ? 1 : 3)) got.src = text;
        else if (t === (family === 4 ? 2 : 4)) got.dst = text;
        else assert.fail(`unexpected address attribute ${t}`);
      }
      assert.deepEqual(got, want);
      assert.equal(filter.get(flagType), (want.src !== undefined ? 1 : 0) | (want.dst !== undefined ? 2 : 0));
    }
  }
});

test("acknowledgements: each request's errno; never throws on arbitrary bytes (property)", () => {
  const ack = (seq: number, errno: number) => {
    const b = Buffer.alloc(36);
    b.writeUInt32LE(36, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt32LE(seq, 8);
    b.writeInt32LE(-errno, 16);
    return b;
  };
  const done = Buffer.alloc(20);
  done.writeUInt32LE(20, 0);
  done.writeUInt16LE(3, 4);
  assert.deepEqual(decodeAcks(Buffer.concat([ack(7, 0), done, ack(8, 22)])), [
    { seq: 7, errno: 0 },
    { seq: 8, errno: 22 },
  ]);
  let seed = 5;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.concat([ack(i, i % 3), ack(i + 1, 0)]);
    const cut = b.subarray(0, Math.floor(rnd() * (b.length + 1)));
    for (let k = 0; k < 3; k++) cut[Math.floor(rnd() * cut.length)] = Math.floor(rnd() * 256);
    for (const a of decodeAcks(cut)) assert.ok(Number.isInteger(a.seq) && Number.isInteger(a.errno));
  }
});
