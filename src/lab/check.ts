/**
 * `tabby lab check`: from every workload, try every other workload over IPv4 and IPv6, by ICMP
 * and TCP, and report the matrix. With no policy in the lab every pair is expected to reach.
 */
import { TabbyError } from "../errors.js";
import { TCP_PORT } from "./plan.js";
import { runCommand } from "./sh.js";
import { NODE, PROBE } from "./paths.js";
import type { LabState } from "./state.js";

export interface PairResult {
  from: string;
  to: string;
  family: 4 | 6;
  address: string;
  icmp: boolean;
  tcp: boolean;
  expected: boolean;
  tcpError?: string;
}

export interface CheckReport {
  results: PairResult[];
  passed: number;
  failed: number;
}

export async function labCheck(state: LabState): Promise<CheckReport> {
  if (!state.ready) throw new TabbyError("LAB_NOT_READY", `lab "${state.name}" did not finish coming up; run \`tabby lab up\` again`);
  const results: PairResult[] = [];
  await Promise.all(
    state.workloads.map(async (src) => {
      const targets = state.workloads
        .filter((dst) => dst.name !== src.name)
        .flatMap((dst) => [
          ...(dst.ipv4 ? [{ name: dst.name, family: 4, address: dst.ipv4, port: TCP_PORT }] : []),
          ...(dst.ipv6 ? [{ name: dst.name, family: 6, address: dst.ipv6, port: TCP_PORT }] : []),
        ]);
      const r = await runCommand("ip", ["netns", "exec", src.netns, NODE, PROBE, JSON.stringify(targets)], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new TabbyError("LAB_PROBE_FAILED", `probe in ${src.name} failed: ${r.stderr.trim()}`);
      for (const t of JSON.parse(r.stdout) as (Omit<PairResult, "from" | "to" | "expected"> & { name: string })[]) {
        const pr: PairResult = { from: src.name, to: t.name, family: t.family, address: t.address, icmp: t.icmp, tcp: t.tcp, expected: true };
        if (t.tcpError) pr.tcpError = t.tcpError;
        results.push(pr);
      }
    }),
  );
  results.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.family - b.family);
  const ok = (r: PairResult) => r.icmp === r.expected && r.tcp === r.expected;
  const passed = results.filter(ok).length;
  return { results, passed, failed: results.length - passed };
}

/** The matrix as text: one table per family, a cell per pair (ICMP/TCP). */
export function formatMatrix(state: LabState, report: CheckReport): string {
  const names = state.workloads.map((w) => w.name);
  const width = Math.max(8, ...names.map((n) => n.length + 1));
  const lines: string[] = [];
  for (const family of [4, 6] as const) {
    lines.push(`IPv${family}  (cell: ICMP/TCP port ${TCP_PORT}; ✓ reached, ✗ not reached)`);
    lines.push(" ".repeat(width) + names.map((n) => n.padEnd(width)).join(""));
    for (const from of names) {
      const cells = names.map((to) => {
        if (to === from) return "·".padEnd(width);
        const r = report.results.find((x) => x.from === from && x.to === to && x.family === family);
        if (!r) return "n/a".padEnd(width);
        return `${r.icmp ? "✓" : "✗"}/${r.tcp ? "✓" : "✗"}`.padEnd(width);
      });
      lines.push(from.padEnd(width) + cells.join(""));
    }
    lines.push("");
  }
  const bad = report.results.filter((r) => r.icmp !== r.expected || r.tcp !== r.expected);
  for (const r of bad) {
    lines.push(`FAIL ${r.from} → ${r.to} ${r.address}: icmp ${r.icmp ? "reached" : "not reached"}, tcp ${r.tcp ? "reached" : `not reached (${r.tcpError ?? "?"})`}; expected ${r.expected ? "reach" : "blocked"}`);
  }
  lines.push(`${report.passed} of ${report.results.length} checks as expected${report.failed ? `, ${report.failed} not` : ""}`);
  return lines.join("\n") + "\n";
}
