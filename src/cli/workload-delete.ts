/** `tabby workload delete`: see workload.ts (docs/vms.md). */
import type { CliIO } from "./command.js";
import { runDelete } from "./workload.js";

export function run(argv: string[], io: CliIO): Promise<number> {
  return runDelete(argv, io);
}
