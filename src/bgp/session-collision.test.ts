// Connection collision (RFC 4271 §6.8) against a scripted peer that both accepts the speaker's
// connection and opens its own: the connection initiated by the higher BGP Identifier survives,
// the other is closed with Cease 6/7.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { Speaker } from "./speaker.js";
import { BgpFramer } from "./wire/framer.js";
import { decodeMessage, encodeMessage, type BgpMessage } from "./wire/messages.js";
import { buildOpen } from "./negotiate.js";

const PORT = 20000 + (process.pid % 1000);
const AS = 64512;

async function waitFor(what: string, cond: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Wire {
  sock: net.Socket;
  got: BgpMessage[];
  closed: boolean;
}

function wrap(sock: net.Socket): Wire {
  const w: Wire = { sock, got: [], closed: false };
  const f = new BgpFramer();
  sock.on("data", (d) => {
    for (const m of f.push(d)) w.got.push(decodeMessage(m));
  });
  sock.on("close", () => (w.closed = true));
  sock.on("error", () => {});
  return w;
}

for (const peerWins of [true, false]) {
  test(`collision: the ${peerWins ? "peer's" : "speaker's"} connection survives`, async () => {
    const self = peerWins ? "127.0.0.66" : "127.0.0.68";
    const peer = peerWins ? "127.0.0.67" : "127.0.0.69";
    const peerId = peerWins ? "10.0.0.99" : "10.0.0.1";
    const sp = new Speaker({ routerId: "10.0.0.50", asNumber: AS, listen: { address: self, port: PORT } });
    sp.setPeers([{ address: peer, asNumber: AS, port: PORT, localAddress: self, holdTime: 30, connectRetry: 30 }]);
    // the scripted peer accepts the speaker's connection...
    let accepted: Wire | undefined;
    const server = net.createServer((s) => (accepted = wrap(s)));
    await new Promise<void>((r) => server.listen(PORT, peer, () => r()));
    const open = encodeMessage(buildOpen({ asNumber: AS, routerId: peerId, holdTime: 30, families: ["ipv4"], addPath: 0 }));
    try {
      await sp.start();
      await waitFor("speaker's OPEN on its outbound connection", () => !!accepted?.got.some((m) => m.type === "open"));
      // ...and opens its own before answering
      const own = wrap(net.connect({ host: self, port: PORT, localAddress: peer }));
      await new Promise((r) => own.sock.once("connect", r));
      await waitFor("speaker's OPEN on the inbound connection", () => own.got.some((m) => m.type === "open"));
      accepted!.sock.write(open);
      own.sock.write(open);
      const [keep, drop] = peerWins ? [own, accepted!] : [accepted!, own];
      await waitFor("Cease 6/7 on the losing connection", () => drop.got.some((m) => m.type === "notification"));
      const n = drop.got.find((m) => m.type === "notification");
      assert.deepEqual(n && n.type === "notification" ? [n.code, n.subcode] : [], [6, 7]);
      await waitFor("KEEPALIVE on the surviving connection", () => keep.got.some((m) => m.type === "keepalive"));
      keep.sock.write(encodeMessage({ type: "keepalive" }));
      await waitFor("established", () => sp.peerStatus()[0]!.established);
      await waitFor("loser closed", () => drop.closed);
      assert.ok(!keep.closed);
      keep.sock.destroy();
    } finally {
      await sp.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
}
