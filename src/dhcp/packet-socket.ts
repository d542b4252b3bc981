/**
 * A cooked AF_PACKET socket (packet(7), SOCK_DGRAM: the kernel strips and adds the Ethernet
 * header) in this process's network namespace, with the request filter of bpf.ts, for the DHCP
 * and RA responder: it sees a client's request before netfilter (a DHCPv4 client has no address
 * the anti-spoofing rules would let through) and sends its answer straight onto the interface
 * (unicast to a client that has no address yet). Receiving reads what is queued without
 * blocking; when nothing is, a libuv pool thread waits in poll(2) on the socket and an eventfd,
 * with no timeout: an idle responder wakes for nothing, and `close` writes the eventfd to end the
 * wait at once. Linux, root (CAP_NET_RAW). Shell (I/O).
 */
import { TabbyError } from "../errors.js";
import { encodeFilter, requestFilter } from "./bpf.js";

const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const EAGAIN = 11;
const EINTR = 4;
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
  poll: Fn;
  eventfd: Fn;
  write: Fn;
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
    poll: c.func("int poll(void *, unsigned long, int)"),
    eventfd: c.func("int eventfd(unsigned int, int)"),
    write: c.func("long write(int, void *, unsigned long)"),
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
  private readonly buf = Buffer.alloc(4096);
  private readonly addr = Buffer.alloc(20);
  private readonly len = [20];
  /** poll(2)'s two pollfds: the socket, and the eventfd `close` writes. */
  private readonly pollfds = Buffer.alloc(16);

  private constructor(
    private readonly a: Api,
    private readonly fd: number,
    private readonly wake: number,
    // kept referenced: the kernel copied it at attach time, but it must live until then
    private readonly filter: Buffer,
  ) {
    this.pollfds.writeInt32LE(fd, 0);
    this.pollfds.writeInt16LE(POLLIN, 4);
    this.pollfds.writeInt32LE(wake, 8);
    this.pollfds.writeInt16LE(POLLIN, 12);
  }

  static async open(): Promise<PacketSocket> {
    const a = await load();
    const fd = a.socket(AF_PACKET, SOCK_DGRAM, ETH_P_ALL_BE);
    if (fd < 0) throw new TabbyError("DP_PACKET_SOCKET", `cannot open a packet socket (errno ${a.errno()}): the DHCP responder needs root (CAP_NET_RAW)`);
    const filter = Buffer.from(encodeFilter(requestFilter()));
    const prog = Buffer.alloc(16);
    prog.writeUInt16LE(filter.length / 8, 0);
    prog.writeBigUInt64LE(a.address(filter), 8);
    if (a.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, 16) !== 0) {
      const e = a.errno();
      a.close(fd);
      throw new TabbyError("DP_PACKET_SOCKET", `cannot set up the packet socket (errno ${e})`);
    }
    const wake = a.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake < 0) {
      const e = a.errno();
      a.close(fd);
      throw new TabbyError("DP_PACKET_SOCKET", `cannot make the responder's eventfd (errno ${e})`);
    }
    return new PacketSocket(a, fd, wake, filter);
  }

  /** The next incoming request (outgoing copies skipped); undefined once closed. */
  async receive(): Promise<ReceivedFrame | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      this.len[0] = this.addr.length;
      const n = Number(this.a.recvfrom(this.fd, this.buf, this.buf.length, MSG_DONTWAIT, this.addr, this.len));
      if (n > 0) {
        if (this.addr[10] === PACKET_OUTGOING) continue;
        return {
          ifindex: this.addr.readInt32LE(4),
          proto: this.addr.readUInt16BE(2),
          mac: macOf(this.addr, 12, Math.min(this.addr[11]!, 8)),
          packet: Uint8Array.from(this.buf.subarray(0, n)),
        };
      }
      const e = n < 0 ? this.a.errno() : 0;
      if (n < 0 && e !== EAGAIN && e !== EINTR) return undefined; // an error the socket reported once; the caller asks again
      await this.readable();
    }
  }

  /** Waits on a pool thread, without a timeout, until the socket has something or `close` wakes it. */
  private readable(): Promise<void> {
    this.pending = true;
    return new Promise((resolve) => {
      this.a.poll.async(this.pollfds, 2, -1, () => {
        this.pending = false;
        // the fds are closed only once no pool thread waits on them (a reused fd number must not be read)
        if (this.closed) this.closeFd();
        resolve();
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
    if (!this.pending) {
      this.closeFd();
      return;
    }
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    this.a.write(this.wake, one, 8); // ends the pool thread's poll; its callback closes the fds
  }

  private closeFd(): void {
    if (this.fdClosed) return;
    this.fdClosed = true;
    this.a.close(this.fd);
    this.a.close(this.wake);
    void this.filter;
  }
}
