/**
 * Dataplane throughput benchmark (issue #15): iperf3 through tabby's nftables table against the
 * fabric it runs on, and against a VXLAN + bridge overlay (the "standard model" of container
 * networking: flannel's vxlan backend, Docker overlay) built on the same hosts.
 *
 * It builds, in namespaces with a unique prefix (removed at exit, even on failure), the lab's
 * default shape: a fabric namespace with a bridge, two host namespaces on it (10.99.0.11/.12,
 * fd99::b/c), one workload per host plumbed as the CNI plugin does (tabby MAC, proxy ARP, /32 and
 * /128 routes; the hosts route each other's workload addresses via the fabric, as BGP would
 * install them), and on the same hosts a VXLAN device (VNI 42, unicast, static flood entries)
 * enslaved to a bridge with one more workload per host on a shared /24 and /64 (inner MTU 1450).
 * Each host's table is programmed by the real NftDataplane from synthetic calc-graph events:
 *   default   the workloads' namespace profile allows everything (Calico's default);
 *   heavy     1,000 policies in the default tier apply to each workload in both directions, each
 *             matching a 10-member IP set (10,000 members), the allow-all profile last;
 *   none      tabby's table deleted (reference: the kernel without tabby).
 * Then, in rounds, alternating (so drifting load on the shared machine hits all cases alike):
 * host-to-host over the fabric, workload-to-workload through tabby in each table state, and
 * workload-to-workload over VXLAN; each with 1 and 4 streams, IPv4 and IPv6, `iperf3 -t SECONDS`.
 * Prints every figure (Gbit/s, median of the rounds, with min–max) and the ratios to
 * host-to-host (with the table in the same state) and to VXLAN. Benchmarks print; no assertions.
 *
 * Run (root): npx tsc -p . && node dist/bench/dataplane.js [--rounds 3] [--seconds 3] [--quick]
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { minimalConfig, workload } from "../src/dataplane/nft/fixtures.js";
import type { PolicyDataplaneEvent } from "../src/calc/policy-output.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const ROUNDS = arg("rounds", 3);
const SECONDS = arg("seconds", 3);
const QUICK = process.argv.includes("--quick");
const P = `tbdp${process.pid % 100000}`;
const FAB = `${P}-f`;
const H = [`${P}-h1`, `${P}-h2`] as const;
const W = [`${P}-w1`, `${P}-w2`] as const;
const X = [`${P}-x1`, `${P}-x2`] as const;
const HOST4 = ["10.99.0.11", "10.99.0.12"];
const HOST6 = ["fd99::b", "fd99::c"];
const WL4 = ["10.65.0.1", "10.65.1.1"];
const WL6 = ["fd65::1", "fd65:1::1"];
const VX4 = ["10.200.0.1", "10.200.0.2"];
const VX6 = ["fd20::1", "fd20::2"];
const IFACE = ["tab00000000b01", "tab00000000b02"];

const sh = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { encoding: "utf8", input: input ?? "", maxBuffer: 1 << 26 });
const ip = (ns: string, ...args: string[]) => sh("ip", ["-n", ns, ...args]);
const inNs = (ns: string, ...args: string[]) => sh("ip", ["netns", "exec", ns, ...args]);

const children: ChildProcess[] = [];
function cleanup(): void {
  for (const c of children) if (c.pid && c.exitCode === null) try { process.kill(c.pid); } catch {}
  for (const ns of [...W, ...X, ...H, FAB]) try { sh("ip", ["netns", "del", ns]); } catch {}
}
if (!process.env.KEEP) process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));

function build(): void {
  for (const ns of [FAB, ...H, ...W, ...X]) sh("ip", ["netns", "add", ns]);
  for (const ns of [FAB, ...H, ...W, ...X]) ip(ns, "link", "set", "lo", "up");
  ip(FAB, "link", "add", "br0", "type", "bridge");
  ip(FAB, "link", "set", "br0", "up");
  ip(FAB, "addr", "add", "10.99.0.254/24", "dev", "br0");
  ip(FAB, "-6", "addr", "add", "fd99::fe/64", "dev", "br0", "nodad");
  H.forEach((h, i) => {
    ip(FAB, "link", "add", `p${i + 1}`, "type", "veth", "peer", "name", "eth0", "netns", h);
    ip(FAB, "link", "set", `p${i + 1}`, "master", "br0", "up");
    inNs(h, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1");
    ip(h, "link", "set", "eth0", "up");
    ip(h, "addr", "add", `${HOST4[i]}/24`, "dev", "eth0");
    ip(h, "-6", "addr", "add", `${HOST6[i]}/64`, "dev", "eth0", "nodad");
    // A default route (the fabric's gateway), as lab hosts have: proxy ARP answers for
    // 169.254.1.1 only when the host has a route to it.
    ip(h, "route", "add", "default", "via", "10.99.0.254");
    ip(h, "-6", "route", "add", "default", "via", "fd99::fe");
    // The tabby workload (as the CNI plugin plumbs it).
    const w = W[i]!;
    const iface = IFACE[i]!;
    ip(h, "link", "add", "name", iface, "address", "ee:ee:ee:ee:ee:ee", "type", "veth", "peer", "name", "eth0", "netns", w);
    inNs(h, "sysctl", "-qw", `net.ipv4.conf.${iface}.proxy_arp=1`, `net.ipv4.neigh.${iface}.proxy_delay=0`);
    ip(h, "link", "set", iface, "up");
    ip(h, "route", "add", `${WL4[i]}/32`, "dev", iface, "scope", "link");
    ip(h, "-6", "route", "add", `${WL6[i]}/128`, "dev", iface);
    ip(w, "link", "set", "eth0", "up");
    ip(w, "addr", "add", `${WL4[i]}/32`, "dev", "eth0");
    ip(w, "-6", "addr", "add", `${WL6[i]}/128`, "dev", "eth0", "nodad");
    ip(w, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link");
    ip(w, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
    ip(w, "-6", "route", "add", "default", "via", "fe80::ecee:eeff:feee:eeee", "dev", "eth0");
    // The other host's workload, as BGP installs it.
    const o = 1 - i;
    ip(h, "route", "add", `${WL4[o]}/32`, "via", HOST4[o]!);
    ip(h, "-6", "route", "add", `${WL6[o]}/128`, "via", HOST6[o]!);
    // The VXLAN overlay: vx0 + bridge bv0 + a workload on the bridge.
    ip(h, "link", "add", "vx0", "type", "vxlan", "id", "42", "local", HOST4[i]!, "dstport", "4789", "nolearning");
    ip(h, "link", "add", "bv0", "type", "bridge");
    ip(h, "link", "set", "vx0", "master", "bv0", "mtu", "1450", "up");
    sh("bridge", ["-n", h, "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", HOST4[o]!]);
    const x = X[i]!;
    ip(h, "link", "add", "vw0", "mtu", "1450", "type", "veth", "peer", "name", "eth0", "netns", x);
    ip(h, "link", "set", "vw0", "master", "bv0", "up");
    ip(h, "link", "set", "bv0", "up");
    ip(x, "link", "set", "eth0", "mtu", "1450", "up");
    ip(x, "addr", "add", `${VX4[i]}/24`, "dev", "eth0");
    ip(x, "-6", "addr", "add", `${VX6[i]}/64`, "dev", "eth0", "nodad");
  });
}

const PROFILE = "pro/kns.bench";
function events(i: number, heavy: boolean): PolicyDataplaneEvent[] {
  const out: PolicyDataplaneEvent[] = [minimalConfig()];
  out.push({ kind: "policy-update", id: PROFILE, ingress: [{ id: "p-in", action: "allow", match: {} }], egress: [{ id: "p-eg", action: "allow", match: {} }] });
  const pols: string[] = [];
  if (heavy) {
    for (let p = 0; p < 1000; p++) {
      const set = `s:bench-${p}`;
      const members: string[] = [];
      for (let k = 0; k < 10; k++) members.push(`172.${16 + (p >> 8)}.${p & 255}.${k + 1}`);
      out.push({ kind: "ipset-update", id: set, type: "net", members });
      const id = `np/bench/p${p}`;
      pols.push(id);
      out.push({
        kind: "policy-update",
        id,
        ingress: [{ id: `${id}-i`, action: "allow", match: { protocol: 6, srcIpSets: [set], dstPorts: [{ first: 9000 + (p % 500), last: 9000 + (p % 500) }] } }],
        egress: [{ id: `${id}-e`, action: "allow", match: { protocol: 17, dstIpSets: [set] } }],
      });
    }
  }
  const dir = { tiers: pols.length ? [{ name: "default", defaultAction: "pass" as const, policies: pols }] : [], profiles: [PROFILE] };
  out.push(workload(IFACE[i]!, [`${WL4[i]}/32`, `${WL6[i]}/128`], dir, dir));
  out.push({ kind: "in-sync" });
  return out;
}

type TableState = "default" | "heavy" | "none";
let tableState: TableState | undefined;
async function setTables(s: TableState): Promise<void> {
  if (s === tableState) return;
  for (let i = 0; i < 2; i++) {
    const dp = new NftDataplane(new ExecRunner(), { netns: H[i]! });
    if (s === "none") await dp.remove();
    else await dp.apply(events(i, s === "heavy"));
  }
  tableState = s;
}

function startServers(): void {
  for (const ns of [H[1], W[1], X[1]]) {
    const c = spawn("ip", ["netns", "exec", ns, "iperf3", "-s", "-p", "5201"], { stdio: "ignore" });
    children.push(c);
  }
  execFileSync("sleep", ["0.5"]);
}

function iperf(from: string, to: string, streams: number): number {
  for (let attempt = 0; ; attempt++) {
    try {
      const out = inNs(from, "iperf3", "-c", to, "-p", "5201", "-t", String(SECONDS), "-P", String(streams), "-J");
      const j = JSON.parse(out);
      if (!j.end?.sum_received) throw new Error(`iperf3 ${from} → ${to}: ${j.error ?? "no result"}`);
      return j.end.sum_received.bits_per_second / 1e9;
    } catch (e) {
      if (attempt >= 2) throw e;
      execFileSync("sleep", ["0.3"]);
    }
  }
}

interface Case {
  name: string;
  table: TableState;
  from: string;
  to: [string, string];
}
const CASES: Case[] = [
  { name: "host-to-host (tabby table, default)", table: "default", from: H[0], to: [HOST4[1]!, HOST6[1]!] },
  { name: "workload-to-workload, default policy", table: "default", from: W[0], to: [WL4[1]!, WL6[1]!] },
  { name: "VXLAN+bridge overlay (tabby table, default)", table: "default", from: X[0], to: [VX4[1]!, VX6[1]!] },
  { name: "host-to-host (1,000 policies loaded)", table: "heavy", from: H[0], to: [HOST4[1]!, HOST6[1]!] },
  { name: "workload-to-workload, 1,000 policies", table: "heavy", from: W[0], to: [WL4[1]!, WL6[1]!] },
  { name: "host-to-host (no tabby table)", table: "none", from: H[0], to: [HOST4[1]!, HOST6[1]!] },
  { name: "workload-to-workload (no tabby table)", table: "none", from: W[0], to: [WL4[1]!, WL6[1]!] },
  { name: "VXLAN+bridge overlay (no tabby table)", table: "none", from: X[0], to: [VX4[1]!, VX6[1]!] },
];
const VARIANTS = (QUICK ? [[4, 1]] : [[4, 1], [4, 4], [6, 1], [6, 4]]) as [4 | 6, number][];
const vname = ([f, s]: [4 | 6, number]) => `v${f} ×${s}`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  build();
  startServers();
  const results = new Map<string, number[]>(); // `${case}|${variant}` → Gbit/s per round
  const t0 = Date.now();
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of CASES) {
      await setTables(c.table);
      for (const v of VARIANTS) {
        const g = iperf(c.from, c.to[v[0] === 4 ? 0 : 1], v[1]);
        const k = `${c.name}|${vname(v)}`;
        (results.get(k) ?? results.set(k, []).get(k)!).push(g);
      }
    }
    console.error(`round ${r + 1}/${ROUNDS} done (${((Date.now() - t0) / 1000).toFixed(0)} s), load ${sh("cat", ["/proc/loadavg"]).trim()}`);
  }
  const fig = (c: string, v: [4 | 6, number]) => median(results.get(`${c}|${vname(v)}`)!);
  const cell = (c: string, v: [4 | 6, number]) => {
    const xs = results.get(`${c}|${vname(v)}`)!;
    return `${fig(c, v).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  };
  console.log(`dataplane bench: iperf3 -t ${SECONDS}, ${ROUNDS} rounds alternating; Gbit/s, median (min–max); load at end: ${sh("cat", ["/proc/loadavg"]).trim()}`);
  console.log(`| case | ${VARIANTS.map(vname).join(" | ")} |`);
  console.log(`|---|${VARIANTS.map(() => "---").join("|")}|`);
  for (const c of CASES) console.log(`| ${c.name} | ${VARIANTS.map((v) => cell(c.name, v)).join(" | ")} |`);
  const ratio = (a: string, b: string) => VARIANTS.map((v) => (fig(a, v) / fig(b, v)).toFixed(2)).join(" | ");
  console.log("\nratios (medians):");
  console.log(`| ratio | ${VARIANTS.map(vname).join(" | ")} |`);
  console.log(`|---|${VARIANTS.map(() => "---").join("|")}|`);
  const [hh, wl, vx, hhH, wlH, hhN, wlN, vxN] = CASES.map((c) => c.name) as [string, string, string, string, string, string, string, string];
  console.log(`| workload/host, default policy (goal ≥ 0.97) | ${ratio(wl, hh)} |`);
  console.log(`| workload/host, 1,000 policies (goal ≥ 0.97) | ${ratio(wlH, hhH)} |`);
  console.log(`| workload/VXLAN, default policy (goal ≥ 1.2) | ${ratio(wl, vx)} |`);
  console.log(`| workload 1,000 policies/VXLAN (goal ≥ 1.2) | ${ratio(wlH, vx)} |`);
  console.log(`| host with table / host without | ${ratio(hh, hhN)} |`);
  console.log(`| workload/host, no table | ${ratio(wlN, hhN)} |`);
  console.log(`| workload default policy / workload no table | ${ratio(wl, wlN)} |`);
  console.log(`| VXLAN/host, no table | ${ratio(vxN, hhN)} |`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
