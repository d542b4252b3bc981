/**
 * Test support: a BGP peer scripted message by message over a raw connection (TCP, or the
 * in-memory network of memory-transport.ts), using tabby's own codec, for driving a Speaker
 * through exact sequences (RFC 4724 restarts, RFC 7606 malformed input), and a view of a speaker's
 * FIB changes. Not used by tabby itself.
 */
import { BgpFramer } from "../../bgp/wire/framer.js";
import { decodeMessage, encodeMessage, type BgpMessage } from "../../bgp/wire/messages.js";
import type { OpenMessage } from "../../bgp/wire/open.js";
import type { UpdateMessage } from "../../bgp/wire/update.js";
import { buildOpen } from "../../bgp/negotiate.js";
import { parsePrefix } from "../../net/prefix.js";
import { parseIP } from "../../net/ip.js";
import type { FibChange, Speaker } from "../../bgp/speaker.js";
import { connectSecured, type SecuredConnectOptions } from "../../bgp/md5.js";
import type { BgpNetwork, ByteStream } from "../../bgp/transport.js";
import { SocketStream, tcpNetwork } from "../../bgp/tcp-transport.js";
import { MemoryNetwork, settle, until } from "./memory-transport.js";
import { FakeClock } from "../../clock.js";

/** Waits until `cond` holds: `waitFor` (wall clock, for real sockets) or memory-transport's `until`. */
export type Waiter = (what: string, cond: () => boolean) => Promise<void>;

export async function waitFor(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The OPEN a scripted peer sends: IPv4 only, hold time 30, no ADD-PATH, with route refresh and
 * enhanced route refresh (`enhanced: false` leaves RFC 7313 out). `gr` adds graceful restart
 * (RFC 4724) keeping IPv4 forwarding, with the RFC 8538 N bit when `nBit`.
 */
export function peerOpen(routerId: string, asNumber: number, opts: { enhanced?: boolean; gr?: boolean; nBit?: boolean } = {}): OpenMessage {
  const o = buildOpen({ asNumber, routerId, holdTime: 30, families: ["ipv4"], addPath: 0 });
  if (opts.enhanced === false) o.capabilities = o.capabilities.filter((c) => c.code !== 70);
  if (opts.gr)
    o.capabilities.push({ code: 64, restarting: false, notification: !!opts.nBit, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] });
  return o;
}

/** An UPDATE announcing `prefixes` via `nextHop` (ORIGIN IGP, empty AS_PATH, LOCAL_PREF 100), plus `extra`. */
export function announce(nextHop: string, prefixes: string[], extra: Partial<UpdateMessage["attributes"]> = {}): UpdateMessage {
  return {
    type: "update",
    withdrawn: [],
    attributes: { origin: 0, asPath: [], nextHop: parseIP(nextHop), localPref: 100, ...extra },
    nlri: prefixes.map((p) => ({ prefix: parsePrefix(p), pathId: 0 })),
  };
}

export class ScriptedPeer {
  sock!: ByteStream;
  got: BgpMessage[] = [];
  /** Every message received, as bytes (also those the default codec options cannot decode). */
  raw: Uint8Array[] = [];
  closed = false;

  /** Over `network` (TCP by default), waiting with `wait`. */
  constructor(
    private readonly network: BgpNetwork = tcpNetwork,
    readonly wait: Waiter = waitFor,
  ) {}

  /**
   * Connects from `self`; `secured` puts TCP-MD5 and GTSM options on the socket before its SYN: over
   * TCP a socket made by hand (md5.ts, whose connect() is synchronous on loopback) even when empty.
   */
  async connect(self: string, to: string, port: number, secured?: SecuredConnectOptions): Promise<void> {
    let connected!: () => void;
    // settles on success only (a refused connection shows as `closed`)
    const up = new Promise<void>((r) => (connected = r));
    const req = {
      address: to,
      port,
      localAddress: self,
      ...(secured?.key ? { password: secured.key } : {}),
      ...(secured?.ttlSecurity ? { ttlSecurity: secured.ttlSecurity } : {}),
    };
    this.sock =
      secured && this.network === tcpNetwork
        ? new SocketStream(connectSecured(to, port, self, secured, () => connected()))
        : this.network.connect(req, () => connected());
    const framer = new BgpFramer();
    this.sock.onData((d) => {
      for (const f of framer.push(d)) {
        this.raw.push(f);
        let m: BgpMessage;
        try {
          m = decodeMessage(f);
        } catch {
          continue; // kept in `raw` only (a 2-byte-AS UPDATE, say)
        }
        this.got.push(m);
      }
    });
    this.sock.onClose(() => (this.closed = true));
    this.sock.onError(() => {});
    await up;
  }

  send(m: BgpMessage | Uint8Array): void {
    this.sock.write(m instanceof Uint8Array ? m : encodeMessage(m));
  }

  /** Sends our OPEN and a KEEPALIVE, waits for the speaker's, and returns the speaker's OPEN. */
  async establish(open: OpenMessage): Promise<OpenMessage> {
    this.send(open);
    this.send({ type: "keepalive" });
    await this.wait("OPEN + KEEPALIVE from the speaker", () => this.got.some((m) => m.type === "open") && this.got.some((m) => m.type === "keepalive"));
    return this.got.find((m): m is OpenMessage => m.type === "open")!;
  }

  updates(): UpdateMessage[] {
    return this.got.filter((m): m is UpdateMessage => m.type === "update");
  }

  /** Every prefix announced to us so far (classic and MP_REACH NLRI). */
  announced(): string[] {
    return this.updates().flatMap((u) => [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])].map((n) => n.prefix.toString()));
  }

  notification(): { code: number; subcode: number } | undefined {
    const n = this.got.find((m) => m.type === "notification");
    return n?.type === "notification" ? { code: n.code, subcode: n.subcode } : undefined;
  }
}

/** A live view of what a speaker hands its FIB listeners: prefix → next hops. */
export function fibOf(s: Speaker): Map<string, string[]> {
  const m = new Map<string, string[]>();
  s.onFibChange((cs: FibChange[]) => {
    for (const c of cs)
      if (c.nextHops.length) m.set(c.prefix, c.nextHops);
      else m.delete(c.prefix);
  });
  return m;
}

/**
 * An in-memory test bench: a MemoryNetwork, a FakeClock, a waiter that turns the event loop
 * (never the wall clock), and scripted peers on that network. Give the Speaker `clock` and
 * `network`.
 */
export function inMemory(): { network: MemoryNetwork; clock: FakeClock; wait: Waiter; settle: () => Promise<void>; peer: () => ScriptedPeer } {
  const network = new MemoryNetwork();
  const clock = new FakeClock();
  const wait: Waiter = (what, cond) => until(what, cond, clock);
  return { network, clock, wait, settle: () => settle(clock), peer: () => new ScriptedPeer(network, wait) };
}
