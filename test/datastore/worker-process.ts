/**
 * Test support: runs test/datastore/worker.js as a child process that prints one JSON object per
 * line, and lets a test wait for a line matching a predicate. Children still running when the
 * test file ends are killed by `killWorkers()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));
const children = new Set<ChildProcess>();

export interface WorkerChild {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  waitFor(pred: (line: Record<string, unknown>) => boolean): Promise<void>;
}

export function runWorker(...args: string[]): WorkerChild {
  const proc = spawn(process.execPath, [WORKER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  let buf = "";
  let stderr = "";
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.pred(line)) waiters.splice(waiters.indexOf(w), 1), w.resolve();
    }
  });
  proc.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = new Promise<number | string>((resolve) =>
    proc.on("exit", (code, signal) => {
      children.delete(proc);
      if (code) process.stderr.write(`worker ${args.join(" ")} exited ${code}: ${stderr}\n`);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    proc,
    lines,
    exited,
    waitFor: (pred) =>
      lines.some(pred)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ pred, resolve });
            void exited.then((c) => reject(new Error(`worker ${args[0]} exited (${c}) before the expected line; stderr: ${stderr}`)));
          }),
  };
}

/** Kills (SIGKILL) every worker still running. */
export function killWorkers(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
