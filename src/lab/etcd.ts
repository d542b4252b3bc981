/**
 * `tabby lab up --datastore etcd`: the lab's datastore is a real single-member etcd (Debian's
 * etcd-server) running in the fabric namespace, listening on the fabric gateway address
 * (https://10.99.0.254:2379), so agents and the CNI plugin reach it over the fabric network as
 * they would reach an etcd cluster in a data center. It is private (issue 19): TLS with client
 * certificates from the lab's own CA (pki.ts) and etcd authentication with a role per component
 * (etcd-rbac.ts); each component's URL (`labDatastoreFor`) names its own certificate. etcd also
 * listens on a unix socket in the lab's directory (etcd takes `unixs://NAME:PORT` relative to its
 * working directory), TLS too: a socket file is reachable from every network namespace, which
 * lets `lab up` itself — running in the root namespace — seed the datastore and watch the agents
 * come up through a loopback TCP bridge (TLS end to end, with the admin certificate).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { openStore } from "../datastore/open.js";
import type { Store } from "../datastore/store.js";
import type { LabPlan } from "./plan.js";
import type { LabProcess, LabState } from "./state.js";
import { makeLabPki, pkiPaths, type LabComponent, type LabPki } from "./pki.js";
import { enableLabEtcdAuth } from "./etcd-rbac.js";
import { relayServer } from "./relay.js";
import { labEffects, type LabEffects } from "./sh.js";

export const LAB_ETCD_PORT = 2379;
const PEER_PORT = 2380;
/** etcd creates this socket file in its working directory (the lab dir). */
const SOCKET_NAME = "etcd.sock:1";
const ETCD_BIN = process.env["ETCD_BIN"] ?? "/usr/bin/etcd";

/** The URL `component` uses: etcd on the fabric gateway, with that component's certificate. */
export function labEtcdUrl(plan: LabPlan, dir: string, component: LabComponent = "admin"): string {
  const p = pkiPaths(dir);
  const pair = p.clients[component];
  return `etcds://${plan.gateway4}:${LAB_ETCD_PORT}?ca=${p.ca}&cert=${pair.cert}&key=${pair.key}`;
}

/**
 * The datastore URL for a component of the lab: its own certificate on etcd (the lab's
 * `datastore` is the admin's), the same file on SQLite.
 */
export function labDatastoreFor(state: { plan: LabPlan; dir: string; datastore: string }, component: LabComponent): string {
  return state.datastore.startsWith("etcds://") ? labEtcdUrl(state.plan, state.dir, component) : state.datastore;
}

export function labEtcdSocket(dir: string): string {
  return join(dir, SOCKET_NAME);
}

/**
 * Makes the lab's certificates, starts etcd in the fabric namespace (detached, logging to
 * etcd.log) with TLS and client-certificate authentication, waits until healthy, and on a new
 * data directory creates the roles and users and enables authentication.
 */
export async function startLabEtcd(state: LabState, fx: LabEffects = labEffects()): Promise<LabProcess> {
  const plan = state.plan;
  const dataDir = join(state.dir, "etcd-data");
  const fresh = !existsSync(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pki = makeLabPki(state.dir, plan.name, [plan.gateway4]);
  const client = `https://${plan.gateway4}:${LAB_ETCD_PORT}`;
  const peer = `http://127.0.0.1:${PEER_PORT}`;
  const args = [
    "--name",
    "lab",
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    `${client},unixs://${SOCKET_NAME}`,
    "--advertise-client-urls",
    client,
    "--cert-file",
    pki.server.cert,
    "--key-file",
    pki.server.key,
    "--trusted-ca-file",
    pki.ca,
    "--client-cert-auth",
    "--listen-peer-urls",
    peer,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    `lab=${peer}`,
    "--initial-cluster-token",
    `tabby-lab-${plan.name}`,
    "--logger",
    "zap",
    "--log-level",
    "warn",
  ];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (process.arch !== "x64") env["ETCD_UNSUPPORTED_ARCH"] = process.arch;
  const socket = labEtcdSocket(state.dir);
  // `ip netns exec` execs etcd in place, so this pid is etcd's; its data dir marks it as ours.
  const proc = await fx.supervisor.start({
    role: "etcd",
    name: "etcd",
    cmd: ETCD_BIN,
    args,
    netns: plan.fabricNetns,
    cwd: state.dir,
    env,
    log: join(state.dir, "etcd.log"),
    marker: dataDir,
    ready: () => healthy(socket, pki),
    readyTimeoutMs: 20_000,
  });
  if (fresh) await enableAuth(state.dir, pki);
  return proc;
}

async function enableAuth(dir: string, pki: LabPki): Promise<void> {
  const bridge = await bridgeToLabEtcd(dir);
  try {
    await enableLabEtcdAuth(`https://127.0.0.1:${bridge.port}`, pki);
  } finally {
    await bridge.close();
  }
}

function healthy(socketPath: string, pki: LabPki): Promise<boolean> {
  return new Promise((resolve) => {
    const tls = { ca: readFileSync(pki.ca), cert: readFileSync(pki.clients.admin.cert), key: readFileSync(pki.clients.admin.key), servername: "localhost" };
    const req = request({ socketPath, path: "/health", timeout: 1000, ...tls }, (res) => {
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
 * socket: `url` is the admin's etcds:// URL through it (TLS runs end to end, so another local
 * user reaching the port gets nothing without a certificate). Close it after the store.
 */
export async function bridgeToLabEtcd(dir: string): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const socketPath = labEtcdSocket(dir);
  const relay = relayServer(() => connect(socketPath));
  const server = relay.server;
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const p = pkiPaths(dir);
  return {
    url: `etcds://127.0.0.1:${port}?ca=${p.ca}&cert=${p.clients.admin.cert}&key=${p.clients.admin.key}`,
    port,
    close: () => relay.close(),
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
