/**
 * Test helper: runs a real single-member etcd (Debian's etcd-server, /usr/bin/etcd, v3.4) on
 * loopback with random free ports and a temporary data dir. `restart()` stops it and starts it
 * again on the same ports and data (revisions continue); `kill()` is SIGKILL, for crash tests.
 * Only the process this helper spawned is ever signalled, by its pid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface EtcdServer {
  /** `etcd://127.0.0.1:PORT`, for parseEtcdUrl. */
  url: string;
  /** `http://127.0.0.1:PORT`, for EtcdStore.open. */
  endpoints: string[];
  /** Data dir and log file, for debugging a failed test. */
  dataDir: string;
  /** SIGTERM, wait for exit, remove the data dir. */
  stop(): Promise<void>;
  /** SIGKILL now (the data dir stays, so `restart()` brings the same data back). */
  kill(): void;
  /** Stop (if running) and start again on the same ports and data dir; resolves when healthy. */
  restart(): Promise<void>;
  /** Stop (if running) without removing data; `restart()` starts it again. */
  pause(): Promise<void>;
  /** SIGSTOP: etcd hangs with its connections open (a stuck server, not a dead one). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
}

const ETCD_BIN = process.env["ETCD_BIN"] ?? "/usr/bin/etcd";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return body.health === "true";
  } catch {
    return false;
  }
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once("exit", () => resolve()));
}

export async function startEtcd(): Promise<EtcdServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "tabby-etcd-"));
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--name", "default",
    "--data-dir", join(dataDir, "data"),
    "--listen-client-urls", clientUrl,
    "--advertise-client-urls", clientUrl,
    "--listen-peer-urls", peerUrl,
    "--initial-advertise-peer-urls", peerUrl,
    "--initial-cluster", `default=${peerUrl}`,
    "--initial-cluster-token", `tabby-test-${process.pid}-${clientPort}`,
    "--logger", "zap",
    "--log-level", "warn",
  ];
  let proc: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const log = openSync(join(dataDir, "etcd.log"), "a");
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (process.arch !== "x64") env["ETCD_UNSUPPORTED_ARCH"] = process.arch === "arm64" ? "arm64" : process.arch;
    const p = spawn(ETCD_BIN, args, { stdio: ["ignore", log, log], env });
    closeSync(log);
    proc = p;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null || p.signalCode !== null) break;
      if (await healthy(clientUrl)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    p.kill("SIGKILL");
    throw new Error(`etcd did not become healthy on ${clientUrl} (log: ${join(dataDir, "etcd.log")})`);
  };

  const halt = async (): Promise<void> => {
    const p = proc;
    if (!p) return;
    proc = undefined;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGCONT"); // in case it was frozen
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 5000);
      await exited(p);
      clearTimeout(t);
    }
  };

  await launch();
  return {
    url: `etcd://127.0.0.1:${clientPort}`,
    endpoints: [clientUrl],
    dataDir,
    async stop() {
      await halt();
      rmSync(dataDir, { recursive: true, force: true });
    },
    kill() {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    },
    freeze() {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill("SIGSTOP");
    },
    thaw() {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill("SIGCONT");
    },
    async pause() {
      await halt();
    },
    async restart() {
      await halt();
      await launch();
    },
  };
}
