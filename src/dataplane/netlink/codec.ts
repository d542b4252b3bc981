/**
 * rtnetlink messages (RFC 3549; Linux uapi linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
 * linux/veth.h): the few requests a workload's plumbing needs (create a veth pair with its peer in
 * another namespace, look a link up, set it up / its MAC, delete it, add an address; routes are
 * route-codec.ts's) and the replies to them (an acknowledgement or errno, a link's index, name, MAC, MTU and
 * flags). Written for tabby: Node has no netlink, and the messages are small fixed layouts. All
 * integers in host order (little-endian on every platform Node's prebuilt koffi targets here);
 * every header and attribute padded to 4 bytes. Pure: bytes in, bytes out.
 */
import { TabbyError } from "../../errors.js";
import { parsePrefix } from "../../net/prefix.js";
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IFA_ADDRESS,
  IFA_LOCAL,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RT_SCOPE_UNIVERSE,
} from "./constants.js";

/** On an NLMSG_ERROR: the request is not echoed (NETLINK_CAP_ACK) / extended-ack attributes follow. */
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

const IFF_UP = 0x1;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_EXT_MASK = 29;
/** IFLA_EXT_MASK bit: leave the link statistics out of the answer. */
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const NLA_F_NESTED = 0x8000;

const IFA_F_NODAD = 0x02;

const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;

const align4 = (n: number) => (n + 3) & ~3;

/** One attribute: its type and payload (a nested attribute's payload is its attributes). */
export interface Attr {
  type: number;
  data: Buffer;
}

export function attr(type: number, data: Buffer): Attr {
  return { type, data };
}
export const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
/** A NUL-terminated string attribute payload. */
const str = (s: string) => Buffer.concat([Buffer.from(s, "utf8"), Buffer.alloc(1)]);
const nested = (type: number, attrs: Attr[]) => attr(type | NLA_F_NESTED, encodeAttrs(attrs));

export function encodeAttrs(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(4 + a.data.length, 0);
    head.writeUInt16LE(a.type, 2);
    parts.push(head, a.data, Buffer.alloc(align4(a.data.length) - a.data.length));
  }
  return Buffer.concat(parts);
}

function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(AF_UNSPEC, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

/** A whole message: header (length, type, flags, sequence, port 0: the kernel), body, attributes. */
export function message(type: number, flags: number, seq: number, body: Buffer, attrs: Attr[] = []): Buffer {
  const payload = Buffer.concat([body, encodeAttrs(attrs)]);
  const head = Buffer.alloc(NLMSG_HDRLEN);
  head.writeUInt32LE(NLMSG_HDRLEN + payload.length, 0);
  head.writeUInt16LE(type, 4);
  head.writeUInt16LE(flags, 6);
  head.writeUInt32LE(seq >>> 0, 8);
  head.writeUInt32LE(0, 12);
  return Buffer.concat([head, payload]);
}

/** "ee:ee:ee:ee:ee:ee" → 6 bytes. */
export function macBytes(mac: string): Buffer {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new TabbyError("DP_BAD_MAC", `not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}

function macText(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

export interface VethRequest {
  /** The end that stays in the requester's namespace. */
  name: string;
  mac?: string;
  mtu?: number;
  peerName: string;
  /** An open file descriptor of the namespace the peer is created in. */
  peerNetnsFd: number;
  peerMtu?: number;
}

/** RTM_NEWLINK creating a veth pair; fails with EEXIST when either name is taken (NLM_F_EXCL). */
export function newVeth(seq: number, r: VethRequest): Buffer {
  const peer: Attr[] = [attr(IFLA_IFNAME, str(r.peerName)), attr(IFLA_NET_NS_FD, u32(r.peerNetnsFd))];
  if (r.peerMtu) peer.push(attr(IFLA_MTU, u32(r.peerMtu)));
  const attrs: Attr[] = [attr(IFLA_IFNAME, str(r.name))];
  if (r.mac) attrs.push(attr(IFLA_ADDRESS, macBytes(r.mac)));
  if (r.mtu) attrs.push(attr(IFLA_MTU, u32(r.mtu)));
  attrs.push(
    nested(IFLA_LINKINFO, [
      attr(IFLA_INFO_KIND, str("veth")),
      nested(IFLA_INFO_DATA, [attr(VETH_INFO_PEER, Buffer.concat([ifinfomsg(0), encodeAttrs(peer)]))]),
    ]),
  );
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, ifinfomsg(0), attrs);
}

/** RTM_NEWLINK changing an existing link (by index): up, and optionally its MAC. */
export function setLink(seq: number, index: number, change: { up?: boolean; mac?: string }): Buffer {
  const attrs = change.mac ? [attr(IFLA_ADDRESS, macBytes(change.mac))] : [];
  const flags = change.up === undefined ? 0 : change.up ? IFF_UP : 0;
  const mask = change.up === undefined ? 0 : IFF_UP;
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(index, flags, mask), attrs);
}

/** RTM_GETLINK for one link by name (answered by one RTM_NEWLINK, or ENODEV). */
export function getLink(seq: number, name: string): Buffer {
  return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(0), [attr(IFLA_IFNAME, str(name))]);
}

/**
 * RTM_GETLINK dump: every link of the namespace (answered by RTM_NEWLINKs until NLMSG_DONE),
 * without their statistics (IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS, as `ip link` without `-s`):
 * the agent dumps the links on every routing pass that reads the kernel, and summing each link's
 * per-CPU counters (and IPv6's) was most of the dump's cost; tabby reads only names, indexes,
 * addresses, MTU and flags. A kernel older than the flag (4.15) ignores it.
 */
export function dumpLinks(seq: number): Buffer {
  return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, ifinfomsg(0), [attr(IFLA_EXT_MASK, u32(RTEXT_FILTER_SKIP_STATS))]);
}

/** RTM_DELLINK by name (a veth takes its peer, and routes through it, along). */
export function delLink(seq: number, name: string): Buffer {
  return message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, ifinfomsg(0), [attr(IFLA_IFNAME, str(name))]);
}

/** "10.0.0.1/32" (or a bare address) → family, address bytes, prefix length. */
function cidrParts(cidr: string): { family: number; addr: Buffer; len: number } {
  const p = parsePrefix(cidr);
  return { family: p.family === 4 ? AF_INET : AF_INET6, addr: Buffer.from(p.addr.bytes), len: p.len };
}

/** RTM_NEWADDR, create or replace (`ip addr replace CIDR dev … [nodad]`), scope global. */
export function newAddr(seq: number, index: number, cidr: string, opts: { nodad?: boolean } = {}): Buffer {
  const { family, addr, len } = cidrParts(cidr);
  const body = Buffer.alloc(8);
  body.writeUInt8(family, 0);
  body.writeUInt8(len, 1);
  body.writeUInt8(opts.nodad ? IFA_F_NODAD : 0, 2);
  body.writeUInt8(RT_SCOPE_UNIVERSE, 3);
  body.writeUInt32LE(index, 4);
  return message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, seq, body, [attr(IFA_LOCAL, addr), attr(IFA_ADDRESS, addr)]);
}

/** One message of a reply datagram. */
export interface Reply {
  type: number;
  flags: number;
  seq: number;
  /** The bytes after the header. */
  payload: Buffer;
}

/** The messages in a datagram the kernel sent. Throws DP_NETLINK_DECODE on a truncated one. */
export function decodeReplies(buf: Buffer): Reply[] {
  const out: Reply[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length)
      throw new TabbyError("DP_NETLINK_DECODE", `netlink message of length ${len} at ${off} overruns the ${buf.length}-byte reply`);
    out.push({
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** An NLMSG_ERROR's errno: 0 for an acknowledgement, else the positive errno. */
export function replyErrno(r: Reply): number {
  if (r.payload.length < 4) throw new TabbyError("DP_NETLINK_DECODE", "netlink error message without its code");
  const code = r.payload.readInt32LE(0);
  return code === 0 ? 0 : -code;
}

/**
 * An NLMSG_ERROR's extended-ack text (NETLINK_EXT_ACK: the kernel's own words, "Nexthop has
 * invalid gateway"), or undefined when it sent none.
 */
export function replyExtack(r: Reply): string | undefined {
  if (!(r.flags & NLM_F_ACK_TLVS) || r.payload.length < 4 + NLMSG_HDRLEN) return undefined;
  // the error code, then the request's header (and, unless capped, the request's payload)
  const echoed = r.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : r.payload.readUInt32LE(4);
  let off = 4 + align4(echoed);
  while (off + 4 <= r.payload.length) {
    const len = r.payload.readUInt16LE(off);
    if (len < 4 || off + len > r.payload.length) return undefined;
    if ((r.payload.readUInt16LE(off + 2) & ~NLA_F_NESTED) === NLMSGERR_ATTR_MSG)
      return r.payload
        .subarray(off + 4, off + len)
        .toString("utf8")
        .replace(/\0.*$/s, "");
    off += align4(len);
  }
  return undefined;
}

/** The attributes by type; with `only`, just those types (a link has dozens, a pass reads three). */
function decodeAttrs(buf: Buffer, only?: ReadonlySet<number>): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 2) & ~NLA_F_NESTED;
    if (!only || only.has(type)) out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export interface NlLink {
  index: number;
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
}

/** An RTM_NEWLINK message's link. */
const LINK_ATTRS: ReadonlySet<number> = new Set([IFLA_IFNAME, IFLA_ADDRESS, IFLA_MTU]);

export function decodeLink(r: Reply): NlLink {
  if (r.type !== RTM_NEWLINK || r.payload.length < IFINFOMSG_LEN) throw new TabbyError("DP_NETLINK_DECODE", `expected a link message, got type ${r.type}`);
  const attrs = decodeAttrs(r.payload.subarray(IFINFOMSG_LEN), LINK_ATTRS);
  const name = attrs.get(IFLA_IFNAME);
  const mac = attrs.get(IFLA_ADDRESS);
  const mtu = attrs.get(IFLA_MTU);
  return {
    index: r.payload.readInt32LE(4),
    name: name ? name.toString("utf8").replace(/\0.*$/s, "") : "",
    mac: mac ? macText(mac) : "",
    mtu: mtu && mtu.length >= 4 ? mtu.readUInt32LE(0) : 0,
    up: (r.payload.readUInt32LE(8) & IFF_UP) !== 0,
  };
}
