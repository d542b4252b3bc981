/**
 * Test support: a BGP peer scripted message by message over a raw TCP socket, using tabby's own
 * codec, for driving a Speaker through exact sequences (RFC 4724 restarts, RFC 7606 malformed
 * input), and a view of a speaker's FIB changes. Not used by tabby itself.
 */
import * as net from "node:net";
import { BgpFramer } from "./wire/framer.js";
import { decodeMessage, encodeMessage, type BgpMessage } from "./wire/messages.js";
import type { OpenMessage } from "./wire/open.js";
import type { UpdateMessage } from "./wire/update.js";
import type { FibChange, Speaker } from "./speaker.js";

export async function waitFor(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class ScriptedPeer {
  sock!: net.Socket;
  got: BgpMessage[] = [];
  closed = false;

  async connect(self: string, to: string, port: number): Promise<void> {
    this.sock = net.connect({ host: to, port, localAddress: self });
    const framer = new BgpFramer();
    this.sock.on("data", (d) => {
      for (const f of framer.push(d)) this.got.push(decodeMessage(f));
    });
    this.sock.on("close", () => (this.closed = true));
    this.sock.on("error", () => {});
    await new Promise((r) => this.sock.once("connect", r));
  }

  send(m: BgpMessage | Uint8Array): void {
    this.sock.write(m instanceof Uint8Array ? m : encodeMessage(m));
  }

  /** Sends our OPEN and a KEEPALIVE, waits for the speaker's, and returns the speaker's OPEN. */
  async establish(open: OpenMessage): Promise<OpenMessage> {
    this.send(open);
    this.send({ type: "keepalive" });
    await waitFor("OPEN + KEEPALIVE from the speaker", () => this.got.some((m) => m.type === "open") && this.got.some((m) => m.type === "keepalive"));
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
    for (const c of cs) if (c.nextHops.length) m.set(c.prefix, c.nextHops);
    else m.delete(c.prefix);
  });
  return m;
}
