/**
 * What the host says to a workload that asks for its addresses (issue 20): a DHCPv4 request,
 * a router solicitation or a DHCPv6 request arrives on a workload interface (as the IP packet a
 * cooked packet socket gives, with the sender's MAC); the answer is computed from the
 * WorkloadEndpoint on that interface (its IPAM addresses, and its MAC when it has one: a
 * different sender is not answered) and the host interface (its MAC, link-local address and
 * MTU). Requests from interfaces that carry no local endpoint are not answered.
 *
 * Why tabby answers itself rather than driving dnsmasq (as Calico's OpenStack DHCP agent did):
 * dnsmasq serves DHCPv4 only on an interface that has an address in the client's subnet, which
 * a routed tap has not (Calico's agent gave a dummy interface each subnet's gateway address and
 * aliased every tap to it with --bridge-interface), and it needs its host file rewritten and a
 * signal for every workload change. A routed workload's answer is small and fixed — one
 * address, a /32, the 169.254.1.1 gateway on-link, no pool to lease from — so tabby computes it
 * from the endpoint it already watches, with a pure codec tested byte for byte. Pure: no I/O.
 */
import { tryParsePrefix } from "../net/prefix.js";
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, answerDhcp4, decodeDhcp4, encodeDhcp4 } from "./dhcp4.js";
import { DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT, answerDhcp6, decodeDhcp6, encodeDhcp6 } from "./dhcp6.js";
import { PROTO_ICMPV6, PROTO_UDP, ipv4Udp, ipv6Icmp, ipv6Udp, parseIpPacket } from "./ip-packet.js";
import { encodeRa, isRouterSolicitation } from "./ra.js";

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";
export const GATEWAY_V4 = "169.254.1.1";

export interface Frame {
  /** EtherType: ETH_P_IP or ETH_P_IPV6. */
  proto: number;
  /** Sender's MAC (from the packet socket's address). */
  mac: string;
  /** The IP packet. */
  packet: Uint8Array;
}

export interface Answer {
  proto: number;
  /** Destination MAC. */
  mac: string;
  packet: Uint8Array;
}

/** The endpoint on the interface: its addresses ("10.65.0.5/32", "fd65::5/128") and MAC. */
export interface EndpointAddrs {
  ipNetworks: string[];
  mac?: string;
}

export interface HostLink {
  mac: string;
  /** The host interface's IPv6 link-local address (RA and DHCPv6 come from it); absent: no IPv6 answers. */
  linkLocal?: string;
  mtu?: number;
}

export interface ResponderConfig {
  dns: string[];
  domain?: string;
  /** DHCPv4 lease and DHCPv6 lifetimes (seconds). */
  leaseSeconds: number;
  /** RA router lifetime (seconds). */
  routerLifetime: number;
}

export const DEFAULT_RESPONDER_CONFIG: ResponderConfig = { dns: [], leaseSeconds: 86400, routerLifetime: 1800 };

function first(ep: EndpointAddrs, family: 4 | 6): string | undefined {
  for (const n of ep.ipNetworks) {
    const p = tryParsePrefix(n);
    if (p && p.addr.family === family && p.len === (family === 4 ? 32 : 128)) return p.addr.toString();
  }
  return undefined;
}

/**
 * The answers to one frame (none for anything that is not a request we serve). Throws
 * NET_DHCP_MALFORMED for a request that does not parse (the caller counts and drops it).
 */
export function respond(frame: Frame, ep: EndpointAddrs, link: HostLink, cfg: ResponderConfig): Answer[] {
  if (ep.mac && ep.mac.toLowerCase() !== frame.mac.toLowerCase()) return [];
  const dns4 = cfg.dns.filter((d) => !d.includes(":"));
  const dns6 = cfg.dns.filter((d) => d.includes(":"));
  const p = parseIpPacket(frame.packet);
  if (frame.proto === ETH_P_IP && p.family === 4 && p.proto === PROTO_UDP && p.dstPort === DHCP_SERVER_PORT) {
    const address = first(ep, 4);
    if (!address) return [];
    const req = decodeDhcp4(p.payload);
    const r = answerDhcp4(req, {
      address,
      gateway: GATEWAY_V4,
      leaseSeconds: cfg.leaseSeconds,
      dns: dns4,
      ...(cfg.domain ? { domain: cfg.domain } : {}),
      ...(link.mtu ? { mtu: link.mtu } : {}),
    });
    if (!r) return [];
    return [
      {
        proto: ETH_P_IP,
        mac: r.broadcast ? BROADCAST_MAC : req.chaddr,
        packet: ipv4Udp(GATEWAY_V4, r.dst, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, encodeDhcp4(r.message)),
      },
    ];
  }
  if (frame.proto !== ETH_P_IPV6 || p.family !== 6 || !link.linkLocal) return [];
  if (p.proto === PROTO_ICMPV6 && isRouterSolicitation(p.payload, p.hopLimit)) {
    if (!first(ep, 6)) return [];
    const dst = p.src === "::" ? "ff02::1" : p.src;
    const ra = encodeRa({ mac: link.mac, lifetime: cfg.routerLifetime, dns: dns6, ...(link.mtu ? { mtu: link.mtu } : {}) });
    return [{ proto: ETH_P_IPV6, mac: p.src === "::" ? "33:33:00:00:00:01" : frame.mac, packet: ipv6Icmp(link.linkLocal, dst, ra) }];
  }
  if (p.proto === PROTO_UDP && p.dstPort === DHCP6_SERVER_PORT) {
    const address = first(ep, 6);
    if (!address) return [];
    const reply = answerDhcp6(decodeDhcp6(p.payload), {
      address,
      serverMac: link.mac,
      preferredSeconds: cfg.leaseSeconds,
      validSeconds: cfg.leaseSeconds,
      dns: dns6,
    });
    if (!reply) return [];
    return [{ proto: ETH_P_IPV6, mac: frame.mac, packet: ipv6Udp(link.linkLocal, p.src, DHCP6_SERVER_PORT, DHCP6_CLIENT_PORT, encodeDhcp6(reply)) }];
  }
  return [];
}

/** An unsolicited RA to all nodes (sent when a workload interface appears, and periodically). */
export function unsolicitedRa(ep: EndpointAddrs, link: HostLink, cfg: ResponderConfig): Answer | undefined {
  if (!link.linkLocal || !first(ep, 6)) return undefined;
  const ra = encodeRa({ mac: link.mac, lifetime: cfg.routerLifetime, dns: cfg.dns.filter((d) => d.includes(":")), ...(link.mtu ? { mtu: link.mtu } : {}) });
  return { proto: ETH_P_IPV6, mac: "33:33:00:00:00:01", packet: ipv6Icmp(link.linkLocal, "ff02::1", ra) };
}
