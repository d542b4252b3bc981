/**
 * Commands as an injected effect. Drivers build argument vectors (pure) and hand them to a
 * CommandRunner; the real one execs the binary (inside a network namespace through
 * `nsenter --net=PATH` for a path, or `ip netns exec NAME` for a name), the fake one records the
 * calls and plays back scripted answers so tests can assert the exact commands.
 */
import type { spawn as Spawn } from "node:child_process";
import { TabbyError } from "../errors.js";

export interface RunOptions {
  /**
   * Text written to the command's stdin. A promise: the command starts at once and gets its input
   * when the promise resolves (stdin closed with nothing written if it rejects), so that its start
   * overlaps the work that computes the input.
   */
  input?: string | Promise<string>;
  /** Network namespace: a path (/proc/PID/ns/net, /var/run/netns/x) or a name under /var/run/netns. */
  netns?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface CommandRunner {
  /** Resolves with the outcome whatever the exit code; rejects only when the command cannot start. */
  run(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
}

/** The argv that runs `cmd args` inside `netns` (or as is when netns is undefined). Pure. */
export function wrapNetns(cmd: string, args: string[], netns?: string): [string, string[]] {
  if (!netns) return [cmd, args];
  if (netns.includes("/")) return ["nsenter", [`--net=${netns}`, "--", cmd, ...args]];
  return ["ip", ["netns", "exec", netns, cmd, ...args]];
}

export function commandFailed(cmd: string, args: string[], res: RunResult, netns?: string): TabbyError {
  const line = [cmd, ...args].join(" ");
  const err = res.stderr.trim() || res.stdout.trim();
  return new TabbyError("DP_COMMAND_FAILED", `${line}${netns ? ` (netns ${netns})` : ""} exited ${res.code}: ${err}`, {
    cmd,
    args,
    stderr: res.stderr,
    code: res.code,
    netns,
  });
}

/** Runs and rejects with DP_COMMAND_FAILED on a non-zero exit. */
export async function runOk(runner: CommandRunner, cmd: string, args: string[], opts?: RunOptions): Promise<RunResult> {
  const res = await runner.run(cmd, args, opts);
  if (res.code !== 0) throw commandFailed(cmd, args, res, opts?.netns);
  return res;
}

let spawnFn: typeof Spawn | undefined;
/**
 * node:child_process on first use: loading it (with node:net and streams) costs a CNI plugin
 * process about 10 ms, and ADD and DEL start no process.
 */
async function childSpawn(): Promise<typeof Spawn> {
  spawnFn ??= (await import("node:child_process")).spawn;
  return spawnFn;
}

/**
 * The real runner: spawns the process, collects its output. `env` replaces the environment the
 * commands get (default: this process's).
 */
export class ExecRunner implements CommandRunner {
  constructor(private readonly opts: { env?: Record<string, string> } = {}) {}

  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const [file, argv] = wrapNetns(cmd, args, opts.netns);
    const spawn = await childSpawn();
    return new Promise((resolve, reject) => {
      const child = spawn(file, argv, { stdio: ["pipe", "pipe", "pipe"], ...(this.opts.env ? { env: this.opts.env } : {}) });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (b: Buffer) => out.push(b));
      child.stderr.on("data", (b: Buffer) => err.push(b));
      child.on("error", (e) => reject(new TabbyError("DP_COMMAND_FAILED", `cannot run ${file}: ${e.message}`, { cmd, args, stderr: "" }, { cause: e })));
      child.on("close", (code, signal) =>
        resolve({
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8") + (signal ? `killed by ${signal}` : ""),
          code: code ?? 128,
        }),
      );
      child.stdin.on("error", () => {}); // the command may exit before reading its input
      const input = opts.input ?? "";
      if (typeof input === "string") child.stdin.end(input);
      else
        input.then(
          (text) => child.stdin.end(text),
          () => child.stdin.end(),
        );
    });
  }
}

export interface RecordedCall {
  cmd: string;
  args: string[];
  input?: string | undefined;
  netns?: string | undefined;
}

/** A scripted answer: matched by a predicate on the call, or used in order when none matches. */
export type FakeAnswer = Partial<RunResult> | ((call: RecordedCall) => Partial<RunResult>);

/**
 * A runner for tests: records every call and answers from rules (first whose `match` accepts the
 * call, by the joined command line) or else with success and empty output.
 */
export class FakeRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  private rules: { match: (line: string, call: RecordedCall) => boolean; answer: FakeAnswer; once: boolean }[] = [];

  /** Answer calls whose command line ("cmd arg arg ...") contains `pattern` (or matches the RegExp). */
  on(pattern: string | RegExp, answer: FakeAnswer, opts: { once?: boolean } = {}): this {
    const match = (line: string) => (typeof pattern === "string" ? line.includes(pattern) : pattern.test(line));
    this.rules.push({ match, answer, once: opts.once ?? false });
    return this;
  }

  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const call: RecordedCall = { cmd, args, netns: opts.netns };
    this.calls.push(call); // in the order the commands start
    if (typeof opts.input === "string") call.input = opts.input;
    else if (opts.input) {
      try {
        call.input = await opts.input;
      } catch {
        return { stdout: "", stderr: "stdin closed without input", code: 1 };
      }
    }
    const line = [cmd, ...args].join(" ");
    const i = this.rules.findIndex((r) => r.match(line, call));
    let res: Partial<RunResult> = {};
    if (i >= 0) {
      const rule = this.rules[i]!;
      if (rule.once) this.rules.splice(i, 1);
      res = typeof rule.answer === "function" ? rule.answer(call) : rule.answer;
    }
    return { stdout: res.stdout ?? "", stderr: res.stderr ?? "", code: res.code ?? 0 };
  }

  /** The recorded command lines, with a `[netns] ` prefix when run in a namespace. */
  lines(): string[] {
    return this.calls.map((c) => `${c.netns ? `[${c.netns}] ` : ""}${[c.cmd, ...c.args].join(" ")}`);
  }
}
