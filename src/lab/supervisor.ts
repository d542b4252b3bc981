/**
 * The lab's one process supervisor: every daemon the lab runs (agents, BIRD, FRR's zebra, bgpd
 * and bfdd, etcd, `tabby bgp run` reflectors and ToRs, workload responders) is started, waited
 * for, stopped and restarted here, by pid and never by name. A process is recorded with a marker
 * from its command line (state.ts `processIsOurs`), so a pid the kernel reused is never taken
 * for ours. Two kinds of start:
 *  - foreground: spawned detached with stdout and stderr appended to its log file; its pid (the
 *    daemon's own: `ip netns exec` execs in place) is written to `pidFile` when one is given;
 *  - self-daemonizing (BIRD, FRR: `pidFile` and `daemonizes`): the starter must exit 0, then the
 *    pid is read from the pid file the daemon writes.
 * `ready` (optional) is polled until it holds; the process dying first, or the time running out,
 * fails with LAB_DAEMON_FAILED naming the log and quoting its end.
 * The fake (FakeSupervisor) records the starts and stops for the lab's golden plan tests.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import { wrapNetns } from "../dataplane/exec.js";
import { processIsOurs, type LabProcess } from "./state.js";

export interface DaemonSpec {
  role: LabProcess["role"];
  name: string;
  cmd: string;
  args: string[];
  /** Network namespace name (run through `ip netns exec`). */
  netns?: string;
  /** stdout and stderr are appended here (foreground daemons). */
  log: string;
  /** A string in the process's command line while it is ours. */
  marker: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written with the pid (foreground), or read for it (`daemonizes`). */
  pidFile?: string;
  /** The command forks the daemon and exits: the pid comes from `pidFile`. */
  daemonizes?: boolean;
  /** Polled (every 100 ms, up to `readyTimeoutMs`, default 20 s) until it resolves true. */
  ready?: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

export interface StopOptions {
  /** First signal (default SIGTERM); SIGKILL follows after the grace period. */
  signal?: NodeJS.Signals;
  /** How long a process has to end after the first signal (default 5 s). */
  graceMs?: number;
}

export interface Supervisor {
  start(spec: DaemonSpec): Promise<LabProcess>;
  /** Stops those of `procs` that are still ours, in parallel; resolves with how many it signalled. */
  stop(procs: LabProcess[], opts?: StopOptions): Promise<number>;
  /** Stops `proc` (if still ours) and starts `spec` in its place. */
  restart(proc: LabProcess | undefined, spec: DaemonSpec, opts?: StopOptions): Promise<LabProcess>;
  /** How a process this supervisor started ended ("exited with code 1"), or undefined while it runs. */
  exitOf(pid: number): string | undefined;
}

/** The last `n` lines of a file, or a note that it cannot be read. */
export function tail(file: string, n: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n");
  } catch (err) {
    return `(cannot read it: ${(err as Error).message})`;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export class ProcessSupervisor implements Supervisor {
  /** How each process started here ended, by pid: the parent's own record, free of races. */
  private readonly exits = new Map<number, string>();

  async start(spec: DaemonSpec): Promise<LabProcess> {
    const [file, argv] = wrapNetns(spec.cmd, spec.args, spec.netns);
    const proc = spec.daemonizes ? await this.startDaemonizing(spec, file, argv) : this.startForeground(spec, file, argv);
    if (spec.ready) await this.waitReady(spec, proc);
    return proc;
  }

  private startForeground(spec: DaemonSpec, file: string, argv: string[]): LabProcess {
    const fd = openSync(spec.log, "a");
    try {
      const child = spawn(file, argv, {
        detached: true,
        stdio: ["ignore", fd, fd],
        ...(spec.cwd ? { cwd: spec.cwd } : {}),
        ...(spec.env ? { env: spec.env } : {}),
      });
      child.unref();
      if (child.pid === undefined) throw new TabbyError("LAB_DAEMON_FAILED", `could not start ${spec.role} ${spec.name}: ${file} ${argv.join(" ")}`);
      const pid = child.pid;
      child.on("error", () => {}); // reported through exits
      child.on("exit", (code, sig) => this.exits.set(pid, sig ? `was killed by ${sig}` : `exited with code ${code}`));
      if (spec.pidFile) writeFileSync(spec.pidFile, `${pid}\n`);
      return { role: spec.role, name: spec.name, pid, marker: spec.marker };
    } finally {
      closeSync(fd);
    }
  }

  private async startDaemonizing(spec: DaemonSpec, file: string, argv: string[]): Promise<LabProcess> {
    if (!spec.pidFile) throw new TabbyError("LAB_DAEMON_FAILED", `${spec.name}: a self-daemonizing start needs a pid file`);
    // a pid file left by a killed predecessor must not be read as the new daemon's
    rmSync(spec.pidFile, { force: true });
    const fd = openSync(spec.log, "a");
    let code: number | null;
    try {
      const child = spawn(file, argv, { stdio: ["ignore", fd, fd], ...(spec.cwd ? { cwd: spec.cwd } : {}), ...(spec.env ? { env: spec.env } : {}) });
      code = await new Promise<number | null>((resolve, reject) => {
        child.on("error", (e) => reject(new TabbyError("LAB_DAEMON_FAILED", `cannot run ${file}: ${e.message}`)));
        child.on("close", (c) => resolve(c));
      });
    } finally {
      closeSync(fd);
    }
    if (code !== 0)
      throw new TabbyError(
        "LAB_DAEMON_FAILED",
        `${spec.role} ${spec.name}: ${spec.cmd} exited with code ${code}; the end of ${spec.log}:\n${tail(spec.log, 15)}`,
      );
    for (let i = 0; i < 100; i++) {
      if (existsSync(spec.pidFile)) {
        const pid = Number(readFileSync(spec.pidFile, "utf8").trim());
        if (pid > 0) return { role: spec.role, name: spec.name, pid, marker: spec.marker };
      }
      await sleep(50);
    }
    throw new TabbyError("LAB_DAEMON_FAILED", `${spec.role} ${spec.name}: no pid file ${spec.pidFile} after 5 s: the daemon did not start (see ${spec.log})`);
  }

  private async waitReady(spec: DaemonSpec, proc: LabProcess): Promise<void> {
    const tries = Math.ceil((spec.readyTimeoutMs ?? 20_000) / 100);
    for (let i = 0; i < tries; i++) {
      if (await spec.ready!()) return;
      const how = this.exits.get(proc.pid) ?? (processIsOurs(proc) ? undefined : "is gone");
      if (how) throw new TabbyError("LAB_DAEMON_FAILED", `${spec.role} ${spec.name} (pid ${proc.pid}) ${how}; the end of ${spec.log}:\n${tail(spec.log, 15)}`);
      await sleep(100);
    }
    throw new TabbyError(
      "LAB_DAEMON_FAILED",
      `${spec.role} ${spec.name} (pid ${proc.pid}) did not become ready in ${(spec.readyTimeoutMs ?? 20_000) / 1000} s; see ${spec.log}`,
    );
  }

  async stop(procs: LabProcess[], opts: StopOptions = {}): Promise<number> {
    const ours = procs.filter(processIsOurs);
    for (const p of ours) signal(p.pid, opts.signal ?? "SIGTERM");
    const graceMs = opts.graceMs ?? 5000;
    for (let waited = 0; waited < graceMs && ours.some(processIsOurs); waited += 20) await sleep(20);
    const stuck = ours.filter(processIsOurs);
    for (const p of stuck) signal(p.pid, "SIGKILL");
    for (let i = 0; i < 100 && stuck.some(processIsOurs); i++) await sleep(20);
    const undead = stuck.find(processIsOurs);
    if (undead) throw new TabbyError("LAB_PROCESS_STUCK", `${undead.role} ${undead.name} (pid ${undead.pid}) did not die`);
    return ours.length;
  }

  async restart(proc: LabProcess | undefined, spec: DaemonSpec, opts: StopOptions = {}): Promise<LabProcess> {
    if (proc) await this.stop([proc], opts);
    return this.start(spec);
  }

  exitOf(pid: number): string | undefined {
    return this.exits.get(pid);
  }
}

/**
 * A supervisor for tests: records every start and stop as a line (the daemon's command as the
 * real one would run it), hands out pids from 1000 up, and lets a test act as the daemon
 * (`onStart`, e.g. an agent registering its Node).
 */
export class FakeSupervisor implements Supervisor {
  private nextPid = 1000;
  constructor(
    private readonly record: (line: string) => void,
    private readonly onStart: (spec: DaemonSpec) => Promise<void> | void = () => {},
  ) {}

  async start(spec: DaemonSpec): Promise<LabProcess> {
    const [file, argv] = wrapNetns(spec.cmd, spec.args, spec.netns);
    this.record(
      `start ${spec.role} ${spec.name}${spec.daemonizes ? " (daemonizes)" : ""}: ${[file, ...argv].join(" ")} > ${spec.log}${spec.pidFile ? ` pid ${spec.pidFile}` : ""}`,
    );
    await this.onStart(spec);
    return { role: spec.role, name: spec.name, pid: this.nextPid++, marker: spec.marker };
  }

  async stop(procs: LabProcess[], opts: StopOptions = {}): Promise<number> {
    for (const p of procs) this.record(`stop ${p.role} ${p.name} (${opts.signal ?? "SIGTERM"})`);
    return procs.length;
  }

  async restart(proc: LabProcess | undefined, spec: DaemonSpec, opts: StopOptions = {}): Promise<LabProcess> {
    if (proc) await this.stop([proc], opts);
    return this.start(spec);
  }

  exitOf(): string | undefined {
    return undefined;
  }
}
