/** Helpers for functional tests: run the real CLI, poll for a condition, run commands. */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import assert from "node:assert/strict";

export const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion with `input` on stdin; resolves with its exit code and output.
 * `env` is added to this process's environment, or with `cleanEnv` is the whole environment.
 */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cleanEnv?: boolean } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const env = opts.cleanEnv ? opts.env : { ...process.env, ...opts.env };
    const child = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

export const tabby = (args: string[], env?: NodeJS.ProcessEnv) => run(process.execPath, [CLI, ...args], env ? { env } : {});

/** Polls `check` until it returns a truthy value or `tries` run out; returns the last value. */
export async function waitFor<T>(check: () => Promise<T>, tries = 100, intervalMs = 200): Promise<T> {
  let last = await check();
  for (let i = 1; i < tries && !last; i++) {
    await sleep(intervalMs);
    last = await check();
  }
  return last;
}

/** A process is alive if /proc has it and it is not a zombie waiting to be reaped. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

/** Cleanup in after(): SIGTERM to the pid a daemon wrote to `pidFile`, if the file is there. */
export function stopByPidFile(pidFile: string): void {
  try {
    process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGTERM");
  } catch {
    /* not started, or gone */
  }
}

/** Cleanup in after(): deletes these network namespaces; one already gone is no error. */
export function deleteNetns(names: Iterable<string>): void {
  for (const ns of names) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
}

/** The names of the network namespaces that exist now. */
export async function netnsList(): Promise<string[]> {
  const r = await run("ip", ["-j", "netns", "list"]);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name) : [];
}

/**
 * A lab of the test's own: a unique name (`prefix` + pid), a private TABBY_LAB_ROOT, a `lab(...)`
 * runner that adds `--name` (except to `lab exec`), and `lab down` + removal of the root when the
 * test file ends, whether it passed or not.
 */
export function labUnderTest(prefix: string, root = "tabby-lab-") {
  const name = `${prefix}${process.pid % 100000}`;
  const env = { TABBY_LAB_ROOT: mkdtempSync(join(tmpdir(), root)) };
  const lab = (...args: string[]) => tabby(["lab", ...args, ...(args[0] === "exec" ? [] : ["--name", name])], env);
  after(async () => {
    await lab("down");
    rmSync(env.TABBY_LAB_ROOT, { recursive: true, force: true });
  });
  /**
   * `lab check` until it passes (at most `tries` times, a second apart; a guest under TCG on a
   * loaded machine may answer a probe late); fails the test with the last output, else returns it.
   */
  const checkPasses = async (tries = 30): Promise<string> => {
    let last = "";
    const ok = await waitFor(
      async () => {
        const r = await lab("check");
        last = r.stdout + r.stderr;
        return r.code === 0;
      },
      tries,
      1000,
    );
    assert.ok(ok, last);
    return last;
  };
  return { name, env, lab, checkPasses };
}
