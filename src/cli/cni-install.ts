/**
 * `tabby cni install [--bin-dir DIR] [--conf-dir DIR] [--datastore URL] [--nodename NAME]`:
 * puts the CNI plugins where a runtime looks for them, as Calico's install-cni step does.
 *
 * In the bin dir: `tabby` and `tabby-ipam`, small shell wrappers that exec this Node.js binary on
 * this checkout's (or installed package's) bundled plugin (`dist/cni/NAME.cjs`, one CommonJS file each, built by
 * scripts/build-cni.mjs: a plugin process starts for every ADD and DEL, and one CommonJS file
 * starts far faster than the ES modules it is made of). The bundle stays where it is because
 * it loads better-sqlite3 and koffi from the package's node_modules; `exec` keeps one process and passes
 * stdin, stdout and the environment straight through. Without a bundle (a build without the
 * devDependencies) the wrappers run the ES module entries instead, and `install` says so.
 * In the conf dir: `10-tabby.conflist`, tabby then the reference `portmap` plugin (capability
 * `portMappings`), unless `--no-conflist`. Files are written to a temporary name and renamed, so
 * a runtime never sees half a file. Defaults: /opt/cni/bin and /etc/cni/net.d.
 */
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { pluginEntry, type CniPluginName } from "../cni/plugin-files.js";

export const DEFAULT_BIN_DIR = "/opt/cni/bin";
export const DEFAULT_CONF_DIR = "/etc/cni/net.d";
export const CONFLIST_NAME = "10-tabby.conflist";

const PLUGINS: CniPluginName[] = ["tabby", "tabby-ipam"];

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The wrapper script for one plugin. Pure. */
export function wrapperScript(nodePath: string, entry: string): string {
  return `#!/bin/sh\n# Installed by tabby cni install.\nexec ${q(nodePath)} ${q(entry)} "$@"\n`;
}

/** The default network configuration list. Pure. */
export function defaultConflist(opts: { datastore?: string; nodename?: string; name?: string } = {}): Record<string, unknown> {
  const tabby: Record<string, unknown> = { type: "tabby" };
  if (opts.datastore) tabby.datastore = opts.datastore;
  if (opts.nodename) tabby.nodename = opts.nodename;
  tabby.ipam = { type: "tabby-ipam" };
  // containerd's CRI then passes the pod's annotations: labels at ADD (docs/cni.md "Labels").
  tabby.capabilities = { "io.kubernetes.cri.pod-annotations": true };
  return {
    cniVersion: "1.0.0",
    name: opts.name ?? "tabby",
    plugins: [tabby, { type: "portmap", snat: true, capabilities: { portMappings: true } }],
  };
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp.${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export interface InstallResult {
  written: string[];
  /** False when a plugin bundle was missing and its wrapper runs the ES module entry. */
  bundled: boolean;
}

export async function installCni(opts: { binDir: string; confDir?: string; datastore?: string; nodename?: string; name?: string }): Promise<InstallResult> {
  const written: string[] = [];
  let bundled = true;
  await mkdir(opts.binDir, { recursive: true });
  for (const name of PLUGINS) {
    const path = join(opts.binDir, name);
    const e = pluginEntry(name);
    bundled &&= e.bundled;
    await writeAtomic(path, wrapperScript(process.execPath, e.entry), 0o755);
    written.push(path);
  }
  if (opts.confDir) {
    await mkdir(opts.confDir, { recursive: true });
    const path = join(opts.confDir, CONFLIST_NAME);
    await writeAtomic(path, JSON.stringify(defaultConflist(opts), null, 2) + "\n", 0o644);
    written.push(path);
  }
  return { written, bundled };
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("cni install", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const { written, bundled } = await installCni({
    binDir: values["bin-dir"],
    ...(values["no-conflist"] ? {} : { confDir: values["conf-dir"] }),
    ...(values.datastore ? { datastore: values.datastore } : {}),
    ...(values.nodename ? { nodename: values.nodename } : {}),
    ...(values.name ? { name: values.name } : {}),
  });
  for (const w of written) io.stdout.write(`wrote ${w}\n`);
  if (!bundled)
    io.stderr.write("note: the plugin bundles (dist/cni/*.cjs) are not built; the plugins run unbundled and start slower (build them with `npm run build`)\n");
  return 0;
}
