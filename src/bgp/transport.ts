/**
 * The transport seam of a BGP session (RFC 4271 §8 asks of it only an ordered byte stream that
 * comes up and goes down): `ByteStream` is one connection to a peer, `BgpNetwork` makes outbound
 * connections and listeners. The session (session.ts) and the speaker (speaker.ts) see only these;
 * the TCP adapter (tcp-transport.ts) keeps everything socket-specific (TCP-MD5, GTSM TTLs, no-delay,
 * addresses), and the in-memory pair (memory-transport.ts) drives speaker tests with a fake clock.
 * Types only.
 */

/** One connection: bytes in order both ways, then closed. Events may have several listeners. */
export interface ByteStream {
  /** Our address on the connection (an IPv4-mapped IPv6 form is left to the caller to strip). */
  readonly localAddress: string | undefined;
  readonly remoteAddress: string | undefined;
  readonly destroyed: boolean;
  /** True while an outbound connection's handshake is not done. */
  readonly connecting: boolean;
  /** Queues bytes; false when the stream is backed up (`onceDrain` then fires when it empties). */
  write(bytes: Uint8Array): boolean;
  /** Batch the writes until `uncork` (a hint; a stream may write at once). */
  cork(): void;
  uncork(): void;
  /** Sends what is queued, then closes our side; `then` once it is flushed. */
  end(then?: () => void): void;
  /** Closes at once, dropping what is queued. */
  destroy(): void;
  onData(fn: (chunk: Uint8Array) => void): void;
  onClose(fn: () => void): void;
  onError(fn: (err: Error) => void): void;
  onceDrain(fn: () => void): void;
}

export interface ConnectRequest {
  address: string;
  port: number;
  localAddress?: string;
  /** TCP-MD5 (RFC 2385) key, set before the SYN. */
  password?: string;
  /** GTSM (RFC 5082): the peer is at most this many hops away. */
  ttlSecurity?: number;
}

/** What the listener must know of a peer to admit its connections. */
export interface PeerSecurity {
  /** The peer's address in canonical form. */
  address: string;
  password?: string;
  ttlSecurity?: number;
}

export interface ListenerSecurity {
  /** Peer address → TCP-MD5 key, on the socket before it listens. */
  keys: { peer: string; key: string }[];
  /** Some peer uses GTSM. */
  gtsm: boolean;
}

export interface BgpListener {
  /** The port actually listened on (useful with port 0). */
  readonly port: number | undefined;
  /** Sets a peer's TCP-MD5 key on the listener, or removes it with key "". Throws when it cannot. */
  setKey(peer: string, key: string): void;
  /** Turns on what GTSM needs on the listener (some peer now has `ttlSecurity`). Throws when it cannot. */
  enableGtsm(): void;
  /**
   * Checks and secures an accepted connection from `peer` before anything is read from it
   * (GTSM hop check, TCP-MD5 key); returns why it is refused, or undefined.
   */
  admit(stream: ByteStream, peer: PeerSecurity): string | undefined;
  close(): Promise<void>;
}

export interface BgpNetwork {
  /**
   * Starts an outbound connection; `onConnected` when its handshake is done. Throws (BgpError)
   * when the connection cannot even be attempted; later failures are an error and a close.
   */
  connect(req: ConnectRequest, onConnected: () => void): ByteStream;
  /** Listens at `at`; each accepted connection goes to `onInbound`. */
  listen(
    at: { address: string; port: number },
    security: ListenerSecurity,
    onInbound: (s: ByteStream) => void,
    onError: (err: Error) => void,
  ): Promise<BgpListener>;
}
