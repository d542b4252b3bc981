/**
 * Test support: a BGP peer scripted message by message over a raw TCP socket, using tabby's own
 * codec, for driving a Speaker through exact sequences (RFC 4724 restarts, RFC 7606 malformed
 * input). Not used by tabby itself.
 */
import * as net from "node:net";
import { BgpFramer } from "./wire/framer.js";
import { decodeMessage, encodeMessage, type BgpMessage } from "./wire/messages.js";
import type { OpenMessage } from "./wire/open.js";

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

  async establish(open: OpenMessage): Promise<void> {
    this.send(open);
    this.send({ type: "keepalive" });
    await waitFor("OPEN + KEEPALIVE from the speaker", () => this.got.some((m) => m.type === "open") && this.got.some((m) => m.type === "keepalive"));
  }

  notification(): { code: number; subcode: number } | undefined {
    const n = this.got.find((m) => m.type === "notification");
    return n?.type === "notification" ? { code: n.code, subcode: n.subcode } : undefined;
  }
}
