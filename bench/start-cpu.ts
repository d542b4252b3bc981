/**
 * The CPU a tabby process spends starting (issue #15): user + system seconds of whole processes,
 * against Node's own start in the same run. Cases, run in turn round after round (A B C ... A B C,
 * so a drift in the machine's speed touches each alike):
 *   node_e0      `node -e 0`
 *   node_empty   `node empty.mjs` (an ES module importing nothing)
 *   version      `tabby --version` (to its exit)
 *   node_run     `tabby node run` in a namespace of its own against a SQLite datastore it makes,
 *                until it logs its first sync programmed ("in sync")
 *   bgp_run      `tabby bgp run` with metrics on, until it logs "serving metrics" and its control
 *                socket answers
 * A finished process's CPU is its waiting shell's cutime + cstime (/proc/PID/stat of `sh`), a
 * running one's its own utime + stime; both in clock ticks (10 ms), so the figure is the median of
 * the rounds. Printed: median, min, max per case, the ratios to node_e0 and node_empty, the load
 * average before and after. With `--vs CLI` (another build's dist/src/cli/main.js, e.g. the main
 * checkout's) each tabby case runs for both builds in the same rounds (names suffixed _vs).
 * NODE_COMPILE_CACHE / NODE_DISABLE_COMPILE_CACHE pass through from the environment; with
 * `--cache-modes` each tabby case runs twice a round instead, without Node's compile cache
 * (suffix _nocache: NODE_DISABLE_COMPILE_CACHE=1) and with one the warm-up round filled (_cache).
 * Needs root.
 *
 * Run: npx tsc -p . && node dist/bench/start-cpu.js [--rounds 7] [--vs CLI] [--cache-modes] [--only version,bgp_run]
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { queryControl } from "../src/bgp/control.js";
import { freePort } from "../src/testkit/free-port.js";
import { CLI, flag, procCpuS, trySh, sh } from "./bgp-util.js";

const argv = process.argv.slice(2);
const ROUNDS = flag(argv, "--rounds", 7);
const vs = argv.includes("--vs") ? argv[argv.indexOf("--vs") + 1]! : undefined;
const cacheModes = argv.includes("--cache-modes");
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1]!.split(",") : undefined;
const dir = mkdtempSync(join(tmpdir(), "sc-start-"));
const live = new Set<number>();
const namespaces = new Set<string>();
let seq = 0;

function cleanup(): void {
  for (const pid of live) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  for (const ns of namespaces) trySh("ip", ["netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));
process.on("SIGTERM", () => process.exit(143));

/** CPU seconds of `cmd` run to its exit: the waiting shell's cutime + cstime. */
function exitedCpuS(cmd: string[], env: NodeJS.ProcessEnv = process.env): number {
  const r = spawnSync("sh", ["-c", '"$@" >/dev/null 2>&1; cat /proc/$$/stat', "sh", ...cmd], { encoding: "utf8", env });
  const f = r.stdout.slice(r.stdout.lastIndexOf(")") + 2).split(" ");
  return (Number(f[13]) + Number(f[14])) / 100; // fields 16 and 17: the children waited for
}

/** Starts `args` (argv[0] the program), waits until `ready(stderr)` holds, returns its CPU then and stops it. */
async function runningCpuS(args: string[], ready: (stderr: string) => boolean | Promise<boolean>, what: string, env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(args[0]!, args.slice(1), { stdio: ["ignore", "ignore", "pipe"], env });
  const pid = child.pid!;
  live.add(pid);
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  let cpu = Number.NaN;
  for (let i = 0; i < 6000 && child.exitCode === null; i++) {
    if (await ready(stderr)) {
      cpu = procCpuS(pid);
      break;
    }
    await sleep(10);
  }
  if (Number.isNaN(cpu)) throw new Error(`${what} did not come up: ${stderr.slice(-2000)}`);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await gone;
  clearTimeout(timer);
  live.delete(pid);
  return cpu;
}

/** `tabby node run` alone in a fresh namespace with a fresh SQLite datastore, until its first sync is programmed. */
async function nodeRun(cli: string, env: NodeJS.ProcessEnv): Promise<number> {
  const n = ++seq;
  const ns = `sc${process.pid}n${n}`;
  const d = join(dir, `node${n}`);
  mkdirSync(join(d, "secrets"), { recursive: true, mode: 0o700 });
  sh("ip", ["netns", "add", ns]);
  namespaces.add(ns);
  sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
  sh("ip", ["-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "up1"]);
  for (const l of ["up0", "up1"]) sh("ip", ["-n", ns, "link", "set", l, "up"]);
  sh("ip", ["-n", ns, "addr", "add", "10.231.0.1/24", "dev", "up0"]);
  const args = ["ip", "netns", "exec", ns, process.execPath, cli, "node", "run", "--name", "sc1", "--ip", "10.231.0.1/24", "--ip6", "none"];
  args.push("--datastore", `sqlite://${join(d, "tabby.db")}`, "--control", join(d, "node.sock"), "--secrets-dir", join(d, "secrets"), "--ipam-gc-grace", "off");
  try {
    return await runningCpuS(args, (e) => e.includes("in sync"), "node run", env);
  } finally {
    trySh("ip", ["netns", "del", ns]);
    namespaces.delete(ns);
    rmSync(d, { recursive: true, force: true });
  }
}

/** `tabby bgp run` (one peer that never answers, metrics on) until it serves metrics and its control socket answers. */
async function bgpRun(cli: string, env: NodeJS.ProcessEnv): Promise<number> {
  const n = ++seq;
  const conf = join(dir, `bgp${n}.yaml`);
  const sock = join(dir, `bgp${n}.sock`);
  const port = await freePort();
  writeFileSync(
    conf,
    `routerId: 10.0.0.1\nasNumber: 64512\nlisten: false\ncontrol: ${sock}\nmetrics: { address: 127.0.0.1, port: ${port} }\npeers:\n  - { address: 127.0.0.1, asNumber: 64512, port: 1 }\n`,
  );
  const answers = () =>
    queryControl(sock, { op: "peers" }, 1000).then(
      () => true,
      () => false,
    );
  try {
    return await runningCpuS(
      [process.execPath, cli, "bgp", "run", "-c", conf],
      async (e) => e.includes("serving metrics") && existsSync(sock) && (await answers()),
      "bgp run",
      env,
    );
  } finally {
    rmSync(conf, { force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  const empty = join(dir, "empty.mjs");
  writeFileSync(empty, "");
  const cases: [string, () => number | Promise<number>][] = [
    ["node_e0", () => exitedCpuS([process.execPath, "-e", "0"])],
    ["node_empty", () => exitedCpuS([process.execPath, empty])],
  ];
  const clis: [string, string][] = vs
    ? [
        ["", CLI],
        ["_vs", vs],
      ]
    : [["", CLI]];
  const base = { ...process.env };
  delete base["NODE_COMPILE_CACHE"];
  delete base["NODE_DISABLE_COMPILE_CACHE"];
  const envs: [string, NodeJS.ProcessEnv][] = cacheModes
    ? [
        ["_nocache", { ...base, NODE_DISABLE_COMPILE_CACHE: "1" }],
        ["_cache", { ...base, NODE_COMPILE_CACHE: join(dir, "compile-cache") }],
      ]
    : [["", process.env]];
  for (const [suffix, cli] of clis)
    for (const [mode, env] of envs) {
      cases.push([`version${suffix}${mode}`, () => exitedCpuS([process.execPath, cli, "--version"], env)]);
      cases.push([`node_run${suffix}${mode}`, () => nodeRun(cli, env)]);
      cases.push([`bgp_run${suffix}${mode}`, () => bgpRun(cli, env)]);
    }
  const chosen = cases.filter(([name]) => !only || name === "node_e0" || name === "node_empty" || only.some((o) => name.startsWith(o)));
  console.log(
    `cli ${CLI}${vs ? ` vs ${vs}` : ""} rounds=${ROUNDS} NODE_COMPILE_CACHE=${process.env["NODE_COMPILE_CACHE"] ?? "-"} NODE_DISABLE_COMPILE_CACHE=${process.env["NODE_DISABLE_COMPILE_CACHE"] ?? "-"}`,
  );
  console.log(
    `load_before ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  const got = new Map<string, number[]>(chosen.map(([n]) => [n, []]));
  for (const [, run] of chosen) await run(); // warm-up round, not counted (page cache, compile caches)
  for (let r = 0; r < ROUNDS; r++) for (const [name, run] of chosen) got.get(name)!.push(await run());
  console.log(
    `load_after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  const e0 = median(got.get("node_e0")!);
  const em = median(got.get("node_empty")!);
  for (const [name, xs] of got) {
    const m = median(xs);
    console.log(
      `${name.padEnd(22)} cpu_s median=${m.toFixed(3)} min=${Math.min(...xs).toFixed(2)} max=${Math.max(...xs).toFixed(2)}  x_node_e0=${(m / e0).toFixed(1)} x_node_empty=${(m / em).toFixed(1)} above_node_empty=${(m - em).toFixed(3)}`,
    );
  }
  const pairs: [string, string][] = [];
  for (const name of ["version", "node_run", "bgp_run"])
    for (const [mode] of envs) {
      if (vs) pairs.push([`${name}${mode}`, `${name}_vs${mode}`]);
      if (cacheModes && mode === "_cache") for (const [suffix] of clis) pairs.push([`${name}${suffix}_cache`, `${name}${suffix}_nocache`]);
    }
  for (const [a, b] of pairs) {
    const x = got.get(a);
    const y = got.get(b);
    if (x && y) console.log(`${a} / ${b} = ${(median(x) / median(y)).toFixed(2)} saved_s=${(median(y) - median(x)).toFixed(3)}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
