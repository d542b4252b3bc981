/**
 * `tabby lab up --datastore etcd`: the lab's datastore is a real single-member etcd (Debian's
 * etcd-server) running in the fabric namespace, listening on the fabric gateway address
 * (http://10.99.0.254:2379), so agents and the CNI plugin reach it over the fabric network as
 * they would reach an etcd cluster in a data center. etcd also listens on a unix socket in the
 * lab's directory (etcd takes `unix://NAME:PORT` relative to its working directory): a socket
 * file is reachable from every network namespace, which lets `lab up` itself — running in the
 * root namespace — seed the datastore and watch the agents come up through a loopback TCP bridge.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { request } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import { openStore } from "../datastore/open.js";
import type { Store } from "../datastore/store.js";
import type { LabPlan } from "./plan.js";
import type { LabProcess, LabState } from "./state.js";

export const LAB_ETCD_PORT = 2379;
const PEER_PORT = 2380;
/** etcd creates this socket file in its working directory (the lab dir). */
const SOCKET_NAME = "etcd.sock:1";
const ETCD_BIN = process.env["ETCD_BIN"] ?? "/usr/bin/etcd";

/** The URL agents and the CNI plugin use: etcd on the fabric gateway. */
export function labEtcdUrl(plan: LabPlan): string {
  return `etcd://${plan.gateway4}:${LAB_ETCD_PORT}`;
}

export function labEtcdSocket(dir: string): string {
  return join(dir, SOCKET_NAME);
}

/** Starts etcd in the fabric namespace (detached, logging to etcd.log) and waits until healthy. */
export async function startLabEtcd(state: LabState): Promise<LabProcess> {
  const plan = state.plan;
  const dataDir = join(state.dir, "etcd-data");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const client = `http://${plan.gateway4}:${LAB_ETCD_PORT}`;
  const peer = `http://127.0.0.1:${PEER_PORT}`;
  const args = ["netns", "exec", plan.fabricNetns, ETCD_BIN,
    "--name", "lab", "--data-dir", dataDir,
    "--listen-client-urls", `${client},unix://${SOCKET_NAME}`, "--advertise-client-urls", client,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", `lab=${peer}`,
    "--initial-cluster-token", `tabby-lab-${plan.name}`, "--logger", "zap", "--log-level", "warn"];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (process.arch !== "x64") env["ETCD_UNSUPPORTED_ARCH"] = process.arch;
  const fd = openSync(join(state.dir, "etcd.log"), "a");
  let pid: number | undefined;
  try {
    const child = spawn("ip", args, { cwd: state.dir, detached: true, stdio: ["ignore", fd, fd], env });
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new TabbyError("LAB_COMMAND_FAILED", `could not start ${ETCD_BIN}`);
  // `ip netns exec` execs etcd in place, so this pid is etcd's; its data dir marks it as ours.
  const proc: LabProcess = { role: "etcd", name: "etcd", pid, marker: dataDir };
  const socket = labEtcdSocket(state.dir);
  for (let i = 0; i < 200; i++) {
    if (await healthy(socket)) return proc;
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await sleep(100);
  }
  throw new TabbyError("LAB_ETCD_FAILED", `etcd did not become healthy; see ${join(state.dir, "etcd.log")}`);
}

function healthy(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/health", timeout: 1000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(/"health":\s*"true"/.test(body)));
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/**
 * A loopback TCP listener in this (root) namespace relaying each connection to etcd's unix
 * socket: `url` is an etcd:// URL this process can open. Close it after the store.
 */
export async function bridgeToLabEtcd(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const socketPath = labEtcdSocket(dir);
  const open = new Set<Socket>();
  const server: Server = createServer((c) => {
    const u = connect(socketPath);
    open.add(c).add(u);
    const end = () => {
      c.destroy();
      u.destroy();
      open.delete(c);
      open.delete(u);
    };
    c.on("error", end).on("close", end);
    u.on("error", end).on("close", end);
    c.pipe(u);
    u.pipe(c);
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `etcd://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Opens the lab's datastore from this (root) namespace: SQLite directly; etcd, which listens
 * only in the fabric, through the bridge to its unix socket. `close` closes both.
 */
export async function openLabStore(state: { dir: string; datastore: string }): Promise<{ store: Store; close(): Promise<void> }> {
  const bridge = state.datastore.startsWith("etcd") ? await bridgeToLabEtcd(state.dir) : undefined;
  try {
    const store = await openStore(bridge?.url ?? state.datastore);
    return {
      store,
      close: async () => {
        await store.close();
        await bridge?.close();
      },
    };
  } catch (err) {
    await bridge?.close();
    throw err;
  }
}
