/**
 * A cooked AF_PACKET socket (packet(7), SOCK_DGRAM: the kernel strips and adds the Ethernet
 * header) in this process's network namespace, with the request filter of bpf.ts, for the DHCP
 * and RA responder: it sees a client's request before netfilter (a DHCPv4 client has no address
 * the anti-spoofing rules would let through) and sends its answer straight onto the interface
 * (unicast to a client that has no address yet). Receiving blocks a libuv pool thread with a
 * one-second timeout (SO_RCVTIMEO) so `close` returns within that second. Linux, root
 * (CAP_NET_RAW). Shell (I/O).
 */
import { TabbyError } from "../errors.js";
import { encodeFilter, requestFilter } from "./bpf.js";

const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SO_ATTACH_FILTER = 26;
const ETH_P_ALL_BE = 0x0300; // htons(ETH_P_ALL)
const PACKET_OUTGOING = 4;

export interface ReceivedFrame {
  ifindex: number;
  proto: number;
  mac: string;
  packet: Uint8Array;
}

type Fn = ((...a: unknown[]) => number) & { async(...a: unknown[]): void };

interface Api {
  socket: Fn;
  setsockopt: Fn;
  recvfrom: Fn;
  sendto: Fn;
  close: Fn;
  errno(): number;
  address(b: unknown): bigint;
}

let api: Api | undefined;

async function load(): Promise<Api> {
  if (api) return api;
  const m = (await import("koffi")) as unknown as { default?: unknown };
  const koffi = (m.default ?? m) as { load(n: string): { func(s: string): Fn }; errno(): number; address(b: unknown): bigint };
  const c = koffi.load("libc.so.6");
  api = {
    socket: c.func("int socket(int, int, int)"),
    setsockopt: c.func("int setsockopt(int, int, int, void *, unsigned int)"),
    recvfrom: c.func("long recvfrom(int, _Out_ void *, unsigned long, int, _Out_ void *, _Inout_ unsigned int *)"),
    sendto: c.func("long sendto(int, void *, unsigned long, int, void *, unsigned int)"),
    close: c.func("int close(int)"),
    errno: () => koffi.errno(),
    address: (b) => koffi.address(b),
  };
  return api;
}

function macOf(b: Buffer, off: number, len: number): string {
  return [...b.subarray(off, off + len)].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

export class PacketSocket {
  private closed = false;
  private pending = false;
  private fdClosed = false;
  private constructor(
    private readonly a: Api,
    private readonly fd: number,
    // kept referenced: the kernel copied it at attach time, but it must live until then
    private readonly filter: Buffer,
  ) {}

  static async open(): Promise<PacketSocket> {
    const a = await load();
    const fd = a.socket(AF_PACKET, SOCK_DGRAM, ETH_P_ALL_BE);
    if (fd < 0) throw new TabbyError("DP_PACKET_SOCKET", `cannot open a packet socket (errno ${a.errno()}): the DHCP responder needs root (CAP_NET_RAW)`);
    const filter = Buffer.from(encodeFilter(requestFilter()));
    const prog = Buffer.alloc(16);
    prog.writeUInt16LE(filter.length / 8, 0);
    prog.writeBigUInt64LE(a.address(filter), 8);
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(1n, 0);
    if (a.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, 16) !== 0 || a.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) !== 0) {
      const e = a.errno();
      a.close(fd);
      throw new TabbyError("DP_PACKET_SOCKET", `cannot set up the packet socket (errno ${e})`);
    }
    return new PacketSocket(a, fd, filter);
  }

  /** The next incoming request; undefined after a one-second timeout or once closed. */
  receive(): Promise<ReceivedFrame | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const buf = Buffer.alloc(4096);
    const addr = Buffer.alloc(20);
    const len = [20];
    this.pending = true;
    return new Promise((resolve) => {
      this.a.recvfrom.async(this.fd, buf, buf.length, 0, addr, len, (err: unknown, n: number) => {
        this.pending = false;
        // the fd is closed only once no pool thread waits on it (a reused fd number must not be read)
        if (this.closed) {
          this.closeFd();
          return resolve(undefined);
        }
        if (err || n <= 0) return resolve(undefined);
        if (addr[10] === PACKET_OUTGOING) return resolve(undefined);
        resolve({
          ifindex: addr.readInt32LE(4),
          proto: addr.readUInt16BE(2),
          mac: macOf(addr, 12, Math.min(addr[11]!, 8)),
          packet: Uint8Array.from(buf.subarray(0, n)),
        });
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends an IP packet out of `ifindex` to `mac`. */
  send(ifindex: number, proto: number, mac: string, packet: Uint8Array): void {
    const addr = Buffer.alloc(20);
    addr.writeUInt16LE(AF_PACKET, 0);
    addr.writeUInt16BE(proto, 2);
    addr.writeInt32LE(ifindex, 4);
    addr[11] = 6;
    Buffer.from(mac.split(":").map((x) => parseInt(x, 16))).copy(addr, 12);
    const b = Buffer.from(packet);
    if (this.a.sendto(this.fd, b, b.length, 0, addr, 20) !== b.length)
      throw new TabbyError("DP_PACKET_SOCKET", `cannot send on interface ${ifindex} (errno ${this.a.errno()})`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.pending) this.closeFd();
  }

  private closeFd(): void {
    if (this.fdClosed) return;
    this.fdClosed = true;
    this.a.close(this.fd);
    void this.filter;
  }
}
