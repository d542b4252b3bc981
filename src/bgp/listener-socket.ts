/**
 * The speaker's listening socket made by hand (libc through koffi, as md5.ts) when some peer
 * has a TCP-MD5 password (RFC 2385) or GTSM (RFC 5082): the keys and the GTSM options are on
 * the socket before it is bound, so no connection from a keyed peer's address is accepted
 * unsigned in the moment between listen() and the first setsockopt. Node then adopts the bound
 * descriptor (`server.listen({ fd })` calls listen itself). SO_REUSEADDR as libuv sets it; a
 * `::` listener is dual-stack (IPV6_V6ONLY 0) as Node's default. Shell (I/O).
 */
import { parseIP } from "../net/ip.js";
import { BgpError } from "./errors.js";
import { listenerGtsmOptions, setIntOptions } from "./gtsm.js";
import { loadLibc } from "./libc.js";
import { md5sig, sockaddr } from "./md5.js";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const IPPROTO_TCP = 6;
const TCP_MD5SIG = 14;

export interface ListenerSecurity {
  /** Peer address → TCP-MD5 key. */
  keys: { peer: string; key: string }[];
  /** Some peer uses GTSM: SYN-ACKs with TTL 255, SYNs saved for the accept check. */
  gtsm: boolean;
}

/** A bound (not yet listening) TCP socket for `address:port` with the keys and options set. */
export function bindSecuredListener(address: string, port: number, sec: ListenerSecurity): number {
  const lib = loadLibc();
  const fam = parseIP(address).family;
  const fd = lib.socket(fam === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new BgpError("BGP_LISTEN", `socket failed (errno ${lib.errno()})`);
  try {
    setIntOptions(fd, [{ level: SOL_SOCKET, name: SO_REUSEADDR, value: 1 }]);
    if (fam === 6) setIntOptions(fd, [{ level: IPPROTO_IPV6, name: IPV6_V6ONLY, value: 0 }]);
    for (const k of sec.keys) {
      const peer = parseIP(k.peer);
      if (fam === 4 && peer.family === 6) continue; // an IPv4 listener never sees this peer
      const sig = md5sig(peer, k.key, fam);
      if (lib.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0)
        throw new BgpError("BGP_MD5_SYSCALL", `setsockopt(TCP_MD5SIG) for ${k.peer} failed (errno ${lib.errno()})`);
    }
    if (sec.gtsm) setIntOptions(fd, listenerGtsmOptions(fam));
    const sa = sockaddr(parseIP(address), port, fam);
    if (lib.bind(fd, sa, sa.length) !== 0) throw new BgpError("BGP_LISTEN", `bind ${address} port ${port} failed (errno ${lib.errno()})`);
  } catch (e) {
    lib.close(fd);
    throw e;
  }
  return fd;
}
