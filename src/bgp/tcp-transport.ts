/**
 * The BGP transport over TCP (RFC 4271 §8: port 179): `node:net` sockets behind the ByteStream
 * seam (transport.ts), with every socket-specific option here: no-delay, TCP-MD5 keys (RFC 2385,
 * md5.ts) on the listener and on outbound sockets made by hand, GTSM (RFC 5082, gtsm.ts) on the
 * listener and per accepted connection, and the listener bound by hand when either is needed
 * (listener-socket.ts). Shell (I/O).
 */
import * as net from "node:net";
import { parseIP } from "../net/ip.js";
import { connectSecured, setConnectionKey, setListenerKey } from "./md5.js";
import { applyGtsm, inboundSynTtl, minTtl, prepareListenerForGtsm, resetTtl } from "./gtsm.js";
import { bindSecuredListener } from "./listener-socket.js";
import type { BgpListener, BgpNetwork, ByteStream, ConnectRequest, ListenerSecurity, PeerSecurity } from "./transport.js";

/** A net.Socket as a ByteStream. */
export class SocketStream implements ByteStream {
  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
  }
  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }
  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }
  get destroyed(): boolean {
    return this.socket.destroyed;
  }
  get connecting(): boolean {
    return this.socket.connecting;
  }
  write(bytes: Uint8Array): boolean {
    return this.socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  cork(): void {
    this.socket.cork();
  }
  uncork(): void {
    this.socket.uncork();
  }
  end(then?: () => void): void {
    if (then) this.socket.end(then);
    else this.socket.end();
  }
  destroy(): void {
    this.socket.destroy();
  }
  onData(fn: (chunk: Uint8Array) => void): void {
    // a plain view: Buffer's slice semantics differ from Uint8Array's
    this.socket.on("data", (chunk: Buffer) => fn(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  }
  onClose(fn: () => void): void {
    this.socket.on("close", () => fn());
  }
  onError(fn: (err: Error) => void): void {
    this.socket.on("error", fn);
  }
  onceDrain(fn: () => void): void {
    this.socket.once("drain", fn);
  }
}

class TcpListener implements BgpListener {
  /** Keyed peers whose key just went on the listener (setKey). */
  private readonly keyQuarantine = new Set<string>();

  constructor(
    private readonly server: net.Server,
    private gtsm: boolean,
  ) {}

  get port(): number | undefined {
    const a = this.server.address();
    return a && typeof a === "object" ? a.port : undefined;
  }

  /**
   * RFC 2385: the listener needs the peer's key so the peer's SYN is accepted. A key added to a
   * listening socket does not cover a connection that completed its handshake before and waits
   * in the accept queue: connections from the address are refused until the event loop has
   * polled the listener once more (two setImmediate turns: libuv's poll, not time), so such a
   * one is never accepted.
   */
  setKey(peer: string, key: string): void {
    if (key !== "") {
      this.keyQuarantine.add(peer);
      setImmediate(() => setImmediate(() => this.keyQuarantine.delete(peer)));
    }
    setListenerKey(this.server, peer, key);
  }

  enableGtsm(): void {
    if (this.gtsm) return;
    prepareListenerForGtsm(this.server);
    this.gtsm = true;
  }

  /**
   * GTSM (RFC 5082) and TCP-MD5 (RFC 2385) on an accepted connection, before anything is read
   * from it: the SYN must have come from within `ttlSecurity` hops, and from now on the kernel
   * drops segments from further away and unsigned ones.
   */
  admit(stream: ByteStream, peer: PeerSecurity): string | undefined {
    if (this.keyQuarantine.has(peer.address)) return "TCP-MD5: the connection may predate the peer's key on the listener";
    const socket = (stream as SocketStream).socket;
    try {
      if (peer.ttlSecurity) {
        const ttl = inboundSynTtl(socket);
        const min = minTtl(peer.ttlSecurity);
        if (ttl === undefined) return "GTSM: the connection's SYN was not saved, so its TTL cannot be checked";
        if (ttl < min) return `GTSM: SYN arrived with TTL ${ttl}, below ${min} (ttlSecurity ${peer.ttlSecurity} hops)`;
        applyGtsm(socket, parseIP(peer.address).family, peer.ttlSecurity);
      } else if (this.gtsm) {
        // not a GTSM peer: free the saved SYN, and send with the system's default TTL again
        // rather than the 255 inherited from the listener
        inboundSynTtl(socket);
        resetTtl(socket, parseIP(peer.address).family);
      }
      if (peer.password) setConnectionKey(socket, peer.address, peer.password);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    return undefined;
  }

  close(): Promise<void> {
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

export const tcpNetwork: BgpNetwork = {
  connect(req: ConnectRequest, onConnected: () => void): ByteStream {
    if (req.password || req.ttlSecurity) {
      // TCP-MD5 and GTSM must be on the socket before its SYN: a socket made by hand (md5.ts)
      const opts = { ...(req.password ? { key: req.password } : {}), ...(req.ttlSecurity ? { ttlSecurity: req.ttlSecurity } : {}) };
      return new SocketStream(connectSecured(req.address, req.port, req.localAddress, opts, onConnected));
    }
    const opts: net.TcpNetConnectOpts = { host: req.address, port: req.port };
    if (req.localAddress) opts.localAddress = req.localAddress;
    const socket = net.connect(opts);
    socket.once("connect", onConnected);
    return new SocketStream(socket);
  },

  async listen(at, security: ListenerSecurity, onInbound, onError): Promise<BgpListener> {
    const server = net.createServer((socket) => onInbound(new SocketStream(socket)));
    // keys and GTSM options go on the socket before it listens (listener-socket.ts)
    const fd = security.keys.length > 0 || security.gtsm ? bindSecuredListener(at.address, at.port, security) : undefined;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(fd !== undefined ? { fd } : { host: at.address, port: at.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", onError);
    return new TcpListener(server, security.gtsm);
  },
};
