/**
 * The attacker: what a hostile workload runs, inside its network namespace
 * (`ip netns exec NS node dist/test/security/attacker.js MODE …`). Every mode is bounded in
 * time and count and prints one JSON line saying what it achieved:
 *   bgp HOST PORT AS ROUTER_ID NEXT_HOP PREFIX  open TCP, send OPEN (as AS/ROUTER_ID), KEEPALIVE
 *                     and, if an OPEN comes back, an UPDATE for PREFIX via NEXT_HOP (tabby's codec)
 *                     → {connected, received: [message types]}
 *   bgp255 …          the same, sending with TTL 255 as a GTSM peer does (the most a workload can
 *                     do against RFC 5082: its host still takes one off when it forwards)
 *   tcp HOST PORT,…   connect to each port (1.5 s each) → {"<port>": true|false}
 *   udp HOST PORT [SRC]  send one BFD control packet (RFC 5880, state Up), from SRC if given → {sent}
 *   flood HOST PORT COUNT  COUNT new TCP connections, 100 at a time, 1 s each → {attempted, connected}
 *   arp IFACE IP      ARP reply and gratuitous ARP claiming IP at this interface's MAC → {sent}
 *   read HOST PORT    what a TCP service answers (2 s) → {data}
 *   na IFACE IP6      unsolicited Neighbour Advertisement (override) claiming IP6 → {sent}
 */
import * as net from "node:net";
import * as dgram from "node:dgram";
import { readFileSync } from "node:fs";
import { BgpFramer } from "../../src/bgp/wire/framer.js";
import { decodeMessage, encodeMessage } from "../../src/bgp/wire/messages.js";
import { announce, peerOpen } from "../../src/testkit/bgp/scripted-peer.js";
import { connectSecured } from "../../src/bgp/md5.js";

const [mode, ...args] = process.argv.slice(2);
const out = (v: unknown) => console.log(JSON.stringify(v));

function connect(host: string, port: number, ms: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => (s.destroy(), resolve(undefined)), ms);
    s.once("connect", () => (clearTimeout(t), resolve(s)));
    s.once("error", () => (clearTimeout(t), s.destroy(), resolve(undefined)));
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const earlyData = new WeakMap<net.Socket, { early: Buffer[]; keep: (d: Buffer) => void }>();

/** Connects sending with TTL (hop limit) 255; accepts any TTL back. */
function connect255(host: string, port: number, ms: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    let s: net.Socket | undefined;
    const t = setTimeout(() => (s?.destroy(), resolve(undefined)), ms);
    try {
      // ttlSecurity 254: IP_TTL 255 out, minimum TTL 2 in
      s = connectSecured(host, port, undefined, { ttlSecurity: 254 }, () => (clearTimeout(t), resolve(s)));
      // the first data (the peer's OPEN) may be what tells the handshake is done: keep it
      const early: Buffer[] = [];
      const keep = (d: Buffer) => early.push(d);
      s.on("data", keep);
      earlyData.set(s, { early, keep });
      s.once("error", () => (clearTimeout(t), s!.destroy(), resolve(undefined)));
    } catch {
      clearTimeout(t);
      resolve(undefined);
    }
  });
}

async function bgp(host: string, port: number, as: number, routerId: string, nextHop: string, prefix: string, ttl255 = false): Promise<void> {
  const s = await (ttl255 ? connect255 : connect)(host, port, 3000);
  if (!s) return out({ connected: false, received: [] });
  const received: string[] = [];
  const framer = new BgpFramer();
  const onData = (d: Buffer) => {
    try {
      for (const f of framer.push(d)) received.push(decodeMessage(f).type);
    } catch {
      received.push("garbage");
    }
  };
  const e = earlyData.get(s);
  if (e) {
    s.removeListener("data", e.keep);
    for (const d of e.early) onData(d);
  }
  s.on("data", onData);
  s.on("error", () => {});
  s.write(encodeMessage(peerOpen(routerId, as)));
  s.write(encodeMessage({ type: "keepalive" }));
  for (let i = 0; i < 30 && !received.includes("open"); i++) await sleep(100);
  if (received.includes("open")) {
    s.write(encodeMessage({ type: "keepalive" }));
    s.write(encodeMessage(announce(nextHop, [prefix])));
    await sleep(2000);
  }
  s.destroy();
  out({ connected: true, received });
}

async function tcp(host: string, ports: number[]): Promise<void> {
  const r: Record<string, boolean> = {};
  await Promise.all(
    ports.map(async (p) => {
      const s = await connect(host, p, 1500);
      r[p] = !!s;
      s?.destroy();
    }),
  );
  out(r);
}

function bfdPacket(): Buffer {
  const b = Buffer.alloc(24);
  b[0] = 1 << 5; // version 1, diag 0
  b[1] = 3 << 6; // state Up
  b[2] = 3; // detect multiplier
  b[3] = 24;
  b.writeUInt32BE(0x7abb1, 4); // my discriminator
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(300_000, 12);
  b.writeUInt32BE(300_000, 16);
  return b;
}

async function udp(host: string, port: number, src?: string): Promise<void> {
  const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  if (src) await new Promise<void>((r) => s.bind({ address: src, port: 0 }, r));
  await new Promise<void>((r, j) => s.send(bfdPacket(), port, host, (e) => (e ? j(e) : r())));
  s.close();
  out({ sent: true });
}

async function flood(host: string, port: number, count: number): Promise<void> {
  let next = 0;
  let connected = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const s = await connect(host, port, 1000);
      if (s) connected++;
      s?.destroy();
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  out({ attempted: next, connected });
}

// ---------- link layer, through AF_PACKET (koffi: Node has no packet sockets) ----------
async function packetSocket(): Promise<{ send(iface: string, frame: Buffer): void }> {
  const m = (await import("koffi")) as unknown as { default?: unknown };
  const koffi = (m.default ?? m) as { load(n: string): { func(s: string): (...a: unknown[]) => number } };
  const c = koffi.load("libc.so.6");
  const socket = c.func("int socket(int, int, int)");
  const sendto = c.func("long sendto(int, void *, unsigned long, int, void *, unsigned int)");
  const fd = socket(17 /* AF_PACKET */, 3 /* SOCK_RAW */, 0);
  if (fd < 0) throw new Error("cannot open a packet socket");
  return {
    send(iface, frame) {
      const idx = Number(readFileSync(`/sys/class/net/${iface}/ifindex`, "utf8"));
      const sll = Buffer.alloc(20);
      sll.writeUInt16LE(17, 0);
      sll.writeUInt16BE(frame.readUInt16BE(12), 2);
      sll.writeInt32LE(idx, 4);
      sll[11] = 6;
      frame.copy(sll, 12, 0, 6);
      if (sendto(fd, frame, frame.length, 0, sll, sll.length) !== frame.length) throw new Error("sendto failed");
    },
  };
}
const mac = (iface: string) =>
  Buffer.from(
    readFileSync(`/sys/class/net/${iface}/address`, "utf8")
      .trim()
      .split(":")
      .map((h) => parseInt(h, 16)),
  );
const v4 = (a: string) => Buffer.from(a.split(".").map(Number));
function v6(a: string): Buffer {
  const [head, tail] = a.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}
const GW_MAC = Buffer.from([0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);

async function arp(iface: string, ip: string): Promise<void> {
  const ps = await packetSocket();
  const me = mac(iface);
  for (const [dst, target, targetIp] of [
    [GW_MAC, GW_MAC, v4("169.254.1.1")], // reply to the gateway
    [Buffer.alloc(6, 0xff), Buffer.alloc(6), v4(ip)], // gratuitous
  ] as const) {
    const f = Buffer.concat([dst, me, Buffer.from([0x08, 0x06]), Buffer.from([0, 1, 8, 0, 6, 4, 0, 2]), me, v4(ip), target, targetIp]);
    ps.send(iface, f);
  }
  out({ sent: true });
}

function icmp6Checksum(src: Buffer, dst: Buffer, body: Buffer): number {
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 0, (body.length >> 8) & 0xff, body.length & 0xff, 0, 0, 0, 58]), body]);
  let sum = 0;
  for (let i = 0; i < pseudo.length; i += 2) sum += (pseudo[i]! << 8) + (pseudo[i + 1] ?? 0);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

async function na(iface: string, ip: string): Promise<void> {
  const ps = await packetSocket();
  const me = mac(iface);
  // Source: our link-local (EUI-64 of our MAC); destination: all nodes.
  const ll = Buffer.concat([Buffer.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0]), Buffer.from([me[0]! ^ 2, me[1]!, me[2]!, 0xff, 0xfe, me[3]!, me[4]!, me[5]!])]);
  const dst = v6("ff02::1");
  const body = Buffer.concat([Buffer.from([136, 0, 0, 0, 0x20, 0, 0, 0]), v6(ip), Buffer.from([2, 1]), me]); // override flag, target LL option
  body.writeUInt16BE(icmp6Checksum(ll, dst, body), 2);
  const hdr = Buffer.alloc(40);
  hdr[0] = 0x60;
  hdr.writeUInt16BE(body.length, 4);
  hdr[6] = 58;
  hdr[7] = 255;
  ll.copy(hdr, 8);
  dst.copy(hdr, 24);
  ps.send(iface, Buffer.concat([Buffer.from([0x33, 0x33, 0, 0, 0, 1]), me, Buffer.from([0x86, 0xdd]), hdr, body]));
  out({ sent: true });
}

switch (mode) {
  case "bgp":
    await bgp(args[0]!, Number(args[1]), Number(args[2]), args[3]!, args[4]!, args[5]!);
    break;
  case "bgp255":
    await bgp(args[0]!, Number(args[1]), Number(args[2]), args[3]!, args[4]!, args[5]!, true);
    break;
  case "tcp":
    await tcp(args[0]!, args[1]!.split(",").map(Number));
    break;
  case "udp":
    await udp(args[0]!, Number(args[1]), args[2]);
    break;
  case "read": {
    const s = await connect(args[0]!, Number(args[1]), 2000);
    let data = "";
    if (s) {
      s.setEncoding("utf8").on("data", (d: string) => (data += d));
      await new Promise((r) => (s.once("close", r), setTimeout(r, 2000)));
      s.destroy();
    }
    out({ data });
    break;
  }
  case "flood":
    await flood(args[0]!, Number(args[1]), Number(args[2]));
    break;
  case "arp":
    await arp(args[0]!, args[1]!);
    break;
  case "na":
    await na(args[0]!, args[1]!);
    break;
  default:
    console.error("usage: bgp|tcp|udp|flood|arp|na …");
    process.exit(2);
}
process.exit(0);
