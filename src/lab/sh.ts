/**
 * Running the lab's commands (iproute2, the CNI plugin, probes): a small promise wrapper over
 * child_process with errors that say what failed.
 */
import { spawn } from "node:child_process";
import { TabbyError } from "../errors.js";

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export function runCommand(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(new TabbyError("LAB_COMMAND_FAILED", `cannot run ${cmd}: ${err.message}`, { cmd, args }));
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? 1 });
    });
    if (child.stdin) {
      child.stdin.on("error", () => {}); // a command may exit before reading its input
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a command that must succeed; throws LAB_COMMAND_FAILED with its stderr otherwise. */
export async function sh(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) {
    throw new TabbyError("LAB_COMMAND_FAILED", `${cmd} ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`, {
      cmd,
      args,
      stderr: r.stderr,
    });
  }
  return r.stdout;
}

/** `ip -n NS ...` */
export const ipIn = (netns: string, ...args: string[]) => sh("ip", ["-n", netns, ...args]);

export async function listNetns(): Promise<string[]> {
  const out = await sh("ip", ["-j", "netns", "list"]);
  if (!out.trim()) return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}
