/** Helpers for functional tests: run the real CLI, poll for a condition, run commands. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

export const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
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
