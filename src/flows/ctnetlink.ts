/**
 * ctnetlink (NFNL_SUBSYS_CTNETLINK over NETLINK_NETFILTER): the request that dumps the conntrack
 * table, the membership number of the destroy-event group, and the decoding of the entries the
 * kernel sends (dump answers IPCTNL_MSG_CT_NEW, destroy events IPCTNL_MSG_CT_DELETE): the
 * original direction's tuple, the zone, the id and the accounting counters of both directions
 * (CTA_COUNTERS_ORIG/REPLY, present when net.netfilter.nf_conntrack_acct was 1 when the
 * connection began) and the reply direction's addresses. And the deletes (IPCTNL_MSG_CT_DELETE
 * with NLM_F_ACK) that remove a released address's entries, as Felix's `conntrack --delete
 * --orig-src IP` / `--reply-src IP`: by address, the kernel choosing the entries (CTA_FILTER on a
 * flush, Linux 6.11 and later), or one entry by its original tuple and id (older kernels, after a
 * dump); with the acknowledgements' decoding. Linux include/uapi/linux/netfilter/
 * nfnetlink_conntrack.h, nfnetlink.h, nfnetlink_compat.h, net/netfilter/nf_internals.h (the
 * filter flags). Pure: bytes in, bytes out. Attribute values are in network byte order, except
 * the filter flags (host order, NLA_U32).
 */
import { TabbyError } from "../errors.js";
import { tryParseIP, type Family } from "../net/ip.js";
import { v6 } from "./nflog.js";

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_NEW = 0;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const NLA_F_NESTED = 0x8000;
const AF_INET = 2;
const AF_INET6 = 10;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

/** nfnetlink multicast group of conntrack destroy events (NFNLGRP_CONNTRACK_DESTROY). */
export const NFNLGRP_CONNTRACK_DESTROY = 3;

const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_COUNTERS_ORIG = 9;
const CTA_COUNTERS_REPLY = 10;
const CTA_ID = 12;
const CTA_ZONE = 18;
const CTA_FILTER = 25;
const CTA_FILTER_ORIG_FLAGS = 1;
const CTA_FILTER_REPLY_FLAGS = 2;
/** nf_internals.h: which fields of a filter's tuple must match. */
const CTA_FILTER_F_CTA_IP_SRC = 1 << 0;
const CTA_FILTER_F_CTA_IP_DST = 1 << 1;
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_TUPLE_ZONE = 3;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_IP_V6_SRC = 3;
const CTA_IP_V6_DST = 4;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const CTA_PROTO_DST_PORT = 3;
const CTA_COUNTERS_PACKETS = 1;
const CTA_COUNTERS_BYTES = 2;
const CTA_COUNTERS32_PACKETS = 3;
const CTA_COUNTERS32_BYTES = 4;

export interface CtCounters {
  packets: number;
  bytes: number;
}

/** One conntrack entry as a dump or a destroy event carries it. */
export interface CtEntry {
  /** The kernel's id of the entry (CTA_ID), unique while it lives. */
  id: number;
  /** The conntrack zone (0 unless someone set one). */
  zone: number;
  /** The original direction's tuple: the first packet's addresses, protocol and ports. */
  src: string;
  dst: string;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  /** The reply direction's addresses (differ from dst/src when the connection is NATed). */
  replySrc?: string;
  replyDst?: string;
  /** Accounting counters, when the entry has the acct extension. */
  orig?: CtCounters;
  reply?: CtCounters;
  /** A destroy event (the connection is over; the counters are final). */
  destroyed: boolean;
}

/**
 * A NLMSG_NOOP without NLM_F_ACK: the kernel answers nothing, but sending binds the socket to a
 * port id, without which a group membership delivers no events.
 */
export function noopMessage(seq: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(16, 0);
  b.writeUInt16LE(1, 4); // NLMSG_NOOP
  b.writeUInt16LE(NLM_F_REQUEST, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

/** IPCTNL_MSG_CT_GET with NLM_F_DUMP for every family (nfgen_family AF_UNSPEC). */
export function dumpRequest(seq: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(20, 0);
  b.writeUInt16LE((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(seq, 8);
  // nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, res_id 0
  return b;
}

/** Addresses a tuple must have; the ones given must all match. */
export interface CtAddresses {
  src?: string;
  dst?: string;
}

/**
 * What a filtered delete removes: every entry of `family` (all zones) whose original tuple has
 * the `orig` addresses and whose reply tuple has the `reply` ones. Felix's two deletes for a
 * released address are `{ orig: { src } }` (the workload opened the connection) and
 * `{ reply: { src } }` (it answered one, whatever NAT did to the original destination).
 */
export interface CtAddressFilter {
  family: Family;
  orig?: CtAddresses;
  reply?: CtAddresses;
}

/** A netlink attribute: length, type (with NLA_F_NESTED for `nested`), body, padded to 4 bytes. */
function attr(type: number, body: Buffer, nested = false): Buffer {
  const out = Buffer.alloc((4 + body.length + 3) & ~3);
  out.writeUInt16LE(4 + body.length, 0);
  out.writeUInt16LE(type | (nested ? NLA_F_NESTED : 0), 2);
  body.copy(out, 4);
  return out;
}

/** An IPCTNL_MSG_CT_DELETE request with NLM_F_ACK: nlmsghdr, nfgenmsg (family, NFNETLINK_V0), attributes. */
function deleteMessage(seq: number, family: Family, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const b = Buffer.alloc(20 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK, 6);
  b.writeUInt32LE(seq, 8);
  b[16] = family === 4 ? AF_INET : AF_INET6;
  body.copy(b, 20);
  return b;
}

/** The bytes of `text`, an address of `family`; AGENT_CONNTRACK_FILTER otherwise. */
function addressBytes(text: string, family: Family, what: string): Buffer {
  const ip = tryParseIP(text);
  if (!ip || ip.family !== family)
    throw new TabbyError("AGENT_CONNTRACK_FILTER", `${what}: ${JSON.stringify(text)} is not an IPv${family} address`, { address: text, family });
  return Buffer.from(ip.bytes);
}

/** CTA_TUPLE_IP with the addresses given, and the filter flags that say which they are. */
function tupleIp(a: CtAddresses, family: Family, what: string): { ip: Buffer; flags: number } {
  const parts: Buffer[] = [];
  let flags = 0;
  if (a.src !== undefined) {
    parts.push(attr(family === 4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, addressBytes(a.src, family, `${what} source`)));
    flags |= CTA_FILTER_F_CTA_IP_SRC;
  }
  if (a.dst !== undefined) {
    parts.push(attr(family === 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, addressBytes(a.dst, family, `${what} destination`)));
    flags |= CTA_FILTER_F_CTA_IP_DST;
  }
  return { ip: attr(CTA_TUPLE_IP, Buffer.concat(parts), true), flags };
}

/**
 * IPCTNL_MSG_CT_DELETE with CTA_FILTER: the kernel deletes every entry the filter matches (a
 * flush with a filter; kernels before 6.11 answer EINVAL or EOPNOTSUPP). A filter without an
 * address would flush the family's whole table: refused (AGENT_CONNTRACK_FILTER), as is an
 * address of the other family.
 */
export function deleteMatchingRequest(seq: number, f: CtAddressFilter): Buffer {
  const attrs: Buffer[] = [];
  const filter: Buffer[] = [];
  const dirs = [
    [f.orig, CTA_TUPLE_ORIG, CTA_FILTER_ORIG_FLAGS, "original"],
    [f.reply, CTA_TUPLE_REPLY, CTA_FILTER_REPLY_FLAGS, "reply"],
  ] as const;
  for (const [a, tupleType, flagsType, what] of dirs) {
    if (!a || (a.src === undefined && a.dst === undefined)) continue;
    const { ip, flags } = tupleIp(a, f.family, what);
    attrs.push(attr(tupleType, ip, true));
    const v = Buffer.alloc(4);
    v.writeUInt32LE(flags);
    filter.push(attr(flagsType, v));
  }
  if (!attrs.length) throw new TabbyError("AGENT_CONNTRACK_FILTER", "a conntrack delete needs at least one address (without, it would flush the whole table)");
  attrs.push(attr(CTA_FILTER, Buffer.concat(filter), true));
  return deleteMessage(seq, f.family, attrs);
}

/**
 * IPCTNL_MSG_CT_DELETE of one entry: its original tuple (addresses, protocol, ports), its zone
 * and its id (so that an entry that ended and was replaced meanwhile by one with the same tuple
 * is left alone: ENOENT). TCP, UDP, SCTP, DCCP and UDP-Lite (ported protocols) only: the others'
 * tuples carry fields the dump's decoding does not keep (AGENT_CONNTRACK_FILTER).
 */
export function deleteEntryRequest(seq: number, e: CtEntry): Buffer {
  const ip = tryParseIP(e.src);
  if (!ip || e.srcPort === undefined || e.dstPort === undefined)
    throw new TabbyError("AGENT_CONNTRACK_FILTER", `conntrack entry ${e.id} (protocol ${e.protocol}) cannot be deleted by its tuple`, { id: e.id });
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const id = Buffer.alloc(4);
  id.writeUInt32BE(e.id >>> 0);
  const proto = attr(
    CTA_TUPLE_PROTO,
    Buffer.concat([attr(CTA_PROTO_NUM, Buffer.from([e.protocol])), attr(CTA_PROTO_SRC_PORT, u16(e.srcPort)), attr(CTA_PROTO_DST_PORT, u16(e.dstPort))]),
    true,
  );
  const tuple = attr(CTA_TUPLE_ORIG, Buffer.concat([tupleIp({ src: e.src, dst: e.dst }, ip.family, "original").ip, proto]), true);
  return deleteMessage(seq, ip.family, [tuple, ...(e.zone ? [attr(CTA_ZONE, u16(e.zone))] : []), attr(CTA_ID, id)]);
}

/** A request's acknowledgement: its sequence number and errno (0: done). */
export interface NlAck {
  seq: number;
  errno: number;
}

/** The acknowledgements (NLMSG_ERROR) in a datagram; other messages are skipped. Never throws. */
export function decodeAcks(buf: Buffer): NlAck[] {
  const out: NlAck[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    if (buf.readUInt16LE(off + 4) === NLMSG_ERROR && len >= 20) out.push({ seq: buf.readUInt32LE(off + 8), errno: -buf.readInt32LE(off + 16) || 0 });
    off += (len + 3) & ~3;
  }
  return out;
}

export interface CtBatch {
  entries: CtEntry[];
  /** NLMSG_DONE was in the datagram: a dump is complete. */
  done: boolean;
}

/** Decodes a datagram of netlink messages; NLMSG_ERROR with an errno throws AGENT_CONNTRACK_FAILED. */
export function decodeConntrack(buf: Buffer): CtBatch {
  const entries: CtEntry[] = [];
  let done = false;
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    if (len < 16 || off + len > buf.length) break;
    if (type === NLMSG_ERROR) {
      const errno = len >= 20 ? -buf.readInt32LE(off + 16) : 0;
      if (errno !== 0) throw new TabbyError("AGENT_CONNTRACK_FAILED", `conntrack netlink request refused: errno ${errno}`, { errno });
    } else if (type === NLMSG_DONE) {
      done = true;
    } else if (type === ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW) || type === ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE)) {
      if (len >= 20) {
        const e = decodeEntry(buf.subarray(off + 20, off + len), type === ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE));
        if (e) entries.push(e);
      }
    }
    off += (len + 3) & ~3;
  }
  return { entries, done };
}

/** The attributes of a block: [type without the nested/byte-order flags, body]. Stops at a malformed one. */
function attrs(b: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let off = 0;
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) break;
    out.push([b.readUInt16LE(off + 2) & 0x3fff, b.subarray(off + 4, off + len)]);
    off += (len + 3) & ~3;
  }
  return out;
}

function decodeEntry(body: Buffer, destroyed: boolean): CtEntry | undefined {
  let tuple: Tuple | undefined;
  let zone = 0;
  let id = 0;
  let orig: CtCounters | undefined;
  let reply: CtCounters | undefined;
  let replyTuple: { src: string; dst: string } | undefined;
  for (const [t, v] of attrs(body)) {
    if (t === CTA_TUPLE_ORIG) {
      const d = decodeTuple(v);
      if (d) {
        tuple = d.tuple;
        if (d.zone !== undefined) zone = d.zone;
      }
    } else if (t === CTA_TUPLE_REPLY) {
      const d = decodeTuple(v);
      if (d) replyTuple = { src: d.tuple.src, dst: d.tuple.dst };
    } else if (t === CTA_ZONE && v.length >= 2) zone = v.readUInt16BE(0);
    else if (t === CTA_ID && v.length >= 4) id = v.readUInt32BE(0);
    else if (t === CTA_COUNTERS_ORIG) orig = decodeCounters(v);
    else if (t === CTA_COUNTERS_REPLY) reply = decodeCounters(v);
  }
  if (!tuple) return undefined;
  return {
    id,
    zone,
    ...tuple,
    ...(replyTuple ? { replySrc: replyTuple.src, replyDst: replyTuple.dst } : {}),
    ...(orig ? { orig } : {}),
    ...(reply ? { reply } : {}),
    destroyed,
  };
}

type Tuple = Pick<CtEntry, "src" | "dst" | "protocol" | "srcPort" | "dstPort">;

function decodeTuple(b: Buffer): { tuple: Tuple; zone?: number } | undefined {
  let src: string | undefined;
  let dst: string | undefined;
  let protocol: number | undefined;
  let srcPort: number | undefined;
  let dstPort: number | undefined;
  let zone: number | undefined;
  for (const [t, v] of attrs(b)) {
    if (t === CTA_TUPLE_IP) {
      for (const [it, iv] of attrs(v)) {
        if (it === CTA_IP_V4_SRC && iv.length === 4) src = [...iv].join(".");
        else if (it === CTA_IP_V4_DST && iv.length === 4) dst = [...iv].join(".");
        else if (it === CTA_IP_V6_SRC && iv.length === 16) src = v6(iv);
        else if (it === CTA_IP_V6_DST && iv.length === 16) dst = v6(iv);
      }
    } else if (t === CTA_TUPLE_PROTO) {
      for (const [pt, pv] of attrs(v)) {
        if (pt === CTA_PROTO_NUM && pv.length >= 1) protocol = pv[0]!;
        else if (pt === CTA_PROTO_SRC_PORT && pv.length >= 2) srcPort = pv.readUInt16BE(0);
        else if (pt === CTA_PROTO_DST_PORT && pv.length >= 2) dstPort = pv.readUInt16BE(0);
      }
    } else if (t === CTA_TUPLE_ZONE && v.length >= 2) zone = v.readUInt16BE(0);
  }
  if (src === undefined || dst === undefined || protocol === undefined) return undefined;
  const tuple = { src, dst, protocol, ...(srcPort !== undefined ? { srcPort } : {}), ...(dstPort !== undefined ? { dstPort } : {}) };
  return zone !== undefined ? { tuple, zone } : { tuple };
}

function decodeCounters(b: Buffer): CtCounters | undefined {
  let packets: number | undefined;
  let bytes: number | undefined;
  for (const [t, v] of attrs(b)) {
    if (t === CTA_COUNTERS_PACKETS && v.length >= 8) packets = Number(v.readBigUInt64BE(0));
    else if (t === CTA_COUNTERS_BYTES && v.length >= 8) bytes = Number(v.readBigUInt64BE(0));
    else if (t === CTA_COUNTERS32_PACKETS && v.length >= 4) packets = v.readUInt32BE(0);
    else if (t === CTA_COUNTERS32_BYTES && v.length >= 4) bytes = v.readUInt32BE(0);
  }
  return packets !== undefined && bytes !== undefined ? { packets, bytes } : undefined;
}
