/**
 * `tabby ipam check [-o table|json] [--datastore URL]`: what is wrong with the IPAM data, like
 * `calicoctl ipam check`: leaked addresses (node or workload gone), addresses held by two handles,
 * blocks claimed by two hosts, affinities without a block, blocks affine to a missing node, and
 * handle records that hold nothing. Exit status 1 when anything is found.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { withStoreFromArgs } from "./datastore-flag.js";
import { parseCommandLine } from "./parse.js";
import { readSnapshot } from "../ipam/collect.js";
import { checkIpam, problemCount, type IpamProblems } from "../ipam/gc.js";

export const USAGE = "tabby ipam check [-o table|json] [--datastore URL]";

export function renderText(p: IpamProblems): string {
  const lines: string[] = [];
  for (const l of p.leaks) lines.push(`leaked address ${l.ip} (block ${l.cidr}, handle ${l.handle ?? "-"}, node ${l.node ?? "-"}): ${l.reason}`);
  for (const d of p.duplicates) lines.push(`address ${d.ip} held by ${d.handles.length} handles: ${d.handles.map((h) => h ?? "-").join(", ")}`);
  for (const s of p.sharedBlocks) lines.push(`block ${s.cidr} claimed by hosts ${s.hosts.join(", ")}`);
  for (const a of p.orphanAffinities) lines.push(`affinity of ${a.host} for ${a.cidr} (${a.state}) has no block`);
  for (const b of p.orphanBlocks) lines.push(`block ${b.cidr} is affine to ${b.host}, which is not a node`);
  for (const h of p.staleHandles) lines.push(`handle ${h} holds no address`);
  const n = problemCount(p);
  lines.push(n === 0 ? "IPAM is consistent: nothing leaked, shared or orphaned." : `${n} problem(s) found.`);
  return `${lines.join("\n")}\n`;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("ipam check", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
  const output = (values.output as string | undefined) ?? "table";
  if (output !== "table" && output !== "json") throw new UsageError(`unknown output format ${JSON.stringify(output)}\nusage: ${USAGE}`);
  return withStoreFromArgs(values.datastore as string | undefined, io.env, async (store) => {
    const p = checkIpam(await readSnapshot(store));
    io.stdout.write(output === "json" ? `${JSON.stringify({ ...p, problems: problemCount(p) }, null, 2)}\n` : renderText(p));
    return problemCount(p) === 0 ? 0 : 1;
  });
}
