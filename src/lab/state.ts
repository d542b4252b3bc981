/**
 * The lab's record of what `up` made — namespaces, processes (by pid, with a marker from their
 * command line so a reused pid is never mistaken for ours), workloads and their addresses —
 * kept in /run/tabby/lab/<name>/state.json. /run/tabby/lab/current.json names the lab that
 * the CLI's other commands use by default.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { LabPlan } from "./plan.js";
import type { ReflectorPlan, Topology } from "./reflectors.js";
import type { FabricPlan } from "./fabric-plan.js";
import type { LabFailure } from "./failure-plan.js";

export const LAB_ROOT = process.env["TABBY_LAB_ROOT"] ?? "/run/tabby/lab";
export const CURRENT_FILE = join(LAB_ROOT, "current.json");

export interface LabProcess {
  role: "agent" | "responder" | "etcd" | "reflector" | "router" | "vm";
  name: string;
  pid: number;
  /** A string that appears in /proc/<pid>/cmdline while the process is ours. */
  marker: string;
}

export interface LabWorkload {
  name: string;
  host: string;
  netns: string;
  ipv4?: string;
  ipv6?: string;
  interface?: string;
  /** `lab up --vms`: a QEMU VM on the tap `interface` in its host's namespace (src/lab/vms.ts). */
  kind?: "vm";
  /** VMs: the unix socket of the VM's serial shell, and its console log. */
  shell?: string;
  console?: string;
}

export interface LabState {
  name: string;
  plan: LabPlan;
  dir: string;
  datastore: string;
  createdAt: string;
  processes: LabProcess[];
  workloads: LabWorkload[];
  /** "rr": hosts peer with the route reflectors below instead of the mesh (absent = mesh). */
  topology?: Topology;
  reflectors?: ReflectorPlan[];
  /** `--topology fabric`: racks, routers and their addresses (fabric-plan.ts). */
  fabric?: FabricPlan;
  /** `--topology fabric`: the anycast addresses and the workloads that serve them. */
  anycast?: { address: string; workloads: string[] }[];
  /** Set once `up` finished. */
  ready: boolean;
  /** BGP hold time the agents were started with (seconds). */
  holdTime?: number;
  /** `lab up --bfd`: BFD timers on the fabric's host↔ToR sessions (ms, count). */
  bfd?: { minRx: number; minTx: number; multiplier: number };
  /** `lab fail`: the failures in force, which `lab heal` undoes (failure-plan.ts). */
  failures?: LabFailure[];
}

export function labDir(name: string): string {
  return join(LAB_ROOT, name);
}

export function readLabState(name: string): LabState | undefined {
  const file = join(labDir(name), "state.json");
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as LabState;
}

export function writeLabState(state: LabState): void {
  mkdirSync(state.dir, { recursive: true, mode: 0o700 });
  const file = join(state.dir, "state.json");
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function setCurrentLab(state: LabState): void {
  mkdirSync(LAB_ROOT, { recursive: true });
  writeFileSync(CURRENT_FILE, JSON.stringify({ name: state.name, datastore: state.datastore }));
}

/** The lab CLI commands act on: --name, else the current lab, else the default name. */
export function currentLabName(): string | undefined {
  if (!existsSync(CURRENT_FILE)) return undefined;
  try {
    return (JSON.parse(readFileSync(CURRENT_FILE, "utf8")) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

export function clearLab(name: string): void {
  rmSync(labDir(name), { recursive: true, force: true });
  if (currentLabName() === name) rmSync(CURRENT_FILE, { force: true });
}

/** True when `pid` is alive and its command line contains `marker`. */
export function processIsOurs(p: LabProcess): boolean {
  try {
    const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, "utf8");
    if (cmdline.length > 0) return cmdline.split("\0").join(" ").includes(p.marker);
    // An empty command line is a zombie, or a live process caught inside execve() (between the
    // switch to its new memory and the kernel recording the new arguments, as happens when
    // `ip netns exec` becomes node). Only the zombie is dead.
    const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X" && state !== "";
  } catch {
    return false;
  }
}
