/**
 * `tabby lab exec NAME -- CMD...`: run a command inside a lab host, router or workload namespace.
 * In a host, `tabby` on PATH talks to that host's agent and the lab's datastore. In a VM
 * (`lab up --vms`), the command runs in the guest's busybox shell (its serial console).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { CliIO } from "./command.js";
import { parseCommandLine } from "./parse.js";
import { UsageError } from "./command.js";
import { requireLab } from "./lab-common.js";

/**
 * With a "--" before CMD, lab exec's own options may also stand between NAME and "--"
 * (`lab exec h1 --name lab -- cmd`, as before the one parser): they are moved in front of NAME so
 * that the parser, which passes everything after NAME through to CMD, still sees them.
 */
function ownOptionsFirst(argv: string[]): string[] {
  const dd = argv.indexOf("--");
  if (dd < 0) return argv;
  const head = argv.slice(0, dd);
  const first = head.findIndex((a) => !a.startsWith("-"));
  if (first < 0) return argv;
  const moved: string[] = [];
  const kept: string[] = [];
  for (let i = first + 1; i < head.length; i++) {
    const a = head[i]!;
    if (a === "--name" && i + 1 < head.length) moved.push(a, head[++i]!);
    else if (a.startsWith("--name=")) moved.push(a);
    else kept.push(a);
  }
  return [...head.slice(0, first), ...moved, head[first]!, ...kept, ...argv.slice(dd)];
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab exec", ownOptionsFirst(argv), io);
  if (!parsed) return 0;
  const nameFlag = parsed.values.name;
  // options after NAME are the command's (passThrough); a "--" before CMD is optional
  const [target, ...rest] = parsed.positionals;
  const cmd = rest[0] === "--" ? rest.slice(1) : rest;
  if (!target || cmd.length === 0) throw new UsageError("usage: tabby lab exec NAME -- CMD [ARGS...]");
  const state = requireLab(nameFlag);
  const host = state.plan.hosts.find((h) => h.name === target);
  const wl = state.workloads.find((w) => w.name === target);
  const router = state.fabric?.routers.find((r) => r.name === target);
  if (!host && !wl && !router) {
    const names = [...state.plan.hosts.map((h) => h.name), ...(state.fabric?.routers ?? []).map((r) => r.name), ...state.workloads.map((w) => w.name)];
    throw new UsageError(`no host, router or workload "${target}" in lab ${state.name}; one of: ${names.join(", ")}`);
  }
  if (!host && !router && wl?.kind === "vm" && wl.shell) {
    const { vmShell } = await import("../vm/serial-shell.js");
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const r = await vmShell(wl.shell, cmd.map(quote).join(" "), 120_000);
    if (r.output) io.stdout.write(`${r.output}\n`);
    return r.code;
  }
  const netns = host ? host.netns : router ? router.netns : wl!.netns;
  const env: NodeJS.ProcessEnv = {
    ...io.env,
    TABBY_DATASTORE: state.datastore,
    PATH: `${join(state.dir, "bin")}:${io.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
  };
  if (host) {
    env["TABBY_NODENAME"] = host.name;
    env["TABBY_CONTROL"] = join(state.dir, `${host.name}.sock`);
  }
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", netns, ...cmd], { env, stdio: "inherit" });
    child.on("error", (err) => {
      io.stderr.write(`tabby lab exec: ${err.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
