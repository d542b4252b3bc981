/** `tabby lab check [-o json]`: who reaches whom; exits 1 on any unexpected result. */
import { parseArgs } from "node:util";
import type { CliIO } from "./command.js";
import { labCheck, formatMatrix } from "../lab/check.js";
import { requireLab } from "./lab-common.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { name: { type: "string" }, output: { type: "string", short: "o" } } });
  const state = requireLab(values.name);
  const report = await labCheck(state);
  if (values.output === "json") io.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else io.stdout.write(formatMatrix(state, report));
  return report.failed === 0 ? 0 : 1;
}
