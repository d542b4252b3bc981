import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decodeConntrack, dumpRequest, noopMessage, type CtEntry } from "./ctnetlink.js";
import { TabbyError } from "../errors.js";

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
  const body = Buffer.concat([
    Buffer.from([2, 0, 0, 0]),
    attr(1, Buffer.concat([ip, proto]), true),
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
