/** `tabby lab check [-o json]`: who reaches whom; exits 1 on any unexpected result. */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { labCheck, formatMatrix } from "../lab/check.js";
import { requireLab } from "./lab-common.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab check", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const state = requireLab(values.name);
  const report = await labCheck(state);
  if (values.output === "json") io.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else io.stdout.write(formatMatrix(state, report));
  return report.failed === 0 ? 0 : 1;
}
