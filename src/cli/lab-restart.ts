/** `tabby lab restart HOST [--kill]`: stop (SIGTERM, or SIGKILL) and start a host's agent. */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { requireLab } from "./lab-common.js";
import { restartAgent } from "../lab/restart.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab restart", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const host = positionals[0];
  if (!host || positionals.length > 1) throw new UsageError("usage: tabby lab restart HOST [--kill] [--name LAB]");
  const state = requireLab(values.name);
  const r = await restartAgent(state, host, values.kill);
  io.stdout.write(`agent ${host}: ${r.oldPid ? `${values.kill ? "killed" : "stopped"} pid ${r.oldPid}, ` : ""}started pid ${r.newPid}\n`);
  return 0;
}
