// Malformed input against a live Speaker (over the in-memory transport, fake clock): every case of the RFC 7606 corpus gets its
// action on the wire (NOTIFICATION 3/x and session reset; treat-as-withdraw with the session kept;
// attribute discard), then randomly mutated UPDATEs (fast-check) never crash the speaker, never
// end a session without a NOTIFICATION, and do not grow its memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { Speaker } from "./speaker.js";
import { inMemory, type ScriptedPeer } from "../testkit/bgp/scripted-peer.js";
import { buildOpen } from "./negotiate.js";
import { encodeMessage } from "./wire/messages.js";
import { MALFORMED_UPDATES, updateBytes } from "../testkit/bgp/wire/rfc7606-corpus.js";
import { parsePrefix } from "../net/prefix.js";
import { parseIP } from "../net/ip.js";
import type { CodecOptions } from "./wire/attributes.js";

const PORT = 179;
const AS = 64512;
const SPEAKER = "127.0.0.80";
const PEER4 = "127.0.0.81"; // negotiates 4-byte ASNs
const PEER2 = "127.0.0.82"; // a 2-byte-AS speaker
const TWO: CodecOptions = { as4: false, addPath: { ipv4: false, ipv6: false } };

function announce(prefix: string, two = false): Uint8Array {
  const asPath = [{ type: 2, asns: [two ? 65001 : 4200000001] }];
  return encodeMessage(
    { type: "update", withdrawn: [], attributes: { origin: 0, asPath, nextHop: parseIP("10.9.0.81") }, nlri: [{ prefix: parsePrefix(prefix), pathId: 0 }] },
    two ? TWO : undefined,
  );
}

class Harness {
  readonly bench = inMemory();
  readonly sp = new Speaker({
    clock: this.bench.clock,
    network: this.bench.network,
    routerId: "10.0.0.80",
    asNumber: AS,
    listen: { address: SPEAKER, port: PORT },
  });
  private peers = new Map<string, ScriptedPeer>();

  async start(): Promise<void> {
    this.sp.setPeers([PEER4, PEER2].map((address) => ({ address, asNumber: AS, passive: true, holdTime: 30 })));
    await this.sp.start();
  }

  /** An established session from `from`, reusing the current one while it lives. */
  async session(from: string): Promise<ScriptedPeer> {
    const cur = this.peers.get(from);
    if (cur && !cur.closed && !cur.notification()) return cur;
    cur?.sock.destroy();
    const p = this.bench.peer();
    await p.connect(from, SPEAKER, PORT);
    const open = buildOpen({ asNumber: AS, routerId: from.replace("127.0.0", "10.0.0"), holdTime: 30, families: ["ipv4", "ipv6"], addPath: 0 });
    if (from === PEER2) open.capabilities = open.capabilities.filter((c) => c.code !== 65);
    await p.establish(open);
    await this.bench.wait(`session from ${from}`, () => this.status(from)?.established === true);
    this.peers.set(from, p);
    return p;
  }

  status(from: string) {
    return this.sp.peerStatus().find((s) => s.address === from);
  }

  has(prefix: string, from: string): boolean {
    return this.sp.routes(prefix.includes(":") ? "ipv6" : "ipv4").some((r) => r.prefix === prefix && r.paths.some((p) => p.peer === from));
  }

  async stop(): Promise<void> {
    for (const p of this.peers.values()) p.sock.destroy();
    await this.sp.stop();
  }
}

test("every RFC 7606 corpus case gets its action from a live speaker", async () => {
  const h = new Harness();
  await h.start();
  try {
    for (const [i, c] of MALFORMED_UPDATES.entries()) {
      const what = `${c.section} ${c.name}`;
      const from = c.codec?.as4 === false ? PEER2 : PEER4;
      const two = from === PEER2;
      const p = await h.session(from);
      p.send(announce("10.0.0.0/24", two));
      await h.bench.wait(`${what}: the valid route first`, () => h.has("10.0.0.0/24", from));
      p.send(c.bytes);
      if (c.action === "session-reset") {
        await h.bench.wait(`${what}: NOTIFICATION`, () => p.notification() !== undefined);
        const n = p.notification()!;
        assert.equal(n.code, 3, what);
        if (c.subcode !== undefined) assert.equal(n.subcode, c.subcode, what);
        await h.bench.wait(`${what}: closed`, () => p.closed);
        await h.bench.wait(`${what}: routes gone`, () => !h.has("10.0.0.0/24", from));
        continue;
      }
      // a probe after the case (a prefix of its own): once it is in, the case has been processed
      const probe = `10.1.${i}.0/24`;
      p.send(announce(probe, two));
      await h.bench.wait(`${what}: probe`, () => h.has(probe, from));
      assert.equal(p.notification(), undefined, `${what}: no NOTIFICATION`);
      assert.equal(h.status(from)?.established, true, `${what}: session kept`);
      assert.equal(h.has("10.0.0.0/24", from), c.action !== "treat-as-withdraw", `${what}: route ${c.action === "treat-as-withdraw" ? "withdrawn" : "kept"}`);
    }
  } finally {
    await h.stop();
  }
});

/** One mutation of a valid UPDATE: overwrite bytes, truncate, or splice in random bytes (lengths fixed up or not). */
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("overwrite" as const, "truncate" as const, "splice" as const),
  at: fc.nat(),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }),
  fixLength: fc.boolean(),
});

interface Mutation {
  kind: "overwrite" | "truncate" | "splice";
  at: number;
  bytes: Uint8Array;
  fixLength: boolean;
}

function mutate(base: Uint8Array, m: Mutation): Uint8Array {
  // keep the marker intact most of the time so that the body is what gets tested
  const at = 16 + (m.at % (base.length - 16));
  let out: Uint8Array;
  if (m.kind === "overwrite") {
    out = base.slice();
    m.bytes.forEach((b, i) => {
      if (at + i < out.length) out[at + i] = b;
    });
  } else if (m.kind === "truncate") {
    out = base.slice(0, Math.max(19, at));
  } else {
    out = Uint8Array.from([...base.subarray(0, at), ...m.bytes, ...base.subarray(at)]);
  }
  if (m.fixLength && out.length >= 19) {
    out[16] = out.length >> 8;
    out[17] = out.length & 0xff;
  }
  return out;
}

function heapAfterGc(): number {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test("mutated UPDATEs: no crash, no silent close, no memory growth", async (t) => {
  const h = new Harness();
  await h.start();
  const bases = [
    updateBytes([0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 10, 0, 0, 1, 0xc0, 8, 4, 0xfd, 0xe8, 0, 7], [24, 10, 0, 1]),
    updateBytes([0x40, 1, 1, 0, 0x40, 2, 0, 0x80, 14, 26, 0, 2, 1, 16, 0xfd, ...Array<number>(15).fill(1), 0, 64, 0xfd, 0, 0, 0, 0, 0, 0, 1], []),
  ];
  let resets = 0;
  let kept = 0;
  const batch = async (runs: number, seed: number) => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bases.length - 1 }), mutation, async (which, m) => {
        const p = await h.session(PEER4);
        const bad = mutate(bases[which]!, m);
        p.send(bad);
        p.send(announce("10.0.2.0/24"));
        await h.bench.wait("the probe, or a NOTIFICATION", () => h.has("10.0.2.0/24", PEER4) || p.notification() !== undefined);
        if (p.notification()) {
          resets++;
          await h.bench.wait("closed after the NOTIFICATION", () => p.closed);
        } else {
          kept++;
          // clean up for the next run: withdraw the probe
          p.send(encodeMessage({ type: "update", withdrawn: [{ prefix: parsePrefix("10.0.2.0/24"), pathId: 0 }], attributes: {}, nlri: [] }));
          await h.bench.wait("probe withdrawn", () => !h.has("10.0.2.0/24", PEER4));
        }
        // a session that ended without a NOTIFICATION would be a silent close
        assert.ok(!p.closed || p.notification() !== undefined, `closed without a NOTIFICATION on ${Buffer.from(bad).toString("hex")}`);
      }),
      { numRuns: runs, seed },
    );
  };
  try {
    await batch(100, 7606); // warm-up: code compiled, pools grown
    const before = heapAfterGc();
    await batch(200, 4271);
    const after = heapAfterGc();
    const grownKiB = (after - before) / 1024;
    t.diagnostic(`heap ${(before / 2 ** 20).toFixed(1)} MiB → ${(after / 2 ** 20).toFixed(1)} MiB over 200 mutated UPDATEs; ${resets} resets, ${kept} kept`);
    // 200 sessions' worth of leaked state (a socket, a framer, a session) would be megabytes
    assert.ok(grownKiB < 1024, `heap grew by ${grownKiB.toFixed(0)} KiB over 200 mutated UPDATEs`);
    assert.ok(resets > 0 && kept > 0, `both outcomes seen (resets ${resets}, kept ${kept})`);
    // and the speaker still works
    const p = await h.session(PEER4);
    p.send(announce("10.0.3.0/24"));
    await h.bench.wait("a clean route after all that", () => h.has("10.0.3.0/24", PEER4));
  } finally {
    await h.stop();
  }
});

/** An OPEN's bytes, field by field (RFC 4271 §4.2), with optional parameters given raw. */
function openBytes(o: { version?: number; as?: number; hold?: number; id?: number[]; params?: number[]; as4?: number }): Uint8Array {
  const caps = o.params ?? [2, 6, 65, 4, ...u32(o.as4 ?? o.as ?? AS)];
  const body = [o.version ?? 4, ...u16(o.as ?? AS), ...u16(o.hold ?? 30), ...(o.id ?? [10, 0, 0, 81]), caps.length, ...caps];
  const len = 19 + body.length;
  return Uint8Array.from([...Array<number>(16).fill(0xff), ...u16(len), 1, ...body]);
}
function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}
function u32(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

const MARKER = Array<number>(16).fill(0xff);
/** What a peer sends first (instead of a good OPEN), and the NOTIFICATION it must get back. */
const OPEN_CASES: { name: string; bytes: Uint8Array; code: number; subcode?: number }[] = [
  { name: "version 3", bytes: openBytes({ version: 3 }), code: 2, subcode: 1 },
  { name: "the wrong peer AS", bytes: openBytes({ as: 64999 }), code: 2, subcode: 2 },
  { name: "4-byte AS capability naming the wrong AS", bytes: openBytes({ as4: 4200000009, as: 23456 }), code: 2, subcode: 2 },
  { name: "BGP identifier 0.0.0.0", bytes: openBytes({ id: [0, 0, 0, 0] }), code: 2, subcode: 3 },
  { name: "hold time 2 s", bytes: openBytes({ hold: 2 }), code: 2, subcode: 6 },
  { name: "a capability overrunning its parameter", bytes: openBytes({ params: [2, 4, 65, 4, 0, 0] }), code: 2 },
  { name: "4-byte AS capability of 2 bytes", bytes: openBytes({ params: [2, 4, 65, 2, 0xfc, 0] }), code: 2 },
  { name: "optional parameters overrunning the message", bytes: openBytes({ params: [2, 40, 65, 4] }), code: 2 },
  { name: "a bad marker", bytes: Uint8Array.from([...MARKER.slice(0, 15), 0xfe, 0, 19, 4]), code: 1, subcode: 1 },
  { name: "a message length of 18", bytes: Uint8Array.from([...MARKER, 0, 18, 4]), code: 1, subcode: 2 },
  { name: "a KEEPALIVE of 20 bytes", bytes: Uint8Array.from([...MARKER, 0, 20, 4, 0]), code: 1, subcode: 2 },
  { name: "message type 9", bytes: Uint8Array.from([...MARKER, 0, 19, 9]), code: 1, subcode: 3 },
  { name: "an UPDATE before the OPEN", bytes: updateBytes([]), code: 5 },
];

test("bad OPENs, bad headers and out-of-order messages get the right NOTIFICATION, and the next good session works", async () => {
  const h = new Harness();
  await h.start();
  try {
    for (const c of OPEN_CASES) {
      const p = h.bench.peer();
      await p.connect(PEER4, SPEAKER, PORT);
      p.send(c.bytes);
      await h.bench.wait(`${c.name}: NOTIFICATION`, () => p.notification() !== undefined);
      const n = p.notification()!;
      assert.equal(n.code, c.code, c.name);
      if (c.subcode !== undefined) assert.equal(n.subcode, c.subcode, c.name);
      await h.bench.wait(`${c.name}: closed`, () => p.closed);
    }
    const p = await h.session(PEER4);
    p.send(announce("10.0.4.0/24"));
    await h.bench.wait("a good session after the bad ones", () => h.has("10.0.4.0/24", PEER4));
  } finally {
    await h.stop();
  }
});
