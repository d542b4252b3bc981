/**
 * `tabby lab drill [TARGET...] [--down S] [--settle S] [-o json]`: runs failures one after
 * another (default: the topology's set, src/lab/drill.ts) while every workload pings a workload
 * on another host every 10 ms, and prints per failure the packets lost and the longest gap.
 */
import { parseCommandLine } from "./parse.js";
import { loadavg, cpus } from "node:os";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { requireLab } from "./lab-common.js";
import { defaultDrill, runDrill, PROBE_INTERVAL_MS } from "../lab/drill.js";
import { columns } from "./columns.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab drill", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const secs = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--${flag} takes seconds, got "${v}"`);
    return Math.round(Number(v) * 1000);
  };
  const downMs = secs("down", values.down);
  const settleMs = secs("settle", values.settle);
  const state = requireLab(values.name);
  const targets = positionals.length ? positionals : defaultDrill(state);
  const say = values.output === "json" ? () => {} : (l: string) => io.stderr.write(l + "\n");
  const load = loadavg()[0]!.toFixed(2);
  const results = await runDrill(state, targets, { say, ...(downMs !== undefined ? { downMs } : {}), ...(settleMs !== undefined ? { settleMs } : {}) });
  if (values.output === "json") {
    io.stdout.write(
      JSON.stringify(
        {
          topology: state.topology ?? "mesh",
          holdTime: state.holdTime ?? 9,
          bfd: state.bfd ?? null,
          probeIntervalMs: PROBE_INTERVAL_MS,
          loadAvg: Number(load),
          cpus: cpus().length,
          results,
        },
        null,
        2,
      ) + "\n",
    );
    return 0;
  }
  io.stdout.write(
    `lab ${state.name} (${state.topology ?? "mesh"}), prober every ${PROBE_INTERVAL_MS} ms per workload, load average ${load} on ${cpus().length} CPU(s)\n`,
  );
  const head = ["FAILURE", "KIND", "DETECTION", "HELD", "FLOWS HIT", "LOST", "LONGEST GAP"];
  const rows = results.map((r) => [
    r.target,
    r.kind,
    r.detection,
    `${r.heldMs} ms`,
    `${r.flowsHit}/${r.flows}`,
    `${r.lost} of ${r.sent}`,
    `${r.longestGapMs} ms`,
  ]);
  io.stdout.write(columns([head, ...rows]));
  return 0;
}
