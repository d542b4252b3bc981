/**
 * `tabby ipam release --ip ADDR | --handle H | --leaked [--grace DURATION] [--dry-run]`, like
 * `calicoctl ipam release`: release one address (whoever holds it), everything a handle holds,
 * or one leak-collection pass (Calico kube-controllers' rules, see src/ipam/gc.ts): handles whose
 * workload or node is gone, released all or none once they have been candidates for the grace
 * period (default 15m; `--grace 0` releases at once), empty blocks' affinities (never a node's
 * last block) and affinities without a block.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { withStoreFromArgs } from "./datastore-flag.js";
import { parseCommandLine } from "./parse.js";
import { runGc } from "../ipam/collect.js";
import { DEFAULT_LEAK_GRACE_MS, parseDuration } from "../ipam/gc.js";
import { Ipam } from "../ipam/ipam.js";

export const USAGE = "tabby ipam release --ip ADDR | --handle HANDLE | --leaked [--grace DURATION] [--dry-run] [--datastore URL]";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("ipam release", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
  const modes = [values.ip?.length, values.handle?.length, values.leaked].filter(Boolean).length;
  if (modes !== 1) throw new UsageError(`give exactly one of --ip, --handle, --leaked\nusage: ${USAGE}`);
  if (values.grace !== undefined && !values.leaked) throw new UsageError(`--grace goes with --leaked\nusage: ${USAGE}`);
  const graceMs = values.grace !== undefined ? parseDuration(values.grace) : DEFAULT_LEAK_GRACE_MS;
  return withStoreFromArgs(values.datastore, io.env, async (store) => {
    if (values.ip?.length) {
      const n = await new Ipam(store).releaseIPs(values.ip);
      io.stdout.write(`released ${n} of ${values.ip.length} address(es)\n`);
      return n === values.ip.length ? 0 : 1;
    }
    if (values.handle?.length) {
      const ipam = new Ipam(store);
      let n = 0;
      for (const h of values.handle) n += await ipam.releaseByHandle(h);
      io.stdout.write(`released ${n} address(es)\n`);
      return 0;
    }
    const r = await runGc(store, { now: Date.now(), graceMs, dryRun: values["dry-run"] === true });
    const verb = values["dry-run"] ? "would release" : "released";
    for (const h of r.plan.releaseHandles) io.stdout.write(`${verb} handle ${h}\n`);
    for (const ip of r.plan.releaseIPs) io.stdout.write(`${verb} address ${ip}\n`);
    for (const b of values["dry-run"] ? r.plan.releaseBlocks.map((b) => b.cidr) : r.blocksReleased) io.stdout.write(`${verb} empty block ${b}\n`);
    for (const a of values["dry-run"] ? r.plan.releaseAffinities : r.affinitiesReleased) io.stdout.write(`${verb} affinity of ${a.host} for ${a.cidr}\n`);
    for (const b of values["dry-run"] ? r.plan.unaffineBlocks.map((b) => b.cidr) : r.blocksUnaffined)
      io.stdout.write(`${verb} the gone host's affinity of block ${b}\n`);
    const waiting = Object.keys(r.plan.state.leaks).length - r.plan.releaseHandles.length - r.plan.releaseIPs.length;
    io.stdout.write(`${verb} ${r.released} address(es); ${Math.max(0, waiting)} candidate(s) still within the grace period\n`);
    return 0;
  });
}
