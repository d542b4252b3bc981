/**
 * The fast path for established forwarded traffic (src/dataplane/nft/fastpath.ts, issue #15) in
 * real namespaces: a held TCP connection between two workloads keeps working across changes
 * that still allow it; a new policy that denies it cuts it at its next packet (both ways) and new
 * connections are refused; allowed again, it resumes (TCP retransmits); an endpoint removed
 * mid-flow stops receiving; and a packet that copies an established flow's tuple from another
 * workload's interface (a spoofed source) is still dropped, because anti-spoofing runs in raw
 * prerouting on every packet, before conntrack and the fast path.
 * Run as root: node --test dist/test/nft-fastpath.test.js
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface, type Interface } from "node:readline";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { minimalConfig } from "../src/testkit/dataplane/nft/fixtures.js";
import { plumbWorkload } from "./workload-plumbing.js";
import type { EndpointDirectionPolicy, PolicyDataplaneEvent, WorkloadEndpointUpdate } from "../src/calc/policy-output.js";

const P = `ttfp${process.pid}`;
const H = `${P}h`;
const W = { a: `${P}a`, b: `${P}b`, c: `${P}c` } as const;
const IF = { a: "tab000000fp00a", b: "tab000000fp00b", c: "tab000000fp00c" } as const;
const V4 = { a: "10.66.0.1", b: "10.66.0.2", c: "10.66.0.3" } as const;
const V6 = { a: "fd00:66::1", b: "fd00:66::2", c: "fd00:66::3" } as const;
const TOOL = fileURLToPath(new URL("./nft-netns.js", import.meta.url));

const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
const inNs = (ns: string, ...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
const children: ChildProcess[] = [];
const canRun = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0;

before(async () => {
  if (!canRun) return;
  for (const ns of [H, ...Object.values(W)]) {
    execFileSync("ip", ["netns", "add", ns]);
    inNs(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    ip(ns, "link", "set", "lo", "up");
  }
  inNs(H, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
  // A default route, so that proxy ARP answers for the workloads' gateway 169.254.1.1.
  ip(H, "link", "add", "up0", "type", "veth", "peer", "name", "up1");
  ip(H, "link", "set", "up0", "up");
  ip(H, "addr", "add", "192.168.252.1/24", "dev", "up0");
  ip(H, "route", "add", "default", "via", "192.168.252.2");
  for (const k of ["a", "b", "c"] as const) plumbWorkload(H, W[k], IF[k], V4[k], V6[k]);
  for (const k of ["b", "c"] as const) {
    const srv = spawn("ip", ["netns", "exec", W[k], process.execPath, TOOL, "serve", "80", "81"], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(srv);
    await new Promise<void>((resolve) => createInterface({ input: srv.stdout! }).once("line", () => resolve()));
  }
});

after(() => {
  for (const c of children) if (c.pid && c.exitCode === null) c.kill();
  for (const ns of [...Object.values(W), H]) {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
});

const OPEN: EndpointDirectionPolicy = { tiers: [], profiles: ["pro/open"] };
function wep(k: keyof typeof W, ingress: EndpointDirectionPolicy = OPEN): WorkloadEndpointUpdate {
  return {
    kind: "workload-endpoint-update",
    id: `wep/${k}`,
    iface: IF[k],
    addrs: [`${V4[k]}/32`, `${V6[k]}/128`],
    allowSpoofedSources: [],
    ingress,
    egress: OPEN,
  };
}
const ONLY_81: EndpointDirectionPolicy = { tiers: [{ name: "default", defaultAction: "deny", policies: ["np/t/allow-81"] }], profiles: ["pro/open"] };
const ALSO_80: EndpointDirectionPolicy = {
  tiers: [{ name: "default", defaultAction: "deny", policies: ["np/t/allow-81", "np/t/allow-80"] }],
  profiles: ["pro/open"],
};
const port = (p: number) => ({ protocol: 6, dstPorts: [{ first: p, last: p }] });
const BASE: PolicyDataplaneEvent[] = [
  minimalConfig(),
  { kind: "policy-update", id: "pro/open", ingress: [{ id: "o", action: "allow", match: {} }], egress: [{ id: "o", action: "allow", match: {} }] },
  { kind: "policy-update", id: "np/t/allow-81", ingress: [{ id: "r", action: "allow", match: port(81) }], egress: [] },
  { kind: "policy-update", id: "np/t/allow-80", ingress: [{ id: "r", action: "allow", match: port(80) }], egress: [] },
  wep("a"),
  wep("b"),
  wep("c"),
  { kind: "in-sync" },
];

const dp = new NftDataplane(new ExecRunner(), { netns: H });

function tcp(from: keyof typeof W, host: string, p: number): boolean {
  const ok = () => spawnSync("ip", ["netns", "exec", W[from], process.execPath, TOOL, "connect", host, String(p)]).status === 0;
  return ok() || ok();
}

/** A held TCP connection: send a line, wait (up to `ms`) for its echo. */
class Held {
  private readonly lines: Interface;
  private readonly seen: string[] = [];
  private waiter: (() => void) | undefined;
  constructor(from: keyof typeof W, host: string, p: number) {
    const c = spawn("ip", ["netns", "exec", W[from], process.execPath, TOOL, "hold", host, String(p)], { stdio: ["pipe", "pipe", "inherit"] });
    children.push(c);
    this.proc = c;
    this.lines = createInterface({ input: c.stdout! });
    this.lines.on("line", (l) => {
      this.seen.push(l);
      this.waiter?.();
    });
  }
  readonly proc: ChildProcess;
  async waitFor(line: string, ms: number): Promise<boolean> {
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
  async echo(word: string, ms = 3000): Promise<boolean> {
    this.proc.stdin!.write(word + "\n");
    return this.waitFor(`ECHO ${word}`, ms);
  }
  close(): void {
    this.proc.kill();
  }
}

test("a held flow keeps working through the fast path across changes that still allow it", { skip: !canRun }, async () => {
  await dp.apply(BASE);
  const h = new Held("a", V6.b, 80);
  try {
    assert.ok(await h.waitFor("CONNECTED", 3000));
    assert.ok(await h.echo("one"));
    const e0 = dp.epoch;
    // A new policy in front of b that still allows port 80: the connection is judged again
    // under the new epoch and goes on.
    await dp.apply([wep("b", ALSO_80)]);
    assert.notEqual(dp.epoch, e0, "a change moves the policy epoch on");
    assert.ok(await h.echo("two"), "still allowed: not interrupted");
    assert.ok(await h.echo("three"));
  } finally {
    h.close();
  }
});

test("a new policy that denies a held flow cuts it (both ways); allowed again, it resumes", { skip: !canRun }, async () => {
  await dp.apply([wep("b")]);
  const h = new Held("a", V4.b, 80);
  try {
    assert.ok(await h.waitFor("CONNECTED", 3000));
    assert.ok(await h.echo("before"));
    await dp.apply([wep("b", ONLY_81)]);
    assert.ok(!(await h.echo("cut", 1500)), "the established flow is cut by the policy that denies it");
    assert.ok(!tcp("a", V4.b, 80), "new connections to 80 refused");
    assert.ok(tcp("a", V4.b, 81), "81 still allowed");
    await dp.apply([wep("b", ALSO_80)]);
    // TCP retransmits "cut" (backing off: the first retries fell in the denied window).
    assert.ok(await h.waitFor("ECHO cut", 30000), "allowed again: the held flow resumes");
    assert.ok(await h.echo("after"));
  } finally {
    h.close();
  }
});

test("an endpoint removed mid-flow stops receiving", { skip: !canRun }, async () => {
  await dp.apply([wep("b"), wep("c")]);
  // What reaches c's port 80, counted inside c (its replies alone would be stopped anyway: the
  // removed endpoint's addresses leave the anti-spoofing set).
  execFileSync("ip", ["netns", "exec", W.c, "nft", "-f", "-"], {
    input: "table inet cnt {\n chain in {\n type filter hook input priority 0;\n tcp dport 80 counter\n }\n}\n",
  });
  const received = () => Number(/counter packets (\d+)/.exec(inNs(W.c, "nft", "list", "chain", "inet", "cnt", "in"))![1]);
  const h = new Held("a", V4.c, 80);
  try {
    assert.ok(await h.waitFor("CONNECTED", 3000));
    assert.ok(await h.echo("one"));
    await dp.apply([{ kind: "workload-endpoint-remove", id: "wep/c", iface: IF.c }]);
    const before = received();
    assert.ok(!(await h.echo("two", 1500)), "no echo");
    assert.equal(received(), before, "no packet of the flow reached the removed endpoint");
    assert.ok(!tcp("a", V4.c, 81), "nor a new connection");
  } finally {
    h.close();
    inNs(W.c, "nft", "delete", "table", "inet", "cnt");
    await dp.apply([wep("c")]);
  }
});

/**
 * UDP: a sends datagrams from a fixed port to b, which counts what it receives per payload and
 * answers each (so the flow is established); c then sends the same tuple (a's address and port,
 * b's address and port) from its own interface.
 */
const UDP_SERVER = `
const d = require("node:dgram").createSocket("udp4");
const seen = {};
d.on("message", (m, r) => { const k = m.toString(); seen[k] = (seen[k] || 0) + 1; d.send(m, r.port, r.address); });
d.bind(9999, () => console.log("READY"));
process.stdin.on("data", () => console.log(JSON.stringify(seen)));
process.stdin.resume();`;
const UDP_SEND = `
const [src, dst, word, n] = process.argv.slice(1);
const d = require("node:dgram").createSocket("udp4");
let got = 0;
d.on("message", () => got++);
d.bind(40000, src, async () => {
  for (let i = 0; i < Number(n); i++) { d.send(word, 9999, dst); await new Promise((r) => setTimeout(r, 50)); }
  setTimeout(() => { console.log(got); process.exit(0); }, 300);
});`;

test("a spoofed packet with an established flow's tuple is still dropped (anti-spoofing precedes the fast path)", { skip: !canRun }, async () => {
  await dp.apply([wep("b"), wep("c")]);
  const srv = spawn("ip", ["netns", "exec", W.b, process.execPath, "-e", UDP_SERVER], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(srv);
  const lines = createInterface({ input: srv.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once("line", resolve));
  assert.equal(await next(), "READY");
  const send = (k: keyof typeof W, word: string) => Number(inNs(W[k], process.execPath, "-e", UDP_SEND, V4.a, V4.b, word, "5").trim());
  assert.ok(send("a", "from-a") >= 4, "a's flow is established (answers come back)");
  // c takes a's address as a second address and sends from a's port: the exact tuple of a's flow.
  ip(W.c, "addr", "add", `${V4.a}/32`, "dev", "eth0");
  try {
    assert.equal(send("c", "from-c"), 0, "no answer to the spoofed datagrams");
    assert.ok(send("a", "from-a") >= 4, "a's own flow still works");
    srv.stdin!.write("report\n");
    const seen = JSON.parse(await next()) as Record<string, number>;
    assert.equal(seen["from-c"], undefined, "b never received a spoofed datagram");
    assert.ok((seen["from-a"] ?? 0) >= 8);
  } finally {
    ip(W.c, "addr", "del", `${V4.a}/32`, "dev", "eth0");
    srv.kill();
  }
});

test("an agent restart: the new driver keeps the old table until in-sync, then replaces it at once under another epoch; allowed flows go on", {
  skip: !canRun,
}, async () => {
  await dp.apply([wep("a"), wep("b")]);
  const table = () => inNs(H, "nft", "list", "table", "inet", "tabby");
  const h = new Held("a", V4.b, 80);
  // ICMP from a to b every 5 ms through the whole restart, counted by ping itself
  const pinger = spawn("ip", ["netns", "exec", W.a, "ping", "-n", "-i", "0.005", V4.b], { stdio: ["ignore", "pipe", "ignore"] });
  children.push(pinger);
  let pings = "";
  pinger.stdout!.setEncoding("utf8").on("data", (d: string) => (pings += d));
  const closed = new Promise<void>((resolve) => pinger.on("close", () => resolve()));
  const dp2 = new NftDataplane(new ExecRunner(), { netns: H, epoch: (dp.epoch % 32767) + 1 });
  try {
    assert.ok(await h.waitFor("CONNECTED", 3000));
    assert.ok(await h.echo("one"));
    const kept = table();
    // the restarted agent's driver before the datastore snapshot is complete: nothing programmed
    await dp2.apply(BASE.filter((e) => e.kind !== "in-sync"));
    assert.equal(dp2.programmedOnce, false);
    assert.equal(table(), kept, "the previous run's table enforces, untouched, until in-sync");
    assert.ok(await h.echo("two"));
    await dp2.apply([{ kind: "in-sync" }]);
    assert.ok(dp2.programmedOnce);
    assert.notEqual(table(), kept, "replaced: the forward hook now carries the new driver's epoch");
    assert.ok(await h.echo("three"), "judged again under the new epoch and allowed: the held flow goes on");
    assert.ok(tcp("a", V4.b, 81), "new connections too");
  } finally {
    h.close();
    if (pinger.pid && pinger.exitCode === null) process.kill(pinger.pid, "SIGINT");
    await closed;
    // the file's driver takes its table back (it differs from what that driver last programmed)
    await dp.resync();
  }
  const tx = Number(/(\d+) packets transmitted/.exec(pings)?.[1] ?? 0);
  const rx = Number(/(\d+) received/.exec(pings)?.[1] ?? 0);
  assert.ok(tx > 10, pings);
  // the last echo request may still have been on its way when ping stopped
  assert.ok(rx >= tx - 1, `no forwarded packet lost across the restart: ${rx} of ${tx} answered`);
});
