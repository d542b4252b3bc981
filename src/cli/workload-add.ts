/** `tabby workload add`: see workload.ts (docs/vms.md). */
import type { CliIO } from "./command.js";
import { runAdd } from "./workload.js";

export function run(argv: string[], io: CliIO): Promise<number> {
  return runAdd(argv, io);
}
