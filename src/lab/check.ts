/**
 * `tabby lab check`: from every workload, try every other workload over IPv4 and IPv6 — ICMP
 * echo and TCP to each port the workloads serve — and compare what happened with what the
 * policies in the datastore say should happen (src/calc/policy-eval.ts, an evaluator that shares
 * no code with the dataplane). Every probe is reported as expected or not.
 */
import { TabbyError } from "../errors.js";
import { openLabStore } from "./etcd.js";
import { ResourceClient } from "../datastore/resource-client.js";
import type { HostEndpoint, Resource, WorkloadEndpoint } from "../model/index.js";
import { PolicyEvaluator, type EvalEndpoint, type EvalHostEndpoint, type EvalWorld } from "../calc/policy-eval.js";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TCP_PORTS } from "./plan.js";
import { eachLimited, labEffects, netnsPath, type LabEffects } from "./sh.js";
import { DEFAULT_SAMPLE, FULL_MATRIX_MAX, pairCount, samplePairs } from "./sample.js";
import { randomInt } from "node:crypto";
import { NODE, PROBE } from "./paths.js";
import type { LabState } from "./state.js";
import type { ProbeResult, ProbeTarget } from "./probe.js";
import { probeFromVm } from "./vms.js";

export interface PairResult {
  from: string;
  to: string;
  family: 4 | 6;
  address: string;
  protocol: "icmp" | "tcp";
  port?: number;
  observed: boolean;
  expected: boolean;
  /** What the policies say decided it. */
  why: string;
  error?: string;
}

export interface CheckReport {
  /** Set when the datastore could not be read and the last snapshot of the policies was used. */
  note?: string;
  /** Set when a sample of the ordered pairs was probed rather than all of them. */
  sample?: { pairs: number; of: number; seed: number; why: string };
  results: PairResult[];
  passed: number;
  failed: number;
}

const POLICY_KINDS = ["Tier", "NetworkPolicy", "GlobalNetworkPolicy", "Profile", "NetworkSet", "GlobalNetworkSet"];

/** The `to` of a probe of an anycast address (followed by the address). */
export const ANYCAST = "anycast";

/** The checks run against each target address. */
export const CHECKS: { protocol: "icmp" | "tcp"; port?: number }[] = [{ protocol: "icmp" }, ...TCP_PORTS.map((port) => ({ protocol: "tcp" as const, port }))];

export interface CheckOptions {
  /** Probe this many ordered pairs, drawn with `seed` (default: all, up to FULL_MATRIX_MAX workloads). */
  sample?: number;
  seed?: number;
}

/** Probe processes running at once (each tries all its targets in parallel). */
const PROBE_CONCURRENCY = 12;

export async function labCheck(state: LabState, opts: CheckOptions = {}, fx: LabEffects = labEffects()): Promise<CheckReport> {
  if (!state.ready) throw new TabbyError("LAB_NOT_READY", `lab "${state.name}" did not finish coming up; run \`tabby lab up\` again`);
  const { world, note } = await loadWorld(state);
  const evaluator = new PolicyEvaluator(world);
  const names = state.workloads.map((w) => w.name);
  const anycastTo = (a: { address: string }) => `${ANYCAST} ${a.address}`;
  const extra = (state.anycast ?? []).map(anycastTo);
  const total = pairCount(names.length, extra.length);
  // which ordered pairs: all of them, or a seeded sample (asked for, or because the lab is big)
  let sample: CheckReport["sample"];
  let wanted: Map<string, Set<string>> | undefined;
  const size = opts.sample ?? (names.length > FULL_MATRIX_MAX ? DEFAULT_SAMPLE : undefined);
  if (opts.sample !== undefined && (!Number.isInteger(opts.sample) || opts.sample < 1))
    throw new TabbyError("LAB_BAD_SAMPLE", `--sample takes a positive whole number of pairs, got ${opts.sample}`);
  if (opts.seed !== undefined && size === undefined) throw new TabbyError("LAB_BAD_SAMPLE", "--seed picks the pairs of a --sample; give --sample N too");
  if (size !== undefined && size < total) {
    const seed = opts.seed ?? randomInt(0, 2 ** 31);
    const why = opts.sample !== undefined ? "as asked" : `more than ${FULL_MATRIX_MAX} workloads: the full matrix has ${total} pairs`;
    sample = { pairs: size, of: total, seed, why };
    wanted = new Map();
    for (const p of samplePairs(names, extra, size, seed)) wanted.set(p.from, (wanted.get(p.from) ?? new Set()).add(p.to));
  }
  const results: PairResult[] = [];
  const sources = state.workloads.filter((w) => !wanted || wanted.has(w.name));
  await eachLimited(sources, PROBE_CONCURRENCY, async (src) => {
    const want = wanted?.get(src.name);
    const targets: ProbeTarget[] = [];
    for (const dst of state.workloads) {
      if (dst.name === src.name || (want && !want.has(dst.name))) continue;
      for (const [family, address] of [
        [4, dst.ipv4],
        [6, dst.ipv6],
      ] as const) {
        if (!address) continue;
        for (const c of CHECKS) targets.push({ name: dst.name, family, address, ...c });
      }
    }
    // anycast (--topology fabric): whichever holder answers, from every workload
    for (const a of state.anycast ?? []) {
      if (want && !want.has(anycastTo(a))) continue;
      const family = a.address.includes(":") ? 6 : 4;
      for (const c of CHECKS) targets.push({ name: ANYCAST, family, address: a.address, accept: a.workloads, ...c });
    }
    let probed: ProbeResult[];
    if (src.kind === "vm") probed = await probeFromVm(src, targets);
    else {
      // nsenter (sh.ts netnsPath): the probe needs the network namespace only
      const r = await fx.runner.run(NODE, [PROBE, JSON.stringify(targets)], { netns: netnsPath(src.netns) });
      if (r.code !== 0) throw new TabbyError("LAB_PROBE_FAILED", `probe in ${src.name} failed: ${r.stderr.trim()}`);
      probed = JSON.parse(r.stdout) as ProbeResult[];
    }
    for (const t of probed) {
      const srcAddr = t.family === 4 ? src.ipv4! : src.ipv6!;
      const verdict = evaluator.evaluate({ src: srcAddr, dst: t.address, protocol: t.protocol, ...(t.port ? { dstPort: t.port } : {}) });
      const why = verdict.allowed
        ? `allowed (${verdict.ingress.by})`
        : `denied by ${!verdict.egress.allowed ? `egress: ${verdict.egress.by}` : `ingress: ${verdict.ingress.by}`}`;
      const pr: PairResult = {
        from: src.name,
        to: t.name === ANYCAST ? `${ANYCAST} ${t.address}` : t.name,
        family: t.family,
        address: t.address,
        protocol: t.protocol,
        observed: t.reached,
        expected: verdict.allowed,
        why,
      };
      if (t.port !== undefined) pr.port = t.port;
      if (t.error) pr.error = t.error;
      results.push(pr);
    }
  });
  results.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.family - b.family || checkIndex(a) - checkIndex(b));
  const passed = results.filter((r) => r.observed === r.expected).length;
  return { ...(note ? { note } : {}), ...(sample ? { sample } : {}), results, passed, failed: results.length - passed };
}

/**
 * What the policies say, read from the lab's datastore. Each successful read is kept in the lab
 * directory, so that while the datastore is unavailable (an outage drill) the check still runs
 * against the policies as they were last read — nothing can change them meanwhile.
 */
export async function loadWorld(state: LabState): Promise<{ world: EvalWorld; note?: string }> {
  const snapshot = join(state.dir, "policy-snapshot.json");
  let world: EvalWorld;
  try {
    world = await readWorld(state);
  } catch (err) {
    if ((err as { code?: string }).code !== "DS_UNAVAILABLE" || !existsSync(snapshot)) throw err;
    const saved = JSON.parse(readFileSync(snapshot, "utf8")) as { at: string; world: EvalWorld };
    return { world: saved.world, note: `the datastore is unavailable; expectations use the policies as read at ${saved.at}` };
  }
  writeFileSync(snapshot, JSON.stringify({ at: new Date().toISOString(), world }));
  return { world };
}

async function readWorld(state: LabState): Promise<EvalWorld> {
  const { store, close } = await openLabStore(state);
  try {
    return await readWorldFrom(new ResourceClient(store), "eth0");
  } finally {
    await close();
  }
}

/**
 * The policies, workload endpoints and host endpoints of a datastore, as the evaluator takes them;
 * `fabricInterface`: the hosts' interface between nodes (the lab's eth0), whose host endpoints
 * apply to forwarded traffic (without it, only `*` host endpoints do).
 */
export async function readWorldFrom(client: ResourceClient, fabricInterface?: string): Promise<EvalWorld> {
  {
    const resources: Resource[] = [];
    for (const kind of POLICY_KINDS) resources.push(...(await client.list(kind)).items);
    const endpoints: EvalEndpoint[] = (await client.list<WorkloadEndpoint>("WorkloadEndpoint")).items.map((w) => {
      const ep: EvalEndpoint = {
        name: w.metadata.name,
        namespace: w.metadata.namespace ?? "default",
        labels: w.metadata.labels ?? {},
        profiles: w.spec.profiles ?? [],
        addrs: (w.spec.ipNetworks ?? []).map((n) => n.split("/")[0]!),
        ports: (w.spec.ports ?? [])
          .filter((p) => p.name)
          .map((p) => ({ name: p.name!, port: p.port, ...(p.protocol !== undefined ? { protocol: String(p.protocol) } : {}) })),
      };
      if (w.spec.serviceAccountName) ep.serviceAccount = w.spec.serviceAccountName;
      if (w.spec.node) ep.node = w.spec.node;
      return ep;
    });
    // Host endpoints, for traffic forwarded between hosts (which crosses each host's eth0).
    const hostEndpoints: EvalHostEndpoint[] = (await client.list<HostEndpoint>("HostEndpoint")).items
      .filter((h) => h.spec.node && h.spec.interfaceName)
      .map((h) => ({ name: h.metadata.name, node: h.spec.node!, interfaceName: h.spec.interfaceName!, labels: h.metadata.labels ?? {} }));
    return { endpoints, resources, hostEndpoints, ...(fabricInterface ? { fabricInterface } : {}) };
  }
}

function checkIndex(r: PairResult): number {
  return CHECKS.findIndex((c) => c.protocol === r.protocol && c.port === r.port);
}

function checkLabel(c: { protocol: string; port?: number }): string {
  return c.protocol === "icmp" ? "ICMP" : `TCP ${c.port}`;
}

/**
 * The matrix as text: one table per family; a cell holds one glyph per check (ICMP, then each
 * TCP port): ✓ reached, · blocked, and ✗ / ! where that differs from what the policies say.
 */
export function formatMatrix(state: LabState, report: CheckReport): string {
  const names = state.workloads.map((w) => w.name);
  const width = Math.max(8, CHECKS.length + 2, ...names.map((n) => n.length + 1));
  const lines: string[] = report.note ? [`note: ${report.note}`, ""] : [];
  const legend = CHECKS.map(checkLabel).join(", ");
  if (report.sample) return formatSample(state, report, lines, legend);
  lines.push(
    `every ordered pair of the ${names.length} workloads (the full matrix, the default up to ${FULL_MATRIX_MAX} workloads; --sample N probes N random pairs)`,
    "",
  );
  for (const family of [4, 6] as const) {
    lines.push(
      `IPv${family}  (a glyph per check: ${legend}; ✓ reached, · blocked as the policies say; ✗ should reach but did not, ! should be blocked but got through)`,
    );
    lines.push(" ".repeat(width) + names.map((n) => n.padEnd(width)).join(""));
    for (const from of names) {
      const cells = names.map((to) => {
        if (to === from) return "-".padEnd(width);
        const glyphs = CHECKS.map((c) => {
          const r = report.results.find((x) => x.from === from && x.to === to && x.family === family && x.protocol === c.protocol && x.port === c.port);
          if (!r) return "?";
          if (r.observed === r.expected) return r.observed ? "✓" : "·";
          return r.expected ? "✗" : "!";
        });
        return glyphs.join("").padEnd(width);
      });
      lines.push(from.padEnd(width) + cells.join(""));
    }
    lines.push("");
  }
  for (const a of state.anycast ?? []) {
    const cells = names.map((from) => {
      const glyphs = CHECKS.map((c) => {
        const r = report.results.find((x) => x.from === from && x.to === `${ANYCAST} ${a.address}` && x.protocol === c.protocol && x.port === c.port);
        if (!r) return "?";
        if (r.observed === r.expected) return r.observed ? "✓" : "·";
        return r.expected ? "✗" : "!";
      });
      return `${from} ${glyphs.join("")}`;
    });
    lines.push(`anycast ${a.address} (served by ${a.workloads.join(", ")}), from: ${cells.join("  ")}`);
  }
  if (state.anycast?.length) lines.push("");
  lines.push(...mismatchLines(report));
  lines.push(summaryLine(report));
  return lines.join("\n") + "\n";
}

const glyph = (r: PairResult | undefined) => (!r ? "?" : r.observed === r.expected ? (r.observed ? "✓" : "·") : r.expected ? "✗" : "!");

function mismatchLines(report: CheckReport): string[] {
  return report.results
    .filter((x) => x.observed !== x.expected)
    .map(
      (r) =>
        `MISMATCH ${r.from} → ${r.to} ${r.address} ${checkLabel(r)}: ${r.observed ? "reached" : `blocked${r.error ? ` (${r.error})` : ""}`}, but the policies say ${r.why}`,
    );
}

/** A sampled check: one line per pair probed (both families), with the seed that repeats it. */
function formatSample(state: LabState, report: CheckReport, lines: string[], legend: string): string {
  const s = report.sample!;
  lines.push(
    `sample: ${s.pairs} of ${s.of} ordered pairs (${s.why}), seed ${s.seed}; \`tabby lab check --name ${state.name} --sample ${s.pairs} --seed ${s.seed}\` probes the same pairs`,
  );
  lines.push(`(a glyph per check: ${legend}; ✓ reached, · blocked as the policies say; ✗ should reach but did not, ! should be blocked but got through)`);
  const byPair = new Map<string, PairResult[]>();
  for (const r of report.results) {
    const k = `${r.from} → ${r.to}`;
    byPair.set(k, [...(byPair.get(k) ?? []), r]);
  }
  const width = Math.max(0, ...[...byPair.keys()].map((k) => k.length)) + 2;
  for (const [k, rs] of byPair) {
    const fam = (f: 4 | 6) => CHECKS.map((c) => glyph(rs.find((x) => x.family === f && x.protocol === c.protocol && x.port === c.port))).join("");
    const anycast = rs[0]!.to.startsWith(ANYCAST);
    lines.push(`${k.padEnd(width)}${anycast ? `${rs[0]!.address.includes(":") ? "IPv6" : "IPv4"} ${fam(rs[0]!.family)}` : `IPv4 ${fam(4)}  IPv6 ${fam(6)}`}`);
  }
  lines.push("", ...mismatchLines(report), summaryLine(report));
  return lines.join("\n") + "\n";
}

function summaryLine(report: CheckReport): string {
  const blocked = report.results.filter((r) => !r.expected).length;
  return `${report.passed} of ${report.results.length} checks as expected (${report.results.length - blocked} should reach, ${blocked} should be blocked)${report.failed ? `; ${report.failed} not` : ""}`;
}
