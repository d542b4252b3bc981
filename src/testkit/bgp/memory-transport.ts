/**
 * Test support: an in-memory BgpNetwork (transport.ts), so speakers and scripted peers talk
 * without loopback TCP. Each connection is a pair of ByteStreams; bytes, ends and closes reach the
 * other side in a later microtask (never inside the writer's call, as with a socket), in order.
 * Listeners are keyed by address and port; a connection to no listener fails with ECONNREFUSED.
 * TCP-MD5 is modelled as "both ends carry the same key" (a listener refuses a mismatch, as the
 * kernel drops unsigned segments); GTSM always holds (every peer is one hop away). `stall` backs a
 * stream up (what is written meanwhile is held, as in a socket's buffer, and arrives on `resume`)
 * so back-pressure and the send hold timer (RFC 9687) can be driven; `writes` counts the writes
 * on an end. Not used by tabby itself.
 */
import { parseIP } from "../../net/ip.js";
import type { BgpListener, BgpNetwork, ByteStream, ConnectRequest, ListenerSecurity, PeerSecurity } from "../../bgp/transport.js";

export class MemoryStream implements ByteStream {
  other!: MemoryStream;
  destroyed = false;
  connecting = true;
  /** The TCP-MD5 key this end signs with (ConnectRequest.password or the listener's key). */
  key: string | undefined;
  /** write() calls that queued bytes (each is one send on a socket). */
  writes = 0;
  private ended = false;
  private stalled = false;
  /** Written while stalled, delivered on resume. */
  private held: Uint8Array[] = [];
  private readonly data: ((chunk: Uint8Array) => void)[] = [];
  private readonly closes: (() => void)[] = [];
  private readonly errors: ((err: Error) => void)[] = [];
  private drains: (() => void)[] = [];

  constructor(
    readonly localAddress: string | undefined,
    readonly remoteAddress: string | undefined,
  ) {}

  write(bytes: Uint8Array): boolean {
    if (this.destroyed || this.ended) return false;
    const copy = bytes.slice();
    this.writes++;
    if (this.stalled) {
      this.held.push(copy);
      return false;
    }
    queueMicrotask(() => this.other.receive(copy));
    return true;
  }
  cork(): void {}
  uncork(): void {}
  end(then?: () => void): void {
    if (this.destroyed || this.ended) return;
    this.ended = true;
    queueMicrotask(() => {
      then?.();
      // the other side (no half-open connections, as Node's default) closes both ends
      this.other.destroy();
      this.destroy();
    });
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.connecting = false;
    queueMicrotask(() => {
      for (const f of this.closes) f();
      this.other.destroy();
    });
  }
  onData(fn: (chunk: Uint8Array) => void): void {
    this.data.push(fn);
  }
  onClose(fn: () => void): void {
    this.closes.push(fn);
  }
  onError(fn: (err: Error) => void): void {
    this.errors.push(fn);
  }
  onceDrain(fn: () => void): void {
    this.drains.push(fn);
  }

  /** The other end stops reading: writes on this end report backpressure (and are not delivered) until `resume`. */
  stall(): void {
    this.stalled = true;
  }
  /** Reading again: what was held arrives, in order, then the stream drains and later writes go through. */
  resume(): void {
    this.stalled = false;
    const d = this.drains;
    this.drains = [];
    const held = this.held;
    this.held = [];
    queueMicrotask(() => {
      for (const b of held) this.other.receive(b);
      for (const f of d) f();
    });
  }

  /** Fails the connection as a socket error would: error, then close. */
  fail(err: Error): void {
    if (this.destroyed) return;
    queueMicrotask(() => {
      for (const f of this.errors) f(err);
    });
    this.destroy();
  }

  private receive(chunk: Uint8Array): void {
    if (this.destroyed) return;
    for (const f of this.data) f(chunk);
  }
}

class MemoryListener implements BgpListener {
  readonly keys = new Map<string, string>();
  gtsm: boolean;
  closed = false;

  constructor(
    readonly port: number,
    sec: ListenerSecurity,
    readonly onInbound: (s: ByteStream) => void,
  ) {
    for (const k of sec.keys) this.keys.set(k.peer, k.key);
    this.gtsm = sec.gtsm;
  }
  setKey(peer: string, key: string): void {
    if (key === "") this.keys.delete(peer);
    else this.keys.set(peer, key);
  }
  enableGtsm(): void {
    this.gtsm = true;
  }
  admit(stream: ByteStream, peer: PeerSecurity): string | undefined {
    const theirs = (stream as MemoryStream).other.key;
    if ((peer.password ?? undefined) !== theirs) return "TCP-MD5: the connection is not signed with the peer's key";
    if (peer.password) (stream as MemoryStream).key = peer.password;
    return undefined;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function canon(a: string): string {
  return parseIP(a).toString();
}

/** One in-memory network: listeners and connections between addresses. */
export class MemoryNetwork implements BgpNetwork {
  private readonly listeners = new Map<string, MemoryListener>();
  private nextPort = 40000;

  connect(req: ConnectRequest, onConnected: () => void): ByteStream {
    const local = req.localAddress ?? (parseIP(req.address).family === 4 ? "127.0.0.1" : "::1");
    const client = new MemoryStream(local, req.address);
    const server = new MemoryStream(req.address, local);
    client.other = server;
    server.other = client;
    if (req.password) client.key = req.password;
    const l = this.listeners.get(`${canon(req.address)}|${req.port}`) ?? this.listeners.get(`any|${req.port}`);
    queueMicrotask(() => {
      if (client.destroyed) return;
      if (!l || l.closed) {
        client.fail(Object.assign(new Error(`connect ECONNREFUSED ${req.address}:${req.port}`), { code: "ECONNREFUSED" }));
        return;
      }
      client.connecting = false;
      server.connecting = false;
      onConnected();
      l.onInbound(server);
    });
    return client;
  }

  async listen(
    at: { address: string; port: number },
    security: ListenerSecurity,
    onInbound: (s: ByteStream) => void,
    _onError?: (err: Error) => void,
  ): Promise<BgpListener> {
    const port = at.port === 0 ? this.nextPort++ : at.port;
    const any = at.address === "0.0.0.0" || at.address === "::";
    const key = `${any ? "any" : canon(at.address)}|${port}`;
    const have = this.listeners.get(key);
    if (have && !have.closed) throw Object.assign(new Error(`listen EADDRINUSE ${at.address}:${port}`), { code: "EADDRINUSE" });
    const l = new MemoryListener(port, security, onInbound);
    this.listeners.set(key, l);
    return l;
  }
}

/** Turns of the event loop a wait may take before it gives up (each turn is microseconds). */
const MAX_TURNS = 20_000;

/**
 * Lets in-memory traffic and the clock's `soon` work run until `cond` holds: event-loop turns
 * (microtasks and setImmediate), never wall-clock time; `clock` is a FakeClock whose queued
 * `soon` callbacks run each turn (its timers only move with `advance`).
 */
export async function until(what: string, cond: () => boolean, clock?: { runSoon(): number }): Promise<void> {
  for (let i = 0; i < MAX_TURNS; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
    clock?.runSoon();
  }
  throw new Error(`never happened (in ${MAX_TURNS} turns): ${what}`);
}

/** Runs until nothing is left to do: no bytes in flight and no `soon` work (a few idle turns). */
export async function settle(clock?: { runSoon(): number }): Promise<void> {
  for (let idle = 0; idle < 5; ) {
    await new Promise((r) => setImmediate(r));
    idle = clock && clock.runSoon() > 0 ? 0 : idle + 1;
  }
}
