/**
 * ctnetlink (NFNL_SUBSYS_CTNETLINK over NETLINK_NETFILTER): the request that dumps the conntrack
 * table, the membership number of the destroy-event group, and the decoding of the entries the
 * kernel sends (dump answers IPCTNL_MSG_CT_NEW, destroy events IPCTNL_MSG_CT_DELETE): the
 * original direction's tuple, the zone, the id and the accounting counters of both directions
 * (CTA_COUNTERS_ORIG/REPLY, present when net.netfilter.nf_conntrack_acct was 1 when the
 * connection began). Linux include/uapi/linux/netfilter/nfnetlink_conntrack.h, nfnetlink.h,
 * nfnetlink_compat.h. Pure: bytes in, bytes out. Attribute values are in network byte order.
 */
import { TabbyError } from "../errors.js";
import { v6 } from "./nflog.js";

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_NEW = 0;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

/** nfnetlink multicast group of conntrack destroy events (NFNLGRP_CONNTRACK_DESTROY). */
export const NFNLGRP_CONNTRACK_DESTROY = 3;

const CTA_TUPLE_ORIG = 1;
const CTA_COUNTERS_ORIG = 9;
const CTA_COUNTERS_REPLY = 10;
const CTA_ID = 12;
const CTA_ZONE = 18;
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
  let tuple: Omit<CtEntry, "id" | "zone" | "destroyed" | "orig" | "reply"> | undefined;
  let zone = 0;
  let id = 0;
  let orig: CtCounters | undefined;
  let reply: CtCounters | undefined;
  for (const [t, v] of attrs(body)) {
    if (t === CTA_TUPLE_ORIG) {
      const d = decodeTuple(v);
      if (d) {
        tuple = d.tuple;
        if (d.zone !== undefined) zone = d.zone;
      }
    } else if (t === CTA_ZONE && v.length >= 2) zone = v.readUInt16BE(0);
    else if (t === CTA_ID && v.length >= 4) id = v.readUInt32BE(0);
    else if (t === CTA_COUNTERS_ORIG) orig = decodeCounters(v);
    else if (t === CTA_COUNTERS_REPLY) reply = decodeCounters(v);
  }
  if (!tuple) return undefined;
  return { id, zone, ...tuple, ...(orig ? { orig } : {}), ...(reply ? { reply } : {}), destroyed };
}

function decodeTuple(b: Buffer): { tuple: Omit<CtEntry, "id" | "zone" | "destroyed" | "orig" | "reply">; zone?: number } | undefined {
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
