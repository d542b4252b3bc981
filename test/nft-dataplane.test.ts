/**
 * NftDataplane against the real kernel. Namespaces `ttnf<pid>{h,u,a,b,c}`: h stands for a host,
 * u for its upstream router (so the host has a default route and proxy ARP answers), a, b and c
 * for workloads plugged in the way the CNI plugin does it (veth with host side `tab…`, MAC
 * ee:ee:ee:ee:ee:ee, /32 and /128 routes, proxy ARP, gateway 169.254.1.1 / fe80::ecee:eeff:feee:eeee).
 * c's interface is never an endpoint until the test says so. Real traffic checks every verdict:
 * ping (both families) and TCP through an echo server in b (test/nft-netns.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { ipSetName, policyChain } from "../src/dataplane/nft/names.js";
import { minimalConfig } from "../src/testkit/dataplane/nft/fixtures.js";
import { plumbUplink, plumbWorkload } from "./workload-plumbing.js";
import type { ConfigUpdate, EndpointDirectionPolicy, PolicyDataplaneEvent, WorkloadEndpointUpdate } from "../src/calc/policy-output.js";

const P = `ttnf${process.pid}`;
const H = `${P}h`;
const U = `${P}u`;
const W = { a: `${P}a`, b: `${P}b`, c: `${P}c` } as const;
const IF = { a: "tab0000000000a", b: "tab0000000000b", c: "tab0000000000c" } as const;
const V4 = { a: "10.65.0.1", b: "10.65.0.2", c: "10.65.0.3" } as const;
const V6 = { a: "fd00:65::1", b: "fd00:65::2", c: "fd00:65::3" } as const;
const TOOL = fileURLToPath(new URL("./nft-netns.js", import.meta.url));

const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
const inNs = (ns: string, ...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
const nft = (...args: string[]) => inNs(H, "nft", ...args);

const children: ChildProcess[] = [];
const canRun = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0;

before(async () => {
  if (!canRun) return;
  for (const ns of [H, U, ...Object.values(W)]) {
    execFileSync("ip", ["netns", "add", ns]);
    inNs(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    ip(ns, "link", "set", "lo", "up");
  }
  plumbUplink(H, U, { host: "192.168.251.1", up: "192.168.251.2" }, { host: "fd10:65::1", up: "fd10:65::2" });
  for (const k of ["a", "b", "c"] as const) plumbWorkload(H, W[k], IF[k], V4[k], V6[k]);
  // Echo servers in b.
  const srv = spawn("ip", ["netns", "exec", W.b, process.execPath, TOOL, "serve", "80", "81", "8080"], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(srv);
  await new Promise<void>((resolve) => createInterface({ input: srv.stdout! }).once("line", () => resolve()));
});

after(() => {
  for (const c of children) if (c.pid && c.exitCode === null) c.kill();
  for (const ns of [...Object.values(W), U, H]) {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
});

function ping(from: keyof typeof W, to: string, src?: string): boolean {
  const args = ["netns", "exec", W[from], "ping", "-c", "1", "-W", "1", ...(src ? ["-I", src] : []), to];
  return spawnSync("ip", args).status === 0;
}
function tcp(from: keyof typeof W, host: string, port: number): boolean {
  return spawnSync("ip", ["netns", "exec", W[from], process.execPath, TOOL, "connect", host, String(port)]).status === 0;
}
/** Pings and TCP connects are retried once: the first packet may wait on neighbour discovery. */
function reach(check: () => boolean): boolean {
  return check() || check();
}

const CONFIG: ConfigUpdate = minimalConfig({ logRateLimitPerSecond: 10, logPrefix: "ttnf" });
const OPEN: EndpointDirectionPolicy = { tiers: [], profiles: ["pro/open"] };
function wep(k: keyof typeof W, ingress: EndpointDirectionPolicy = OPEN, egress: EndpointDirectionPolicy = OPEN, spoof: string[] = []): WorkloadEndpointUpdate {
  return {
    kind: "workload-endpoint-update",
    id: `wep/${k}`,
    iface: IF[k],
    addrs: [`${V4[k]}/32`, `${V6[k]}/128`],
    allowSpoofedSources: spoof,
    ingress,
    egress,
  };
}
const BASE: PolicyDataplaneEvent[] = [
  CONFIG,
  { kind: "ipset-update", id: "s:a", type: "net", members: [V4.a, V6.a] },
  { kind: "policy-update", id: "pro/open", ingress: [{ id: "o", action: "allow", match: {} }], egress: [{ id: "o", action: "allow", match: {} }] },
  {
    kind: "policy-update",
    id: "np/t/allow-80-from-a",
    ingress: [
      { id: "l", action: "log", match: { protocol: 6, dstPorts: [{ first: 80, last: 80 }] } },
      { id: "r0", action: "allow", match: { protocol: 6, srcIpSets: ["s:a"], dstPorts: [{ first: 80, last: 80 }] } },
    ],
    egress: [],
  },
  wep("a"),
  wep("b"),
];
const DEFAULT_DENY_B: EndpointDirectionPolicy = {
  tiers: [{ name: "default", defaultAction: "deny", policies: ["np/t/allow-80-from-a"] }],
  profiles: ["pro/open"],
};

const dp = new NftDataplane(new ExecRunner(), { netns: H });

/** The rules of every chain (but `except`) with their handles (set elements left out). */
function ruleHandles(except?: string): string[] {
  const out: string[] = [];
  let inChain = false;
  for (const line of nft("-a", "list", "table", "inet", "tabby").split("\n")) {
    if (/^\tchain /.test(line)) inChain = !line.startsWith(`\tchain ${except} {`);
    else if (/^\t(set|map) /.test(line)) inChain = false;
    else if (inChain && /# handle \d+$/.test(line) && !/^\tchain/.test(line)) out.push(line.trim());
  }
  return out;
}

test("nothing is programmed before in-sync; then profiles allow everything both ways", { skip: !canRun }, async () => {
  await dp.apply(BASE);
  assert.equal(spawnSync("ip", ["netns", "exec", H, "nft", "list", "table", "inet", "tabby"]).status, 1, "no table yet");
  await dp.apply([{ kind: "in-sync" }]);
  assert.ok(
    reach(() => ping("a", V4.b)),
    "ping a→b",
  );
  assert.ok(
    reach(() => ping("a", V6.b)),
    "ping6 a→b",
  );
  assert.ok(tcp("a", V4.b, 81));
  assert.ok(tcp("a", V6.b, 81));
  assert.ok(
    reach(() => ping("a", "192.168.251.1")),
    "workload → host (defaultEndpointToHostAction accept)",
  );
  assert.deepEqual(await dp.drift(), []);
});

test("default deny once a policy applies: only tcp/80 from a, both families", { skip: !canRun }, async () => {
  await dp.apply([wep("b", DEFAULT_DENY_B)]);
  assert.ok(tcp("a", V4.b, 80));
  assert.ok(tcp("a", V6.b, 80));
  assert.ok(!tcp("a", V4.b, 81), "81 denied");
  assert.ok(!tcp("a", V6.b, 81), "81 denied (v6)");
  assert.ok(!ping("a", V4.b), "ping denied");
  assert.ok(!ping("a", V6.b), "ping6 denied");
  assert.ok(
    reach(() => ping("b", V4.a)),
    "b's egress is still open, replies are established",
  );
});

test("a set membership change takes effect without touching any rule but the forward hook's epoch", { skip: !canRun }, async () => {
  const before = ruleHandles("filter-fw");
  await dp.apply([{ kind: "ipset-delta", id: "s:a", added: [], removed: [V4.a] }]);
  // The set, and the forward hook rewritten with the next policy epoch (fastpath.ts): a policy's
  // set changed, so established connections are judged again.
  assert.match(
    dp.stats.lastScript,
    /^flush set inet tabby n4-\w+\ntable inet tabby \{\n\tset n4-\w+ \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tcomment "s:a"\n\t\}\n\}\nflush chain inet tabby filter-fw\n(add rule inet tabby filter-fw .*\n)+$/,
  );
  assert.ok(!tcp("a", V4.b, 80), "a is no longer in the set");
  assert.ok(tcp("a", V6.b, 80), "its IPv6 address still is");
  await dp.apply([{ kind: "ipset-delta", id: "s:a", added: [V4.a], removed: [] }]);
  assert.ok(tcp("a", V4.b, 80));
  assert.deepEqual(ruleHandles("filter-fw"), before, "same rules, same handles");
});

test("Pass skips the rest of the tier; the next tier decides", { skip: !canRun }, async () => {
  await dp.apply([
    {
      kind: "policy-update",
      id: "gnp/sec.pass-a",
      ingress: [
        { id: "p", action: "pass", match: { srcNets: [`${V4.a}/32`] } },
        { id: "d", action: "deny", match: {} },
      ],
      egress: [],
    },
    { kind: "policy-update", id: "gnp/sec.allow-all", ingress: [{ id: "a", action: "allow", match: {} }], egress: [] },
    {
      kind: "policy-update",
      id: "gnp/app.allow-81",
      ingress: [{ id: "a", action: "allow", match: { protocol: 6, dstPorts: [{ first: 81, last: 81 }] } }],
      egress: [],
    },
    wep("b", {
      tiers: [
        // allow-all comes after the pass: never reached for a.
        { name: "sec", defaultAction: "deny", policies: ["gnp/sec.pass-a", "gnp/sec.allow-all"] },
        { name: "app", defaultAction: "deny", policies: ["gnp/app.allow-81"] },
      ],
      profiles: ["pro/open"],
    }),
  ]);
  assert.ok(tcp("a", V4.b, 81), "passed by sec, allowed by app");
  assert.ok(!tcp("a", V4.b, 80), "passed by sec, end of tier app drops");
  assert.ok(!tcp("a", V6.b, 81), "IPv6 a is not in the pass rule's IPv4 nets: denied by sec");
  assert.ok(!ping("c", V4.b), "c is no endpoint");
});

test("a spoofed source is dropped unless allowSpoofedSources lists it", { skip: !canRun }, async () => {
  await dp.apply([wep("b"), wep("a", OPEN, OPEN, ["10.65.9.0/24"])]);
  ip(W.a, "addr", "add", "10.65.9.9/32", "dev", "eth0");
  ip(H, "route", "add", "10.65.9.9/32", "dev", IF.a, "scope", "link");
  assert.ok(
    reach(() => ping("a", V4.b, "10.65.9.9")),
    "allowed spoofed source",
  );
  await dp.apply([wep("a")]);
  assert.ok(!ping("a", V4.b, "10.65.9.9"), "spoofed source dropped");
  assert.ok(ping("a", V4.b), "own address still fine");
});

test("an unknown tab* interface is dropped until it becomes an endpoint", { skip: !canRun }, async () => {
  assert.ok(!ping("c", V4.b), "to a workload");
  assert.ok(!ping("c", "192.168.251.1"), "to the host");
  assert.ok(!ping("a", V4.c), "to it");
  await dp.apply([wep("c")]);
  assert.ok(reach(() => ping("c", V4.b)));
  assert.ok(reach(() => ping("a", V4.c)));
  await dp.apply([{ kind: "workload-endpoint-remove", id: "wep/c", iface: IF.c }]);
  assert.ok(!ping("c", V4.b), "removed again");
});

test("resync repairs a rule and a set element deleted by hand", { skip: !canRun }, async () => {
  await dp.apply([wep("b", DEFAULT_DENY_B)]);
  assert.ok(tcp("a", V4.b, 80));
  // Delete the IPv4 allow rule of the policy's ingress chain by hand.
  const chain = policyChain("np/t/allow-80-from-a", "ingress");
  const handle = /ip saddr @n4-.*# handle (\d+)/.exec(nft("-a", "list", "chain", "inet", "tabby", chain))![1]!;
  nft("delete", "rule", "inet", "tabby", chain, "handle", handle);
  assert.ok(!tcp("a", V4.b, 80), "broken by hand");
  const drift = await dp.resync();
  assert.deepEqual(drift, [`chain ${chain} has 2 rules, want 3`]);
  assert.ok(tcp("a", V4.b, 80), "repaired");
  nft("delete", "element", "inet", "tabby", ipSetName("s:a", 6, "net"), `{ ${V6.a} }`);
  assert.ok(!tcp("a", V6.b, 80), "broken by hand (v6)");
  assert.deepEqual(await dp.resync(), [`set ${ipSetName("s:a", 6, "net")} lacks ${V6.a}`]);
  assert.ok(tcp("a", V6.b, 80), "repaired (v6)");
  assert.deepEqual(await dp.resync(), [], "nothing to repair");
});

test("an established TCP connection survives a full atomic replace of the table", { skip: !canRun }, async () => {
  const hold = spawn("ip", ["netns", "exec", W.a, process.execPath, TOOL, "hold", V4.b, "80"], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(hold);
  const lines = createInterface({ input: hold.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once("line", resolve));
  assert.equal(await next(), "CONNECTED");
  hold.stdin!.write("one\n");
  assert.equal(await next(), "ECHO one");
  // A new driver instance (an agent restart): its first sync replaces the table whole.
  const dp2 = new NftDataplane(new ExecRunner(), { netns: H });
  await dp2.apply([...BASE, wep("b", DEFAULT_DENY_B), { kind: "in-sync" }]);
  assert.equal(dp2.stats.fullReplaces, 1);
  assert.match(dp2.stats.lastScript, /^table inet tabby\ndelete table inet tabby\ntable inet tabby \{/);
  hold.stdin!.write("two\n");
  assert.equal(await next(), "ECHO two");
  hold.kill();
  assert.ok(tcp("a", V4.b, 80), "new connections still judged by the new table");
  assert.ok(!tcp("a", V4.b, 81));
  await dp2.remove();
});

test("no instant without rules: denied connections stay denied across repeated full replaces", { skip: !canRun }, async () => {
  const state: PolicyDataplaneEvent[] = [...BASE, wep("b", DEFAULT_DENY_B), { kind: "in-sync" }];
  await new NftDataplane(new ExecRunner(), { netns: H }).apply(state);
  const probe = spawn("ip", ["netns", "exec", W.a, process.execPath, TOOL, "probe", V4.b, "81"], { stdio: ["pipe", "pipe", "inherit"] });
  children.push(probe);
  const lines = createInterface({ input: probe.stdout! });
  await new Promise((resolve) => lines.once("line", resolve)); // STARTED
  const out = new Promise<string>((resolve) => lines.once("line", resolve));
  // At least 8 replaces, and for long enough that the probe (100 ms per attempt) overlaps them
  // many times however fast this machine replaces a table.
  const started = Date.now();
  for (let i = 0; i < 8 || Date.now() - started < 1500; i++) {
    const d = new NftDataplane(new ExecRunner(), { netns: H });
    await d.apply(state);
    assert.equal(d.stats.fullReplaces, 1);
  }
  probe.stdin!.end();
  const [attempts, successes] = (await out).split(" ").map(Number);
  assert.ok(attempts! > 3, `probe ran (${attempts} attempts)`);
  assert.equal(successes, 0, "no connection to a denied port got through during the replaces");
  assert.ok(tcp("a", V4.b, 80), "allowed port still fine");
});
