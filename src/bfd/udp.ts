/**
 * BFD's UDP sockets (RFC 5881 single hop, RFC 5883 multihop). Shell (I/O).
 *
 * Receiving: one socket per family and port (3784 single hop, 4784 multihop) bound to the
 * wildcard address, shared by every session; packets are handed up with their source address
 * for the service to demultiplex. Sending: one socket per session, bound to the session's local
 * address and a source port in 49152-65535 (RFC 5881 §4: the same port for the session's life),
 * with TTL / hop limit 255.
 *
 * The TTL check: RFC 5881 §5 requires single-hop packets to arrive with TTL (hop limit) 255.
 * node:dgram cannot read a received packet's TTL, so the kernel checks it: a classic BPF socket
 * filter (SO_ATTACH_FILTER, set through libc with the koffi FFI package as src/bgp/md5.ts does)
 * on the single-hop receive sockets loads the TTL byte of the IPv4 header (or the hop limit of
 * the IPv6 header) through the SKF_NET_OFF window and drops the packet unless it is 255. A packet
 * that fails never reaches us, as RFC 5881 wants it discarded. Multihop packets (RFC 5883) are
 * not TTL-checked. Linux only; without koffi the single-hop receive socket is refused
 * (BFD_TTL_CHECK) rather than run unchecked.
 */
import * as dgram from "node:dgram";
import { createRequire } from "node:module";
import { parseIP } from "../net/ip.js";
import { BfdError } from "./errors.js";

export const SINGLE_HOP_PORT = 3784;
export const MULTIHOP_PORT = 4784;
const SRC_PORT_MIN = 49152;
const SRC_PORT_MAX = 65535;

export interface ReceivedPacket {
  bytes: Uint8Array;
  /** Source address (IPv4 dotted, IPv6 canonical as Node prints it). */
  address: string;
  /** Source port (a peer's is in 49152-65535, RFC 5881 §4; not enforced, as FRR and BIRD do not). */
  port: number;
  multihop: boolean;
}

export interface BfdPath {
  send(bytes: Uint8Array): void;
  close(): void;
}

export interface BfdTransport {
  /** Handler of every received packet (set once, by the service). */
  onPacket(handler: (p: ReceivedPacket) => void): void;
  /** The sending side of one session, and the receive socket of its family and port. */
  open(peer: string, local: string | undefined, multihop: boolean): Promise<BfdPath>;
  close(): Promise<void>;
}

// ---- the TTL filter ----

interface FilterLib {
  attach(fd: number, program: Buffer): number;
  errno(): number;
}
let filterLib: FilterLib | undefined;

function loadFilterLib(): FilterLib {
  if (filterLib) return filterLib;
  if (process.platform !== "linux") throw new BfdError("BFD_TTL_CHECK", "the single-hop TTL check needs Linux (a BPF socket filter)");
  let koffi: {
    load(name: string): { func(sig: string): (...args: unknown[]) => number };
    struct(name: string, def: Record<string, string>): unknown;
    sizeof(t: unknown): number;
    errno(): number;
  };
  try {
    koffi = createRequire(import.meta.url)("koffi");
  } catch (e) {
    throw new BfdError("BFD_TTL_CHECK", `the single-hop TTL check needs the koffi package: ${e instanceof Error ? e.message : String(e)}`);
  }
  const fprog = koffi.struct("tabby_bfd_sock_fprog", { len: "uint16_t", filter: "void *" });
  const setsockopt = koffi.load("libc.so.6").func("int setsockopt(int, int, int, tabby_bfd_sock_fprog *, uint32_t)");
  const size = koffi.sizeof(fprog);
  filterLib = {
    attach: (fd, program) => setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, { len: program.length / 8, filter: program }, size),
    errno: () => koffi.errno(),
  };
  return filterLib;
}

const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
/** SKF_NET_OFF (-0x100000): classic BPF loads relative to the network header. */
const SKF_NET_OFF = 0xfff00000;
const BPF_LD_B_ABS = 0x30;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;

/**
 * The classic BPF program: accept the packet when the byte at `offset` of the IP header (TTL at
 * 8 in IPv4, hop limit at 7 in IPv6) is 255, else drop it.
 */
export function ttlFilterProgram(family: 4 | 6): Buffer {
  const ins: [number, number, number, number][] = [
    [BPF_LD_B_ABS, 0, 0, SKF_NET_OFF + (family === 4 ? 8 : 7)], // A = ip[ttl or hop limit]
    [BPF_JEQ_K, 0, 1, 255], // A == 255 ? next : skip one
    [BPF_RET_K, 0, 0, 0xffff], // accept (up to 64 KiB)
    [BPF_RET_K, 0, 0, 0], // drop
  ];
  const b = Buffer.alloc(ins.length * 8);
  ins.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b[i * 8 + 2] = jt;
    b[i * 8 + 3] = jf;
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

/** The file descriptor under a bound dgram socket (its handle, without the deprecated `_handle`). */
function fdOf(socket: dgram.Socket): number {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === "state symbol");
  const state = sym ? (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[sym] : undefined;
  const fd = state?.handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new BfdError("BFD_SOCKET", "no file descriptor on the UDP socket");
  return fd;
}

/** Drops, in the kernel, every packet that reaches `socket` with a TTL (hop limit) other than 255. */
export function requireTtl255(socket: dgram.Socket, family: 4 | 6): void {
  const lib = loadFilterLib();
  if (lib.attach(fdOf(socket), ttlFilterProgram(family)) !== 0)
    throw new BfdError("BFD_TTL_CHECK", `setsockopt(SO_ATTACH_FILTER) failed (errno ${lib.errno()})`);
}

// ---- sockets ----

function bind(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    socket.once("error", onError);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off("error", onError);
      resolve();
    });
  });
}

export interface UdpTransportOptions {
  /** Ports to send to and listen on (defaults 3784 and 4784; tests may change them). */
  singleHopPort?: number;
  multihopPort?: number;
  random?: () => number;
  log?: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

export class UdpTransport implements BfdTransport {
  private handler: (p: ReceivedPacket) => void = () => {};
  private receivers = new Map<string, Promise<dgram.Socket>>();
  private senders = new Set<dgram.Socket>();
  private readonly ports: { single: number; multi: number };
  private readonly random: () => number;
  private readonly log: NonNullable<UdpTransportOptions["log"]>;

  constructor(opts: UdpTransportOptions = {}) {
    this.ports = { single: opts.singleHopPort ?? SINGLE_HOP_PORT, multi: opts.multihopPort ?? MULTIHOP_PORT };
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => {});
  }

  onPacket(handler: (p: ReceivedPacket) => void): void {
    this.handler = handler;
  }

  private receiver(family: 4 | 6, multihop: boolean): Promise<dgram.Socket> {
    const key = `${family}/${multihop}`;
    let r = this.receivers.get(key);
    if (!r) {
      r = (async () => {
        const s = dgram.createSocket({ type: family === 4 ? "udp4" : "udp6", ipv6Only: family === 6 });
        await bind(s, multihop ? this.ports.multi : this.ports.single, family === 4 ? "0.0.0.0" : "::");
        try {
          if (!multihop) requireTtl255(s, family);
        } catch (e) {
          s.close();
          throw e;
        }
        s.on("message", (msg, rinfo) =>
          this.handler({ bytes: new Uint8Array(msg.buffer, msg.byteOffset, msg.length), address: rinfo.address, port: rinfo.port, multihop }),
        );
        s.on("error", (e) => this.log("error", "bfd receive socket error", { err: e.message }));
        return s;
      })();
      this.receivers.set(key, r);
      r.catch(() => this.receivers.delete(key));
    }
    return r;
  }

  async open(peer: string, local: string | undefined, multihop: boolean): Promise<BfdPath> {
    const family = parseIP(peer).family;
    if (local && parseIP(local).family !== family) throw new BfdError("BFD_FAMILY", `local address ${local} is not of the family of ${peer}`);
    await this.receiver(family, multihop);
    const port = multihop ? this.ports.multi : this.ports.single;
    // a source port in 49152-65535, tried at random (RFC 5881 §4)
    for (let attempt = 0; ; attempt++) {
      const s = dgram.createSocket({ type: family === 4 ? "udp4" : "udp6", ipv6Only: family === 6 });
      const src = SRC_PORT_MIN + Math.floor(this.random() * (SRC_PORT_MAX - SRC_PORT_MIN + 1));
      try {
        await bind(s, src, local ?? (family === 4 ? "0.0.0.0" : "::"));
      } catch (e) {
        s.close();
        if ((e as NodeJS.ErrnoException).code === "EADDRINUSE" && attempt < 32) continue;
        throw new BfdError("BFD_SOCKET", `cannot bind a BFD source port on ${local ?? "any address"}: ${e instanceof Error ? e.message : String(e)}`);
      }
      s.setTTL(255); // RFC 5881 §5 (and RFC 5883 leaves it to us: 255 as well)
      s.on("error", (e) => this.log("debug", "bfd send socket error", { peer, err: e.message }));
      this.senders.add(s);
      return {
        send: (bytes) => s.send(bytes, port, peer),
        close: () => {
          if (this.senders.delete(s)) s.close();
        },
      };
    }
  }

  async close(): Promise<void> {
    for (const s of this.senders) s.close();
    this.senders.clear();
    const rs = await Promise.allSettled([...this.receivers.values()]);
    this.receivers.clear();
    for (const r of rs) if (r.status === "fulfilled") r.value.close();
  }
}
