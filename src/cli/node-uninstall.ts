/**
 * `tabby node uninstall [--root DIR] [--dry-run] [--purge] [--keep-dataplane]`: undoes
 * `tabby node install`. On the running system (no --root) it first stops and disables the
 * services (SIGTERM: a host leaving tells its peers, which withdraw its routes), then removes
 * every file the install manifest lists, keeping /etc/default/tabby unless --purge (a Debian
 * conffile; --purge also removes /var/lib/tabby's datastore file and /etc/tabby/bgp), and last
 * runs `tabby node cleanup` so the dataplane holds nothing of tabby's (--keep-dataplane skips it).
 */
import { existsSync, readFileSync } from "node:fs";
import { rm, rmdir } from "node:fs/promises";
import { join } from "node:path";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { TabbyError } from "../errors.js";
import { ExecRunner, type CommandRunner } from "../dataplane/exec.js";
import type { Manifest } from "./node-install.js";
import { parseCommandLine } from "./parse.js";
import { BGP_CONFIG_DIR, MANIFEST } from "./node-units.js";
import { nodeCleanup } from "./node-cleanup.js";

const under = (root: string, path: string) => (root === "/" ? path : join(root, path));

/** Directories install may have made, removed when empty (deepest first). */
const MAYBE_EMPTY = [BGP_CONFIG_DIR, "/etc/tabby", "/var/lib/tabby"];

export async function nodeUninstall(opts: { root: string; dryRun: boolean; purge: boolean; say: (l: string) => void }): Promise<string[]> {
  const mpath = under(opts.root, MANIFEST);
  if (!existsSync(mpath)) throw new TabbyError("CLI_NOT_INSTALLED", `no install manifest at ${mpath}: nothing installed by tabby node install here`);
  const m = JSON.parse(readFileSync(mpath, "utf8")) as Manifest;
  const remove = [
    ...m.files.filter((f) => f !== MANIFEST),
    ...(opts.purge ? [...m.conffiles, "/var/lib/tabby/tabby.db", "/var/lib/tabby/tabby.db-wal", "/var/lib/tabby/tabby.db-shm"] : []),
    MANIFEST,
  ];
  const removed: string[] = [];
  for (const f of remove) {
    const p = under(opts.root, f);
    if (!existsSync(p)) continue;
    opts.say(`${opts.dryRun ? "would remove" : "remove"} ${f}`);
    if (!opts.dryRun) await rm(p, { force: true });
    removed.push(f);
  }
  for (const f of opts.purge ? [] : m.conffiles) if (existsSync(under(opts.root, f))) opts.say(`keep  ${f} (your settings; --purge removes it)`);
  if (!opts.dryRun) {
    if (opts.purge) await rm(under(opts.root, BGP_CONFIG_DIR), { recursive: true, force: true });
    for (const d of MAYBE_EMPTY) await rmdir(under(opts.root, d)).catch(() => {});
  }
  return removed;
}

async function systemctl(runner: CommandRunner, say: (l: string) => void, args: string[]): Promise<void> {
  const r = await runner.run("systemctl", args);
  if (r.code !== 0) say(`systemctl ${args.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("node uninstall", argv, io);
  if (!parsed) return 0;
  const v = parsed.values;
  const root = v.root as string;
  if (!root.startsWith("/")) throw new UsageError(`--root must be an absolute path, got "${root}"`);
  const dryRun = v["dry-run"] === true;
  const say = (l: string) => io.stdout.write(l + "\n");
  const live = root === "/";
  const runner = new ExecRunner();
  if (live && !dryRun) {
    // SIGTERM, not the unit's graceful SIGUSR2: this host is leaving, its peers must withdraw.
    await systemctl(runner, say, ["kill", "--signal=SIGTERM", "tabby-node.service"]);
    await systemctl(runner, say, ["disable", "--now", "tabby-node.service"]);
    await systemctl(runner, say, ["stop", "tabby-bgp@*.service"]);
  }
  await nodeUninstall({ root, dryRun, purge: v.purge === true, say });
  if (live && !dryRun) {
    await systemctl(runner, say, ["daemon-reload"]);
    if (v["keep-dataplane"] !== true) await nodeCleanup({ runner, dryRun, say });
  }
  return 0;
}
