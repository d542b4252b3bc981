/**
 * The IP layer under DHCP and router advertisements, as a cooked AF_PACKET socket carries it
 * (the kernel adds and strips the Ethernet header): IPv4 (RFC 791) + UDP (RFC 768), IPv6 (RFC
 * 8200) + UDP or ICMPv6 (RFC 4443), with their checksums (RFC 1071; the IPv6 pseudo-header).
 * The responder builds its answers here because its clients have no address yet (DHCPv4) or
 * must see the reply come from the host's link-local address (RA, DHCPv6). Pure: bytes only.
 */
import { IP, parseIP } from "../net/ip.js";
import { malformed } from "./errors.js";

export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

/** RFC 1071 one's-complement sum of `parts`, folded and complemented; 0 becomes 0xffff (UDP). */
export function inetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i + 1 < p.length; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
    if (p.length % 2) sum += p[p.length - 1]! << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  return c === 0 ? 0xffff : c;
}

function addr(text: string, family: 4 | 6): Uint8Array {
  const ip = parseIP(text);
  if (ip.family !== family) throw malformed(`${text} is not an IPv${family} address`);
  return ip.bytes;
}

function udpHeader(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  const v = new DataView(u.buffer);
  v.setUint16(0, srcPort);
  v.setUint16(2, dstPort);
  v.setUint16(4, u.length);
  u.set(payload, 8);
  return u;
}

/** An IPv4 UDP datagram (TTL 64, DF clear, id 0). */
export function ipv4Udp(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const s = addr(src, 4);
  const d = addr(dst, 4);
  const udp = udpHeader(srcPort, dstPort, payload);
  const pseudo = new Uint8Array(12);
  pseudo.set(s, 0);
  pseudo.set(d, 4);
  pseudo[9] = PROTO_UDP;
  new DataView(pseudo.buffer).setUint16(10, udp.length);
  new DataView(udp.buffer).setUint16(6, inetChecksum(pseudo, udp));
  const out = new Uint8Array(20 + udp.length);
  const v = new DataView(out.buffer);
  out[0] = 0x45;
  v.setUint16(2, out.length);
  out[8] = 64;
  out[9] = PROTO_UDP;
  out.set(s, 12);
  out.set(d, 16);
  v.setUint16(10, inetChecksum(out.subarray(0, 20)));
  out.set(udp, 20);
  return out;
}

function ipv6(src: string, dst: string, next: number, hopLimit: number, l4: Uint8Array, checksumAt: number): Uint8Array {
  const s = addr(src, 6);
  const d = addr(dst, 6);
  const pseudo = new Uint8Array(40);
  pseudo.set(s, 0);
  pseudo.set(d, 16);
  new DataView(pseudo.buffer).setUint32(32, l4.length);
  pseudo[39] = next;
  new DataView(l4.buffer, l4.byteOffset).setUint16(checksumAt, 0);
  new DataView(l4.buffer, l4.byteOffset).setUint16(checksumAt, inetChecksum(pseudo, l4));
  const out = new Uint8Array(40 + l4.length);
  const v = new DataView(out.buffer);
  out[0] = 0x60;
  v.setUint16(4, l4.length);
  out[6] = next;
  out[7] = hopLimit;
  out.set(s, 8);
  out.set(d, 24);
  out.set(l4, 40);
  return out;
}

/** An IPv6 UDP datagram (hop limit 64; DHCPv6 answers a client's link-local address). */
export function ipv6Udp(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  return ipv6(src, dst, PROTO_UDP, 64, udpHeader(srcPort, dstPort, payload), 6);
}

/** An ICMPv6 message (`body` from the type on; checksum filled). Hop limit 255, as ND requires. */
export function ipv6Icmp(src: string, dst: string, body: Uint8Array): Uint8Array {
  return ipv6(src, dst, PROTO_ICMPV6, 255, Uint8Array.from(body), 2);
}

export interface Parsed {
  family: 4 | 6;
  src: string;
  dst: string;
  proto: number;
  hopLimit: number;
  /** UDP ports (UDP only). */
  srcPort?: number;
  dstPort?: number;
  /** The UDP payload, or the ICMPv6 message from its type on. */
  payload: Uint8Array;
}

function text(b: Uint8Array): string {
  return new IP(Uint8Array.from(b)).toString();
}

/**
 * Parses an IPv4 or IPv6 packet carrying UDP or ICMPv6 (no IPv6 extension headers, no IPv4
 * fragments: DHCP and ND never use them). Throws NET_DHCP_MALFORMED on anything inconsistent.
 */
export function parseIpPacket(p: Uint8Array): Parsed {
  if (p.length < 1) throw malformed("empty packet");
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const version = p[0]! >> 4;
  let out: Parsed;
  let l4: Uint8Array;
  if (version === 4) {
    const ihl = (p[0]! & 0x0f) * 4;
    if (ihl < 20 || p.length < ihl) throw malformed("IPv4 header truncated");
    const total = v.getUint16(2);
    if (total < ihl || total > p.length) throw malformed("IPv4 total length out of range", { total, have: p.length });
    if ((v.getUint16(6) & 0x3fff) !== 0) throw malformed("IPv4 fragment");
    out = { family: 4, src: text(p.subarray(12, 16)), dst: text(p.subarray(16, 20)), proto: p[9]!, hopLimit: p[8]!, payload: new Uint8Array(0) };
    l4 = p.subarray(ihl, total);
  } else if (version === 6) {
    if (p.length < 40) throw malformed("IPv6 header truncated");
    const len = v.getUint16(4);
    if (40 + len > p.length) throw malformed("IPv6 payload length out of range", { len, have: p.length });
    out = { family: 6, src: text(p.subarray(8, 24)), dst: text(p.subarray(24, 40)), proto: p[6]!, hopLimit: p[7]!, payload: new Uint8Array(0) };
    l4 = p.subarray(40, 40 + len);
  } else {
    throw malformed(`IP version ${version}`);
  }
  if (out.proto === PROTO_UDP) {
    if (l4.length < 8) throw malformed("UDP header truncated");
    const u = new DataView(l4.buffer, l4.byteOffset, l4.byteLength);
    const ulen = u.getUint16(4);
    if (ulen < 8 || ulen > l4.length) throw malformed("UDP length out of range", { ulen, have: l4.length });
    out.srcPort = u.getUint16(0);
    out.dstPort = u.getUint16(2);
    out.payload = l4.subarray(8, ulen);
  } else if (out.proto === PROTO_ICMPV6 && out.family === 6) {
    if (l4.length < 4) throw malformed("ICMPv6 header truncated");
    out.payload = l4;
  } else {
    throw malformed(`IP protocol ${out.proto}`);
  }
  return out;
}
