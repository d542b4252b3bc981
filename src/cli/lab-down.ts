/** `tabby lab down [--name NAME]`: remove what `lab up` made. */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { labDown } from "../lab/down.js";
import { resolveLabName } from "./lab-common.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab down", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  await labDown(resolveLabName(values.name), (line) => io.stdout.write(line + "\n"));
  return 0;
}
