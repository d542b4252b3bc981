/** `tabby lab fail TARGET`: kill a host's agent, a router or a reflector, or cut a link (src/lab/failure-plan.ts). */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { requireLab } from "./lab-common.js";
import { failLab } from "../lab/failures.js";

const WHAT = {
  agent: "agent killed (SIGKILL)",
  router: "router dead (daemons killed, nothing forwarded)",
  reflector: "reflector killed (SIGKILL)",
  link: "link cut (every packet dropped, carrier up)",
};

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab fail", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError("usage: tabby lab fail HOST|ROUTER|A:B [--name LAB]   (A:B a link: h1:fabric, h1:r1a, r1a:sp1)");
  const f = await failLab(requireLab(values.name), positionals[0]!);
  io.stdout.write(`${f.target}: ${WHAT[f.kind]}${f.kind === "link" ? ` (${f.ifname} in ${f.netns})` : ""}; \`tabby lab heal ${f.target}\` undoes it\n`);
  return 0;
}
