/**
 * BGP ingest benchmark (issue 3): a BIRD sender announces N IPv4 /32s over eBGP; in the same run a
 * BIRD receiver and then `tabby bgp run` (a separate process, so its memory is its own) take in the
 * full table. Printed per receiver: seconds from session Established to all N routes held, from
 * process start to all held, and memory; then the ratio tabby/BIRD and tabby's bytes per route.
 * Modelled on /work/shared/bench/bgp-ingest.sh. Needs root, bird2.
 *
 * Run: npx tsc -p . && node dist/bench/bgp-ingest.js [--routes 100000] [--rounds 1] [--order bird,tabby] [--node-arg X]
 * The sender's pace varies from run to run (BIRD sometimes holds back its last UPDATEs for a
 * while), so use several rounds: each alternates the receivers, and medians are compared.
 * Namespaces: ttb2s<pid> (sender), ttb2b<pid> (BIRD receiver), ttb2t<pid> (tabby).
 */
import { mkdtempSync, writeFileSync, rmSync, createWriteStream, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  birdRouteCount,
  flag,
  procCpuS,
  procMem,
  s,
  sh,
  startBird,
  startTabby,
  stopBird,
  stopTabby,
  tabbyMemoryLine,
  tabbyPeers,
  trySh,
  until,
  pidOf,
  type Tabby,
} from "./bgp-util.js";

const argv = process.argv.slice(2);
const N = flag(argv, "--routes", 100_000);
const orderArg = argv.indexOf("--order");
const order = (orderArg >= 0 ? argv[orderArg + 1]! : "bird,tabby").split(",");
const nodeArgs: string[] = [];
for (let i = 0; i < argv.length; i++) if (argv[i] === "--node-arg") nodeArgs.push(argv[++i]!);
const keep = argv.includes("--keep");
const rounds = flag(argv, "--rounds", 1);

const S = `ttb2s${process.pid}`;
const B = `ttb2b${process.pid}`;
const T = `ttb2t${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "ttb2-ingest-"));
let tabby: Tabby | undefined;

function cleanup(): void {
  for (const b of ["s", "b"]) stopBird(join(dir, b));
  if (tabby && tabby.child.exitCode === null) tabby.child.kill("SIGKILL");
  for (const ns of [S, B, T]) trySh("ip", ["netns", "del", ns]);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

function setupNetwork(): void {
  for (const ns of [S, B, T]) {
    sh("ip", ["netns", "add", ns]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }
  sh("ip", ["link", "add", "b1", "netns", S, "type", "veth", "peer", "name", "b2", "netns", B]);
  sh("ip", ["link", "add", "t1", "netns", S, "type", "veth", "peer", "name", "t2", "netns", T]);
  sh("ip", ["-n", S, "addr", "add", "192.0.2.1/24", "dev", "b1"]);
  sh("ip", ["-n", B, "addr", "add", "192.0.2.2/24", "dev", "b2"]);
  sh("ip", ["-n", S, "addr", "add", "198.51.100.1/24", "dev", "t1"]);
  sh("ip", ["-n", T, "addr", "add", "198.51.100.2/24", "dev", "t2"]);
  for (const [ns, dev] of [
    [S, "b1"],
    [S, "t1"],
    [B, "b2"],
    [T, "t2"],
  ] as const)
    sh("ip", ["-n", ns, "link", "set", dev, "up"]);
}

/** Sender: N static /32 blackholes exported to both receivers; passive, so receivers connect. */
async function writeSenderConfig(): Promise<void> {
  const out = createWriteStream(join(dir, "s.conf"));
  const w = (t: string) => (out.write(t) ? Promise.resolve() : new Promise<void>((r) => out.once("drain", () => r())));
  await w("router id 192.0.2.1;\nprotocol device {}\nprotocol static st { ipv4;\n");
  let chunk = "";
  for (let i = 0; i < N; i++) {
    chunk += `  route 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32 blackhole;\n`;
    if (chunk.length > 1 << 16) {
      await w(chunk);
      chunk = "";
    }
  }
  await w(chunk);
  await w("}\n");
  await w("protocol bgp pb { local 192.0.2.1 as 65001; neighbor 192.0.2.2 as 65002; passive on; ipv4 { import none; export all; }; }\n");
  await w("protocol bgp pt { local 198.51.100.1 as 65001; neighbor 198.51.100.2 as 65003; passive on; ipv4 { import none; export all; }; }\n");
  await new Promise<void>((r) => out.end(() => r()));
}

interface Result {
  name: string;
  estToAllMs: number;
  startToAllMs: number;
  mem: string;
  bytesPerRoute?: number;
}

/** The wall-clock time (ms) of the first log line matching `re`, parsed from the line's timestamp. */
async function logTime(file: string, re: RegExp, parse: (line: string) => number): Promise<number> {
  let at = NaN;
  await until(
    () => {
      const line = (existsSync(file) ? readFileSync(file, "utf8") : "").split("\n").find((l) => re.test(l));
      if (line) at = parse(line);
      return line !== undefined;
    },
    20,
    120,
    `${re} in ${file}`,
  );
  return at;
}

async function runBird(): Promise<Result> {
  const base = join(dir, "b");
  const log = join(dir, "b.log");
  writeFileSync(
    `${base}.conf`,
    `log "${log}" all;\ntimeformat log "%F %T.%3f";\ndebug protocols { states };\nrouter id 192.0.2.2;\nprotocol device {}\nprotocol bgp p { local 192.0.2.2 as 65002; neighbor 192.0.2.1 as 65001; connect delay time 1; ipv4 { import all; export none; }; }\n`,
  );
  rmSync(log, { force: true });
  const t0 = Date.now();
  startBird(B, base);
  await until(() => pidOf(base) !== undefined, 10, 10, "BIRD pid file");
  const pid = pidOf(base)!;
  const base0 = procMem(pid);
  const tAll = await until(() => birdRouteCount(B, base) === N, 50, 600, "BIRD receiver routes").then(() => Date.now());
  const m = procMem(pid);
  const cpuS = procCpuS(pid);
  // BIRD logs local time: "2026-11-26 05:10:00.123 <TRACE> p: State changed to up"
  const tEst = await logTime(log, /p: State changed to up/, (l) => new Date(l.slice(0, 23).replace(" ", "T")).getTime());
  stopBird(base);
  return {
    name: "bird",
    estToAllMs: tAll - tEst,
    startToAllMs: tAll - t0,
    mem: `cpu_s=${cpuS.toFixed(2)} peak_rss_kB=${m.hwmKb} (+${m.hwmKb - base0.rssKb} kB = ${Math.round(((m.hwmKb - base0.rssKb) * 1024) / N)} B/route)`,
  };
}

/**
 * Starts tabby with no peer, takes its idle RSS, then adds the sender by rewriting the config and
 * sending SIGHUP: the memory delta is the table's alone.
 */
async function runTabby(): Promise<Result> {
  const config = join(dir, "t.yaml");
  const control = join(dir, "t.ctl");
  const log = join(dir, "t.log");
  const head = `routerId: 198.51.100.2\nasNumber: 65003\nlisten: false\ncontrol: ${control}\n`;
  writeFileSync(config, `${head}peers: []\n`);
  rmSync(log, { force: true });
  tabby = startTabby(T, config, control, log, nodeArgs);
  const t = tabby;
  await until(async () => (await tabbyPeers(t)) !== undefined, 20, 60, "tabby control socket");
  await sleep(1000);
  const idle = procMem(t.pid);
  const cpu0 = procCpuS(t.pid);
  writeFileSync(config, `${head}peers:\n  - address: 198.51.100.1\n    asNumber: 65001\n    connectRetry: 1\n    import: [{ action: accept }]\n`);
  const tHup = Date.now();
  t.child.kill("SIGHUP");
  const trace: string[] = [];
  const tAll = await until(
    async () => {
      const n = (await tabbyPeers(t))?.[0]?.prefixesAccepted;
      if (process.env.TTB2_TRACE) trace.push(`${Date.now() - tHup}:${n}`);
      return n === N;
    },
    20,
    600,
    "tabby routes",
  ).then(() => Date.now());
  if (trace.length) console.log(trace.join(" "));
  const m = procMem(t.pid);
  const cpuS = procCpuS(t.pid) - cpu0;
  // "2026-11-26T05:10:00.123Z info session established {...}"
  const tEst = await logTime(log, /session established/, (l) => new Date(l.slice(0, 24)).getTime());
  // settled figure: after the burst's garbage is collected
  await sleep(3000);
  const settled = procMem(t.pid);
  const heap = await tabbyMemoryLine(t, N);
  // and once V8's memory reducer has had its idle time (it shrinks the young generation)
  await sleep(15_000);
  const idle15 = procMem(t.pid);
  await stopTabby(t);
  const perRoute = ((m.rssKb - idle.rssKb) * 1024) / N;
  const perRouteSettled = ((settled.rssKb - idle.rssKb) * 1024) / N;
  return {
    name: "tabby",
    estToAllMs: tAll - tEst,
    startToAllMs: tAll - tHup,
    mem: `cpu_s=${cpuS.toFixed(2)} ${heap} idle_rss_kB=${idle.rssKb} rss_at_all_kB=${m.rssKb} peak_rss_kB=${m.hwmKb} rss_after_3s_kB=${settled.rssKb} (${Math.round(perRouteSettled)} B/route settled) rss_after_18s_kB=${idle15.rssKb} (${Math.round(((idle15.rssKb - idle.rssKb) * 1024) / N)} B/route)`,
    bytesPerRoute: perRoute,
  };
}

async function main(): Promise<void> {
  setupNetwork();
  await writeSenderConfig();
  const sbase = join(dir, "s");
  startBird(S, sbase);
  await until(() => birdRouteCount(S, sbase) === N, 200, 600, "sender to load its static routes");
  console.log(`sender holds ${N} routes; receivers in order ${order.join(", ")}`);
  const results = new Map<string, Result[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const who of order) {
      const r = who === "bird" ? await runBird() : await runTabby();
      results.set(who, [...(results.get(who) ?? []), r]);
      console.log(
        `${r.name}_ingest_s ${s(r.estToAllMs)} (established → all ${N} held; process start (tabby: SIGHUP adding the peer) → all: ${s(r.startToAllMs)}) ${r.mem}${r.bytesPerRoute !== undefined ? ` bytes_per_route=${Math.round(r.bytesPerRoute)}` : ""}`,
      );
      await sleep(500);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const b = results.get("bird");
  const t = results.get("tabby");
  if (b && t) {
    const bm = med(b.map((r) => r.estToAllMs));
    const tm = med(t.map((r) => r.estToAllMs));
    console.log(`median over ${rounds} round(s): bird ${s(bm)} s, tabby ${s(tm)} s`);
    console.log(`ratio tabby/bird ${(tm / bm).toFixed(2)} (established → all held, medians)`);
    console.log(`tabby memory per route ${Math.round(med(t.map((r) => r.bytesPerRoute!)))} B (RSS at all held − idle RSS) / N, median`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
