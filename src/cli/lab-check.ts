/**
 * `tabby lab check [-o json] [--sample N [--seed S]]`: who reaches whom; exits 1 on any
 * unexpected result. The full matrix up to 40 workloads, else (or with --sample) a seeded sample
 * of ordered pairs (src/lab/sample.ts).
 */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { labCheck, formatMatrix } from "../lab/check.js";
import { requireLab } from "./lab-common.js";
import { UsageError } from "./command.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab check", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const whole = (flag: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > 2 ** 31) throw new UsageError(`--${flag} takes a whole number from ${min}, got "${v}"`);
    return Number(v);
  };
  const sample = whole("sample", values.sample, 1);
  const seed = whole("seed", values.seed, 0);
  if (seed !== undefined && sample === undefined) throw new UsageError("--seed picks the pairs of a --sample: give --sample N too");
  const state = requireLab(values.name);
  const report = await labCheck(state, { ...(sample !== undefined ? { sample } : {}), ...(seed !== undefined ? { seed } : {}) });
  if (values.output === "json") io.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else io.stdout.write(formatMatrix(state, report));
  return report.failed === 0 ? 0 : 1;
}
