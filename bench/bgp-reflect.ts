/**
 * Route reflection benchmark (issue 3): C BIRD clients each announce M IPv4 /32s over iBGP to a
 * route reflector; a monitor client announces nothing. In one run the reflector is first BIRD, then
 * `tabby bgp run` (its own process), each with its own monitor. Printed: seconds from the
 * reflector's start until its monitor holds all C×M routes, CPU seconds, and memory — RSS and its
 * anonymous (RssAnon), file (RssFile) parts, Pss and Private (bench/bgp-util.ts procMemDetail) at
 * the peak (sampled while the routes flow) and after 15 s idle — for both, Node's own floor in the
 * same run, and the ratios tabby/BIRD of each. Modelled on /work/shared/bench/bgp-reflect.sh.
 * Needs root, bird2.
 *
 * Run: npx tsc -p . && node dist/bench/bgp-reflect.js [--clients 20] [--routes-each 5000] [--rounds 1]
 *      [--tabby-only] [--idle 15] [--node-arg FLAG]... [--smaps DIR] [--keep]
 * One namespace ttb2f<pid>: BIRD RR 192.0.2.1, tabby RR 192.0.2.2, clients .11…, monitors after them.
 */
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  birdRouteCount,
  flag,
  memLine,
  memRatios,
  pidOf,
  procCpuS,
  nodeFloor,
  procMemDetail,
  s,
  sampleMemPeak,
  sh,
  startBird,
  startTabby,
  stopBird,
  stopTabby,
  tabbyMemoryLine,
  trySh,
  until,
  type MemFigures,
  type Tabby,
} from "./bgp-util.js";

const argv = process.argv.slice(2);
const C = flag(argv, "--clients", 20);
const M = flag(argv, "--routes-each", 5000);
const rounds = flag(argv, "--rounds", 1);
const N = C * M;
const NS = `ttb2f${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "ttb2-reflect-"));
const keep = argv.includes("--keep");
const nodeArgs: string[] = [];
for (let i = 0; i < argv.length; i++) if (argv[i] === "--node-arg") nodeArgs.push(argv[++i]!);
const only = argv.includes("--tabby-only");
/** --smaps DIR: copies of the tabby reflector's /proc/PID/smaps at all-held and idle, for a per-mapping breakdown. */
const smapsDir = argv.includes("--smaps") ? argv[argv.indexOf("--smaps") + 1] : undefined;
const saveSmaps = (pid: number, name: string) => smapsDir && writeFileSync(join(smapsDir, `${name}.smaps`), readFileSync(`/proc/${pid}/smaps`));
let tabby: Tabby | undefined;

const client = (i: number) => `192.0.2.${10 + i}`;
const MON_BIRD = client(C + 1);
const MON_TABBY = client(C + 2);

function cleanup(): void {
  for (let i = 1; i <= C; i++) stopBird(join(dir, `c${i}`));
  for (const b of ["mb", "mt", "rr"]) stopBird(join(dir, b));
  if (tabby && tabby.child.exitCode === null) tabby.child.kill("SIGKILL");
  trySh("ip", ["netns", "del", NS]);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

function setup(): void {
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
  sh("ip", ["-n", NS, "link", "add", "ra", "type", "veth", "peer", "name", "rb"]);
  sh("ip", ["-n", NS, "link", "set", "ra", "up"]);
  sh("ip", ["-n", NS, "link", "set", "rb", "up"]);
  for (const a of ["192.0.2.1", "192.0.2.2"]) sh("ip", ["-n", NS, "addr", "add", `${a}/24`, "dev", "ra"]);
  for (let i = 1; i <= C + 2; i++) sh("ip", ["-n", NS, "addr", "add", `${client(i)}/24`, "dev", "ra"]);
}

const bgpTo = (name: string, local: string, rr: string, ipv4: string) =>
  `protocol bgp ${name} { local ${local} as 65000; neighbor ${rr} as 65000; multihop; strict bind; connect delay time 1; connect retry time 1; ipv4 { ${ipv4} }; }\n`;

function startClients(): void {
  for (let i = 1; i <= C; i++) {
    const a = client(i);
    let conf = `router id ${a};\nprotocol device {}\nprotocol static st { ipv4;\n`;
    for (let j = 0; j < M; j++) conf += `  route 10.${i}.${(j >> 8) & 255}.${j & 255}/32 blackhole;\n`;
    conf += "}\n";
    const exp = "import none; export where source = RTS_STATIC; next hop self;";
    conf += bgpTo("upb", a, "192.0.2.1", exp) + bgpTo("upt", a, "192.0.2.2", exp);
    writeFileSync(join(dir, `c${i}.conf`), conf);
    startBird(NS, join(dir, `c${i}`));
  }
  writeFileSync(join(dir, "mb.conf"), `router id ${MON_BIRD};\nprotocol device {}\n${bgpTo("up", MON_BIRD, "192.0.2.1", "import all; export none;")}`);
  writeFileSync(join(dir, "mt.conf"), `router id ${MON_TABBY};\nprotocol device {}\n${bgpTo("up", MON_TABBY, "192.0.2.2", "import all; export none;")}`);
  startBird(NS, join(dir, "mb"));
  startBird(NS, join(dir, "mt"));
}

interface RrRun {
  ms: number;
  cpuS: number;
  /** The largest figures while the routes flowed (sampled) … */
  peak: MemFigures;
  /** … and 15 s after the monitor held them all. */
  idle: MemFigures;
}

const IDLE_S = flag(argv, "--idle", 15);

async function birdRr(): Promise<RrRun> {
  const base = join(dir, "rr");
  let conf = "router id 192.0.2.1;\nprotocol device {}\n";
  for (let i = 1; i <= C + 2; i++) {
    if (i === C + 2) continue; // the tabby monitor peers with tabby only
    conf += `protocol bgp c${i} { local 192.0.2.1 as 65000; neighbor ${client(i)} as 65000; multihop; strict bind; rr client; rr cluster id 1.1.1.1; connect delay time 1; ipv4 { import all; export all; }; }\n`;
  }
  writeFileSync(`${base}.conf`, conf);
  const t0 = performance.now();
  startBird(NS, base);
  const pid = await until(() => pidOf(base) !== undefined, 10, 10, "BIRD RR's pid file").then(() => pidOf(base)!);
  const sampler = sampleMemPeak(pid);
  const t1 = await until(() => birdRouteCount(NS, join(dir, "mb")) === N, 50, 600, "BIRD RR monitor");
  const peak = sampler.stop();
  const cpuS = procCpuS(pid);
  await sleep(IDLE_S * 1000);
  const idle = procMemDetail(pid);
  stopBird(base);
  await until(() => birdRouteCount(NS, join(dir, "mb")) === 0, 100, 60, "BIRD RR monitor to drop the routes");
  return { ms: t1 - t0, cpuS, peak, idle };
}

async function tabbyRr(): Promise<RrRun> {
  const config = join(dir, "rr.yaml");
  const control = join(dir, "rr.ctl");
  let y = `routerId: 192.0.2.2\nasNumber: 65000\nclusterId: 1.1.1.1\nlisten: { address: 192.0.2.2, port: 179 }\ncontrol: ${control}\npeers:\n`;
  for (let i = 1; i <= C + 2; i++) {
    if (i === C + 1) continue; // the BIRD monitor peers with BIRD only
    y += `  - { address: ${client(i)}, asNumber: 65000, localAddress: 192.0.2.2, routeReflectorClient: true, connectRetry: 1 }\n`;
  }
  writeFileSync(config, y);
  const t0 = performance.now();
  tabby = startTabby(NS, config, control, join(dir, "rr.log"), nodeArgs);
  const t = tabby;
  const sampler = sampleMemPeak(t.pid);
  const t1 = await until(() => birdRouteCount(NS, join(dir, "mt")) === N, 50, 600, "tabby RR monitor");
  const peak = sampler.stop();
  const cpuS = procCpuS(t.pid);
  console.log(`tabby_rr_heap_at_all_held ${await tabbyMemoryLine(t, N)}`);
  saveSmaps(t.pid, "tabby-all-held");
  // once idle, the speaker's memory reducer gives the burst's young generation back
  await sleep(IDLE_S * 1000);
  const idle = procMemDetail(t.pid);
  saveSmaps(t.pid, "tabby-idle");
  console.log(`tabby_rr_heap_after_${IDLE_S}s_idle ${await tabbyMemoryLine(t, N)}`);
  await stopTabby(t);
  await until(() => birdRouteCount(NS, join(dir, "mt")) === 0, 100, 60, "tabby RR monitor to drop the routes");
  return { ms: t1 - t0, cpuS, peak, idle };
}

async function main(): Promise<void> {
  setup();
  startClients();
  for (let i = 1; i <= C; i++) await until(() => birdRouteCount(NS, join(dir, `c${i}`)) === M, 100, 120, `client ${i} to load its routes`);
  console.log(`${C} clients × ${M} routes = ${N}; reflectors BIRD then tabby, ${rounds} round(s)`);
  const b: number[] = [];
  const t: number[] = [];
  const bc: number[] = [];
  const tc: number[] = [];
  const floor = await nodeFloor();
  console.log(`node_floor ${memLine(floor)} (node -e holding nothing, same run)`);
  for (let r = 1; r <= rounds; r++) {
    let br: RrRun | undefined;
    if (!only) {
      br = await birdRr();
      b.push(br.ms);
      bc.push(br.cpuS);
      console.log(`bird_rr_s ${s(br.ms)} clients=${C} routes_each=${M} total=${N} rr_cpu_s=${br.cpuS.toFixed(2)}`);
      console.log(`bird_rr_memory peak: ${memLine(br.peak)}`);
      console.log(`bird_rr_memory ${IDLE_S}s_idle: ${memLine(br.idle)}`);
      await sleep(500);
    }
    const tr = await tabbyRr();
    t.push(tr.ms);
    tc.push(tr.cpuS);
    console.log(`tabby_rr_s ${s(tr.ms)} clients=${C} routes_each=${M} total=${N} rr_cpu_s=${tr.cpuS.toFixed(2)}`);
    console.log(`tabby_rr_memory peak: ${memLine(tr.peak)}`);
    console.log(`tabby_rr_memory ${IDLE_S}s_idle: ${memLine(tr.idle)}`);
    console.log(`tabby_rr_above_node_floor peak: anon_kB=${tr.peak.anonKb - floor.anonKb} ${IDLE_S}s_idle: anon_kB=${tr.idle.anonKb - floor.anonKb}`);
    if (br) {
      console.log(`memory ratio tabby/bird peak: ${memRatios(tr.peak, br.peak)}`);
      console.log(`memory ratio tabby/bird ${IDLE_S}s_idle: ${memRatios(tr.idle, br.idle)}`);
    }
    await sleep(500);
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)]!;
  if (b.length) {
    console.log(`ratio tabby/bird ${(med(t) / med(b)).toFixed(2)} (reflector start → monitor holds all ${N}, medians)`);
    // CPU seconds are steadier than wall time on a shared machine
    console.log(`cpu ratio tabby/bird ${(med(tc) / med(bc)).toFixed(2)} (reflector CPU seconds, medians)`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
