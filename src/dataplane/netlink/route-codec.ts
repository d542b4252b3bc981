/**
 * rtnetlink routes and addresses (RFC 3549 §3.1.1, §3.1.2; Linux uapi linux/rtnetlink.h,
 * linux/if_addr.h; rtnetlink(7)): dump requests for a family's routes and addresses, the
 * RTM_NEWROUTE / RTM_NEWADDR messages a dump answers with, and the RTM_NEWROUTE / RTM_DELROUTE
 * requests that write one route (unicast through a gateway, a device or several next hops —
 * RTA_MULTIPATH's rtnexthop entries —, or a blackhole). Decoding is strict: an attribute whose
 * length overruns its message, or an address of the wrong size, is DP_NETLINK_DECODE, never a
 * crash nor a guess. Written for tabby from the uapi headers. Pure: bytes in, values out.
 */
import { TabbyError } from "../../errors.js";
import { IP } from "../../net/ip.js";
import { parsePrefix, Prefix } from "../../net/prefix.js";
import { type Attr, attr, encodeAttrs, message, type Reply, u32 } from "./codec.js";
import {
  AF_INET,
  AF_INET6,
  IFA_ADDRESS,
  IFA_LOCAL,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWROUTE,
  RT_TABLE_MAIN,
  RTN_UNICAST,
} from "./constants.js";

/** rtm_table when the table's id does not fit a byte (RTA_TABLE then has it). */
const RT_TABLE_COMPAT = 252;
/** rtm_flags: a cached clone, not a route of the table (`ip route show` leaves them out). */
export const RTM_F_CLONED = 0x200;

const RTMSG_LEN = 12;
const IFADDRMSG_LEN = 8;
const RTNH_LEN = 8;

const align4 = (n: number) => (n + 3) & ~3;

export type Family = 4 | 6;

/** One next hop of a multipath route (struct rtnexthop and its RTA_GATEWAY). */
export interface NlNexthop {
  /** Interface index; 0: the kernel finds it from the gateway. */
  oif: number;
  gateway?: string;
  /** RTNH_F_* (dead, onlink, …): as the kernel says. */
  flags: number;
  /** The weight less one. */
  hops: number;
}

/** A route as rtnetlink carries it. */
export interface NlRoute {
  family: Family;
  /** The destination prefix, canonical ("0.0.0.0/0" when the message has no RTA_DST). */
  dst: string;
  /** RTA_TABLE when present, else rtm_table. */
  table: number;
  protocol: number;
  scope: number;
  /** RTN_*: 1 unicast, 6 blackhole, … */
  type: number;
  /** rtm_flags (RTM_F_CLONED, …). */
  flags: number;
  oif?: number;
  gateway?: string;
  priority?: number;
  multipath?: NlNexthop[];
}

/** An address as rtnetlink carries it. */
export interface NlAddr {
  family: Family;
  prefixlen: number;
  flags: number;
  scope: number;
  index: number;
  /** IFA_ADDRESS: the peer's address on a point-to-point link, else the same as `local`. */
  address?: string;
  /** IFA_LOCAL (IPv6 sends it only for a point-to-point address). */
  local?: string;
}

const afOf = (f: Family) => (f === 4 ? AF_INET : AF_INET6);

function decodeError(msg: string): TabbyError {
  return new TabbyError("DP_NETLINK_DECODE", msg);
}

/** RTM_GETROUTE dump of one family's routes (every table; the caller picks). */
export function dumpRoutes(seq: number, family: Family): Buffer {
  const body = Buffer.alloc(RTMSG_LEN);
  body.writeUInt8(afOf(family), 0);
  return message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, body);
}

/** RTM_GETADDR dump of one family's addresses. */
export function dumpAddrs(seq: number, family: Family): Buffer {
  const body = Buffer.alloc(IFADDRMSG_LEN);
  body.writeUInt8(afOf(family), 0);
  return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, body);
}

function addrBytes(text: string, family: Family, what: string): Buffer {
  const p = parsePrefix(text);
  if (p.family !== family) throw new TabbyError("NET_BAD_PREFIX", `${what} ${text} is not IPv${family}`);
  return Buffer.from(p.addr.bytes);
}

/**
 * What a route write does: `replace` (create or replace, `ip route replace`), `create` (fails
 * with EEXIST when the route is there), `delete` (RTM_DELROUTE: the fields given must match).
 */
export type RouteOp = "replace" | "create" | "delete";

/** The RTM_NEWROUTE (or RTM_DELROUTE) message writing `r`. */
export function routeMessage(seq: number, op: RouteOp, r: NlRoute): Buffer {
  const dst = parsePrefix(r.dst);
  if (dst.family !== r.family) throw new TabbyError("NET_BAD_PREFIX", `route ${r.dst} is not IPv${r.family}`);
  const body = Buffer.alloc(RTMSG_LEN);
  body.writeUInt8(afOf(r.family), 0);
  body.writeUInt8(dst.len, 1);
  body.writeUInt8(r.table > 255 ? RT_TABLE_COMPAT : r.table, 4);
  body.writeUInt8(r.protocol, 5);
  body.writeUInt8(r.scope, 6);
  body.writeUInt8(r.type, 7);
  body.writeUInt32LE(r.flags >>> 0, 8);
  const attrs: Attr[] = [];
  if (r.table > 255) attrs.push(attr(RTA_TABLE, u32(r.table)));
  if (dst.len > 0) attrs.push(attr(RTA_DST, Buffer.from(dst.network().addr.bytes)));
  if (r.priority !== undefined) attrs.push(attr(RTA_PRIORITY, u32(r.priority)));
  if (r.gateway !== undefined) attrs.push(attr(RTA_GATEWAY, addrBytes(r.gateway, r.family, "gateway")));
  if (r.oif !== undefined) attrs.push(attr(RTA_OIF, u32(r.oif)));
  if (r.multipath) {
    const hops: Buffer[] = [];
    for (const nh of r.multipath) {
      const inner = nh.gateway !== undefined ? encodeAttrs([attr(RTA_GATEWAY, addrBytes(nh.gateway, r.family, "gateway"))]) : Buffer.alloc(0);
      const head = Buffer.alloc(RTNH_LEN);
      head.writeUInt16LE(RTNH_LEN + inner.length, 0);
      head.writeUInt8(nh.flags, 2);
      head.writeUInt8(nh.hops, 3);
      head.writeInt32LE(nh.oif, 4);
      hops.push(head, inner);
    }
    attrs.push(attr(RTA_MULTIPATH, Buffer.concat(hops)));
  }
  const flags =
    op === "delete"
      ? NLM_F_REQUEST | NLM_F_ACK
      : op === "create"
        ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
        : NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
  return message(op === "delete" ? RTM_DELROUTE : RTM_NEWROUTE, flags, seq, body, attrs);
}

/** A unicast route through one interface, as the CNI plugin's plumbing writes them. */
export interface RouteRequest {
  /** "10.0.0.1/32", "0.0.0.0/0", "::/0". */
  dst: string;
  oif: number;
  gateway?: string;
  scope: number;
  protocol: number;
}

/** RTM_NEWROUTE, create or replace, unicast in the main table (routeMessage's `replace`). */
export function newRoute(seq: number, r: RouteRequest): Buffer {
  const family = parsePrefix(r.dst).family;
  const route: NlRoute = { family, dst: r.dst, table: RT_TABLE_MAIN, protocol: r.protocol, scope: r.scope, type: RTN_UNICAST, flags: 0, oif: r.oif };
  if (r.gateway) route.gateway = r.gateway;
  return routeMessage(seq, "replace", route);
}

/** Attributes in order (a type may repeat); DP_NETLINK_DECODE when one overruns `buf`. */
function strictAttrs(buf: Buffer, where: string): Attr[] {
  const out: Attr[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) throw decodeError(`${where}: attribute of length ${len} at ${off} overruns its ${buf.length} bytes`);
    out.push({ type: buf.readUInt16LE(off + 2) & 0x3fff, data: buf.subarray(off + 4, off + len) });
    off += align4(len);
  }
  if (off < buf.length && buf.subarray(off).some((b) => b !== 0)) throw decodeError(`${where}: ${buf.length - off} stray bytes after the attributes`);
  return out;
}

function ipBytes(data: Buffer, family: Family, what: string): IP {
  const want = family === 4 ? 4 : 16;
  if (data.length !== want) throw decodeError(`${what}: ${data.length} bytes, not an IPv${family} address`);
  return new IP(new Uint8Array(data));
}

const ipOf = (data: Buffer, family: Family, what: string) => ipBytes(data, family, what).toString();

function u32Of(data: Buffer, what: string): number {
  if (data.length !== 4) throw decodeError(`${what}: ${data.length} bytes, not 4`);
  return data.readUInt32LE(0);
}

function familyOf(af: number): Family | undefined {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
}

function decodeMultipath(data: Buffer, family: Family): NlNexthop[] {
  const out: NlNexthop[] = [];
  let off = 0;
  while (off + RTNH_LEN <= data.length) {
    const len = data.readUInt16LE(off);
    if (len < RTNH_LEN || off + len > data.length) throw decodeError(`RTA_MULTIPATH: next hop of length ${len} at ${off} overruns its ${data.length} bytes`);
    const nh: NlNexthop = { oif: data.readInt32LE(off + 4), flags: data.readUInt8(off + 2), hops: data.readUInt8(off + 3) };
    for (const a of strictAttrs(data.subarray(off + RTNH_LEN, off + len), "rtnexthop"))
      if (a.type === RTA_GATEWAY) nh.gateway = ipOf(a.data, family, "rtnexthop RTA_GATEWAY");
    out.push(nh);
    off += align4(len);
  }
  if (off !== data.length) throw decodeError(`RTA_MULTIPATH: ${data.length - off} stray bytes after the next hops`);
  return out;
}

/** An RTM_NEWROUTE (or RTM_DELROUTE) message's route; undefined for a family other than IPv4/IPv6. */
export function decodeRoute(r: Reply): NlRoute | undefined {
  if (r.type !== RTM_NEWROUTE && r.type !== RTM_DELROUTE) throw decodeError(`expected a route message, got type ${r.type}`);
  if (r.payload.length < RTMSG_LEN) throw decodeError(`route message of ${r.payload.length} bytes, shorter than its header`);
  const p = r.payload;
  const family = familyOf(p.readUInt8(0));
  if (!family) return undefined;
  const dstLen = p.readUInt8(1);
  if (dstLen > (family === 4 ? 32 : 128)) throw decodeError(`route prefix length ${dstLen} is out of range for IPv${family}`);
  const route: NlRoute = {
    family,
    dst: "",
    table: p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
    flags: p.readUInt32LE(8),
  };
  let dst: IP | undefined;
  for (const a of strictAttrs(p.subarray(RTMSG_LEN), "route")) {
    if (a.type === RTA_DST) dst = ipBytes(a.data, family, "RTA_DST");
    else if (a.type === RTA_GATEWAY) route.gateway = ipOf(a.data, family, "RTA_GATEWAY");
    else if (a.type === RTA_OIF) route.oif = u32Of(a.data, "RTA_OIF");
    else if (a.type === RTA_PRIORITY) route.priority = u32Of(a.data, "RTA_PRIORITY");
    else if (a.type === RTA_TABLE) route.table = u32Of(a.data, "RTA_TABLE");
    else if (a.type === RTA_MULTIPATH) route.multipath = decodeMultipath(a.data, family);
  }
  route.dst = new Prefix(dst ?? new IP(new Uint8Array(family === 4 ? 4 : 16)), dstLen).network().toString();
  return route;
}

/** An RTM_NEWADDR message's address; undefined for a family other than IPv4/IPv6. */
export function decodeAddr(r: Reply): NlAddr | undefined {
  if (r.type !== RTM_NEWADDR) throw decodeError(`expected an address message, got type ${r.type}`);
  if (r.payload.length < IFADDRMSG_LEN) throw decodeError(`address message of ${r.payload.length} bytes, shorter than its header`);
  const p = r.payload;
  const family = familyOf(p.readUInt8(0));
  if (!family) return undefined;
  const prefixlen = p.readUInt8(1);
  if (prefixlen > (family === 4 ? 32 : 128)) throw decodeError(`address prefix length ${prefixlen} is out of range for IPv${family}`);
  const out: NlAddr = { family, prefixlen, flags: p.readUInt8(2), scope: p.readUInt8(3), index: p.readUInt32LE(4) };
  for (const a of strictAttrs(p.subarray(IFADDRMSG_LEN), "address")) {
    if (a.type === IFA_ADDRESS) out.address = ipOf(a.data, family, "IFA_ADDRESS");
    else if (a.type === IFA_LOCAL) out.local = ipOf(a.data, family, "IFA_LOCAL");
  }
  return out;
}
