/**
 * `tabby node install [--root DIR] [--dry-run] [--datastore URL] [--nodename NAME]
 *   [--node-args "FLAGS"] [--no-cni] [--bin-dir DIR] [--conf-dir DIR]`:
 * sets a host up to run tabby under systemd (node-units.ts says what and why): the units, the
 * environment file, sysctls, kernel modules, a note on logs, and the CNI plugins and conflist
 * (as `tabby cni install`). Every file is written to a temporary name and renamed; a manifest
 * (/var/lib/tabby/install-manifest.json) lists them for `tabby node uninstall`. An existing
 * /etc/default/tabby is kept (the admin's settings), as dpkg keeps a changed conffile.
 * `--root DIR` writes under DIR (packaging, tests): nothing on the running system is touched and
 * the units still name the real paths. `--dry-run` prints what would be written and writes nothing.
 * Install neither enables nor starts the services; it prints the commands that do.
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { CONFLIST_NAME, installCni } from "./cni-install.js";
import { BGP_CONFIG_DIR, MANIFEST, installFiles, type InstallFile, type UnitOptions } from "./node-units.js";
import { tabbyVersion } from "../version.js";

const USAGE =
  "usage: tabby node install [--root DIR] [--dry-run] [--datastore URL] [--nodename NAME] [--node-args FLAGS] [--no-cni] [--bin-dir DIR] [--conf-dir DIR]";

export interface Manifest {
  version: string;
  files: string[];
  conffiles: string[];
}

/** The unit options for the package this code runs from. */
export function thisPackage(): Pick<UnitOptions, "nodePath" | "cliPath" | "docsDir" | "version"> {
  return {
    nodePath: process.execPath,
    cliPath: fileURLToPath(new URL("./main.js", import.meta.url)),
    docsDir: fileURLToPath(new URL("../../../docs", import.meta.url)),
    version: tabbyVersion(),
  };
}

const under = (root: string, path: string) => (root === "/" ? path : join(root, path));

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp.${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export async function nodeInstall(opts: {
  root: string;
  dryRun: boolean;
  unit: UnitOptions;
  cni?: { binDir: string; confDir: string };
  say: (line: string) => void;
}): Promise<Manifest> {
  const files = installFiles(opts.unit);
  const manifest: Manifest = { version: opts.unit.version, files: [], conffiles: [] };
  for (const f of files) {
    const target = under(opts.root, f.path);
    if (f.conffile) manifest.conffiles.push(f.path);
    else manifest.files.push(f.path);
    if (f.conffile && existsSync(target)) {
      opts.say(`keep  ${f.path} (exists: your settings)`);
      continue;
    }
    opts.say(`${opts.dryRun ? "would write" : "write"} ${f.path} (mode ${f.mode.toString(8)})`);
    if (!opts.dryRun) await writeAtomic(target, f.content, f.mode);
  }
  if (!opts.dryRun) await mkdir(under(opts.root, BGP_CONFIG_DIR), { recursive: true, mode: 0o755 });
  if (opts.cni) {
    const bin = [join(opts.cni.binDir, "tabby"), join(opts.cni.binDir, "tabby-ipam")];
    const conf = join(opts.cni.confDir, CONFLIST_NAME);
    manifest.files.push(...bin, conf);
    for (const p of [...bin, conf]) opts.say(`${opts.dryRun ? "would write" : "write"} ${p}`);
    if (!opts.dryRun) {
      await installCni({
        binDir: under(opts.root, opts.cni.binDir),
        confDir: under(opts.root, opts.cni.confDir),
        ...(opts.unit.datastore ? { datastore: opts.unit.datastore } : {}),
        ...(opts.unit.nodename ? { nodename: opts.unit.nodename } : {}),
      });
    }
  }
  manifest.files.push(MANIFEST);
  opts.say(`${opts.dryRun ? "would write" : "write"} ${MANIFEST}`);
  if (!opts.dryRun) await writeAtomic(under(opts.root, MANIFEST), JSON.stringify(manifest, null, 2) + "\n", 0o644);
  return manifest;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("node install", argv, io);
  if (!parsed) return 0;
  const v = parsed.values;
  const root = v.root as string;
  if (!root.startsWith("/")) throw new UsageError(`--root must be an absolute path, got "${root}"\n${USAGE}`);
  const unit: UnitOptions = {
    ...thisPackage(),
    ...(typeof v.datastore === "string" ? { datastore: v.datastore } : {}),
    ...(typeof v.nodename === "string" ? { nodename: v.nodename } : {}),
    ...(typeof v["node-args"] === "string" ? { nodeArgs: v["node-args"] } : {}),
  };
  const dryRun = v["dry-run"] === true;
  await nodeInstall({
    root,
    dryRun,
    unit,
    ...(v["no-cni"] ? {} : { cni: { binDir: v["bin-dir"] as string, confDir: v["conf-dir"] as string } }),
    say: (line) => io.stdout.write(line + "\n"),
  });
  if (!dryRun && root === "/") {
    io.stdout.write(
      "\nnext: edit /etc/default/tabby (datastore, node name), then\n" +
        "  sysctl --system && systemctl daemon-reload && tabby node check && systemctl enable --now tabby-node\n",
    );
  }
  return 0;
}

export type { InstallFile };
