/**
 * GTSM, the Generalized TTL Security Mechanism (RFC 5082; Calico BGPPeer `ttlSecurity`, BIRD
 * `ttl security`, FRR `ttl-security hops`): a peer at most `hops` routers away sends with TTL
 * (hop limit) 255, so its packets arrive with at least 256 - hops; anything lower comes from
 * further away and is dropped, which a remote attacker cannot forge. The pure part says which
 * socket options to set and reads the TTL of a saved SYN; `applyGtsm`/`inboundSynTtl` are the
 * shell (libc setsockopt/getsockopt through koffi, as md5.ts). On Linux the kernel drops
 * segments below IP_MINTTL (IPv4, also IPv4-mapped traffic on an IPv6 socket) or
 * IPV6_MINHOPCOUNT (IPv6). An accepted connection only gets its minimum once accepted, so the
 * listener saves SYNs (TCP_SAVE_SYN) and the SYN's own TTL is checked too.
 */
import type * as net from "node:net";
import { BgpError } from "./errors.js";
import { loadLibc } from "./libc.js";

export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_IPV6 = 41;
export const IP_TTL = 2;
export const IP_MINTTL = 21;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MINHOPCOUNT = 73;
export const TCP_SAVE_SYN = 27;
export const TCP_SAVED_SYN = 28;
export const MAX_TTL = 255;

export interface SockOpt {
  level: number;
  name: number;
  value: number;
}

/** Checks a configured hop count (1..254: 255 hops would accept TTL 1, i.e. anything). */
export function checkHops(hops: unknown, what: string): number {
  if (typeof hops !== "number" || !Number.isInteger(hops) || hops < 1 || hops > 254) {
    throw new BgpError("BGP_GTSM_HOPS", `${what}: ttlSecurity is a hop count from 1 to 254, not ${JSON.stringify(hops)}`);
  }
  return hops;
}

/** The lowest TTL accepted from a peer `hops` away (RFC 5082 §3: 255 - (hops - 1)). */
export function minTtl(hops: number): number {
  return MAX_TTL + 1 - hops;
}

/**
 * The options that make a connection GTSM-protected: send with 255, drop below 256 - hops.
 * `trafficFamily` is the family of the packets (4 for IPv4-mapped peers on an IPv6 socket too).
 */
export function gtsmOptions(trafficFamily: 4 | 6, hops: number): SockOpt[] {
  return trafficFamily === 4
    ? [
        { level: IPPROTO_IP, name: IP_TTL, value: MAX_TTL },
        { level: IPPROTO_IP, name: IP_MINTTL, value: minTtl(hops) },
      ]
    : [
        { level: IPPROTO_IPV6, name: IPV6_UNICAST_HOPS, value: MAX_TTL },
        { level: IPPROTO_IPV6, name: IPV6_MINHOPCOUNT, value: minTtl(hops) },
      ];
}

/**
 * The options for a listener with GTSM peers: SYN-ACKs leave with TTL 255 (a GTSM peer that
 * connects drops anything lower) and SYNs are saved so their TTL can be checked at accept.
 */
export function listenerGtsmOptions(socketFamily: 4 | 6): SockOpt[] {
  const opts: SockOpt[] = [{ level: IPPROTO_IP, name: IP_TTL, value: MAX_TTL }];
  if (socketFamily === 6) opts.push({ level: IPPROTO_IPV6, name: IPV6_UNICAST_HOPS, value: MAX_TTL });
  opts.push({ level: IPPROTO_TCP, name: TCP_SAVE_SYN, value: 1 });
  return opts;
}

/** The TTL (IPv4) or hop limit (IPv6) of a saved SYN's network header; undefined if it is not one. */
export function synTtl(headers: Uint8Array): number | undefined {
  const version = headers.length > 0 ? headers[0]! >> 4 : 0;
  if (version === 4 && headers.length >= 20) return headers[8];
  if (version === 6 && headers.length >= 40) return headers[7];
  return undefined;
}

// ---- shell ----

function fdOf(socket: net.Socket | net.Server): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new BgpError("BGP_GTSM_SYSCALL", "no file descriptor on the socket");
  return fd;
}

/** Sets integer socket options on a raw descriptor. */
export function setIntOptions(fd: number, opts: SockOpt[]): void {
  const lib = loadLibc();
  const v = Buffer.alloc(4);
  for (const o of opts) {
    v.writeInt32LE(o.value, 0);
    if (lib.setsockopt(fd, o.level, o.name, v, 4) !== 0) {
      throw new BgpError("BGP_GTSM_SYSCALL", `setsockopt(level ${o.level}, option ${o.name}, ${o.value}) failed (errno ${lib.errno()})`);
    }
  }
}

/** Makes an accepted or connected socket GTSM-protected for a peer `hops` away. */
export function applyGtsm(socket: net.Socket, trafficFamily: 4 | 6, hops: number): void {
  setIntOptions(fdOf(socket), gtsmOptions(trafficFamily, hops));
}

/** Back to the system's default TTL / hop limit (-1) on a connection accepted by a GTSM listener. */
export function resetTtl(socket: net.Socket, trafficFamily: 4 | 6): void {
  setIntOptions(fdOf(socket), [
    trafficFamily === 4 ? { level: IPPROTO_IP, name: IP_TTL, value: -1 } : { level: IPPROTO_IPV6, name: IPV6_UNICAST_HOPS, value: -1 },
  ]);
}

/** Sets the listener's GTSM options (on a listener Node made; see also listener-socket.ts). */
export function prepareListenerForGtsm(server: net.Server): void {
  const a = server.address();
  setIntOptions(fdOf(server), listenerGtsmOptions(a && typeof a === "object" && a.family === "IPv4" ? 4 : 6));
}

/** The TTL the accepted connection's SYN arrived with, or undefined if no SYN was saved. */
export function inboundSynTtl(socket: net.Socket): number | undefined {
  const lib = loadLibc();
  const buf = Buffer.alloc(512);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(buf.length, 0);
  if (lib.getsockopt(fdOf(socket), IPPROTO_TCP, TCP_SAVED_SYN, buf, len) !== 0) return undefined;
  const n = len.readUInt32LE(0);
  return n === 0 ? undefined : synTtl(buf.subarray(0, n));
}
