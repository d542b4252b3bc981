/**
 * One BFD session for test/bfd-worker-stall.test.ts, run in the namespace it is started in:
 * MODE is "worker" (BfdWorker: the service in its own thread, as `tabby node run` and `tabby bgp
 * run` run it) or "thread" (BfdService on this main thread, as before). Watches PEER from LOCAL at
 * 100 ms × 3 and prints JSON lines on stdout: {"down": reason} for each onDown, {"log": ...} for
 * the service's state lines, {"status": [...]} when asked. Reads commands on stdin, one a line:
 * "status", and "block MS", which keeps this main thread in a synchronous busy loop for MS ms
 * (then prints {"unblocked": MS}). SIGTERM closes the service and exits.
 * Usage: bfd-stall-peer.js MODE PEER LOCAL
 */
import { createInterface } from "node:readline";
import { BfdService } from "../src/bfd/service.js";
import { UdpTransport } from "../src/bfd/udp.js";
import { BfdWorker } from "../src/bfd/worker-client.js";

const [mode, peer, local] = process.argv.slice(2);
const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const log = (_level: string, msg: string, fields?: Record<string, unknown>) => {
  if (msg === "bfd session state" || msg.includes("worker")) out({ log: msg, ...fields });
};
const bfd = mode === "worker" ? new BfdWorker({ log }) : new BfdService(new UdpTransport({ log }), { log });
bfd.watch(peer!, local, { minRx: 100, minTx: 100, multiplier: 3 }, (reason) => out({ down: reason }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "status") out({ status: bfd.status() });
  else if (cmd === "block") {
    const ms = Number(arg);
    const end = Date.now() + ms;
    let spin = 0;
    while (Date.now() < end) spin++; // a main thread that cannot run its event loop
    out({ unblocked: ms, spin: spin > 0 });
  }
});
process.once("SIGTERM", () => {
  void bfd.close().then(() => process.exit(0));
});
out({ ready: mode });
