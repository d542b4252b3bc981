/**
 * TCP-MD5 signatures (RFC 2385) on Linux, and the hand-made outbound socket that also carries
 * the GTSM options (gtsm.ts) from before its SYN. Node has no setsockopt, so this goes through libc with
 * the `koffi` FFI package (loaded only when a peer has a password): the key is set per peer
 * address on the listening socket (accepted connections inherit it) and, for outbound
 * connections, on a socket made here before its non-blocking connect, then handed to Node as a
 * net.Socket. `struct tcp_md5sig` is Linux uapi: sockaddr_storage (128) | flags u8 | prefixlen u8
 * | keylen u16 | ifindex u32 | key[80]. Shell (I/O). Written for tabby (approach verified in
 * the project's reference notes, bgp.md §1.9).
 */
import * as net from "node:net";
import { parseIP, type IP } from "../net/ip.js";
import { BgpError } from "./errors.js";
import { gtsmOptions, setIntOptions } from "./gtsm.js";
import { loadLibc } from "./libc.js";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const IPPROTO_TCP = 6;
const TCP_MD5SIG = 14;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const EINPROGRESS = 115;
const MAX_KEY = 80;

export { loadLibc, type Libc } from "./libc.js";

/** A sockaddr for `ip` in the socket's family (IPv4 in an IPv6 socket as ::ffff:a.b.c.d). */
export function sockaddr(ip: IP, port: number, socketFamily: 4 | 6): Buffer {
  if (socketFamily === 4) {
    if (ip.family !== 4) throw new BgpError("BGP_MD5_FAMILY", `an IPv4 socket cannot reach ${ip}`);
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    b.set(ip.bytes, 4);
    return b;
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  if (ip.family === 4) {
    b[18] = 0xff;
    b[19] = 0xff;
    b.set(ip.bytes, 20);
  } else b.set(ip.bytes, 8);
  return b;
}

/** The `struct tcp_md5sig` setting `key` for `peer` (an empty key removes it). */
export function md5sig(peer: IP, key: string, socketFamily: 4 | 6): Buffer {
  const k = Buffer.from(key, "utf8");
  if (k.length > MAX_KEY) throw new BgpError("BGP_MD5_KEY", `a TCP-MD5 password has at most ${MAX_KEY} bytes`);
  const b = Buffer.alloc(216);
  sockaddr(peer, 0, socketFamily).copy(b, 0);
  b.writeUInt16LE(k.length, 130);
  k.copy(b, 136);
  return b;
}

function fail(what: string, errno: number): BgpError {
  return new BgpError("BGP_MD5_SYSCALL", `${what} failed (errno ${errno})`);
}

/** Sets (or with "" removes) the key for `peer` on a listening server's socket. */
export function setListenerKey(server: net.Server, peer: string, key: string): void {
  const lib = loadLibc();
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new BgpError("BGP_MD5_SYSCALL", "no file descriptor on the listener");
  const a = server.address();
  const fam = a && typeof a === "object" && a.family === "IPv4" ? 4 : 6;
  const sig = md5sig(parseIP(peer), key, fam);
  if (lib.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0) throw fail("setsockopt(TCP_MD5SIG) on the listener", lib.errno());
}

export interface SecuredConnectOptions {
  /** TCP-MD5 key (RFC 2385). */
  key?: string;
  /** GTSM hop count (RFC 5082, gtsm.ts). */
  ttlSecurity?: number;
}

/**
 * Sets the key for `peer` on an accepted connection too: it inherited the listener's key if it
 * had one when the handshake completed; if not (a peer configured while its connection sat in
 * the accept queue), every later segment must be signed all the same.
 */
export function setConnectionKey(socket: net.Socket, peer: string, key: string): void {
  const lib = loadLibc();
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new BgpError("BGP_MD5_SYSCALL", "no file descriptor on the connection");
  const sig = md5sig(parseIP(peer), key, socket.remoteFamily === "IPv4" ? 4 : 6);
  if (lib.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0) throw fail("setsockopt(TCP_MD5SIG) on the connection", lib.errno());
}

/**
 * Connects to `host:port` with the key and the GTSM options set before the SYN. Returns the
 * socket at once (writes queue) and calls `onConnect` when the handshake completes; a failed
 * connect surfaces as the socket's 'error'/'close'.
 */
export function connectSecured(host: string, port: number, localAddress: string | undefined, opts: SecuredConnectOptions, onConnect: () => void): net.Socket {
  const lib = loadLibc();
  const peer = parseIP(host);
  const fam = peer.family;
  const fd = lib.socket(fam === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail("socket", lib.errno());
  try {
    if (opts.key) {
      const sig = md5sig(peer, opts.key, fam);
      if (lib.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0) throw fail("setsockopt(TCP_MD5SIG)", lib.errno());
    }
    if (opts.ttlSecurity) setIntOptions(fd, gtsmOptions(fam, opts.ttlSecurity));
    if (localAddress) {
      const la = sockaddr(parseIP(localAddress), 0, fam);
      if (lib.bind(fd, la, la.length) !== 0) throw fail(`bind ${localAddress}`, lib.errno());
    }
    const ra = sockaddr(peer, port, fam);
    if (lib.connect(fd, ra, ra.length) !== 0 && lib.errno() !== EINPROGRESS) throw fail(`connect ${host}`, lib.errno());
  } catch (e) {
    lib.close(fd);
    throw e;
  }
  const socket = new net.Socket({ fd, readable: true, writable: true });
  // no 'connect' event on an adopted descriptor: watch for the handshake to finish
  const addr = Buffer.alloc(128);
  const len = Buffer.alloc(4);
  const err = Buffer.alloc(4);
  const errLen = Buffer.alloc(4);
  let done = false;
  const connected = () => {
    if (done) return;
    done = true;
    clearInterval(timer);
    onConnect();
  };
  // the peer may speak first (its OPEN) before the next poll: data means the handshake is done,
  // and this listener, added before the caller's, reports it before the data is read
  socket.once("data", connected);
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer);
    len.writeUInt32LE(addr.length, 0);
    if (lib.getpeername(fd, addr, len) === 0) {
      connected();
      return;
    }
    errLen.writeUInt32LE(4, 0);
    if (lib.getsockopt(fd, SOL_SOCKET, SO_ERROR, err, errLen) === 0 && err.readInt32LE(0) !== 0) {
      done = true;
      clearInterval(timer);
      socket.destroy(new BgpError("BGP_MD5_CONNECT", `connect ${host} failed (errno ${err.readInt32LE(0)})`));
    }
  }, 20);
  timer.unref();
  return socket;
}
