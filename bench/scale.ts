/**
 * Scale simulation (issue #15 step 4): H simulated hosts — lightweight BGP sessions from one
 * process (bench/scale-host.ts: OPEN, the host's blocks and borrowed addresses v4 and v6,
 * End-of-RIB, then only counting what arrives) — peer with two route reflectors, first two
 * `tabby bgp run` reflectors, then in the same run two BIRD reflectors (configs written here), or
 * in the order given. Per pair of reflectors it prints:
 *   - converge: the simulator starts connecting → every host holds every other host's routes
 *     from both reflectors (and when all sessions were Established);
 *   - the reflectors' CPU seconds over that and their RSS (now and peak);
 *   - new block: one host announces one more /26 → every other session holds it;
 *   - dead host: one host's sessions are closed (TCP, no NOTIFICATION) → its routes are gone
 *     from every other session;
 * then the ratios tabby/BIRD. Node's own floor (`node -e` holding nothing) is measured in the
 * same run for reference. With --agent, once the tabby reflectors have converged, a real
 * `tabby node run` (namespace ttsa<pid>, SQLite datastore seeded with the Nodes, their blocks and
 * two BGPPeers to the reflectors) joins: time until its kernel holds every host's IPv4 routes,
 * its RSS and CPU. With --calc it also runs bench/calc.js (1000 hosts × 100 endpoints,
 * 2,000 policies: the agent's calculation graph at this scale).
 *
 * Run (root, bird2): npx tsc -p . && node dist/bench/scale.js --hosts 1000 [--order tabby,bird] [--rounds 1] [--inflight 8] [--agent] [--calc] [--keep]
 * The simulator keeps at most --inflight connects per reflector not yet Established (BIRD listens
 * with a backlog of a few connections; SYNs beyond it are dropped and retried by the kernel after
 * 1, 2, 4 … s, which would measure the backoff rather than the reflector).
 * One namespace ttsc<pid>: reflectors 10.200.0.1–2 (tabby), 10.200.0.3–4 (BIRD), hosts 10.200.1.0 + i,
 * all addresses on one veth end; the simulator runs in the namespace as a child process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { mkdirSync, mkdtempSync, openSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { BgpFramer } from "../src/bgp/wire/framer.js";
import {
  extraBlock,
  HeldRoutes,
  hostAnnouncement,
  hostOpen,
  KEEPALIVE,
  nextHop6,
  ROUTES_PER_HOST,
  EXTRA_SLOT,
  MAX_HOSTS,
  sessionAddress,
} from "./scale-host.js";
import {
  birdc,
  CLI,
  flag,
  pidOf,
  procCpuS,
  procMem,
  s,
  sh,
  startBird,
  startTabby,
  stopBird,
  stopTabby,
  trySh,
  until,
  tabbyMemoryLine,
  tabbyPeers,
  type Tabby,
} from "./bgp-util.js";

const argv = process.argv.slice(2);
const H = flag(argv, "--hosts", 100);
/** Connects in flight per reflector (see the simulator). */
const INFLIGHT = flag(argv, "--inflight", 8);
if (H > MAX_HOSTS || H < 3) throw new Error(`--hosts must be 3…${MAX_HOSTS}`);

// ---------------------------------------------------------------- the simulator (child process)

/** One session: host h to reflector r. */
interface Sim {
  host: number;
  rr: string;
  sock: Socket | undefined;
  framer: BgpFramer;
  state: "idle" | "connecting" | "open" | "established";
  dead: boolean;
  /** set-up times (performance.now): connect called, TCP up, the reflector's OPEN, its KEEPALIVE */
  t: [number, number, number, number];
}

function simulator(): void {
  const rrs: string[] = [];
  const held = new HeldRoutes(H, 2);
  const sims: Sim[] = [];
  // what each host sends once Established, in one write (as tabby's speaker writes a batch)
  const announcements = Array.from({ length: H }, (_, h) => hostAnnouncement(h, H));
  let t0 = 0;
  let established = 0;
  let closing = false;
  let simCpu0 = 0;
  let waiters: { test: () => boolean; ev: string }[] = [];
  const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const check = () => {
    waiters = waiters.filter((w) => {
      if (!w.test()) return true;
      emit({ ev: w.ev, ms: performance.now() - t0, ...(w.ev === "established" ? { setup: setupMedians() } : {}) });
      return false;
    });
  };
  /** Median ms per session: connect → TCP up, TCP up → the reflector's OPEN, OPEN → its KEEPALIVE; percentiles of the whole set-up. */
  const setupMedians = () => {
    const med = (f: (t: Sim["t"]) => number) => {
      const xs = sims.map((x) => f(x.t)).sort((a, b) => a - b);
      return Number(xs[Math.floor(xs.length / 2)]!.toFixed(1));
    };
    // the whole set-up (connect → the reflector's KEEPALIVE): its tail holds up the connects in flight
    const whole = sims.map((x) => x.t[3] - x.t[0]).sort((a, b) => a - b);
    const at = (q: number) => Number(whole[Math.min(whole.length - 1, Math.floor(q * whole.length))]!.toFixed(1));
    return {
      tcp: med((t) => t[1] - t[0]),
      open: med((t) => t[2] - t[1]),
      keepalive: med((t) => t[3] - t[2]),
      setup: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: whole.at(-1)!.toFixed(1) },
    };
  };
  const notifications = new Map<string, number>();
  // connects in flight (not yet Established) per reflector, at most INFLIGHT: a reflector's
  // listen backlog (BIRD's is small) would otherwise drop SYNs, and the kernel's retransmission
  // backoff (1, 2, 4, 8 … s) would be measured instead of the reflector
  const inflight = new Map<string, number>();
  const queue: [Sim, number][] = [];
  const busy = (rr: string, d: number) => inflight.set(rr, (inflight.get(rr) ?? 0) + d);
  const pump = () => {
    for (let k = 0; k < queue.length; ) {
      const [x, idx] = queue[k]!;
      if ((inflight.get(x.rr) ?? 0) >= INFLIGHT) {
        k++;
        continue;
      }
      queue.splice(k, 1);
      open(x, idx);
    }
  };

  const down = (x: Sim, idx: number) => {
    if (x.state === "established") established--;
    else busy(x.rr, -1);
    x.state = "idle";
    x.sock = undefined;
    held.clearSession(idx);
    if (!closing && !x.dead)
      setTimeout(() => {
        queue.push([x, idx]);
        pump();
      }, 1000);
    pump();
    check();
  };
  const open = (x: Sim, idx: number) => {
    if (closing || x.dead || x.state !== "idle") return;
    busy(x.rr, 1);
    x.state = "connecting";
    x.t = [performance.now(), 0, 0, 0];
    x.framer = new BgpFramer();
    const sock = connect({ host: x.rr, port: 179, localAddress: sessionAddress(x.host) });
    x.sock = sock;
    sock.setNoDelay(true);
    sock.on("connect", () => {
      x.t[1] = performance.now();
      x.state = "open";
      sock.write(hostOpen(x.host));
    });
    sock.on("data", (chunk: Buffer) => {
      let msgs: Uint8Array[];
      try {
        msgs = x.framer.push(chunk);
      } catch {
        sock.destroy();
        return;
      }
      for (const m of msgs) {
        const type = m[18];
        if (type === 2) held.apply(idx, m);
        else if (type === 1) {
          x.t[2] = performance.now();
          sock.write(KEEPALIVE);
        } else if (type === 4 && x.state === "open") {
          x.t[3] = performance.now();
          x.state = "established";
          established++;
          busy(x.rr, -1);
          pump();
          sock.write(Buffer.concat(announcements[x.host]!));
        } else if (type === 3) {
          const k = `${m[19]}/${m[20]}`;
          notifications.set(k, (notifications.get(k) ?? 0) + 1);
        }
      }
      check();
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      if (x.sock === sock) down(x, idx);
    });
  };
  // KEEPALIVEs every 60 s (hold time 240 s)
  setInterval(() => {
    for (const x of sims) if (x.state === "established") x.sock?.write(KEEPALIVE);
  }, 60_000).unref();

  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const c = JSON.parse(line) as { cmd: string; rrs?: string[]; host?: number };
    t0 = performance.now();
    if (c.cmd === "connect") {
      const cpu = process.cpuUsage();
      simCpu0 = (cpu.user + cpu.system) / 1e6;
      closing = false;
      rrs.splice(0, rrs.length, ...c.rrs!);
      held.reset();
      sims.length = 0;
      for (let h = 0; h < H; h++)
        for (const rr of rrs) sims.push({ host: h, rr, sock: undefined, framer: new BgpFramer(), state: "idle", dead: false, t: [0, 0, 0, 0] });
      waiters.push({ ev: "established", test: () => established === sims.length });
      waiters.push({ ev: "converged", test: () => held.complete === H * ROUTES_PER_HOST });
      inflight.clear();
      queue.length = 0;
      sims.forEach((x, i) => queue.push([x, i]));
      pump();
    } else if (c.cmd === "newblock") {
      const h = c.host!;
      sims.forEach((x) => {
        if (x.host === h) x.sock?.write(extraBlock(h, H));
      });
      waiters.push({ ev: "newblock", test: () => held.holding(h, EXTRA_SLOT) === held.everywhere });
    } else if (c.cmd === "kill") {
      const h = c.host!;
      sims.forEach((x) => {
        if (x.host !== h) return;
        x.dead = true;
        x.sock?.destroy();
      });
      waiters.push({ ev: "withdrawn", test: () => [0, 1, 2, 3, 4, EXTRA_SLOT].every((slot) => held.holding(h, slot) === 0) });
    } else if (c.cmd === "close") {
      closing = true;
      for (const x of sims) x.sock?.destroy();
      const cpu = process.cpuUsage();
      emit({ ev: "closed", ms: 0, simCpuS: (cpu.user + cpu.system) / 1e6 - simCpu0, notifications: Object.fromEntries(notifications) });
      notifications.clear();
    } else if (c.cmd === "exit") process.exit(0);
    check();
  });
}

// ---------------------------------------------------------------- the bench (parent)

const NS = `ttsc${process.pid}`;
/** The real agent's namespace, and its address (on the simulated hosts' subnet). */
const AG = `ttsa${process.pid}`;
const AGENT = "10.200.255.250";
const AGENT6 = "fd00:200::fffa";
const withAgent = argv.includes("--agent");
let agent: ChildProcess | undefined;
const keep = argv.includes("--keep");
const rounds = flag(argv, "--rounds", 1);
const orderArg = argv.indexOf("--order");
const order = (orderArg >= 0 ? argv[orderArg + 1]! : "tabby,bird").split(",");
const nodeArgs: string[] = [];
for (let i = 0; i < argv.length; i++) if (argv[i] === "--node-arg") nodeArgs.push(argv[++i]!);
const TABBY_RRS = ["10.200.0.1", "10.200.0.2"];
const BIRD_RRS = ["10.200.0.3", "10.200.0.4"];
const SELF = fileURLToPath(import.meta.url);
let dir = "";
let sim: ChildProcess | undefined;
const tabbys: Tabby[] = [];

function cleanup(): void {
  if (sim && sim.exitCode === null) sim.kill("SIGKILL");
  for (const t of tabbys) if (t.child.exitCode === null) t.child.kill("SIGKILL");
  for (const b of ["b1", "b2"]) if (dir) stopBird(join(dir, b));
  if (agent && agent.exitCode === null) agent.kill("SIGKILL");
  trySh("ip", ["netns", "del", NS]);
  trySh("ip", ["netns", "del", AG]);
  if (dir && !keep) rmSync(dir, { recursive: true, force: true });
}

function setup(): void {
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["netns", "add", AG]);
  sh("ip", ["-n", AG, "link", "set", "lo", "up"]);
  const batch = [
    "link set lo up",
    // the other end is the real agent's uplink: every simulated host is on-link from there
    `link add ra type veth peer name rb netns ${AG}`,
    "link set ra up",
    ...[...TABBY_RRS, ...BIRD_RRS].map((a) => `addr add ${a}/16 dev ra`),
  ];
  for (let i = 0; i < H; i++) batch.push(`addr add ${sessionAddress(i)}/16 dev ra`, `addr add ${nextHop6(i)}/64 dev ra nodad`);
  writeFileSync(join(dir, "ip.batch"), `${batch.join("\n")}\n`);
  sh("ip", ["-n", NS, "-batch", join(dir, "ip.batch")]);
  sh("ip", ["netns", "exec", NS, "sysctl", "-q", "-w", "net.core.somaxconn=8192", "net.ipv4.tcp_max_syn_backlog=8192"]);
  sh("ip", ["-n", AG, "addr", "add", `${AGENT}/16`, "dev", "rb"]);
  sh("ip", ["-n", AG, "addr", "add", `${AGENT6}/64`, "dev", "rb", "nodad"]);
  sh("ip", ["-n", AG, "link", "set", "rb", "up"]);
}

function tabbyConfig(rr: string, control: string): string {
  let y = `routerId: ${rr}\nasNumber: 65000\nclusterId: 1.1.1.1\nlisten: { address: ${rr}, port: 179 }\ncontrol: ${control}\npeers:\n`;
  for (let i = 0; i < H; i++)
    y += `  - { address: ${sessionAddress(i)}, asNumber: 65000, localAddress: ${rr}, routeReflectorClient: true, passive: true, holdTime: 240 }\n`;
  if (withAgent) y += `  - { address: ${AGENT}, asNumber: 65000, localAddress: ${rr}, routeReflectorClient: true, passive: true }\n`;
  return y;
}

function birdConfig(rr: string): string {
  let c = `router id ${rr};\nprotocol device {}\n`;
  c += `template bgp rrc { local ${rr} as 65000; multihop; strict bind; passive on; rr client; rr cluster id 1.1.1.1; hold time 240; ipv4 { import all; export all; }; ipv6 { import all; export all; }; }\n`;
  for (let i = 0; i < H; i++) c += `protocol bgp h${i} from rrc { neighbor ${sessionAddress(i)} as 65000; }\n`;
  return c;
}

interface Reflector {
  pids: number[];
  /** tabby's own memory account (control op `memory`), per reflector */
  memory(): Promise<string>;
  stop(): Promise<void>;
}

async function startTabbyPair(): Promise<Reflector> {
  const ts = TABBY_RRS.map((rr, k) => {
    const config = join(dir, `t${k + 1}.yaml`);
    const control = join(dir, `t${k + 1}.ctl`);
    writeFileSync(config, tabbyConfig(rr, control));
    const t = startTabby(NS, config, control, join(dir, `t${k + 1}.log`), nodeArgs);
    tabbys.push(t);
    return t;
  });
  for (const t of ts) await until(async () => (await tabbyPeers(t)) !== undefined, 50, 120, "tabby reflector control socket");
  return {
    pids: ts.map((t) => t.pid),
    memory: async () => (await Promise.all(ts.map((t) => tabbyMemoryLine(t)))).join(" | "),
    stop: async () => {
      for (const t of ts) await stopTabby(t);
    },
  };
}

async function startBirdPair(): Promise<Reflector> {
  const bases = BIRD_RRS.map((rr, k) => {
    const base = join(dir, `b${k + 1}`);
    writeFileSync(`${base}.conf`, birdConfig(rr));
    rmSync(`${base}.pid`, { force: true });
    startBird(NS, base);
    return base;
  });
  for (const b of bases) await until(() => pidOf(b) !== undefined && /BIRD/.test(birdc(NS, b, "show", "status")), 50, 120, "BIRD reflector");
  return {
    pids: bases.map((b) => pidOf(b)!),
    memory: async () => "",
    stop: async () => {
      for (const b of bases) {
        const pid = pidOf(b);
        stopBird(b);
        if (pid) await until(() => !trySh("kill", ["-0", String(pid)]) && true, 50, 30, "BIRD to exit").catch(() => {});
      }
    },
  };
}

// child I/O
const evQueue: { ev: string; ms: number; [k: string]: unknown }[] = [];
let evWake: (() => void) | undefined;
function send(o: object): void {
  sim!.stdin!.write(`${JSON.stringify(o)}\n`);
}
async function ev(name: string, timeoutS: number): Promise<{ ev: string; ms: number; [k: string]: unknown }> {
  const deadline = performance.now() + timeoutS * 1000;
  for (;;) {
    const i = evQueue.findIndex((e) => e.ev === name);
    if (i >= 0) return evQueue.splice(i, 1)[0]!;
    if (performance.now() > deadline) throw new Error(`timed out waiting for the simulator's ${name}`);
    await Promise.race([new Promise<void>((r) => (evWake = r)), sleep(500)]);
  }
}

interface Figures {
  who: string;
  establishedMs: number;
  setup: unknown;
  convergeMs: number;
  cpuS: number[];
  rssKb: number[];
  hwmKb: number[];
  idleRssKb: number[];
  newBlockMs: number;
  withdrawMs: number;
  notifications: unknown;
  simCpuS: number;
  agentLine: string | undefined;
  memLine: string;
  idleAfterKb: number[];
}

const cpuOf = (pids: number[]) => pids.map((p) => procCpuS(p));

async function phase(who: string): Promise<Figures> {
  const rr = who === "tabby" ? await startTabbyPair() : await startBirdPair();
  await sleep(1000);
  const idle = rr.pids.map((p) => procMem(p).rssKb);
  const cpu0 = cpuOf(rr.pids);
  send({ cmd: "connect", rrs: who === "tabby" ? TABBY_RRS : BIRD_RRS });
  const est = await ev("established", 600);
  const conv = await ev("converged", 900);
  const cpu1 = cpuOf(rr.pids);
  const mem = rr.pids.map((p) => procMem(p));
  const memLine = await rr.memory();
  // and once idle (tabby's memory reducer runs after an idle 10 s interval)
  await sleep(15_000);
  const idleAfter = rr.pids.map((p) => procMem(p).rssKb);
  const agentLine = who === "tabby" && withAgent ? await agentJoins() : undefined;
  send({ cmd: "newblock", host: 0 });
  const nb = await ev("newblock", 300);
  send({ cmd: "kill", host: 1 });
  const wd = await ev("withdrawn", 300);
  send({ cmd: "close" });
  const closed = await ev("closed", 30);
  await rr.stop();
  return {
    who,
    establishedMs: est.ms,
    setup: est.setup,
    convergeMs: conv.ms,
    cpuS: cpu1.map((c, i) => c - cpu0[i]!),
    rssKb: mem.map((m) => m.rssKb),
    hwmKb: mem.map((m) => m.hwmKb),
    idleRssKb: idle,
    newBlockMs: nb.ms,
    withdrawMs: wd.ms,
    notifications: closed.notifications,
    simCpuS: closed.simCpuS as number,
    agentLine,
    memLine,
    idleAfterKb: idleAfter,
  };
}

/**
 * The datastore the real agent reads: mesh off, the two tabby reflectors as global BGPPeers, an
 * IPPool, and H + 1 Nodes with their blocks' affinities (as IPAM would have claimed them).
 */
async function seedDatastore(url: string): Promise<void> {
  const { openStore } = await import("../src/datastore/open.js");
  const { ResourceClient } = await import("../src/datastore/resource-client.js");
  const store = await openStore(url, {});
  const client = new ResourceClient(store);
  const V3 = "projectcalico.org/v3";
  const res: object[] = [
    { kind: "BGPConfiguration", metadata: { name: "default" }, spec: { asNumber: 65000, nodeToNodeMeshEnabled: false } },
    { kind: "IPPool", metadata: { name: "pool" }, spec: { cidr: "10.64.0.0/10", blockSize: 26 } },
    { kind: "Node", metadata: { name: "agent" }, spec: { bgp: { ipv4Address: `${AGENT}/16`, ipv6Address: `${AGENT6}/64` } } },
    ...TABBY_RRS.map((a, k) => ({ kind: "BGPPeer", metadata: { name: `rr${k + 1}` }, spec: { peerIP: a, asNumber: 65000 } })),
  ];
  for (let i = 0; i < H; i++) res.push({ kind: "Node", metadata: { name: `h${i}` }, spec: { bgp: { ipv4Address: `${sessionAddress(i)}/16` } } });
  for (const r of res) await client.create({ apiVersion: V3, ...r } as never);
  for (let i = 0; i < H; i++) {
    const a = 0x0a400000 + 64 * i;
    await store.put(
      `/calico/ipam/v2/host/h${i}/ipv4/block/10.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}-26`,
      JSON.stringify({ state: "confirmed", deleted: false }),
    );
  }
  await store.close();
}

/** Routes tabby installed (protocol 152) in the agent's namespace, IPv4 and IPv6. */
function agentRoutes(): number {
  let n = 0;
  for (const f of ["-4", "-6"]) n += (trySh("ip", [f, "-n", AG, "route", "show", "proto", "152"]) ?? "").split("\n").filter((l) => l.trim() !== "").length;
  return n;
}

/** A real `tabby node run` joins the converged network: time until its kernel holds every host's IPv4 routes; its memory. */
async function agentJoins(): Promise<string> {
  const url = `sqlite://${join(dir, "agent.db")}`;
  const t0 = performance.now();
  await seedDatastore(url);
  const seeded = performance.now();
  mkdirSync(join(dir, "secrets"), { recursive: true, mode: 0o700 });
  const log = openSync(join(dir, "agent.log"), "a");
  const args = [
    "netns",
    "exec",
    AG,
    process.execPath,
    CLI,
    "node",
    "run",
    "--name",
    "agent",
    "--ip",
    `${AGENT}/32`,
    "--ip6",
    `${AGENT6}/128`,
    "--datastore",
    url,
    "--control",
    join(dir, "agent.sock"),
    "--secrets-dir",
    join(dir, "secrets"),
    "--ipam-gc-grace",
    "off",
  ];
  const start = performance.now();
  agent = spawn("ip", args, { stdio: ["ignore", log, log] });
  const want = ROUTES_PER_HOST * H; // per host: its /26, two /32, its /122 and a /128
  const done = await until(() => agentRoutes() >= want, 100, 600, `the agent's kernel to hold ${want} routes`);
  const m = procMem(agent.pid!);
  const cpu = procCpuS(agent.pid!);
  const gone = new Promise((r) => agent!.once("exit", r));
  agent.kill("SIGTERM");
  await Promise.race([gone, sleep(20_000)]);
  if (agent.exitCode === null) agent.kill("SIGKILL");
  return `agent_join_s ${s(done - start)} (tabby node run start → its kernel holds all ${want} routes, v4 and v6; datastore seeded with ${H + 1} Nodes in ${s(seeded - t0)} s) agent_rss_MB ${mb(m.rssKb)} (peak ${mb(m.hwmKb)}) agent_cpu_s ${cpu.toFixed(2)}`;
}

/** RSS of a Node process that holds nothing (the runtime's own floor), in the same run. */
async function nodeFloorKb(): Promise<number> {
  const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1e6)"], { stdio: "ignore" });
  await sleep(1500);
  const kb = procMem(c.pid!).rssKb;
  c.kill("SIGKILL");
  return kb;
}

function loadavg(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mb = (kb: number) => (kb / 1024).toFixed(1);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function main(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), "ttsc-"));
  process.on("exit", cleanup);
  process.on("SIGINT", () => process.exit(130));
  setup();
  sim = spawn("ip", ["netns", "exec", NS, process.execPath, SELF, "--sim", "--hosts", String(H), "--inflight", String(INFLIGHT)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  createInterface({ input: sim.stdout! }).on("line", (l) => {
    evQueue.push(JSON.parse(l));
    evWake?.();
  });
  console.log(
    `scale: ${H} simulated hosts × 2 reflectors (${H * 2} sessions), ${H * ROUTES_PER_HOST} routes (${ROUTES_PER_HOST} per host: v4 /26 + 2 /32, v6 /122 + /128); order ${order.join(", ")}, ${rounds} round(s), at most ${INFLIGHT} connects in flight per reflector; load average ${loadavg()}`,
  );
  const floor = await nodeFloorKb();
  console.log(`node_floor_rss_kB ${floor} (node -e holding nothing, same run)`);
  const res = new Map<string, Figures[]>();
  for (let r = 1; r <= rounds; r++) {
    for (const who of order) {
      const f = await phase(who);
      res.set(who, [...(res.get(who) ?? []), f]);
      console.log(
        `${who}_rr converge_s ${s(f.convergeMs)} (all ${H * 2} established ${s(f.establishedMs)}; per session, median ms: ${JSON.stringify(f.setup)}) rr_cpu_s ${f.cpuS.map((c) => c.toFixed(2)).join("+")} rr_rss_MB ${f.rssKb.map(mb).join("+")} (idle ${f.idleRssKb.map(mb).join("+")}, peak ${f.hwmKb.map(mb).join("+")}, 15 s after convergence ${f.idleAfterKb.map(mb).join("+")}) new_block_ms ${f.newBlockMs.toFixed(1)} dead_host_withdrawn_ms ${f.withdrawMs.toFixed(1)} notifications ${JSON.stringify(f.notifications)} simulator_cpu_s ${f.simCpuS.toFixed(2)} load ${loadavg()}`,
      );
      if (f.memLine) console.log(`${who}_rr_memory ${f.memLine}`);
      if (f.agentLine) console.log(f.agentLine);
      trySh("ip", ["-n", NS, "neigh", "flush", "all"]);
      await sleep(1000);
    }
  }
  const t = res.get("tabby");
  const b = res.get("bird");
  if (t && b) {
    const ratio = (g: (f: Figures) => number) => (med(t.map(g)) / med(b.map(g))).toFixed(2);
    console.log(
      `ratio tabby/bird: converge ${ratio((f) => f.convergeMs)} (goal ≤ 0.5), new block ${ratio((f) => f.newBlockMs)}, dead host ${ratio((f) => f.withdrawMs)}, reflector CPU ${ratio((f) => sum(f.cpuS))}, reflector RSS ${ratio((f) => sum(f.rssKb))} (medians over rounds, both reflectors summed)`,
    );
    console.log(`tabby reflector RSS above node's floor: ${t.map((f) => f.rssKb.map((k) => mb(k - floor)).join("+")).join(", ")} MB`);
  }
  send({ cmd: "exit" });
  if (argv.includes("--calc")) {
    console.log("calc graph, 1000 hosts × 100 endpoints, 2000 policies (bench/calc.js --sync-only):");
    const calc = spawn(process.execPath, ["--expose-gc", join(SELF, "..", "calc.js"), "--sync-only"], { stdio: ["ignore", "inherit", "inherit"] });
    await new Promise((r) => calc.once("exit", r));
  }
}

if (argv.includes("--sim")) simulator();
else
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
