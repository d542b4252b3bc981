/**
 * The conntrack counter reader against a real kernel, in a namespace of the test's own: it turns
 * accounting on (and puts the sysctl back on stop), a dump shows a live TCP connection's counters
 * in both directions, and destroy events (after the test deletes the connection through
 * ctnetlink) give its final counters. The reader runs inside the namespace (a child process).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { run } from "./helpers.js";
import type { CtEntry } from "../src/flows/ctnetlink.js";

const NS = `tfct-${process.pid % 100000}`;
after(() => {
  try {
    execFileSync("ip", ["netns", "del", NS], { stdio: "ignore" });
  } catch {
    // not made
  }
});

const conntrack = fileURLToPath(new URL("../src/flows/conntrack.js", import.meta.url));
const libc = fileURLToPath(new URL("../src/dataplane/libc.js", import.meta.url));

/** In the namespace: the reader, a TCP exchange on loopback, a dump, a flush (IPCTNL_MSG_CT_DELETE), the events, the sysctl before and after stop. */
const SCRIPT = `
  import net from "node:net";
  import { readFileSync } from "node:fs";
  const { ConntrackReader, ACCT_SYSCTL } = await import(${JSON.stringify(conntrack)});
  const { loadLibc } = await import(${JSON.stringify(libc)});
  const acct = () => readFileSync(ACCT_SYSCTL, "utf8").trim();
  const before = acct();
  const r = new ConntrackReader();
  await r.start();
  const during = acct();
  const srv = net.createServer((s) => { s.on("data", (d) => s.write(d)); s.on("end", () => s.end()); }).listen(8080, "127.0.0.1");
  await new Promise((res) => srv.on("listening", res));
  const c = net.connect({ port: 8080, host: "127.0.0.1" });
  await new Promise((res) => c.on("connect", res));
  const port = c.localPort;
  c.write(Buffer.alloc(1000, 1));
  let got = 0;
  await new Promise((res) => c.on("data", (d) => { got += d.length; if (got >= 1000) res(); }));
  let dump;
  for (let i = 0; i < 100 && !dump; i++) { dump = r.readDump(); if (!dump) await new Promise((res) => setTimeout(res, 10)); }
  c.end();
  await new Promise((res) => c.on("close", res));
  srv.close();
  const c2 = await loadLibc();
  const fd = c2.socket(16, 3, 12);
  const flush = Buffer.alloc(20);
  flush.writeUInt32LE(20, 0); flush.writeUInt16LE(0x0102, 4); flush.writeUInt16LE(5, 6); flush[16] = 2;
  c2.send(fd, flush, 20, 0);
  let events = [];
  for (let i = 0; i < 50 && !events.length; i++) { await new Promise((res) => setTimeout(res, 20)); events = r.drainEvents(); }
  r.stop();
  process.stdout.write(JSON.stringify({ before, during, after: acct(), port, dump, events }));
`;

test("conntrack reader: accounting on and put back, a dump's counters, destroy events' final counters", async () => {
  execFileSync("ip", ["netns", "add", NS]);
  execFileSync("ip", ["-n", NS, "link", "set", "lo", "up"]);
  // conntrack runs in a namespace once a rule there uses it
  execFileSync("ip", ["netns", "exec", NS, "nft", "add table inet t { chain c { type filter hook input priority 0; ct state established accept; }; }"]);
  const r = await run("ip", ["netns", "exec", NS, process.execPath, "--input-type=module", "-e", SCRIPT]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { before: string; during: string; after: string; port: number; dump: CtEntry[]; events: CtEntry[] };
  assert.deepEqual([out.before, out.during, out.after], ["0", "1", "0"]);
  const mine = (e: CtEntry) => e.protocol === 6 && e.src === "127.0.0.1" && e.dstPort === 8080 && e.srcPort === out.port;
  const live = out.dump.find(mine);
  assert.ok(live && !live.destroyed, JSON.stringify(out.dump));
  // 1000 bytes each way at least, in several packets (handshake, data, ACKs)
  assert.ok(live.orig!.bytes >= 1000 && live.reply!.bytes >= 1000 && live.orig!.packets >= 3 && live.reply!.packets >= 2, JSON.stringify(live));
  const ended = out.events.find(mine);
  assert.ok(ended?.destroyed, JSON.stringify(out.events));
  assert.equal(ended.id, live.id);
  assert.ok(ended.orig!.packets >= live.orig!.packets && ended.orig!.bytes >= live.orig!.bytes, "final counters include the close");
});
