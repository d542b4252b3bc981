/** `tabby lab heal [TARGET]`: undo one failure `lab fail` made, or all of them. */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { requireLab } from "./lab-common.js";
import { healLab } from "../lab/failures.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab heal", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError("usage: tabby lab heal [TARGET] [--name LAB]");
  const healed = await healLab(requireLab(values.name), positionals[0]);
  io.stdout.write(healed.length ? healed.map((f) => `${f.target}: healed\n`).join("") : "nothing has failed\n");
  return 0;
}
