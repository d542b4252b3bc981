/**
 * `tabby lab drill`: a set of failures, one after another, while a prober in every workload
 * sends an ICMP echo every 10 ms to a workload on another host (in another rack in the fabric
 * topology). For each failure: fail it, keep it failed long enough for the slowest detection to
 * act (agents: restarted at once, the zero-loss case), heal it, let the lab settle, then read the
 * probers: packets lost and the longest run of them as time (ping-summary.ts). Packet counts,
 * never wall-clock durations, are what the drill measures.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { queryControl } from "../bgp/control.js";
import { failLab, healLab } from "./failures.js";
import { planFailure, type LabFailure } from "./failure-plan.js";
import { summarizePing, type PingSummary } from "./ping-summary.js";
import type { LabState, LabWorkload } from "./state.js";

export const PROBE_INTERVAL_MS = 10;

export interface ProbePair {
  from: LabWorkload;
  to: LabWorkload;
}

/** Each workload probes the first workload (IPv4) on another host — in another rack when there are racks. */
export function probePairs(state: LabState): ProbePair[] {
  const rackOf = (host: string) => state.plan.hosts.find((h) => h.name === host)?.rack;
  const out: ProbePair[] = [];
  for (const w of state.workloads) {
    if (!w.ipv4) continue;
    const others = state.workloads.filter((o) => o.ipv4 && o.host !== w.host);
    const farther = others.filter((o) => rackOf(o.host) !== rackOf(w.host));
    const to = (farther.length ? farther : others)[0];
    if (to) out.push({ from: w, to });
  }
  return out;
}

/** The drill's default failures: agents in every topology, then what the topology adds. */
export function defaultDrill(state: LabState): string[] {
  const hosts = state.plan.hosts.map((h) => h.name);
  if (state.fabric) {
    const h = state.fabric.hosts[0]!;
    return [h.name, `${h.name}:${h.uplinks[0]!.tor}`, h.uplinks[0]!.tor];
  }
  if (state.reflectors?.length) return [hosts[0]!, state.reflectors[0]!.name];
  return hosts.slice(0, 2);
}

interface Running {
  pair: ProbePair;
  child: ChildProcess;
  out: string;
  closed: Promise<void>;
}

/** ping every 10 ms from each pair's workload; `stop` ends them (SIGINT, by pid) and reads them. */
export function startProbers(pairs: ProbePair[]): { stop(): Promise<{ pair: ProbePair; summary: PingSummary }[]> } {
  const running: Running[] = pairs.map((pair) => {
    const child = spawn("ip", ["netns", "exec", pair.from.netns, "ping", "-D", "-n", "-i", String(PROBE_INTERVAL_MS / 1000), pair.to.ipv4!], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const r: Running = { pair, child, out: "", closed: new Promise((res) => child.on("close", () => res())) };
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (r.out += d));
    return r;
  });
  return {
    async stop() {
      for (const r of running) if (r.child.exitCode === null && r.child.pid) process.kill(r.child.pid, "SIGINT");
      await Promise.all(running.map((r) => r.closed));
      return running.map((r) => ({ pair: r.pair, summary: summarizePing(r.out, PROBE_INTERVAL_MS) }));
    },
  };
}

export interface DrillResult {
  target: string;
  kind: LabFailure["kind"];
  /** What should detect the failure, as configured. */
  detection: string;
  /** How long the failure was kept in force before healing, ms. */
  heldMs: number;
  flows: number;
  /** Flows that lost anything. */
  flowsHit: number;
  sent: number;
  lost: number;
  longestGapMs: number;
}

/** Waits until the host's agent answers with every peer Established (at most `tries` × 200 ms). */
async function agentSettled(state: LabState, host: string, tries = 150): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    try {
      const peers = (await queryControl(join(state.dir, `${host}.sock`), { op: "peers" }, 1000)) as { state: string }[];
      if (peers.length > 0 && peers.every((p) => p.state === "Established" || p.state === "Refused")) return true;
    } catch {
      /* not up yet */
    }
    await sleep(200);
  }
  return false;
}

export function detectionOf(state: LabState, f: LabFailure): string {
  if (f.kind === "agent") return "graceful restart (peers keep its routes)";
  const hold = `hold ${state.holdTime ?? 9} s`;
  const bfd = state.bfd;
  if (state.fabric && bfd && f.kind !== "reflector") return `BFD ${bfd.minRx * bfd.multiplier} ms (${bfd.minRx} ms × ${bfd.multiplier}), else ${hold}`;
  return hold;
}

export async function runDrill(
  state: LabState,
  targets: string[],
  opts: { say?: (l: string) => void; downMs?: number; settleMs?: number } = {},
): Promise<DrillResult[]> {
  const say = opts.say ?? (() => {});
  const pairs = probePairs(state);
  const results: DrillResult[] = [];
  for (const t of targets) planFailure(state, t); // every target exists before anything fails
  for (const target of targets) {
    const probers = startProbers(pairs);
    await sleep(1000);
    const f = await failLab(state, target);
    // an agent comes back at once; anything else stays down past the hold time so the slowest detection acts
    const heldMs = f.kind === "agent" ? 500 : (opts.downMs ?? ((state.holdTime ?? 9) + 3) * 1000);
    say(`${target}: failed (${f.kind}); healing in ${heldMs} ms`);
    await sleep(heldMs);
    await healLab(state, target);
    if (f.kind === "agent") await agentSettled(state, f.host);
    await sleep(opts.settleMs ?? 5000);
    const got = await probers.stop();
    const r: DrillResult = {
      target,
      kind: f.kind,
      detection: detectionOf(state, f),
      heldMs,
      flows: got.length,
      flowsHit: got.filter((g) => g.summary.lost > 0).length,
      sent: got.reduce((a, g) => a + g.summary.sent, 0),
      lost: got.reduce((a, g) => a + g.summary.lost, 0),
      longestGapMs: Math.max(0, ...got.map((g) => g.summary.longestGapMs)),
    };
    say(`${target}: healed; ${r.lost} of ${r.sent} lost over ${r.flows} flows, longest gap ${r.longestGapMs} ms`);
    results.push(r);
  }
  return results;
}
