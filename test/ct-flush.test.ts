/**
 * Felix's conntrack cleanup for a released workload address (src/flows/ct-flush.ts, the nft
 * driver's onReleased, src/dataplane/nft/released.ts) in real namespaces: a host programmed by
 * the nft driver, workload a (the peer), workload b1 at address X, bystander c. With TCP flows
 * to b1 (IPv4 and IPv6), from b1 to a, and from a to c established, b1 goes away as the CNI
 * plugin and the datastore would remove it (its veth, then its endpoint): the entries of X are
 * gone from the host's conntrack table (read back through a dump) and c's is kept. A new
 * workload b2 then gets X, with a policy that admits only port 81: the old flows' packets in
 * either direction do not reach it (without the flush, a's packets on the flow b1 opened would:
 * the reply direction of a connection not yet judged again passes), while a new connection to
 * its port 81 does. Then the kernel-independent fallback (a dump and one delete per entry).
 * Run as root: node --test dist/test/ct-flush.test.js
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { ConntrackFlusher, ReleasedAddressFlush } from "../src/flows/ct-flush.js";
import type { CtEntry } from "../src/flows/ctnetlink.js";
import { minimalConfig } from "../src/testkit/dataplane/nft/fixtures.js";
import { plumbWorkload } from "./workload-plumbing.js";
import type { EndpointDirectionPolicy, PolicyDataplaneEvent, WorkloadEndpointUpdate } from "../src/calc/policy-output.js";

const P = `ttcf${process.pid}`;
const H = `${P}h`;
const W = { a: `${P}a`, b1: `${P}b1`, b2: `${P}b2`, c: `${P}c` } as const;
type Wl = keyof typeof W;
const IF: Record<Wl, string> = { a: "tab000000cf00a", b1: "tab000000cf0b1", b2: "tab000000cf0b2", c: "tab000000cf00c" };
const V4 = { a: "10.67.0.1", x: "10.67.0.2", c: "10.67.0.3" } as const;
const V6 = { a: "fd00:67::1", x: "fd00:67::2", c: "fd00:67::3" } as const;
const ADDR: Record<Wl, [string, string]> = { a: [V4.a, V6.a], b1: [V4.x, V6.x], b2: [V4.x, V6.x], c: [V4.c, V6.c] };
const TOOL = fileURLToPath(new URL("./nft-netns.js", import.meta.url));

const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
const inNs = (ns: string, ...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
const children: ChildProcess[] = [];
const canRun = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0;
const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
const errors: string[] = [];
const released = new ReleasedAddressFlush({
  netns: `/run/netns/${H}`,
  log: (level, msg, fields) => void logs.push({ level, msg, ...(fields ? { fields } : {}) }),
  noteError: (m) => void errors.push(m),
});
const dp = new NftDataplane(new ExecRunner(), { netns: H, onReleased: released.run });
let table: ConntrackFlusher | undefined;

/** A process in a namespace whose stdout lines are kept, to wait for. */
class Proc {
  readonly seen: string[] = [];
  private waiter: (() => void) | undefined;
  readonly proc: ChildProcess;
  constructor(ns: string, args: string[]) {
    this.proc = spawn("ip", ["netns", "exec", ns, process.execPath, ...args], { stdio: ["pipe", "pipe", "inherit"] });
    children.push(this.proc);
    createInterface({ input: this.proc.stdout! }).on("line", (l) => {
      this.seen.push(l);
      this.waiter?.();
    });
  }
  async waitFor(line: string, ms = 3000): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.seen.includes(line)) {
      const left = until - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => (clearTimeout(t), resolve());
      });
    }
    return true;
  }
  send(line: string): void {
    this.proc.stdin!.write(line + "\n");
  }
  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

/** In a: a server on port 90 that writes each stdin line to every connection it holds (prints READY, then PUSHED n). */
const PUSH_SERVER = `
const net = require("node:net");
const socks = new Set();
net.createServer((s) => { socks.add(s); s.on("error", () => {}); s.on("close", () => socks.delete(s)); })
  .listen({ port: 90, host: "::", ipv6Only: false }, () => console.log("READY"));
require("node:readline").createInterface({ input: process.stdin }).on("line", (l) => {
  for (const s of socks) s.write(l + "\\n");
  console.log("PUSHED " + socks.size);
});`;

const OPEN: EndpointDirectionPolicy = { tiers: [], profiles: ["pro/open"] };
const ONLY_81: EndpointDirectionPolicy = { tiers: [{ name: "default", defaultAction: "deny", policies: ["np/t/allow-81"] }], profiles: ["pro/open"] };
function wep(k: Wl, ingress: EndpointDirectionPolicy = OPEN): WorkloadEndpointUpdate {
  return {
    kind: "workload-endpoint-update",
    id: `wep/${k}`,
    iface: IF[k],
    addrs: [`${ADDR[k][0]}/32`, `${ADDR[k][1]}/128`],
    allowSpoofedSources: [],
    ingress,
    egress: OPEN,
  };
}
const BASE: PolicyDataplaneEvent[] = [
  minimalConfig(),
  { kind: "policy-update", id: "pro/open", ingress: [{ id: "o", action: "allow", match: {} }], egress: [{ id: "o", action: "allow", match: {} }] },
  {
    kind: "policy-update",
    id: "np/t/allow-81",
    ingress: [{ id: "r", action: "allow", match: { protocol: 6, dstPorts: [{ first: 81, last: 81 }] } }],
    egress: [],
  },
  wep("a"),
  wep("b1"),
  wep("c"),
  { kind: "in-sync" },
];

function addNs(ns: string): void {
  execFileSync("ip", ["netns", "add", ns]);
  inNs(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
  ip(ns, "link", "set", "lo", "up");
}

before(async () => {
  if (!canRun) return;
  for (const ns of [H, W.a, W.b1, W.c]) addNs(ns);
  inNs(H, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
  // A default route, so that proxy ARP answers for the workloads' gateway 169.254.1.1.
  ip(H, "link", "add", "up0", "type", "veth", "peer", "name", "up1");
  ip(H, "link", "set", "up0", "up");
  ip(H, "addr", "add", "192.168.251.1/24", "dev", "up0");
  ip(H, "route", "add", "default", "via", "192.168.251.2");
  for (const k of ["a", "b1", "c"] as const) plumbWorkload(H, W[k], IF[k], ADDR[k][0], ADDR[k][1]);
  table = await ConntrackFlusher.open({ netns: `/run/netns/${H}` });
});

after(async () => {
  for (const c of children) if (c.pid && c.exitCode === null) c.kill("SIGKILL");
  table?.close();
  await released.close();
  for (const ns of [...Object.values(W), H]) {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      /* not made, or already gone */
    }
  }
});

const touches = (e: CtEntry, addrs: readonly string[]) => [e.src, e.dst, e.replySrc, e.replyDst].some((a) => a !== undefined && addrs.includes(a));

test("a released address's conntrack entries are deleted; its new owner gets none of the old flows' packets", { skip: !canRun }, async () => {
  await dp.apply(BASE);
  const servers = [new Proc(W.b1, [TOOL, "serve", "80"]), new Proc(W.c, [TOOL, "serve", "80"]), new Proc(W.a, ["-e", PUSH_SERVER])];
  for (const s of servers) assert.ok(await s.waitFor("READY"), "server up");
  const push = servers[2]!;
  // to b1 over both families, from b1 to a, from a to the bystander c
  const toB4 = new Proc(W.a, [TOOL, "hold", V4.x, "80"]);
  const toB6 = new Proc(W.a, [TOOL, "hold", V6.x, "80"]);
  const fromB = new Proc(W.b1, [TOOL, "hold", V4.a, "90"]);
  const toC = new Proc(W.a, [TOOL, "hold", V4.c, "80"]);
  for (const p of [toB4, toB6, fromB, toC]) assert.ok(await p.waitFor("CONNECTED"), "connected");
  for (const p of [toB4, toB6, toC]) {
    p.send("one");
    assert.ok(await p.waitFor("ECHO one"), "echoed");
  }
  push.send("hello");
  assert.ok(await fromB.waitFor("ECHO hello"), "a's server reaches b1 on the flow b1 opened");

  const x = [V4.x, V6.x];
  const before = table!.dump();
  const ofX = before.filter((e) => e.protocol === 6 && touches(e, x));
  assert.equal(ofX.length, 3, JSON.stringify(ofX));
  const ofC = before.find((e) => e.protocol === 6 && e.dst === V4.c && e.dstPort === 80);
  assert.ok(ofC, "the bystander's flow is tracked");

  // b1 goes as the CNI plugin and the datastore remove it: its veth (and route), then its endpoint.
  ip(H, "link", "del", IF.b1);
  for (const p of [servers[0]!, fromB]) p.kill();
  await dp.apply([{ kind: "workload-endpoint-remove", id: "wep/b1", iface: IF.b1 }]);
  assert.deepEqual(errors, []);
  assert.ok(
    logs.some((l) => l.msg.startsWith("deleted the conntrack entries") && l.fields?.["method"] === "filter"),
    JSON.stringify(logs),
  );
  const afterRemoval = table!.dump();
  const ids = new Set(afterRemoval.map((e) => e.id));
  assert.deepEqual(
    ofX.filter((e) => ids.has(e.id)),
    [],
    "the old flows' entries are gone",
  );
  assert.ok(ids.has(ofC.id), "the bystander's entry is kept");
  toC.send("two");
  assert.ok(await toC.waitFor("ECHO two"), "the bystander's flow goes on");

  // b2 gets X; only its port 81 is open. What reaches it is counted inside it.
  addNs(W.b2);
  plumbWorkload(H, W.b2, IF.b2, V4.x, V6.x);
  execFileSync("ip", ["netns", "exec", W.b2, "nft", "-f", "-"], {
    input: "table inet cnt {\n chain in {\n type filter hook input priority 0;\n tcp sport 90 counter\n tcp dport 80 counter\n }\n}\n",
  });
  const counted = () => [...inNs(W.b2, "nft", "list", "chain", "inet", "cnt", "in").matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
  const srv81 = new Proc(W.b2, [TOOL, "serve", "81"]);
  assert.ok(await srv81.waitFor("READY"));
  await dp.apply([wep("b2", ONLY_81)]);
  // a's server writes on the flow b1 opened (its reply direction), a's clients on the flows to b1
  push.send("stale");
  assert.ok(await push.waitFor("PUSHED 1"));
  toB4.send("stale");
  toB6.send("stale");
  // a new connection to b2's open port, after those: once it is answered, they have been handled
  assert.equal(spawnSync("ip", ["netns", "exec", W.a, process.execPath, TOOL, "connect", V4.x, "81"]).status, 0, "b2's port 81 is reachable");
  assert.deepEqual(counted(), [0, 0], "no packet of the old flows reached b2");
  for (const p of [toB4, toB6, toC, srv81, push, servers[1]!]) p.kill();
});

test("on a kernel without filtered deletes: a dump and one delete per entry", { skip: !canRun }, async () => {
  const srv = new Proc(W.c, [TOOL, "serve", "82"]);
  assert.ok(await srv.waitFor("READY"));
  const held = new Proc(W.a, [TOOL, "hold", V6.c, "82"]);
  assert.ok(await held.waitFor("CONNECTED"));
  const mine = (e: CtEntry) => e.protocol === 6 && e.dst === V6.c && e.dstPort === 82;
  const live = table!.dump().find(mine);
  assert.ok(live);
  const fallback = await ConntrackFlusher.open({ netns: `/run/netns/${H}`, dumpOnly: true });
  try {
    const r = await fallback.flush([V6.c]);
    assert.equal(r.method, "dump");
    assert.ok(r.deletedOneByOne >= 1, JSON.stringify(r));
    assert.equal(
      table!.dump().find((e) => e.id === live.id),
      undefined,
      "deleted",
    );
    // nothing left to delete is no failure
    assert.deepEqual(await table!.flush(["10.67.0.99", "fd00:67::99"]), { deletedOneByOne: 0, method: "filter" });
  } finally {
    fallback.close();
    held.kill();
    srv.kill();
  }
});
