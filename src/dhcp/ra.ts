/**
 * Router advertisements (RFC 4861 §4.2) for a routed workload: the host is its default router
 * (router lifetime, from the host interface's link-local address), the Managed flag sends the
 * client to DHCPv6 for its address (dhcp6.ts: the IPAM address, a /128) and Other for the rest;
 * no prefix information, so nothing is on-link and nothing is autoconfigured (every packet goes
 * to the host, as IPv4's 169.254.1.1 route does); the MTU option; RDNSS (RFC 8106) when DNS
 * servers are configured. Answers router solicitations (type 133). Pure.
 */
import { parseIP } from "../net/ip.js";
import { malformed } from "./errors.js";

export const ROUTER_SOLICITATION = 133;
export const ROUTER_ADVERTISEMENT = 134;

export interface RaConfig {
  /** The host interface's MAC (source link-layer address option). */
  mac: string;
  mtu?: number;
  /** Router lifetime, seconds (at most 9000). */
  lifetime: number;
  dns: string[];
}

/** The RA body from the ICMPv6 type on; the checksum is left 0 (ip-packet.ts fills it). */
export function encodeRa(c: RaConfig): Uint8Array {
  const out: number[] = [ROUTER_ADVERTISEMENT, 0, 0, 0, 64, 0x80 | 0x40, (c.lifetime >> 8) & 0xff, c.lifetime & 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
  out.push(1, 1, ...c.mac.split(":").map((x) => parseInt(x, 16)));
  if (c.mtu) out.push(5, 1, 0, 0, (c.mtu >>> 24) & 0xff, (c.mtu >> 16) & 0xff, (c.mtu >> 8) & 0xff, c.mtu & 0xff);
  if (c.dns.length) {
    const life = Math.min(c.lifetime * 3, 0xffffffff);
    out.push(25, 1 + 2 * c.dns.length, 0, 0, (life >>> 24) & 0xff, (life >> 16) & 0xff, (life >> 8) & 0xff, life & 0xff);
    for (const d of c.dns) {
      const ip = parseIP(d);
      if (ip.family !== 6) throw malformed(`RDNSS ${d} is not an IPv6 address`);
      out.push(...ip.bytes);
    }
  }
  return Uint8Array.from(out);
}

/** True for a well-formed router solicitation (RFC 4861 §6.1.1: hop limit 255, code 0, options sane). */
export function isRouterSolicitation(icmp: Uint8Array, hopLimit: number): boolean {
  if (icmp.length < 8 || icmp[0] !== ROUTER_SOLICITATION || icmp[1] !== 0 || hopLimit !== 255) return false;
  for (let i = 8; i < icmp.length; ) {
    const len = (icmp[i + 1] ?? 0) * 8;
    if (len === 0 || i + len > icmp.length) return false;
    i += len;
  }
  return true;
}
