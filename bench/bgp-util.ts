/**
 * Shared shell for the BGP benchmarks (bench/bgp-ingest.ts, bench/bgp-reflect.ts): run commands,
 * network namespaces, BIRD processes and their route counts, a `tabby bgp run` process and its
 * control socket, and /proc memory figures. Modelled on /work/shared/bench/bgp-*.sh.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { openSync, readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { queryControl } from "../src/bgp/control.js";

/** The CLI the benches run: this build's, or TABBY_BENCH_CLI (another build's main.js, for a before/after in one sitting). */
export const CLI = process.env["TABBY_BENCH_CLI"] ?? fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
}

export function trySh(cmd: string, args: string[]): string | undefined {
  try {
    return sh(cmd, args);
  } catch {
    return undefined;
  }
}

export function nsExec(ns: string, cmd: string, args: string[]): string {
  return sh("ip", ["netns", "exec", ns, cmd, ...args]);
}

/** Starts BIRD in a namespace (it daemonises; its pid is in `${base}.pid`). */
export function startBird(ns: string, base: string): void {
  nsExec(ns, "bird", ["-c", `${base}.conf`, "-s", `${base}.ctl`, "-P", `${base}.pid`]);
}

export function pidOf(base: string): number | undefined {
  if (!existsSync(`${base}.pid`)) return undefined;
  const n = Number(readFileSync(`${base}.pid`, "utf8").trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function stopBird(base: string): void {
  const pid = pidOf(base);
  if (pid) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  }
}

export function birdc(ns: string, base: string, ...args: string[]): string {
  return trySh("ip", ["netns", "exec", ns, "birdc", "-s", `${base}.ctl`, ...args]) ?? "";
}

/** Routes in BIRD's master4 table (first number of `show route count`), or -1. */
export function birdRouteCount(ns: string, base: string): number {
  const m = /^(\d+) of \d+ routes/m.exec(birdc(ns, base, "show", "route", "count"));
  return m ? Number(m[1]) : -1;
}

export function birdEstablished(ns: string, base: string, proto: string): boolean {
  return /Established/.test(birdc(ns, base, "show", "protocols", proto));
}

export interface Tabby {
  child: ChildProcess;
  pid: number;
  control: string;
}

/** `ip netns exec NS node dist/src/cli/main.js bgp run -c FILE`; the node process is the child itself (ip execs). */
export function startTabby(ns: string, config: string, control: string, logFile: string, nodeArgs: string[] = []): Tabby {
  const log = openSync(logFile, "a");
  const child = spawn("ip", ["netns", "exec", ns, process.execPath, ...nodeArgs, CLI, "bgp", "run", "-c", config], { stdio: ["ignore", log, log] });
  return { child, pid: child.pid!, control };
}

export async function stopTabby(t: Tabby): Promise<void> {
  if (t.child.exitCode !== null || t.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => t.child.once("exit", () => r()));
  t.child.kill("SIGTERM");
  const timer = setTimeout(() => t.child.kill("SIGKILL"), 30_000);
  await gone;
  clearTimeout(timer);
}

interface PeerRow {
  address: string;
  established: boolean;
  prefixesAccepted: number;
}

export async function tabbyPeers(t: Tabby): Promise<PeerRow[] | undefined> {
  try {
    return (await queryControl(t.control, { op: "peers" }, 2000)) as PeerRow[];
  } catch {
    return undefined;
  }
}

/**
 * The speaker's own account of its memory (control op `memory`): heap used (live data and garbage
 * not yet collected), the young generation's size, old space used, external; per route when `n`.
 */
export async function tabbyMemoryLine(t: Tabby, n?: number): Promise<string> {
  try {
    const m = (await queryControl(t.control, { op: "memory" }, 5000)) as {
      heapUsed: number;
      heapPhysical?: number;
      malloced?: number;
      external: number;
      spaces: Record<string, { size: number; used: number; physical?: number }>;
    };
    const mbs = (b: number) => (b / 1048576).toFixed(1);
    const per = n ? ` (${Math.round(m.heapUsed / n)} B/route of heap)` : "";
    // every space with something resident: physical/used
    const spaces = Object.entries(m.spaces)
      .filter(([, v]) => (v.physical ?? v.size) > 0)
      .map(([k, v]) => `${k.replace(/_space$/, "")}=${mbs(v.physical ?? v.size)}/${mbs(v.used)}`)
      .join(",");
    return `heap_used_MB=${mbs(m.heapUsed)}${per} heap_resident_MB=${mbs(m.heapPhysical ?? NaN)} v8_malloced_MB=${mbs(m.malloced ?? NaN)} new_space_MB=${mbs(m.spaces.new_space?.size ?? 0)} old_space_used_MB=${mbs(m.spaces.old_space?.used ?? 0)} external_MB=${mbs(m.external)} spaces_resident/used_MB=${spaces}`;
  } catch (e) {
    return `memory_op_failed=${JSON.stringify(String(e))}`;
  }
}

/** kB figures from /proc/PID/status. */
export function procMem(pid: number): { rssKb: number; hwmKb: number } {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const f = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? NaN);
  return { rssKb: f("VmRSS"), hwmKb: f("VmHWM") };
}

/**
 * A process's memory in kB, from /proc/PID/status and /proc/PID/smaps_rollup: RSS and its parts
 * (RssAnon: heap, stacks, malloc — what the process itself needs; RssFile: mapped files such as
 * the node or bird binary and its libraries, shared with every process running them; RssShmem),
 * Pss (each shared page divided among the processes that map it) and Private (pages only this
 * process maps, clean + dirty; a binary's file pages count here when no other process runs it).
 */
export interface MemFigures {
  rssKb: number;
  anonKb: number;
  fileKb: number;
  shmemKb: number;
  pssKb: number;
  privateKb: number;
}

export const MEM_FIELDS = ["rssKb", "anonKb", "fileKb", "shmemKb", "pssKb", "privateKb"] as const;

export function procMemDetail(pid: number): MemFigures {
  const st = readFileSync(`/proc/${pid}/status`, "utf8");
  const sm = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const f = (text: string, k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? NaN);
  return {
    rssKb: f(st, "VmRSS"),
    anonKb: f(st, "RssAnon"),
    fileKb: f(st, "RssFile"),
    shmemKb: f(st, "RssShmem"),
    pssKb: f(sm, "Pss"),
    privateKb: f(sm, "Private_Clean") + f(sm, "Private_Dirty"),
  };
}

/** Each figure's short name, as printed. */
const MEM_NAMES: Record<(typeof MEM_FIELDS)[number], string> = {
  rssKb: "rss",
  anonKb: "anon",
  fileKb: "file",
  shmemKb: "shmem",
  pssKb: "pss",
  privateKb: "private",
};

/** The memory of a Node process that holds nothing (the runtime's own floor), in the same run. */
export async function nodeFloor(): Promise<MemFigures> {
  const c = spawn(process.execPath, ["-e", "setInterval(() => {}, 1e6)"], { stdio: "ignore" });
  await sleep(1500);
  const m = procMemDetail(c.pid!);
  c.kill("SIGKILL");
  return m;
}

/** `rss_kB=… anon_kB=… file_kB=… shmem_kB=… pss_kB=… private_kB=…` with a prefix on each key. */
export function memLine(m: MemFigures, prefix = ""): string {
  return MEM_FIELDS.map((k) => `${prefix}${MEM_NAMES[k]}_kB=${m[k]}`).join(" ");
}

/** Each figure's ratio a/b, e.g. `rss 6.71 anon 2.10 …`. */
export function memRatios(a: MemFigures, b: MemFigures): string {
  return MEM_FIELDS.filter((k) => k !== "shmemKb")
    .map((k) => `${MEM_NAMES[k]} ${(a[k] / b[k]).toFixed(2)}`)
    .join(" ");
}

/**
 * The largest of each figure while it runs: samples the process every `ms` (the kernel keeps only
 * the peak RSS, VmHWM; the peak of its anonymous or private part is sampled). `stop` returns the maxima.
 */
export function sampleMemPeak(pid: number, ms = 100): { stop: () => MemFigures; now: () => MemFigures } {
  const max: MemFigures = { rssKb: 0, anonKb: 0, fileKb: 0, shmemKb: 0, pssKb: 0, privateKb: 0 };
  const take = () => {
    try {
      const m = procMemDetail(pid);
      for (const k of MEM_FIELDS) if (m[k] > max[k]) max[k] = m[k];
    } catch {
      /* gone */
    }
  };
  take();
  const timer = setInterval(take, ms);
  return {
    now: () => ({ ...max }),
    stop: () => {
      clearInterval(timer);
      take();
      return { ...max };
    },
  };
}

/** CPU seconds (user + system) the process has used, from /proc/PID/stat. */
export function procCpuS(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // fields 14 and 15, in clock ticks (USER_HZ = 100)
}

/** Polls `check` every `ms` until true; returns the time (performance.now) it first saw true. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, timeoutS: number, what: string): Promise<number> {
  const deadline = performance.now() + timeoutS * 1000;
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(ms);
  }
}

export function flag(argv: string[], name: string, def: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(argv[i + 1]?.replace(/_/g, "").replace(/k$/i, "000").replace(/m$/i, "000000"));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
  return v;
}

export const s = (ms: number) => (ms / 1000).toFixed(2);
