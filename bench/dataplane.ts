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
 *   conntrack tabby's table deleted and a bare stateful firewall in its place: one table whose
 *             input, forward and output chains only accept established/related packets (nothing
 *             is dropped). Conntrack is then on in the host namespaces, as any stateful policy
 *             needs it: the floor under any Calico-like dataplane, separating conntrack's cost
 *             from the cost of tabby's rules.
 *   none      tabby's table deleted (reference: the kernel without tabby).
 *   compare   (with `--compare ROOT`) another checkout's built renderer, default policy: a
 *             same-run before/after of a dataplane change.
 * Then, in rounds, for each table state in turn, for each of 1 and 4 streams, IPv4 and IPv6
 * (`iperf3 -t SECONDS`), back to back: host-to-host over the fabric, workload-to-workload, and
 * workload-to-workload over the VXLAN overlay (which crosses the same host namespaces, so the
 * table's host hooks apply to its outer packets). Prints every figure (Gbit/s, median of the
 * rounds, with min–max) and the ratios workload/host and workload/VXLAN taken per round (paths
 * measured back to back share the machine's load of that moment) with their median.
 * Benchmarks print; no assertions.
 *
 * Run (root): npx tsc -p . && node dist/bench/dataplane.js [--rounds 5] [--seconds 2] [--quick] [--compare ROOT]
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { minimalConfig, workload } from "../src/testkit/dataplane/nft/fixtures.js";
import type { PolicyDataplaneEvent } from "../src/calc/policy-output.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const ROUNDS = arg("rounds", 5);
const SECONDS = arg("seconds", 2);
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
  for (const c of children)
    if (c.pid && c.exitCode === null)
      try {
        process.kill(c.pid);
      } catch {}
  for (const ns of [...W, ...X, ...H, FAB])
    try {
      sh("ip", ["netns", "del", ns]);
    } catch {}
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
        ingress: [
          { id: `${id}-i`, action: "allow", match: { protocol: 6, srcIpSets: [set], dstPorts: [{ first: 9000 + (p % 500), last: 9000 + (p % 500) }] } },
        ],
        egress: [{ id: `${id}-e`, action: "allow", match: { protocol: 17, dstIpSets: [set] } }],
      });
    }
  }
  const dir = { tiers: pols.length ? [{ name: "default", defaultAction: "pass" as const, policies: pols }] : [], profiles: [PROFILE] };
  out.push(workload(IFACE[i]!, [`${WL4[i]}/32`, `${WL6[i]}/128`], dir, dir));
  out.push({ kind: "in-sync" });
  return out;
}

type TableState = "default" | "heavy" | "conntrack" | "none" | "compare";
let tableState: TableState | undefined;
/** `--compare ROOT`: another checkout's built renderer (e.g. the commit before a change), for a same-run before/after. */
const COMPARE = (() => {
  const i = process.argv.indexOf("--compare");
  return i >= 0 ? process.argv[i + 1] : undefined;
})();
/** The bare stateful firewall of the `conntrack` state (its own table, deleted when the state ends). */
const CT_TABLE = `table inet ${P}_ct {
  chain input { type filter hook input priority 0; ct state established,related accept; }
  chain forward { type filter hook forward priority 0; ct state established,related accept; }
  chain output { type filter hook output priority 0; ct state established,related accept; }
}
`;
async function setTables(s: TableState): Promise<void> {
  if (s === tableState) return;
  for (let i = 0; i < 2; i++) {
    if (tableState === "conntrack") sh("ip", ["netns", "exec", H[i]!, "nft", "delete", "table", "inet", `${P}_ct`]);
    if (s === "conntrack") {
      await new NftDataplane(new ExecRunner(), { netns: H[i]! }).remove();
      sh("ip", ["netns", "exec", H[i]!, "nft", "-f", "-"], CT_TABLE);
      continue;
    }
    if (s === "compare") {
      const st = await import(`${COMPARE}/dist/src/dataplane/nft/state.js`);
      const r = await import(`${COMPARE}/dist/src/dataplane/nft/render.js`);
      sh("ip", ["netns", "exec", H[i]!, "nft", "-f", "-"], r.fullScript(r.renderTable(st.applyEvents(st.emptyState(), events(i, false)))));
      continue;
    }
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

/**
 * One iperf3 run: Gbit/s received, and CPU seconds per GB of the two iperf3 processes (sender and
 * receiver, user + system, iperf3's own getrusage figures): on veths the whole kernel path of a
 * packet (both hosts' netfilter hooks and routing included) runs in the sender's system calls
 * and the softirq they raise, so this figure measures what a packet costs, and unlike
 * throughput it hardly moves with the load that other processes put on the machine.
 */
function iperf(from: string, to: string, streams: number): { gbps: number; cpuPerGB: number } {
  for (let attempt = 0; ; attempt++) {
    try {
      const out = inNs(from, "iperf3", "-c", to, "-p", "5201", "-t", String(SECONDS), "-P", String(streams), "-J");
      const j = JSON.parse(out);
      if (!j.end?.sum_received) throw new Error(`iperf3 ${from} → ${to}: ${j.error ?? "no result"}`);
      const secs = j.end.sum_received.seconds as number;
      const cpu = ((j.end.cpu_utilization_percent.host_total + j.end.cpu_utilization_percent.remote_total) / 100) * secs;
      return { gbps: j.end.sum_received.bits_per_second / 1e9, cpuPerGB: cpu / (j.end.sum_received.bytes / 1e9) };
    } catch (e) {
      if (attempt >= 2) throw e;
      execFileSync("sleep", ["0.3"]);
    }
  }
}

type Path = "host" | "workload" | "vxlan";
const PATHS: Record<Path, { from: string; to: [string, string] }> = {
  host: { from: H[0], to: [HOST4[1]!, HOST6[1]!] },
  workload: { from: W[0], to: [WL4[1]!, WL6[1]!] },
  vxlan: { from: X[0], to: [VX4[1]!, VX6[1]!] },
};
/** Table states in the order each round visits them, and the paths measured back to back in each. */
const STATES: [TableState, string, Path[]][] = [
  ["default", "tabby, default policy", ["host", "workload", "vxlan"]],
  ...(COMPARE ? ([["compare", `compare build (${COMPARE}), default policy`, ["host", "workload", "vxlan"]]] as [TableState, string, Path[]][]) : []),
  ["heavy", "tabby, 1,000 policies + 10,000 set members", ["host", "workload", "vxlan"]],
  ["conntrack", "no tabby table, conntrack only", ["host", "workload", "vxlan"]],
  ["none", "no tabby table", ["host", "workload", "vxlan"]],
];
const VARIANTS = (
  QUICK
    ? [[4, 1]]
    : [
        [4, 1],
        [4, 4],
        [6, 1],
        [6, 4],
      ]
) as [4 | 6, number][];
const vname = ([f, s]: [4 | 6, number]) => `v${f} ×${s}`;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  build();
  startServers();
  // `${state}|${path}|${variant}` → Gbit/s per round; ratios are taken per round (the two paths
  // measured back to back), then their median: slow drifts of the shared machine's load cancel.
  const results = new Map<string, number[]>();
  const put = (k: string, v: number) => (results.get(k) ?? results.set(k, []).get(k)!).push(v);
  const t0 = Date.now();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [state, , paths] of STATES) {
      await setTables(state);
      for (const v of VARIANTS) {
        for (const p of paths) {
          const m = iperf(PATHS[p].from, PATHS[p].to[v[0] === 4 ? 0 : 1]!, v[1]);
          put(`${state}|${p}|${vname(v)}`, m.gbps);
          put(`cpu:${state}|${p}|${vname(v)}`, m.cpuPerGB);
        }
      }
    }
    console.error(`round ${r + 1}/${ROUNDS} done (${((Date.now() - t0) / 1000).toFixed(0)} s), load ${sh("cat", ["/proc/loadavg"]).trim()}`);
  }
  const series = (state: TableState, p: Path, v: [4 | 6, number], what = "") => results.get(`${what}${state}|${p}|${vname(v)}`)!;
  const cell = (xs: number[], digits = 1) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
  const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);
  console.log(`dataplane bench: iperf3 -t ${SECONDS}, ${ROUNDS} rounds; Gbit/s, median (min–max); load at end: ${sh("cat", ["/proc/loadavg"]).trim()}`);
  console.log(`| table | path | ${VARIANTS.map(vname).join(" | ")} |`);
  console.log(`|---|---|${VARIANTS.map(() => "---").join("|")}|`);
  for (const [state, label, paths] of STATES) {
    for (const p of paths) console.log(`| ${label} | ${p} | ${VARIANTS.map((v) => cell(series(state, p, v))).join(" | ")} |`);
  }
  console.log("\nCPU seconds per GB (sender + receiver iperf3 processes: the packets' kernel path), median (min–max)");
  console.log(`| table | path | ${VARIANTS.map(vname).join(" | ")} |`);
  console.log(`|---|---|${VARIANTS.map(() => "---").join("|")}|`);
  for (const [state, label, paths] of STATES) {
    for (const p of paths) console.log(`| ${label} | ${p} | ${VARIANTS.map((v) => cell(series(state, p, v, "cpu:"), 3)).join(" | ")} |`);
  }
  console.log("\nratios: median (min–max) of the per-round ratios");
  console.log(`| ratio | ${VARIANTS.map(vname).join(" | ")} |`);
  console.log(`|---|${VARIANTS.map(() => "---").join("|")}|`);
  const row = (label: string, f: (v: [4 | 6, number]) => number[]) => console.log(`| ${label} | ${VARIANTS.map((v) => cell(f(v), 2)).join(" | ")} |`);
  for (const [state, label] of STATES) {
    row(`${label}: workload / host (goal ≥ 0.97)`, (v) => ratios(series(state, "workload", v), series(state, "host", v)));
    row(`${label}: workload / VXLAN (goal ≥ 1.2)`, (v) => ratios(series(state, "workload", v), series(state, "vxlan", v)));
  }
  for (const [state, label] of STATES) {
    if (state === "none") continue;
    row(`CPU per GB, ${label} / no table: host`, (v) => ratios(series(state, "host", v, "cpu:"), series("none", "host", v, "cpu:")));
    row(`CPU per GB, ${label} / no table: workload`, (v) => ratios(series(state, "workload", v, "cpu:"), series("none", "workload", v, "cpu:")));
  }
  // tabby's rules above the stateful floor: what the table costs beyond conntrack itself
  for (const [state, label] of STATES) {
    if (state === "none" || state === "conntrack") continue;
    row(`${label} / conntrack only: workload Gbit/s`, (v) => ratios(series(state, "workload", v), series("conntrack", "workload", v)));
    row(`${label} / conntrack only: host Gbit/s`, (v) => ratios(series(state, "host", v), series("conntrack", "host", v)));
    row(`CPU per GB, ${label} / conntrack only: workload`, (v) => ratios(series(state, "workload", v, "cpu:"), series("conntrack", "workload", v, "cpu:")));
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
