/**
 * The lab etcd's certificates (issue 19: the datastore is private), made by `lab up` with
 * Debian's `openssl` in `<lab dir>/pki` (0700; keys 0600): a CA for this lab only, a server
 * certificate for etcd (SANs: the fabric gateway, 127.0.0.1 and localhost, for the agents on the
 * fabric and `lab up`'s own bridge), and one client certificate per component whose Common Name
 * is its etcd user (etcd maps the CN of a verified client certificate to the user, as Calico's
 * etcd RBAC guidance sets it up): tabby-agent, tabby-cni, tabby-admin. EC P-256 keys. `pkiPaths`
 * and the extension texts are pure; `makeLabPki` runs openssl.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { TabbyError } from "../errors.js";
import type { CommandRunner } from "../dataplane/exec.js";

export type LabComponent = "agent" | "cni" | "admin";
export const LAB_COMPONENTS: readonly LabComponent[] = ["agent", "cni", "admin"];

/** The etcd user (= certificate CN) of each component. */
export const LAB_ETCD_USER: Record<LabComponent, string> = { agent: "tabby-agent", cni: "tabby-cni", admin: "tabby-admin" };

export interface KeyPair {
  cert: string;
  key: string;
}

export interface LabPki {
  dir: string;
  ca: string;
  caKey: string;
  server: KeyPair;
  clients: Record<LabComponent, KeyPair>;
}

export function pkiPaths(labDir: string): LabPki {
  const dir = join(labDir, "pki");
  const pair = (n: string): KeyPair => ({ cert: join(dir, `${n}.pem`), key: join(dir, `${n}-key.pem`) });
  return {
    dir,
    ca: join(dir, "ca.pem"),
    caKey: join(dir, "ca-key.pem"),
    server: pair("etcd-server"),
    clients: { agent: pair("agent"), cni: pair("cni"), admin: pair("admin") },
  };
}

/** An openssl config with the subject and the `ext` section for one certificate. */
export function certConfig(cn: string, kind: "ca" | "server" | "client", sans: string[] = []): string {
  const ext =
    kind === "ca"
      ? ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash"]
      : [
          "basicConstraints = critical,CA:FALSE",
          "keyUsage = critical,digitalSignature,keyEncipherment",
          // etcd's HTTP gateway dials its own gRPC side with the server certificate as a client one
          `extendedKeyUsage = ${kind === "server" ? "serverAuth,clientAuth" : "clientAuth"}`,
          "authorityKeyIdentifier = keyid",
          ...(sans.length ? [`subjectAltName = ${sans.join(",")}`] : []),
        ];
  return ["[req]", "distinguished_name = dn", "prompt = no", "[dn]", `CN = ${cn}`, "[ext]", ...ext, ""].join("\n");
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new TabbyError("LAB_PKI_FAILED", `openssl ${args[0]} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

const DAYS = "825";
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"];

/** A fresh private directory with the CA's openssl config in it; the CA's own `req` command. */
function freshCaDir(dir: string, ca: string, caKey: string, caName: string): string[] {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caCnf = writeCnf(dir, "ca", certConfig(caName, "ca"));
  return ["req", "-x509", "-new", "-config", caCnf, "-extensions", "ext", ...NEW_KEY, "-keyout", caKey, "-out", ca, "-days", DAYS];
}

function writeCnf(dir: string, name: string, text: string): string {
  const f = join(dir, `${name}.cnf`);
  writeFileSync(f, text, { mode: 0o600 });
  return f;
}

/** The two openssl commands that issue one certificate (key and request, then the CA's signature). */
function issueCommands(dir: string, ca: string, caKey: string, pair: KeyPair, name: string, text: string): { req: string[]; sign: string[]; csr: string } {
  const c = writeCnf(dir, name, text);
  const csr = join(dir, `${name}.csr`);
  return {
    csr,
    req: ["req", "-new", "-config", c, ...NEW_KEY, "-keyout", pair.key, "-out", csr],
    sign: [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca,
      "-CAkey",
      caKey,
      "-set_serial",
      `0x${randomBytes(16).toString("hex")}`,
      "-days",
      DAYS,
      "-extfile",
      c,
      "-extensions",
      "ext",
      "-out",
      pair.cert,
    ],
  };
}

/** A fresh private directory with a new CA in it, and an `issue` that signs certificates with it. */
function newCa(dir: string, ca: string, caKey: string, caName: string): (pair: KeyPair, name: string, text: string) => void {
  openssl(freshCaDir(dir, ca, caKey, caName));
  chmodSync(caKey, 0o600);
  return (pair, name, text) => {
    const cmd = issueCommands(dir, ca, caKey, pair, name, text);
    openssl(cmd.req);
    openssl(cmd.sign);
    rmSync(cmd.csr, { force: true });
    chmodSync(pair.key, 0o600);
  };
}

/** Makes (again, from scratch) the lab's CA and certificates; `serverIPs` go in etcd's SANs. */
export function makeLabPki(labDir: string, labName: string, serverIPs: string[]): LabPki {
  const p = pkiPaths(labDir);
  const issue = newCa(p.dir, p.ca, p.caKey, `tabby lab ${labName} CA`);
  issue(p.server, "etcd-server", certConfig("tabby-lab-etcd", "server", [...serverIPs.map((ip) => `IP:${ip}`), "IP:127.0.0.1", "DNS:localhost"]));
  for (const c of LAB_COMPONENTS) issue(p.clients[c], c, certConfig(LAB_ETCD_USER[c], "client"));
  return p;
}

/**
 * The agents' explain API certificates (src/explain/api.ts), in `<lab dir>/explain-pki`: a CA of
 * their own (an explain client certificate is no etcd credential, and the reverse), a server
 * certificate per host whose SANs are its fabric addresses (the address its agent listens on),
 * and one client certificate for `tabby explain`.
 */
export interface ExplainPki {
  dir: string;
  ca: string;
  caKey: string;
  hosts: Record<string, KeyPair>;
  client: KeyPair;
}

export function explainPkiPaths(labDir: string, hostNames: string[]): ExplainPki {
  const dir = join(labDir, "explain-pki");
  const pair = (n: string): KeyPair => ({ cert: join(dir, `${n}.pem`), key: join(dir, `${n}-key.pem`) });
  return {
    dir,
    ca: join(dir, "ca.pem"),
    caKey: join(dir, "ca-key.pem"),
    hosts: Object.fromEntries(hostNames.map((h) => [h, pair(`agent-${h}`)])),
    client: pair("explain-client"),
  };
}

/**
 * Makes the explain certificates through the lab's command runner, PKI_CONCURRENCY openssl
 * commands at a time (a 50-host lab needs 100 of them); the files are private as above.
 */
export async function makeExplainPki(runner: CommandRunner, labDir: string, labName: string, hosts: { name: string; ips: string[] }[]): Promise<ExplainPki> {
  const p = explainPkiPaths(
    labDir,
    hosts.map((h) => h.name),
  );
  const run = async (args: string[]) => {
    const r = await runner.run("openssl", args);
    if (r.code !== 0) throw new TabbyError("LAB_PKI_FAILED", `openssl ${args[0]} failed: ${r.stderr.trim() || r.stdout.trim()}`);
  };
  await run(freshCaDir(p.dir, p.ca, p.caKey, `tabby lab ${labName} explain CA`));
  const certs: { pair: KeyPair; name: string; text: string }[] = [
    ...hosts.map((h) => ({
      pair: p.hosts[h.name]!,
      name: `agent-${h.name}`,
      text: certConfig(
        `tabby-agent-${h.name}`,
        "server",
        h.ips.map((ip) => `IP:${ip}`),
      ),
    })),
    { pair: p.client, name: "explain-client", text: certConfig("tabby-explain", "client") },
  ];
  let next = 0;
  const worker = async () => {
    while (next < certs.length) {
      const c = certs[next++]!;
      const cmd = issueCommands(p.dir, p.ca, p.caKey, c.pair, c.name, c.text);
      await run(cmd.req);
      await run(cmd.sign);
      rmSync(cmd.csr, { force: true });
    }
  };
  await Promise.all(Array.from({ length: PKI_CONCURRENCY }, worker));
  // openssl writes keys 0600 under its umask already on most systems; make sure (the fake runner writes nothing)
  for (const f of [p.caKey, ...certs.map((c) => c.pair.key)]) if (existsSync(f)) chmodSync(f, 0o600);
  return p;
}

const PKI_CONCURRENCY = 4;
