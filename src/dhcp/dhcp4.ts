/**
 * DHCPv4 (RFC 2131, options RFC 2132) for a routed workload, as Calico's OpenStack deployments
 * answered VMs on taps: the workload's own address with mask 255.255.255.255, the gateway
 * 169.254.1.1 (answered by the host's proxy ARP) as router and server identifier, and the
 * classless static routes of RFC 3442 (option 121): 169.254.1.1/32 on-link, then the default
 * route through it (a client that knows option 121 ignores option 3; both are sent). DNS servers,
 * domain and the interface MTU as configured. The codec reads and writes the BOOTP fixed part and
 * the options (with RFC 3396 concatenation of repeated options on read); `answerDhcp4` decides the
 * reply. Pure: bytes in, bytes out.
 */
import { parseIP } from "../net/ip.js";
import { malformed } from "./errors.js";

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const MAGIC = 0x63825363;

export const DISCOVER = 1;
export const OFFER = 2;
export const REQUEST = 3;
export const DECLINE = 4;
export const ACK = 5;
export const NAK = 6;
export const RELEASE = 7;
export const INFORM = 8;

export const OPT_SUBNET_MASK = 1;
export const OPT_ROUTER = 3;
export const OPT_DNS = 6;
export const OPT_DOMAIN = 15;
export const OPT_MTU = 26;
export const OPT_REQUESTED_IP = 50;
export const OPT_LEASE_TIME = 51;
export const OPT_MSG_TYPE = 53;
export const OPT_SERVER_ID = 54;
export const OPT_RENEWAL = 58;
export const OPT_REBINDING = 59;
export const OPT_CLASSLESS_ROUTES = 121;

export interface Dhcp4Message {
  op: 1 | 2;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address, "aa:bb:cc:dd:ee:ff" (htype 1, hlen 6). */
  chaddr: string;
  /** Options by code, in the order written; 0 (pad) and 255 (end) never appear. */
  options: Map<number, Uint8Array>;
}

function ip4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function macText(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Decodes a BOOTP/DHCP message; NET_DHCP_MALFORMED when it is not one. */
export function decodeDhcp4(b: Uint8Array): Dhcp4Message {
  if (b.length < 240) throw malformed("DHCPv4 message shorter than 240 bytes", { length: b.length });
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const op = b[0]!;
  if (op !== 1 && op !== 2) throw malformed(`BOOTP op ${op}`);
  if (b[1] !== 1 || b[2] !== 6) throw malformed(`hardware type ${b[1]} length ${b[2]}: only Ethernet`);
  if (v.getUint32(236) !== MAGIC) throw malformed("no DHCP magic cookie");
  const options = new Map<number, Uint8Array>();
  let i = 240;
  for (;;) {
    if (i >= b.length) throw malformed("options end without the end option");
    const code = b[i]!;
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    if (i + 1 >= b.length) throw malformed(`option ${code} truncated`);
    const len = b[i + 1]!;
    if (i + 2 + len > b.length) throw malformed(`option ${code} runs past the message`, { len });
    const data = b.subarray(i + 2, i + 2 + len);
    const prev = options.get(code);
    options.set(code, prev ? Uint8Array.from([...prev, ...data]) : Uint8Array.from(data));
    i += 2 + len;
  }
  return {
    op,
    xid: v.getUint32(4),
    secs: v.getUint16(8),
    flags: v.getUint16(10),
    ciaddr: ip4(b, 12),
    yiaddr: ip4(b, 16),
    siaddr: ip4(b, 20),
    giaddr: ip4(b, 24),
    chaddr: macText(b.subarray(28, 34)),
    options,
  };
}

function v4bytes(a: string): Uint8Array {
  const ip = parseIP(a);
  if (ip.family !== 4) throw malformed(`${a} is not an IPv4 address`);
  return ip.bytes;
}

/** Encodes a message: fixed part, magic, options in order (long ones split, RFC 3396), end. */
export function encodeDhcp4(m: Dhcp4Message): Uint8Array {
  const opts: number[] = [];
  for (const [code, data] of m.options) {
    for (let off = 0; off === 0 || off < data.length; off += 255) {
      const part = data.subarray(off, off + 255);
      opts.push(code, part.length, ...part);
    }
  }
  opts.push(255);
  const out = new Uint8Array(Math.max(300, 240 + opts.length)); // BOOTP's minimum is 300 bytes
  const v = new DataView(out.buffer);
  out[0] = m.op;
  out[1] = 1;
  out[2] = 6;
  v.setUint32(4, m.xid);
  v.setUint16(8, m.secs);
  v.setUint16(10, m.flags);
  out.set(v4bytes(m.ciaddr), 12);
  out.set(v4bytes(m.yiaddr), 16);
  out.set(v4bytes(m.siaddr), 20);
  out.set(v4bytes(m.giaddr), 24);
  out.set(
    m.chaddr.split(":").map((x) => parseInt(x, 16)),
    28,
  );
  v.setUint32(236, MAGIC);
  out.set(opts, 240);
  return out;
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** RFC 3442: each route as width, the significant octets of the destination, the router. */
export function classlessRoutes(routes: { dst: string; via: string }[]): Uint8Array {
  const out: number[] = [];
  for (const r of routes) {
    const [net, lenText] = r.dst.split("/");
    const len = Number(lenText);
    const bytes = v4bytes(net!);
    out.push(len, ...bytes.subarray(0, Math.ceil(len / 8)), ...v4bytes(r.via));
  }
  return Uint8Array.from(out);
}

export interface Dhcp4Lease {
  /** The workload's address. */
  address: string;
  gateway: string;
  leaseSeconds: number;
  mtu?: number;
  dns: string[];
  domain?: string;
}

/** The reply's destination: broadcast when the client asked for it or has no address to unicast to (RFC 2131 §4.1). */
export interface Dhcp4Reply {
  message: Dhcp4Message;
  /** IP destination and whether the Ethernet destination is broadcast. */
  dst: string;
  broadcast: boolean;
}

/**
 * The answer to a client's message, or undefined (not a request, a DECLINE or RELEASE, or a
 * REQUEST for another server). A REQUEST for an address other than the lease's gets a NAK.
 */
export function answerDhcp4(req: Dhcp4Message, lease: Dhcp4Lease): Dhcp4Reply | undefined {
  if (req.op !== 1) return undefined;
  const type = req.options.get(OPT_MSG_TYPE)?.[0];
  const serverId = req.options.get(OPT_SERVER_ID);
  let replyType: number;
  if (type === DISCOVER) replyType = OFFER;
  else if (type === REQUEST) {
    if (serverId && serverId.length === 4 && ip4(serverId, 0) !== lease.gateway) return undefined;
    const requested = req.options.get(OPT_REQUESTED_IP);
    const asked = requested && requested.length === 4 ? ip4(requested, 0) : req.ciaddr;
    replyType = asked === lease.address ? ACK : NAK;
  } else if (type === INFORM) replyType = ACK;
  else return undefined;

  const options = new Map<number, Uint8Array>();
  options.set(OPT_MSG_TYPE, Uint8Array.of(replyType));
  options.set(OPT_SERVER_ID, v4bytes(lease.gateway));
  if (replyType !== NAK) {
    if (type !== INFORM) {
      options.set(OPT_LEASE_TIME, u32(lease.leaseSeconds));
      options.set(OPT_RENEWAL, u32(Math.floor(lease.leaseSeconds / 2)));
      options.set(OPT_REBINDING, u32(Math.floor((lease.leaseSeconds * 7) / 8)));
    }
    options.set(OPT_SUBNET_MASK, Uint8Array.of(255, 255, 255, 255));
    options.set(OPT_ROUTER, v4bytes(lease.gateway));
    options.set(
      OPT_CLASSLESS_ROUTES,
      classlessRoutes([
        { dst: `${lease.gateway}/32`, via: "0.0.0.0" },
        { dst: "0.0.0.0/0", via: lease.gateway },
      ]),
    );
    if (lease.dns.length) options.set(OPT_DNS, Uint8Array.from(lease.dns.flatMap((d) => [...v4bytes(d)])));
    if (lease.domain) options.set(OPT_DOMAIN, new TextEncoder().encode(lease.domain));
    if (lease.mtu) options.set(OPT_MTU, Uint8Array.of(lease.mtu >> 8, lease.mtu & 0xff));
  }
  const message: Dhcp4Message = {
    op: 2,
    xid: req.xid,
    secs: 0,
    flags: req.flags & 0x8000,
    ciaddr: type === INFORM ? req.ciaddr : "0.0.0.0",
    yiaddr: replyType === NAK || type === INFORM ? "0.0.0.0" : lease.address,
    siaddr: "0.0.0.0",
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    options,
  };
  // RFC 2131 §4.1: NAK is broadcast; a client with an address gets unicast to it; otherwise
  // broadcast if it asked, else unicast to yiaddr at chaddr.
  if (replyType === NAK || (req.flags & 0x8000) !== 0) return { message, dst: "255.255.255.255", broadcast: true };
  if (req.ciaddr !== "0.0.0.0") return { message, dst: req.ciaddr, broadcast: false };
  return { message, dst: lease.address, broadcast: false };
}
