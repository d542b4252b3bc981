/**
 * Test helper: runs a real single-member etcd (Debian's etcd-server, /usr/bin/etcd, v3.4) on
 * loopback with random free ports and a temporary data dir. `restart()` stops it and starts it
 * again on the same ports and data (revisions continue); `kill()` is SIGKILL, for crash tests.
 * Only the process this helper spawned is ever signalled, by its pid.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../src/testkit/free-port.js";

export interface EtcdServer {
  /** `etcd://127.0.0.1:PORT` (`etcds://…?ca=…&cert=…&key=…` with TLS), for parseEtcdUrl. */
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

/**
 * etcd processes this test process started and has not stopped yet. If the test process ends
 * without its after() hooks (a runner timeout, ^C), they are killed on the way out so no etcd
 * outlives its test; their data dirs are removed too.
 */
const running = new Set<ChildProcess>();
const dataDirs = new Set<string>();
let exitHooked = false;
function reapOnExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const reap = () => {
    for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    running.clear();
    dataDirs.clear();
  };
  process.once("exit", reap);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      reap();
      process.exit(128 + (sig === "SIGINT" ? 2 : 15));
    });
  }
}

export interface TestPki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throw-away CA with a server certificate for 127.0.0.1 and a client certificate (openssl CLI). */
function makePki(dir: string): TestPki {
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ossl("req", "-x509", ...ec, "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "2", "-subj", "/CN=tabby-test-ca");
  for (const [name, ext] of [
    ["server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n"],
    ["client", "extendedKeyUsage=clientAuth\n"],
  ] as const) {
    writeFileSync(f(`${name}.ext`), ext);
    ossl("req", ...ec, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=tabby-test-${name}`);
    ossl(
      "x509",
      "-req",
      "-in",
      f(`${name}.csr`),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca.key"),
      "-CAcreateserial",
      "-out",
      f(`${name}.pem`),
      "-days",
      "2",
      "-extfile",
      f(`${name}.ext`),
    );
  }
  return { ca: f("ca.pem"), serverCert: f("server.pem"), serverKey: f("server.key"), clientCert: f("client.pem"), clientKey: f("client.key") };
}

async function healthy(clientUrl: string, pki: TestPki | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = pki ? { ca: readFileSync(pki.ca), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey), timeout: 1000 } : { timeout: 1000 };
    const req = (pki ? httpsRequest : httpRequest)(`${clientUrl}/health`, opts, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => {
        try {
          resolve((JSON.parse(body) as { health?: string }).health === "true");
        } catch {
          resolve(false);
        }
      });
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once("exit", () => resolve()));
}

/** One etcd member process: start (waiting until it reports healthy), stop, signals. */
class Member {
  proc: ChildProcess | undefined;
  constructor(
    readonly clientUrl: string,
    private readonly args: string[],
    private readonly logFile: string,
    private readonly pki: TestPki | undefined,
  ) {}

  async launch(): Promise<void> {
    const log = openSync(this.logFile, "a");
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (process.arch !== "x64") env["ETCD_UNSUPPORTED_ARCH"] = process.arch === "arm64" ? "arm64" : process.arch;
    const p = spawn(ETCD_BIN, this.args, { stdio: ["ignore", log, log], env });
    closeSync(log);
    this.proc = p;
    reapOnExit();
    running.add(p);
    p.once("exit", () => running.delete(p));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null || p.signalCode !== null) break;
      if (await healthy(this.clientUrl, this.pki)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    p.kill("SIGKILL");
    throw new Error(`etcd did not become healthy on ${this.clientUrl} (log: ${this.logFile})`);
  }

  async halt(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGCONT"); // in case it was frozen
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 5000);
      await exited(p);
      clearTimeout(t);
    }
  }

  signal(sig: NodeJS.Signals): void {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) p.kill(sig);
  }
}

async function startMembers(n: number, pki: TestPki | undefined, dataDir: string): Promise<Member[]> {
  const ports: number[] = [];
  while (ports.length < 2 * n) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const names = Array.from({ length: n }, (_, i) => (n === 1 ? "default" : `m${i}`));
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${ports[2 * i + 1]}`);
  const initialCluster = names.map((name, i) => `${name}=${peerUrls[i]}`).join(",");
  const members = names.map((name, i) => {
    const clientUrl = `${pki ? "https" : "http"}://127.0.0.1:${ports[2 * i]}`;
    const args = [
      "--name",
      name,
      "--data-dir",
      join(dataDir, `data-${name}`),
      "--listen-client-urls",
      clientUrl,
      "--advertise-client-urls",
      clientUrl,
      "--listen-peer-urls",
      peerUrls[i]!,
      "--initial-advertise-peer-urls",
      peerUrls[i]!,
      "--initial-cluster",
      initialCluster,
      "--initial-cluster-token",
      `tabby-test-${process.pid}-${ports[0]}`,
      "--logger",
      "zap",
      "--log-level",
      "warn",
      ...(pki ? ["--cert-file", pki.serverCert, "--key-file", pki.serverKey, "--trusted-ca-file", pki.ca, "--client-cert-auth"] : []),
    ];
    return new Member(clientUrl, args, join(dataDir, `etcd-${name}.log`), pki);
  });
  // Members of a new cluster only become healthy together (they need a quorum).
  await Promise.all(members.map((m) => m.launch()));
  return members;
}

/**
 * Starts etcd. With `{ tls: true }` clients must use TLS and present a certificate signed by a
 * throw-away CA (client-cert-auth); `pki` then names the files. `parentDir` puts the data
 * directory elsewhere than the system's temporary directory (e.g. on tmpfs).
 */
export async function startEtcd(opts: { tls?: boolean; parentDir?: string } = {}): Promise<EtcdServer & { pki?: TestPki }> {
  const dataDir = mkdtempSync(join(opts.parentDir ?? tmpdir(), "tabby-etcd-"));
  reapOnExit();
  dataDirs.add(dataDir);
  const pki = opts.tls ? makePki(dataDir) : undefined;
  const [m] = await startMembers(1, pki, dataDir);
  const member = m!;
  const hostPort = member.clientUrl.replace(/^https?:\/\//, "");
  return {
    url: pki ? `etcds://${hostPort}?ca=${pki.ca}&cert=${pki.clientCert}&key=${pki.clientKey}` : `etcd://${hostPort}`,
    ...(pki ? { pki } : {}),
    endpoints: [member.clientUrl],
    dataDir,
    async stop() {
      await member.halt();
      rmSync(dataDir, { recursive: true, force: true });
      dataDirs.delete(dataDir);
    },
    kill() {
      member.signal("SIGKILL");
    },
    freeze() {
      member.signal("SIGSTOP");
    },
    thaw() {
      member.signal("SIGCONT");
    },
    async pause() {
      await member.halt();
    },
    async restart() {
      await member.halt();
      await member.launch();
    },
  };
}

export interface EtcdCluster {
  /** `etcd://h:p,h:p,h:p`. */
  url: string;
  endpoints: string[];
  /** SIGKILL member i. */
  kill(i: number): void;
  /** Start member i again (same data), resolves when healthy. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts an n-member etcd cluster on loopback. */
export async function startEtcdCluster(n: number): Promise<EtcdCluster> {
  const dataDir = mkdtempSync(join(tmpdir(), "tabby-etcd-"));
  reapOnExit();
  dataDirs.add(dataDir);
  const members = await startMembers(n, undefined, dataDir);
  const endpoints = members.map((m) => m.clientUrl);
  return {
    url: `etcd://${endpoints.map((e) => e.replace(/^http:\/\//, "")).join(",")}`,
    endpoints,
    kill(i) {
      members[i]?.signal("SIGKILL");
    },
    async restart(i) {
      const m = members[i]!;
      await m.halt();
      await m.launch();
    },
    async stop() {
      await Promise.all(members.map((m) => m.halt()));
      rmSync(dataDir, { recursive: true, force: true });
      dataDirs.delete(dataDir);
    },
  };
}
