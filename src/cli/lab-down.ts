/** `tabby lab down [--name NAME]`: remove what `lab up` made. */
import { parseArgs } from "node:util";
import type { CliIO } from "./command.js";
import { labDown } from "../lab/down.js";
import { resolveLabName } from "./lab-common.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { name: { type: "string" } } });
  await labDown(resolveLabName(values.name), (line) => io.stdout.write(line + "\n"));
  return 0;
}
