// The BFD UDP transport on loopback (ports chosen per run, so nothing else is disturbed): the
// single-hop receive sockets pass packets that arrive with TTL / hop limit 255 and the kernel
// drops the rest (the BPF filter); multihop sockets take any TTL; sessions send from a source
// port in 49152-65535 (RFC 5881 §4) with TTL 255.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as dgram from "node:dgram";
import { UdpTransport, type ReceivedPacket } from "../src/bfd/udp.js";

const base = 30000 + (process.pid % 5000) * 2;
const transport = new UdpTransport({ singleHopPort: base, multihopPort: base + 1 });
const got: ReceivedPacket[] = [];
transport.onPacket((p) => got.push(p));
after(() => transport.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sendWithTtl(family: 4 | 6, ttl: number, port: number, text: string): Promise<void> {
  const s = dgram.createSocket(family === 4 ? "udp4" : "udp6");
  await new Promise<void>((r) => s.bind(0, family === 4 ? "127.0.0.1" : "::1", () => r()));
  s.setTTL(ttl);
  await new Promise<void>((r, j) => s.send(text, port, family === 4 ? "127.0.0.1" : "::1", (e) => (e ? j(e) : r())));
  s.close();
}

for (const family of [4, 6] as const) {
  test(`IPv${family} single hop: only TTL 255 gets through; multihop takes any`, { skip: process.platform !== "linux" }, async () => {
    const loop = family === 4 ? "127.0.0.1" : "::1";
    // opening a session binds the receive sockets of its family and kind
    const single = await transport.open(loop, loop, false);
    const multi = await transport.open(loop, loop, true);
    got.length = 0;
    for (const ttl of [1, 64, 254, 255]) await sendWithTtl(family, ttl, base, `s${ttl}`);
    for (const ttl of [64, 255]) await sendWithTtl(family, ttl, base + 1, `m${ttl}`);
    await sleep(200);
    const texts = got.map((p) => `${Buffer.from(p.bytes).toString()}${p.multihop ? "/mh" : ""}`).sort();
    assert.deepEqual(texts, ["m255/mh", "m64/mh", "s255"]);
    assert.ok(got.every((p) => p.address === loop));
    // a session's own packets: TTL 255 (so they pass the filter) from a port in 49152-65535
    got.length = 0;
    single.send(Uint8Array.from([1, 2, 3]));
    await sleep(200);
    assert.equal(got.length, 1);
    assert.ok(got[0]!.port >= 49152 && got[0]!.port <= 65535, `source port ${got[0]!.port}`);
    single.close();
    multi.close();
  });
}
