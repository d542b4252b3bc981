/**
 * Workload → control plane in the real kernel (issue #19). Namespaces `ttcp<pid>{h,n,a,r}`: h is
 * a host running the nftables dataplane, n another node on the fabric (192.168.253.2,
 * fd10:253::2) that routes the pool back through h, a and r workloads on h plugged in as the CNI
 * plugin does. n and h serve TCP 80, 179 and 2379; n counts UDP to the BFD port. Checked with real
 * traffic: a reaches n's BGP port until n's address is in the node set, then never (both
 * families, the rules untouched); the host's own address is closed with no set at all; BFD is
 * dropped; the access selector's interface gets through; natOutgoing keeps the workload's source
 * to a node and masquerades elsewhere.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { minimalConfig } from "../src/testkit/dataplane/nft/fixtures.js";
import {
  DEFAULT_CONTROL_PLANE,
  type ControlPlaneUpdate,
  type EndpointDirectionPolicy,
  type PolicyDataplaneEvent,
  type WorkloadEndpointUpdate,
} from "../src/calc/policy-output.js";
import { plumbWorkload } from "./workload-plumbing.js";

const P = `ttcp${process.pid}`;
const H = `${P}h`;
const N = `${P}n`;
const W = { a: `${P}a`, r: `${P}r` } as const;
const IF = { a: "tab000000000ca", r: "tab000000000cr" } as const;
const V4 = { a: "10.67.0.1", r: "10.67.0.2" } as const;
const V6 = { a: "fd00:67::1", r: "fd00:67::2" } as const;
const HOST4 = "192.168.253.1";
const NODE4 = "192.168.253.2";
const NODE6 = "fd10:253::2";
const OUTSIDE4 = "198.51.100.7"; // on n's loopback: not a node address
const TOOL = fileURLToPath(new URL("./nft-netns.js", import.meta.url));

const ip = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
const inNs = (ns: string, ...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
const canRun = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0;
const children: ChildProcess[] = [];

async function serve(ns: string, ...ports: string[]): Promise<void> {
  const srv = spawn("ip", ["netns", "exec", ns, process.execPath, TOOL, "serve", ...ports], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(srv);
  await new Promise<void>((resolve) => createInterface({ input: srv.stdout! }).once("line", () => resolve()));
}

before(async () => {
  if (!canRun) return;
  for (const ns of [H, N, ...Object.values(W)]) {
    execFileSync("ip", ["netns", "add", ns]);
    inNs(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
    ip(ns, "link", "set", "lo", "up");
  }
  inNs(H, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
  ip(H, "link", "add", "name", "fab0", "type", "veth", "peer", "name", "fab1", "netns", N);
  ip(H, "link", "set", "fab0", "up");
  ip(N, "link", "set", "fab1", "up");
  ip(H, "addr", "add", `${HOST4}/24`, "dev", "fab0");
  ip(N, "addr", "add", `${NODE4}/24`, "dev", "fab1");
  ip(N, "addr", "add", `${OUTSIDE4}/32`, "dev", "lo");
  ip(H, "route", "add", "default", "via", NODE4);
  ip(H, "-6", "addr", "add", "fd10:253::1/64", "dev", "fab0", "nodad");
  ip(N, "-6", "addr", "add", `${NODE6}/64`, "dev", "fab1", "nodad");
  ip(H, "-6", "route", "add", "default", "via", NODE6);
  ip(N, "route", "add", "10.67.0.0/16", "via", HOST4);
  ip(N, "-6", "route", "add", "fd00:67::/64", "via", "fd10:253::1");
  for (const k of ["a", "r"] as const) plumbWorkload(H, W[k], IF[k], V4[k], V6[k]);
  // n counts BFD and records the source of every new TCP connection to 80.
  const probe = `table inet probe {\n chain in {\n type filter hook input priority 0;\n udp dport 3784 counter\n tcp dport 80 ct state new ip saddr ${V4.a} counter\n tcp dport 80 ct state new ip saddr ${HOST4} counter\n }\n}\n`;
  execFileSync("ip", ["netns", "exec", N, "nft", "-f", "-"], { input: probe });
  await serve(N, "80", "179", "2379");
  await serve(H, "80", "179", "2379");
});

after(() => {
  for (const c of children) if (c.pid && c.exitCode === null) c.kill();
  for (const ns of [...Object.values(W), N, H]) spawnSync("ip", ["netns", "del", ns]);
});

function tcp(from: keyof typeof W, host: string, port: number): boolean {
  const once = () => spawnSync("ip", ["netns", "exec", W[from], process.execPath, TOOL, "connect", host, String(port)]).status === 0;
  return once() || once(); // the first packet may wait on neighbour discovery
}
function udp(from: keyof typeof W, host: string, port: number): void {
  const js = `const s=require("node:dgram").createSocket("udp4");s.send(Buffer.alloc(24),${port},"${host}",()=>s.close())`;
  spawnSync("ip", ["netns", "exec", W[from], process.execPath, "-e", js]);
}
/** n's probe counters in rule order: BFD packets, new TCP/80 from a's address, from h's address. */
function counters(): number[] {
  return [...inNs(N, "nft", "list", "chain", "inet", "probe", "in").matchAll(/packets (\d+)/g)].map((m) => Number(m[1]));
}
function ruleHandles(): string {
  return inNs(H, "nft", "-a", "list", "table", "inet", "tabby")
    .split("\n")
    .filter((l) => /# handle \d+$/.test(l) && !/^\t(chain|set|map|table)/.test(l) && !/elements/.test(l))
    .join("\n");
}

const OPEN: EndpointDirectionPolicy = { tiers: [], profiles: ["pro/open"] };
const wep = (k: keyof typeof W): WorkloadEndpointUpdate => ({
  kind: "workload-endpoint-update",
  id: `wep/${k}`,
  iface: IF[k],
  addrs: [`${V4[k]}/32`, `${V6[k]}/128`],
  allowSpoofedSources: [],
  ingress: OPEN,
  egress: OPEN,
});
const cp = (over: Partial<ControlPlaneUpdate>): ControlPlaneUpdate => ({ ...DEFAULT_CONTROL_PLANE, ...over });
const dp = new NftDataplane(new ExecRunner(), { netns: H });
const BASE: PolicyDataplaneEvent[] = [
  minimalConfig({ natOutgoing: { natPools: ["10.67.0.0/16"], allPools: ["10.67.0.0/16"] } }),
  { kind: "policy-update", id: "pro/open", ingress: [{ id: "o", action: "allow", match: {} }], egress: [{ id: "o", action: "allow", match: {} }] },
  wep("a"),
  wep("r"),
  { kind: "in-sync" },
];

test("this host's control plane is closed from the start; other ports stay open", { skip: !canRun }, async () => {
  await dp.apply(BASE);
  assert.ok(tcp("a", HOST4, 80), "the host's other services (defaultEndpointToHostAction accept)");
  assert.ok(!tcp("a", HOST4, 179), "BGP on this host");
  assert.ok(!tcp("a", "fd10:253::1", 179), "BGP on this host over IPv6");
  assert.ok(tcp("a", "fd10:253::1", 80), "the host's other services over IPv6");
  assert.ok(!tcp("a", HOST4, 2379), "etcd on this host");
  assert.ok(!tcp("a", "169.254.1.1", 179), "the gateway");
});

test("a node's BGP port is reachable until the node is known, then never; only a set changed", { skip: !canRun }, async () => {
  assert.ok(tcp("a", NODE4, 179), "n is not a node yet: the test can fail");
  const rules = ruleHandles();
  await dp.apply([cp({ nodeAddrs: [HOST4, NODE4, NODE6] })]);
  assert.equal(ruleHandles(), rules, "same rules, same handles");
  assert.ok(!tcp("a", NODE4, 179), "BGP to n");
  assert.ok(!tcp("a", NODE6, 179), "BGP to n over IPv6");
  assert.ok(!tcp("a", NODE4, 2379), "etcd on n");
  assert.ok(tcp("a", NODE4, 80), "n's other services");
  const [bfd0] = counters();
  udp("a", NODE4, 3784);
  udp("a", NODE4, 3784);
  assert.equal(counters()[0], bfd0, "spoofed BFD never arrives");
  udp("a", OUTSIDE4, 3784);
  assert.equal(counters()[0], bfd0! + 1, "BFD to a non-node is ordinary traffic (the counter works)");
});

test("the access selector's interface gets through; the others do not", { skip: !canRun }, async () => {
  await dp.apply([cp({ nodeAddrs: [HOST4, NODE4, NODE6], openInterfaces: [IF.r] })]);
  assert.ok(tcp("r", NODE4, 179), "r is a router");
  assert.ok(!tcp("a", NODE4, 179));
  await dp.apply([cp({ nodeAddrs: [HOST4, NODE4, NODE6] })]);
  assert.ok(!tcp("r", NODE4, 179), "closed again");
});

test("natOutgoing keeps the workload's source to a node and masquerades elsewhere", { skip: !canRun }, async () => {
  const [, fromA0, fromH0] = counters();
  assert.ok(tcp("a", NODE4, 80));
  let [, fromA, fromH] = counters();
  assert.deepEqual([fromA! - fromA0!, fromH! - fromH0!], [1, 0], "to a node: not masqueraded");
  assert.ok(tcp("a", OUTSIDE4, 80));
  [, fromA, fromH] = counters();
  assert.deepEqual([fromA! - fromA0!, fromH! - fromH0!], [1, 1], "elsewhere: masqueraded to the host");
  assert.deepEqual(await dp.drift(), []);
});
