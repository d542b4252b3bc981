/**
 * NFLOG over netlink (nfnetlink_log, the kernel's `log group N` target): the message that binds
 * this socket to a group and asks for the packet's first bytes, and the decoding of the packets the
 * kernel sends — the log prefix, the interfaces and the IP/L4 header as a 5-tuple. Linux
 * include/uapi/linux/netfilter/nfnetlink_log.h and nfnetlink.h. Pure: bytes in, bytes out.
 */
import { TabbyError } from "../errors.js";
import { IP } from "../net/ip.js";

const NFNL_SUBSYS_ULOG = 4;
const NFULNL_MSG_PACKET = 0;
const NFULNL_MSG_CONFIG = 1;
const NFULA_CFG_CMD = 1;
const NFULA_CFG_MODE = 2;
const NFULNL_CFG_CMD_BIND = 1;
const NFULNL_COPY_PACKET = 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLMSG_ERROR = 2;
const NFULA_IFINDEX_INDEV = 4;
const NFULA_IFINDEX_OUTDEV = 5;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

/** The bytes of each logged packet kept: enough for an IPv6 header and the L4 ports. */
export const COPY_RANGE = 64;

function attr(type: number, body: Buffer): Buffer {
  const len = 4 + body.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  body.copy(out, 4);
  return out;
}

/** NFULNL_MSG_CONFIG: bind to `group`, copy COPY_RANGE bytes of each packet. */
export function bindGroupMessage(group: number, seq: number): Buffer {
  const nfgen = Buffer.alloc(4);
  nfgen.writeUInt8(0, 0); // AF_UNSPEC
  nfgen.writeUInt8(0, 1); // NFNETLINK_V0
  nfgen.writeUInt16BE(group, 2);
  const mode = Buffer.alloc(6);
  mode.writeUInt32BE(COPY_RANGE, 0);
  mode.writeUInt8(NFULNL_COPY_PACKET, 4);
  const body = Buffer.concat([nfgen, attr(NFULA_CFG_CMD, Buffer.from([NFULNL_CFG_CMD_BIND])), attr(NFULA_CFG_MODE, mode)]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG, 4);
  hdr.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  hdr.writeUInt32LE(seq, 8);
  return Buffer.concat([hdr, body]);
}

export interface LoggedPacket {
  prefix: string;
  indev?: number;
  outdev?: number;
  /** Length of the whole IP packet (from its header). */
  length: number;
  src: string;
  dst: string;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
}

/** Decodes a datagram of netlink messages; NLMSG_ERROR with an errno throws (the bind's answer). */
export function decodeNflog(buf: Buffer): LoggedPacket[] {
  const out: LoggedPacket[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    if (len < 16 || off + len > buf.length) break;
    if (type === NLMSG_ERROR) {
      const errno = -buf.readInt32LE(off + 16);
      if (errno !== 0) throw new TabbyError("AGENT_NFLOG_FAILED", `NFLOG bind refused: errno ${errno}`, { errno });
    } else if (type === ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) {
      const p = decodePacket(buf.subarray(off + 20, off + len));
      if (p) out.push(p);
    }
    off += (len + 3) & ~3;
  }
  return out;
}

function decodePacket(attrs: Buffer): LoggedPacket | undefined {
  let prefix = "";
  let indev: number | undefined;
  let outdev: number | undefined;
  let payload: Buffer | undefined;
  let off = 0;
  while (off + 4 <= attrs.length) {
    const len = attrs.readUInt16LE(off);
    const type = attrs.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > attrs.length) break;
    const body = attrs.subarray(off + 4, off + len);
    if (type === NFULA_PREFIX) prefix = body.toString("utf8").replace(/\0.*$/s, "");
    else if (type === NFULA_IFINDEX_INDEV) indev = body.readUInt32BE(0);
    else if (type === NFULA_IFINDEX_OUTDEV) outdev = body.readUInt32BE(0);
    else if (type === NFULA_PAYLOAD) payload = body;
    off += (len + 3) & ~3;
  }
  if (!payload) return undefined;
  const ip = parseIpHeader(payload);
  if (!ip) return undefined;
  return { prefix, ...(indev !== undefined ? { indev } : {}), ...(outdev !== undefined ? { outdev } : {}), ...ip };
}

/** The 5-tuple and length of an IPv4 or IPv6 packet's first bytes. */
export function parseIpHeader(b: Buffer): Omit<LoggedPacket, "prefix" | "indev" | "outdev"> | undefined {
  if (b.length < 1) return undefined;
  const version = b[0]! >> 4;
  let l4: number;
  let out: Omit<LoggedPacket, "prefix" | "indev" | "outdev">;
  if (version === 4 && b.length >= 20) {
    l4 = (b[0]! & 0x0f) * 4;
    out = { length: b.readUInt16BE(2), protocol: b[9]!, src: [...b.subarray(12, 16)].join("."), dst: [...b.subarray(16, 20)].join(".") };
  } else if (version === 6 && b.length >= 40) {
    l4 = 40;
    out = { length: 40 + b.readUInt16BE(4), protocol: b[6]!, src: v6(b.subarray(8, 24)), dst: v6(b.subarray(24, 40)) };
  } else return undefined;
  if ((out.protocol === 6 || out.protocol === 17 || out.protocol === 132) && b.length >= l4 + 4) {
    out.srcPort = b.readUInt16BE(l4);
    out.dstPort = b.readUInt16BE(l4 + 2);
  }
  return out;
}

/** An IPv6 address's 16 bytes as text (RFC 5952, src/net/ip.ts). */
export function v6(b: Buffer): string {
  return new IP(Uint8Array.from(b)).toString();
}
