/**
 * `tabby ipam show [--show-blocks] [-o json] [--datastore URL]`: per IP pool, how many addresses
 * are in use and free, like `calicoctl ipam show`; with `--show-blocks`, every block of each pool
 * with its affinity and usage. Pool totals can exceed 2^53 (IPv6), so they are bigints and are
 * printed in JSON as decimal strings.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { withStoreFromArgs } from "./datastore-flag.js";
import { parseCommandLine } from "./parse.js";
import type { Store } from "../datastore/store.js";
import type { BlockInfo } from "../ipam/api.js";
import { Ipam } from "../ipam/ipam.js";
import { parsePrefix } from "../net/prefix.js";

export const USAGE = "tabby ipam show [--show-blocks] [-o table|json] [--datastore URL]";

export interface PoolUsage {
  name: string;
  cidr: string;
  blockSize: number;
  disabled: boolean;
  total: bigint;
  inUse: number;
  blocks: BlockInfo[];
}

export interface IpamShowReport {
  pools: PoolUsage[];
  /** Blocks that lie in no current pool (their pool was deleted). */
  orphanBlocks: BlockInfo[];
}

/** Gathers pool and block usage from the store. */
export async function collect(store: Store): Promise<IpamShowReport> {
  const ipam = new Ipam(store);
  const [pools, blocks] = await Promise.all([ipam.pools(), ipam.allBlocks()]);
  pools.sort((a, b) => a.cidr.family - b.cidr.family || a.cidr.addr.compare(b.cidr.addr) || a.cidr.len - b.cidr.len);
  const placed = new Set<string>();
  const out: PoolUsage[] = pools.map((p) => {
    const mine = blocks.filter((b) => p.cidr.containsPrefix(parsePrefix(b.cidr)));
    for (const b of mine) placed.add(b.cidr);
    return {
      name: p.name,
      cidr: p.cidr.toString(),
      blockSize: p.blockSize,
      disabled: p.disabled,
      total: p.cidr.size(),
      inUse: mine.reduce((n, b) => n + b.allocated, 0),
      blocks: mine,
    };
  });
  return { pools: out, orphanBlocks: blocks.filter((b) => !placed.has(b.cidr)) };
}

/** Integer percentage, rounded half up. */
function pct(part: bigint, whole: bigint): string {
  if (whole === 0n) return "0%";
  return `${(part * 200n + whole) / (2n * whole)}%`;
}

function table(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const sep = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+\n`;
  const line = (cells: string[], center = false) =>
    `|${cells
      .map((c, i) => {
        const w = widths[i]!;
        if (center) {
          const left = Math.floor((w - c.length) / 2);
          return ` ${" ".repeat(left)}${c}${" ".repeat(w - c.length - left)} `;
        }
        return ` ${rightAligned.has(i) ? c.padStart(w) : c.padEnd(w)} `;
      })
      .join("|")}|\n`;
  return sep + line(header, true) + sep + rows.map((r) => line(r)).join("") + sep;
}

/** The calicoctl-style table. */
export function renderTable(report: IpamShowReport, showBlocks: boolean): string {
  const header = ["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"];
  if (showBlocks) header.push("AFFINITY");
  const rows: string[][] = [];
  const row = (grouping: string, cidr: string, total: bigint, used: bigint, affinity?: string) => {
    const r = [grouping, cidr, total.toString(), `${used} (${pct(used, total)})`, `${total - used} (${pct(total - used, total)})`];
    if (showBlocks) r.push(affinity ?? "");
    rows.push(r);
  };
  for (const p of report.pools) {
    row(p.disabled ? "IP Pool (disabled)" : "IP Pool", p.cidr, p.total, BigInt(p.inUse));
    if (showBlocks) for (const b of p.blocks) row("Block", b.cidr, BigInt(b.size), BigInt(b.allocated), b.affinity);
  }
  if (showBlocks) for (const b of report.orphanBlocks) row("Block (no pool)", b.cidr, BigInt(b.size), BigInt(b.allocated), b.affinity);
  return table(header, rows, new Set([2]));
}

export function renderJson(report: IpamShowReport, showBlocks: boolean): string {
  const block = (b: BlockInfo) => ({ cidr: b.cidr, affinity: b.affinity ?? null, size: b.size, inUse: b.allocated, free: b.size - b.allocated });
  const doc = {
    pools: report.pools.map((p) => ({
      name: p.name,
      cidr: p.cidr,
      blockSize: p.blockSize,
      disabled: p.disabled,
      total: p.total.toString(),
      inUse: p.inUse,
      free: (p.total - BigInt(p.inUse)).toString(),
      ...(showBlocks ? { blocks: p.blocks.map(block) } : {}),
    })),
    ...(showBlocks ? { orphanBlocks: report.orphanBlocks.map(block) } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("ipam show", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
  const output = (values.output as string | undefined) ?? "table";
  if (output !== "table" && output !== "json") throw new UsageError(`unknown output format ${JSON.stringify(output)}\nusage: ${USAGE}`);
  const showBlocks = values["show-blocks"] === true;
  return withStoreFromArgs(values.datastore as string | undefined, io.env, async (store) => {
    const report = await collect(store);
    io.stdout.write(output === "json" ? renderJson(report, showBlocks) : renderTable(report, showBlocks));
    return 0;
  });
}
