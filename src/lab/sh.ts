/**
 * The lab's effects: commands through the injected CommandRunner (src/dataplane/exec.ts, the one
 * the agent and the CNI plugin use) and daemons through the one process supervisor
 * (supervisor.ts). `labEffects()` is the real pair; the golden plan tests pass FakeRunner and
 * FakeSupervisor. The helpers here only add the lab's error code (LAB_COMMAND_FAILED) and the
 * `ip -n NS` spelling.
 */
import { TabbyError } from "../errors.js";
import { ExecRunner, type CommandRunner, type RunOptions } from "../dataplane/exec.js";
import { ProcessSupervisor, type Supervisor } from "./supervisor.js";

export interface LabEffects {
  runner: CommandRunner;
  supervisor: Supervisor;
}

let real: LabEffects | undefined;
/** The real effects, one supervisor per process (it remembers how the daemons it started ended). */
export function labEffects(): LabEffects {
  real ??= { runner: new ExecRunner(), supervisor: new ProcessSupervisor() };
  return real;
}

/** Runs a command that must succeed; throws LAB_COMMAND_FAILED with its stderr otherwise. */
export async function sh(runner: CommandRunner, cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await runner.run(cmd, args, opts);
  if (r.code !== 0) {
    throw new TabbyError(
      "LAB_COMMAND_FAILED",
      `${cmd} ${args.join(" ")}${opts.netns ? ` (netns ${opts.netns})` : ""} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`,
      {
        cmd,
        args,
        stderr: r.stderr,
      },
    );
  }
  return r.stdout;
}

/** `ip -n NS ...` */
export const ipIn = (runner: CommandRunner, netns: string, ...args: string[]) => sh(runner, "ip", ["-n", netns, ...args]);

/** `ip -n NS -batch -`: many ip commands in one process (one line each). */
export async function ipBatch(runner: CommandRunner, netns: string | undefined, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await sh(runner, "ip", [...(netns ? ["-n", netns] : []), "-batch", "-"], { input: lines.join("\n") + "\n" });
}

/**
 * A named namespace as a path: the runner enters it with `nsenter --net=PATH`, which joins the
 * network namespace only. `ip netns exec` (and `ip -n`) also make a private mount namespace and
 * remount /sys, copying the mount table, which holds a bind mount per namespace: with hundreds of
 * namespaces that copy costs more than the command. Net sysctls need only the network namespace
 * (/proc/sys/net is the writer's namespace's); what reads /sys/class/net must use `ip netns exec`.
 */
export const netnsPath = (netns: string) => `/run/netns/${netns}`;

/** Sysctls inside a namespace. */
export const sysctls = (runner: CommandRunner, netns: string, settings: string[]) =>
  sh(runner, "sysctl", ["-q", "-w", ...settings], { netns: netnsPath(netns) });

export async function listNetns(runner: CommandRunner): Promise<string[]> {
  const out = await sh(runner, "ip", ["-j", "netns", "list"]);
  if (!out.trim()) return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

/** Runs `work` over `items` with at most `limit` at a time, in order of start; rejects with the first failure. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        await work(items[i]!, i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}
